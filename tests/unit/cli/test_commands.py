"""Commands through the CLI layer: each kind of error gets its exit code and a one-line message
(tests/unit/test_exit_codes.py checks `exit_code` itself), and what a few registry commands
print and exit with, the work underneath replaced by a fake."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gitml.errors import ConfigError, DataError, GitmlError, UnavailableError
from gitml.monitor.common import MonitorError
from gitml.registry.gate import GateDecision, RuleResult
from gitml.registry.options import Bump
from gitml.registry.record import PromotionResult
from gitml.registry.rollback import RollbackResult
from gitml.registry.table import RegistryRow
from tests.unit.cli.runner import flat, gitml, write_params

KINDS = [
    (DataError, 1),
    (ConfigError, 2),
    (UnavailableError, 3),
    (MonitorError, 3),
    (GitmlError, 1),
]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory with a valid params.yaml (every default)."""
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path)
    return tmp_path


def raising(exc: BaseException) -> Any:
    def fake(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return fake


@pytest.mark.parametrize(("kind", "code"), KINDS, ids=[k.__name__ for k, _ in KINDS])
def test_each_error_kind_exits_with_its_code_and_only_its_message(
    monkeypatch: pytest.MonkeyPatch, workdir: Path, kind: type[GitmlError], code: int
) -> None:
    from gitml.registry import rollback

    monkeypatch.setattr(rollback, "rollback", raising(kind("prod is [bold]v0.1.0[/]")))
    res = gitml("rollback")
    assert res.exit_code == code
    assert res.stderr == "error: prod is [bold]v0.1.0[/]\n"  # markup shown as written
    assert res.stdout == ""


@pytest.mark.parametrize(
    ("kind", "code"),
    [(DataError, 3), (ConfigError, 2), (UnavailableError, 3), (MonitorError, 3), (GitmlError, 3)],
)
def test_in_the_monitor_an_error_is_never_exit_1(
    monkeypatch: pytest.MonkeyPatch, workdir: Path, kind: type[GitmlError], code: int
) -> None:
    from gitml import monitor

    monkeypatch.setattr(monitor, "run", raising(kind("no rows in the window")))
    res = gitml("monitor", "--since", "24h")
    assert res.exit_code == code  # 1 means an alarm
    assert res.stderr == "error: no rows in the window\n"


def test_monitor_bad_params_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = gitml("monitor")  # no params.yaml here
    assert res.exit_code == 2
    assert res.stderr == "error: params.yaml: file not found (run from the repository root)\n"


def test_a_bug_is_not_turned_into_a_message(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
    from gitml.registry import rollback

    monkeypatch.setattr(rollback, "rollback", raising(KeyError("stage")))
    res = gitml("rollback")
    assert res.exit_code == 1
    assert isinstance(res.exception, KeyError)  # the traceback is kept for the bug report
    assert "error:" not in res.stderr


def test_config_errors_raised_by_commands_themselves(workdir: Path) -> None:
    res = gitml("harvest", "--since", "5 parsecs")
    assert res.exit_code == 2
    assert flat(res.stderr).startswith("error: --since: ")
    res = gitml("tune", "worker")  # tune.storage is null by default
    assert res.exit_code == 2
    assert flat(res.stderr).startswith("error: tune worker: no storage; pass --storage URL")


def test_a_plain_gitml_error_from_a_command_is_exit_1(workdir: Path) -> None:
    (workdir / "schema").mkdir()
    (workdir / "schema" / "adult.yaml").write_text("reviewed: true\n")
    (workdir / "x.parquet").write_bytes(b"")
    res = gitml("schema", "infer", "x.parquet", "--out", "schema/adult.yaml")
    assert res.exit_code == 1
    assert res.stderr == (
        "error: schema/adult.yaml exists; pass --force to overwrite a reviewed schema\n"
    )
    assert (workdir / "schema" / "adult.yaml").read_text() == "reviewed: true\n"


def test_metrics_prints_the_file_and_names_a_missing_one(workdir: Path) -> None:
    (workdir / "m.json").write_text(
        '{"roc_auc": 0.912345, "rows": 6513, "confusion": {"tp": 1, "fn": 2}}'
    )
    res = gitml("metrics", "m.json")
    assert res.exit_code == 0, res.output
    text = flat(res.stdout)
    assert "test metrics (m.json)" in text
    assert "roc_auc 0.9123" in text and "rows 6513" in text and "confusion tp 1, fn 2" in text
    (workdir / "u.json").write_text('{"ece": 0.0286, "ece_uncalibrated": null, "mape": null}')
    text = flat(gitml("metrics", "u.json").stdout)  # a model train left uncalibrated
    assert "ece_uncalibrated — (no calibration map)" in text and "mape —" in text
    assert "None" not in text
    (workdir / "r.json").write_text('{"mae": 69189.15, "r2": 0.42, "rmse": 96000.05, "rows": 600}')
    text = flat(gitml("metrics", "r.json").stdout)  # a regression test split with a 0 target
    assert "mape — (a test target is 0: undefined)" in text and "rmse 96000.0500" in text
    res = gitml("metrics", "missing.json")
    assert res.exit_code == 1
    assert (
        res.stderr == "error: missing.json: not found; run the stage that writes it (dvc repro)\n"
    )


# --------------------------------------------------------------------------- registry commands

DECISION = GateDecision(
    passed=False,
    rules=[
        RuleResult("floor:roc_auc", 0.91, 0.8, True, "ok"),
        RuleResult("max_drop:roc_auc", 0.02, 0.0, False, "roc_auc 0.9100 vs prod 0.9300"),
    ],
    prod_version="v0.1.0",
    prod_commit="p" * 40,
    summary="REFUSE: roc_auc 0.9100 vs prod v0.1.0 0.9300 (-0.0200); 1/2 rules pass",
)


@pytest.fixture
def promoted(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> list[dict[str, Any]]:
    """`registry.promote.promote` refuses (or promotes, with --push); its calls are recorded."""
    from gitml.registry import promote

    calls: list[dict[str, Any]] = []

    def fake(repo: Path, cfg: Any, ref: str, **kw: Any) -> PromotionResult:
        calls.append({"repo": repo, "cfg": cfg, "ref": ref, **kw})
        if kw["push"]:
            return PromotionResult(
                "promoted", DECISION, "c" * 40, "v0.2.0", ["model@v0.2.0", "model#prod#2"],
                pushed=True, model_sha256="ab" * 32,
            )  # fmt: skip
        return PromotionResult("refused", DECISION, "c" * 40, None, note="judged as committed")

    monkeypatch.setattr(promote, "promote", fake)
    return calls


def test_promote_shows_the_gate_and_exits_1_on_a_refusal_only_when_strict(
    promoted: list[dict[str, Any]], workdir: Path
) -> None:
    res = gitml("promote", "--ref", "main", "--bump", "patch")
    assert res.exit_code == 0, res.output
    call = {"repo": workdir, "cfg": None, "ref": "main", "push": False, "dry_run": False}
    assert promoted == [call | {"bump": Bump.patch}]
    text = flat(res.stdout)
    assert "promotion gate (candidate main vs prod v0.1.0)" in text
    assert "max_drop:roc_auc 0.0200 0.0000 FAIL" in text
    assert "FAIL max_drop:roc_auc: roc_auc 0.9100 vs prod 0.9300" in text
    assert DECISION.summary in text and "judged as committed" in text
    assert "tags:" not in text
    assert gitml("promote", "--strict").exit_code == 1


def test_promote_reports_the_pushed_tags(promoted: list[dict[str, Any]]) -> None:
    res = gitml("promote", "--push", "--strict")
    assert res.exit_code == 0, res.output
    text = flat(res.stdout)
    assert "tags: model@v0.2.0, model#prod#2 (pushed)" in text
    assert f"model sha256: {'ab' * 32}" in text


def test_promote_validates_the_workspace_params_first(
    promoted: list[dict[str, Any]], workdir: Path
) -> None:
    (workdir / "params.yaml").write_text("promotion:\n  min_gain: 0.1\n")
    res = gitml("promote")
    assert res.exit_code == 2
    assert "promotion.min_gain" in res.stderr and "unknown key" in res.stderr
    assert promoted == []  # nothing was judged


def test_rollback_prints_the_move(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
    from gitml.registry import rollback

    calls: list[tuple[Any, ...]] = []

    def fake(repo: Path, to: str | None, *, reason: str, push: bool) -> RollbackResult:
        calls.append((to, reason, push))
        return RollbackResult("v0.3.0", "v0.2.0", ["model#prod!#3", "model#prod#4"], push, reason)

    monkeypatch.setattr(rollback, "rollback", fake)
    res = gitml("rollback", "--to", "v0.2.0", "--reason", "latency", "--push")
    assert res.exit_code == 0, res.output
    assert calls == [("v0.2.0", "latency", True)]
    assert res.stdout == (
        "prod: v0.3.0 → v0.2.0 (latency); tags: model#prod!#3, model#prod#4 (pushed)\n"
    )


def test_registry_table(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
    from gitml.registry import table

    rows = [
        RegistryRow("v0.2.0", "a" * 40, datetime(2026, 3, 4, 5, 6, tzinfo=UTC), ("prod",), 0.9123,
                    "PROMOTE: roc_auc 0.9123"),
        RegistryRow("v0.1.0", "b" * 40, datetime(2026, 1, 2, 3, 4, tzinfo=UTC), (), None, ""),
    ]  # fmt: skip
    monkeypatch.setattr(table, "registry_rows", lambda repo, metric: rows if metric else [])
    # the console's width is fixed when it is made (COLUMNS at import): make it wide here
    from gitml.cli.app import out

    monkeypatch.setattr(out, "_width", 160)
    res = gitml("registry")
    assert res.exit_code == 0, res.output
    # every cell, in reading order (rich may wrap a cell over two lines when another test in
    # this process left the console narrower: the words, not the wrapping, are checked)
    # (a wrapped header cell puts its first word on a line of its own: the header is a set)
    words = flat(res.stdout).split()
    header = {"version", "stage", "commit", "registered", "(UTC)", "roc_auc", "decision"}
    assert header <= set(words[: words.index("v0.2.0")]), words
    expected = ["v0.2.0", "prod", "a" * 12, "2026-03-04", "0.9123", "PROMOTE:",
                "v0.1.0", "b" * 12, "2026-01-02"]  # fmt: skip
    rest = iter(words)
    assert all(word in rest for word in expected), words  # a subsequence: in this order
    assert "05:06" in words and "03:04" in words

    monkeypatch.setattr(table, "registry_rows", lambda repo, metric: [])
    res = gitml("registry")
    assert res.stdout == "no registered version yet: `gitml promote` registers the first\n"


def test_init_says_to_version_a_raw_file_dvc_does_not_track_yet(
    monkeypatch: pytest.MonkeyPatch, workdir: Path
) -> None:
    """docs/your-own-data.md's two commands leave data/raw/X.csv untracked: the walk committed
    params.yaml without it, and a later `dvc add` reran ingest, validate and split."""
    from gitml.project import init as project
    from gitml.project.init import InitResult

    done = InitResult(Path("params.yaml"), Path("schema/t.schema.yaml"))
    monkeypatch.setattr(project, "run", lambda *a, **k: done)
    (workdir / "data" / "raw").mkdir(parents=True)
    (workdir / "data" / "raw" / "t.csv").write_text("a,y\n1,0\n")
    said = flat(gitml("init", "data/raw/t.csv", "--target", "y").output)
    assert "`dvc add data/raw/t.csv`" in said, said
    (workdir / "data" / "raw" / "t.csv.dvc").write_text("outs: []\n")
    said = flat(gitml("init", "data/raw/t.csv", "--target", "y").output)
    assert "dvc add" not in said and "then run `dvc repro`" in said, said
