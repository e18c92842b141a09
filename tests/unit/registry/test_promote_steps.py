"""registry.promote's steps on their own: the next version, the reproduction rule folded into
the gate's decision, the model's identity, the tag message and the step outputs.

The whole `promote` (gate + tags + record) runs in tests/e2e/registry/test_promote*.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from gitml.config import PromotionConfig
from gitml.errors import ConfigError, DataError
from gitml.registry import promote, servable
from gitml.registry import versions as registry
from gitml.registry.gate import GateDecision, RuleResult
from gitml.registry.options import Bump
from gitml.registry.record import PromotionResult
from gitml.registry.reproduce import Comparison, MetricDiff
from gitml.registry.rules import GateRules
from gitml.registry.versions import VersionInfo
from tests.unit.registry.gitrepo import commit, init_repo

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def registered(*names: str) -> list[VersionInfo]:
    return [VersionInfo(n, f"sha-{n}", WHEN, "") for n in names]


# --------------------------------------------------------------------------- versions


@pytest.mark.parametrize(
    ("bump", "expected"),
    [("minor", "v0.4.0"), ("major", "v1.0.0"), ("patch", "v0.3.2"), (Bump.patch, "v0.3.2")],
)
def test_next_version_bumps_the_highest(
    monkeypatch: pytest.MonkeyPatch, bump: str, expected: str
) -> None:
    # list_versions is newest (highest SemVer) first
    monkeypatch.setattr(registry, "list_versions", lambda repo: registered("v0.3.1", "v0.2.0"))
    assert promote.next_version(Path(), bump) == expected


def test_the_first_version_and_a_bad_bump(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "list_versions", lambda repo: [])
    assert promote.next_version(Path(), "major") == promote.FIRST_VERSION == "v0.1.0"
    with pytest.raises(ConfigError) as caught:
        promote.next_version(Path(), "huge")
    assert str(caught.value) == "--bump 'huge': use one of major, minor, patch"
    with pytest.raises(ConfigError, match="--bump 'Minor'"):  # choices are case-sensitive
        promote.promote(Path(), bump="Minor")


# --------------------------------------------------------------------------- reproduction

GATE = GateDecision(
    passed=True,
    rules=[RuleResult("floor:roc_auc", 0.91, 0.8, True, "ok")],
    prod_version=None,
    prod_commit=None,
    summary="PROMOTE: roc_auc 0.9100 (no prod yet: absolute rules only); 1/1 rules pass",
)


def comparison(*diffs: MetricDiff) -> Comparison:
    return Comparison("HEAD", "a" * 40, 1e-3, 50, list(diffs), [])


def test_an_exact_reproduction_passes_and_counts_as_a_rule() -> None:
    rule = promote._reproduction_rule(comparison())
    assert rule == RuleResult("reproduced", 0.0, 1e-3, True, comparison().summary())
    d = promote._with_reproduction(GATE, rule)
    assert d.passed and [r.name for r in d.rules] == ["reproduced", "floor:roc_auc"]
    assert d.summary == (
        "PROMOTE: roc_auc 0.9100 (no prod yet: absolute rules only); 2/2 rules pass"
    )


def test_differences_within_the_tolerance_pass_with_the_largest_as_value() -> None:
    c = comparison(
        MetricDiff("m.json", "a", 0.5, 0.5002, 0.0002, True),
        MetricDiff("m.json", "b", 0.5, 0.5007, 0.0007, True),
    )
    rule = promote._reproduction_rule(c)
    assert (rule.value, rule.passed, rule.detail) == (0.0007, True, c.summary())


def test_differences_beyond_the_tolerance_refuse_whatever_the_gate_says() -> None:
    beyond = [
        MetricDiff("reports/evaluate/metrics.json", f"k{i}", 0.5, 0.6, (i + 1) / 10, False)
        for i in range(6)
    ]
    c = comparison(*beyond, MetricDiff("m.json", "gone", 1, None, None, False))
    rule = promote._reproduction_rule(c)
    assert (rule.name, rule.value, rule.threshold, rule.passed) == ("reproduced", 0.6, 1e-3, False)
    assert rule.detail.startswith(
        "the committed numbers are not what CI reproduced: k0 in metrics.json: committed 0.5, "
        "reproduced 0.6 (difference 0.1); k1 in"
    )
    assert rule.detail.endswith("; and 2 more (tolerance 0.001)")  # 5 shown of 7
    d = promote._with_reproduction(GATE, rule)
    assert not d.passed and d.rules[0] is rule
    assert d.summary == f"REFUSE: {rule.detail}; the gate on CI's numbers alone: {GATE.summary}"
    # only missing numbers beyond: no difference to show as the value
    only_missing = promote._reproduction_rule(
        comparison(MetricDiff("m", "x", 1, None, None, False))
    )
    assert only_missing.value is None and not only_missing.passed


def test_a_passing_reproduction_keeps_a_refusal_and_recounts_it() -> None:
    refused = GateDecision(
        False,
        [RuleResult("max_drop:roc_auc", 0.01, 0.0, False, "worse")],
        "v0.1.0",
        "p" * 40,
        "REFUSE: roc_auc 0.8900 vs prod v0.1.0 0.9000 (-0.0100); 0/1 rules pass; "
        "failed: max_drop:roc_auc",
    )
    d = promote._with_reproduction(refused, promote._reproduction_rule(comparison()))
    assert not d.passed
    assert d.summary == (
        "REFUSE: roc_auc 0.8900 vs prod v0.1.0 0.9000 (-0.0100); 1/2 rules pass; "
        "failed: max_drop:roc_auc"
    )


# --------------------------------------------------------------------------- identity


def lock(**md5: str) -> str:
    outs = [{"path": p, "md5": m} for p, m in md5.items()]
    return yaml.safe_dump({"schema": "2.0", "stages": {"train": {"outs": outs}}})


def test_model_identity_from_dvc_lock(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    no_lock = commit(repo, {"README": "x"})
    assert servable.model_identity(repo, no_lock) is None  # unknown: the gate decides
    both = commit(
        repo, {"dvc.lock": lock(**{"models/model.skops": "m1", "models/model.json": "j1"})}
    )
    assert servable.model_identity(repo, both) == {
        "models/model.skops": "m1",
        "models/model.json": "j1",
    }
    meta_only = commit(repo, {"dvc.lock": lock(**{"models/model.json": "j1"})})
    assert servable.model_identity(repo, meta_only) is None
    model_only = commit(repo, {"dvc.lock": lock(**{"models/model.skops": "m1"})})
    assert servable.model_identity(repo, model_only) == {
        "models/model.skops": "m1",
        "models/model.json": None,
    }


def test_is_ancestor(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    old = commit(repo, {"a": "1"})
    new = commit(repo, {"a": "2"})
    assert promote._is_ancestor(repo, old, new)
    assert promote._is_ancestor(repo, new, new)  # a commit is its own ancestor
    assert not promote._is_ancestor(repo, new, old)


def test_already_decided(monkeypatch: pytest.MonkeyPatch) -> None:
    prod = VersionInfo("v0.2.0", "sha-prod", WHEN, "", ("prod",), ("prod",))
    old = VersionInfo("v0.1.0", "sha-old", WHEN, "", (), ("prod",))
    monkeypatch.setattr(registry, "list_versions", lambda repo: [prod, old])
    here = Path()
    again = promote._already_decided(here, "HEAD", "sha-prod", None)
    assert again is not None and (again.outcome, again.version) == ("already-prod", "v0.2.0")
    assert again.note == "HEAD is already model@v0.2.0, in prod"
    with pytest.raises(DataError, match=r"run `gitml rollback --to v0\.1\.0`$"):
        promote._already_decided(here, "HEAD", "sha-old", None)
    assert promote._already_decided(here, "HEAD", "sha-new", None) is None


# --------------------------------------------------------------------------- tag, outputs


def test_tag_message_carries_identity_sha_rules_and_reproduction() -> None:
    base = PromotionResult(
        "refused", GATE, "c" * 40, None, model_sha256="ab" * 32,
        identity={"models/model.skops": "m1", "models/model.json": None},
        reproduction=comparison(),
    )  # fmt: skip
    rules = GateRules(PromotionConfig(), "prod", "p" * 40)
    text = promote._tag_message("v0.2.0", "c" * 40, base, rules)
    lines = text.splitlines()
    assert lines[0] == "model@v0.2.0: promoted to prod"
    assert lines[2] == GATE.summary
    assert "PASS floor:roc_auc: ok" in lines
    assert f"candidate {'c' * 40}; model md5 m1; metadata md5 -" in lines
    assert f"model sha256: {'ab' * 32}" in lines  # the line smoke-test reads
    assert f"rules: promotion: of the prod ({'p' * 12})" in lines
    assert f"reproduction: {comparison().summary()}" in lines


@pytest.mark.parametrize(
    ("res", "outputs"),
    [
        (
            PromotionResult("promoted", GATE, "c", "v0.2.0", model_sha256="ab"),
            "promoted=true\nversion=v0.2.0\ntag=model@v0.2.0\nsha256=ab\nstage=prod\n",
        ),
        (
            PromotionResult("dry-run", GATE, "c", "v0.2.0"),
            "promoted=false\nversion=\ntag=\nsha256=\nstage=\n",
        ),
        (
            PromotionResult("refused", GATE, "c", None),
            "promoted=false\nversion=\ntag=\nsha256=\nstage=\n",
        ),
    ],
)
def test_step_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, res: PromotionResult, outputs: str
) -> None:
    target = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(target))
    promote.write_outputs(res)
    assert target.read_text() == outputs
    monkeypatch.delenv("GITHUB_OUTPUT")
    promote.write_outputs(res)  # outside Actions: nothing written, no error
    assert target.read_text() == outputs


@pytest.mark.parametrize(
    ("lock", "why"),
    [("stages: {train: [\n", "ParserError"), ("stages:\n  train: just text\n", "AttributeError")],
)
def test_an_unreadable_dvc_lock_is_a_data_error_not_a_traceback(
    tmp_path: Path, lock: str, why: str
) -> None:
    from gitml.io.git import locked_md5

    repo = init_repo(tmp_path / "repo")
    sha = commit(repo, {"dvc.lock": lock})
    with pytest.raises(DataError, match=rf"dvc.lock at {sha[:12]} cannot be read \({why}: "):
        locked_md5(repo, sha, "models/model.skops")


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_passed_gate_assigns_canary_to_a_model_of_any_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task: str
) -> None:
    """canary decide judges each task by its own metrics, so a passed gate with
    promotion.canary.enabled assigns canary whatever the model's task (no refusal)."""
    repo = init_repo(tmp_path / "repo")
    meta = {"model_sha256": "0" * 64, "threshold": 0.5, "task": task}
    if task == "multiclass":
        meta |= {"classes": ["a", "b", "c"], "threshold": 0.0}
    sha = commit(repo, {"models/model.json": meta})
    prod = registry.ModelVersion("model", "v0.2.0", "p" * 40, "prod")
    made: list[tuple[str, str]] = []
    monkeypatch.setattr(registry, "find_stage", lambda repo: prod)
    monkeypatch.setattr(promote, "_already_decided", lambda *a: None)
    monkeypatch.setattr(promote, "_candidate", lambda *a: (None, None, "ab" * 32))
    monkeypatch.setattr(promote, "decide", lambda *a: GATE)
    monkeypatch.setattr(promote, "next_version", lambda repo, bump: "v0.3.0")
    monkeypatch.setattr(servable, "model_identity", lambda repo, commit: None)
    monkeypatch.setattr(promote, "_tag_message", lambda *a: "message")

    def register(repo: Path, version: str, commit: str, message: str) -> list[str]:
        made.append((version, commit))
        return ["model#canary#3"]

    monkeypatch.setattr(promote.canary, "register_canary", register)
    rules = GateRules(PromotionConfig.model_validate({"canary": {"enabled": True}}), "prod", None)
    result = promote._promote(repo, rules, "HEAD", sha, dry_run=False, bump="minor")
    assert (result.outcome, result.stage, result.version) == ("promoted", "canary", "v0.3.0")
    assert made == [("v0.3.0", sha)] and result.tags == ["model#canary#3"]
