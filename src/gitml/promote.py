"""Promotion: a candidate replaces the `prod` model only when the gate says it is not worse.

The gate (`gate`, pure) compares what evaluate wrote for the candidate with what it wrote for
the version now in `prod`, under the rules of `promotion:` in params.yaml. `promote` reads
both from git, applies the gate, writes the decision record, and on a pass registers the next
SemVer version and moves `prod` to it with GTO tags (the git history is the registry).
`rollback` moves `prod` back. The PR report calls `decide` to show the verdict before a merge.

Rules, in order (a rule whose setting is null or empty is not applied):

- `floor:M` / `ceiling:M` — the primary metric and each `floors` metric against an absolute
  bound (a ceiling for the lower-is-better metrics log_loss and brier);
- `max_drop:M` — only when there is a prod: how much worse than prod the candidate may be on
  the primary metric (`max_drop`) and each `max_drops` metric; "worse" is signed by direction;
- `slice_floor:COL=VALUE:M` — every slice with at least `slice_min_rows` rows and both classes;
- `max_slice_gap` — the largest best-minus-worst gap among those slices, per column and metric.

Tie rule: differences are rounded to 6 decimals (what evaluate writes) and the bounds are
inclusive, so a candidate exactly as good as prod passes `max_drop: 0` — it is not worse, and
it carries the newer code and data. A candidate whose model file is byte-identical to prod's
(same md5 in dvc.lock) is not registered again: there is nothing new to promote.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from gitml import github_io, layout, registry, reproduce, smoke
from gitml.config import PromotionConfig
from gitml.errors import ConfigError, DataError, GitmlError
from gitml.io import write_atomic, write_json

LOWER_IS_BETTER = frozenset({"log_loss", "brier"})
FIRST_VERSION = "v0.1.0"  # 0.x: the model's interface may still change; see README
METRICS = layout.EVALUATE_DIR / "metrics.json"
SLICES = layout.EVALUATE_DIR / "slices.json"
RECORD = Path("reports/promotion.json")
RECORD_MD = Path("reports/promotion.md")
REMOTE = "origin"
BUMPS = ("major", "minor", "patch")
SHA256_LABEL = smoke.SHA256_LABEL  # the line of a version's tag message that smoke-test checks


# --------------------------------------------------------------------------- the gate (pure)


@dataclass(frozen=True)
class Evaluation:
    """What evaluate wrote for one model: metrics.json and slices.json."""

    metrics: dict[str, Any]
    slices: dict[str, Any]

    @classmethod
    def at_rev(cls, repo: Path, rev: str) -> Evaluation:
        """Both files as committed at `rev` (they are `cache: false`, so they live in git)."""
        return cls._parse(
            registry.read_git_file(repo, rev, METRICS),
            registry.read_git_file(repo, rev, SLICES),
            f"at {rev[:12]}",
        )

    @classmethod
    def from_dir(cls, folder: Path) -> Evaluation:
        """Both files from a folder of the workspace (normally reports/evaluate)."""
        folder = Path(folder)
        raw = []
        for name in (METRICS.name, SLICES.name):
            try:
                raw.append((folder / name).read_bytes())
            except FileNotFoundError:
                raise DataError(
                    f"{folder / name}: not found; run `dvc repro` (stage evaluate writes it)"
                ) from None
        return cls._parse(raw[0], raw[1], f"in {folder}")

    @classmethod
    def _parse(cls, metrics_raw: bytes, slices_raw: bytes, where: str) -> Evaluation:
        parsed = []
        for path, raw in ((METRICS, metrics_raw), (SLICES, slices_raw)):
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DataError(f"{path} {where} is not valid JSON: {exc}") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path} {where} must hold a JSON object, got {type(obj).__name__}")
            parsed.append(obj)
        metrics, slices = parsed
        if not isinstance(slices.get("columns"), dict):
            raise DataError(
                f"{SLICES} {where} has no 'columns' mapping: not written by `gitml evaluate`"
            )
        return cls(metrics, slices)


@dataclass(frozen=True)
class RuleResult:
    name: str
    value: float | None
    threshold: float | None
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    rules: list[RuleResult]
    prod_version: str | None
    prod_commit: str | None
    summary: str


def _metric(ev: Evaluation, name: str, who: str, setting: str) -> float | None:
    if name not in ev.metrics:
        raise DataError(
            f"the {who}'s {METRICS} has no {name!r} (gated by promotion.{setting}); "
            "rerun `dvc repro evaluate` with this gitml, or remove the rule"
        )
    value = ev.metrics[name]
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    ):
        raise DataError(f"the {who}'s {METRICS}: {name} = {value!r} is not a finite number")
    return None if value is None else float(value)


def _fmt(x: float | None) -> str:
    return "undefined" if x is None else f"{x:.4f}"


def _bound_rule(name: str, metric: str, value: float | None, bound: float) -> RuleResult:
    lower = metric in LOWER_IS_BETTER
    kind = "ceiling" if lower else "floor"
    passed = value is not None and (value <= bound if lower else value >= bound)
    word = "at most" if lower else "at least"
    return RuleResult(
        f"{kind}:{name}",
        value,
        bound,
        passed,
        f"{name} is {_fmt(value)}; it must be {word} {bound:.4f}",
    )


def worsening(metric: str, candidate: float, prod: float) -> float:
    """How much worse the candidate is than prod (negative: better), rounded like the files."""
    diff = candidate - prod if metric in LOWER_IS_BETTER else prod - candidate
    return round(diff, 6) + 0.0  # + 0.0 turns -0.0 into 0.0


def _drop_rule(metric: str, cand: float | None, prod: float | None, allowed: float) -> RuleResult:
    name = f"max_drop:{metric}"
    if cand is None or prod is None:
        return RuleResult(
            name, None, allowed, False, f"{metric} is undefined (candidate or prod): no comparison"
        )
    worse = worsening(metric, cand, prod)
    limit = (
        f"may be worse by at most {allowed:.4f}"
        if allowed >= 0
        else f"must be better by at least {-allowed:.4f}"
    )
    direction = " (lower is better)" if metric in LOWER_IS_BETTER else ""
    return RuleResult(
        name,
        worse,
        allowed,
        worse <= allowed,
        f"{metric} {cand:.4f} vs prod {prod:.4f}{direction}: {limit}",
    )


def _gated_slices(ev: Evaluation, min_rows: int) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for col, info in ev.slices["columns"].items():
        values = info.get("values", {}) if isinstance(info, dict) else {}
        out[col] = {
            v: m
            for v, m in values.items()
            if isinstance(m, dict) and m.get("ranked") and (m.get("rows") or 0) >= min_rows
        }
    return out


def _slice_rules(ev: Evaluation, cfg: PromotionConfig) -> list[RuleResult]:
    rules: list[RuleResult] = []
    gated = _gated_slices(ev, cfg.slice_min_rows)
    for col, values in gated.items():
        for value, m in values.items():
            for metric, floor in cfg.slice_floors.items():
                x = m.get(metric)
                rules.append(
                    RuleResult(
                        f"slice_floor:{col}={value}:{metric}",
                        x,
                        floor,
                        x is not None and x >= floor,
                        f"{metric} on {col}={value} ({m.get('rows')} rows) is {_fmt(x)}; "
                        f"it must be at least {floor:.4f}",
                    )
                )
    if cfg.max_slice_gap is None:
        return rules
    worst: tuple[float, str] | None = None
    for col, values in gated.items():
        for metric in ("roc_auc", "recall"):
            scored = {v: m[metric] for v, m in values.items() if m.get(metric) is not None}
            if len(scored) < 2:
                continue
            lo, hi = min(scored, key=scored.__getitem__), max(scored, key=scored.__getitem__)
            gap = round(scored[hi] - scored[lo], 6)
            if worst is None or gap > worst[0]:
                worst = (gap, f"{metric} on {col}: {hi} {scored[hi]:.4f} vs {lo} {scored[lo]:.4f}")
    if worst is None:
        rules.append(
            RuleResult(
                "max_slice_gap",
                None,
                cfg.max_slice_gap,
                True,
                f"no column has two slices with at least {cfg.slice_min_rows} rows: no gap",
            )
        )
    else:
        rules.append(
            RuleResult(
                "max_slice_gap",
                worst[0],
                cfg.max_slice_gap,
                worst[0] <= cfg.max_slice_gap,
                f"largest slice gap is {worst[0]:.4f} ({worst[1]}); "
                f"it must be at most {cfg.max_slice_gap:.4f}",
            )
        )
    return rules


def gate(
    candidate: Evaluation,
    prod: Evaluation | None,
    cfg: PromotionConfig,
    *,
    prod_version: str | None = None,
    prod_commit: str | None = None,
) -> GateDecision:
    """Apply the promotion rules. Pure: no git, no files. With no prod, only bounds apply."""
    primary = cfg.primary_metric
    rules: list[RuleResult] = []
    cand_primary = _metric(candidate, primary, "candidate", "primary_metric")
    if cfg.primary_floor is not None:
        rules.append(_bound_rule(primary, primary, cand_primary, cfg.primary_floor))
    for metric, bound in cfg.floors.items():
        rules.append(
            _bound_rule(metric, metric, _metric(candidate, metric, "candidate", "floors"), bound)
        )
    prod_primary = None
    if prod is not None:
        prod_primary = _metric(prod, primary, "prod model", "primary_metric")
        rules.append(_drop_rule(primary, cand_primary, prod_primary, cfg.max_drop))
        for metric, allowed in cfg.max_drops.items():
            rules.append(
                _drop_rule(
                    metric,
                    _metric(candidate, metric, "candidate", "max_drops"),
                    _metric(prod, metric, "prod model", "max_drops"),
                    allowed,
                )
            )
    rules += _slice_rules(candidate, cfg)
    passed = all(r.passed for r in rules)
    n_ok = sum(r.passed for r in rules)
    head = f"{primary} {_fmt(cand_primary)}"
    if prod is None:
        head += " (no prod yet: absolute rules only)"
    else:
        label = f"prod {prod_version}" if prod_version else "prod"
        delta = (
            ""
            if cand_primary is None or prod_primary is None
            else f" ({cand_primary - prod_primary:+.4f})"
        )
        head += f" vs {label} {_fmt(prod_primary)}{delta}"
    summary = f"{'PROMOTE' if passed else 'REFUSE'}: {head}; {n_ok}/{len(rules)} rules pass"
    failed = [r.name for r in rules if not r.passed]
    if failed:
        summary += f"; failed: {', '.join(failed[:3])}" + (" …" if len(failed) > 3 else "")
    return GateDecision(passed, rules, prod_version, prod_commit, summary)


def decide(repo: Path, candidate: Evaluation, cfg: PromotionConfig) -> GateDecision:
    """Find the version in `prod` with GTO, read its evaluation at its commit, apply the gate."""
    prod = registry.find_stage(repo)
    if prod is None:
        return gate(candidate, None, cfg)
    try:
        prod_eval = Evaluation.at_rev(repo, prod.commit)
    except DataError as exc:
        raise DataError(
            f"the prod version {prod.artifact}@{prod.version} (commit {prod.commit[:12]}) has "
            f"no usable evaluation, so nothing can be compared with it: {exc}. Roll prod back "
            "to a version that has one (`gitml rollback --to VERSION`)"
        ) from None
    return gate(candidate, prod_eval, cfg, prod_version=prod.version, prod_commit=prod.commit)


# --------------------------------------------------------------------------- promote / rollback


Outcome = Literal["promoted", "refused", "dry-run", "unchanged", "already-prod", "superseded"]


@dataclass(frozen=True)
class PromotionResult:
    outcome: Outcome
    decision: GateDecision | None
    candidate_commit: str
    version: str | None  # registered (or, on a dry run, that would be)
    tags: list[str] = field(default_factory=list)
    pushed: bool = False
    record: Path | None = None
    note: str = ""
    model_sha256: str | None = None  # of the model file CI holds (the workspace's)
    rules: GateRules | None = None
    reproduction: reproduce.Comparison | None = None  # None: the workspace is not the candidate


def next_version(repo: Path, bump: str = "minor") -> str:
    """The version a promotion registers: FIRST_VERSION, then the latest one bumped."""
    from gto.versions import SemVer

    if bump not in BUMPS:
        raise ConfigError(f"--bump {bump!r}: use one of {', '.join(BUMPS)}")
    versions = registry.list_versions(repo)
    if not versions:
        return FIRST_VERSION
    return str(
        SemVer(versions[0].version)
        .bump(bump_major=bump == "major", bump_minor=bump == "minor", bump_patch=bump == "patch")
        .version
    )


@dataclass(frozen=True)
class GateRules:
    """The `promotion:` rules a candidate is judged by, and where they were read."""

    cfg: PromotionConfig
    source: Literal["first parent", "prod", "candidate", "given"]
    commit: str | None  # the commit whose params.yaml they come from
    candidate_changes: bool = False  # the candidate's own `promotion:` differs from them
    note: str = ""


def _promotion_at(repo: Path, rev: str) -> PromotionConfig | None:
    """`promotion:` of params.yaml as committed at `rev`; None when the file is not there."""
    from pydantic import ValidationError

    try:
        raw = registry.read_git_file(repo, rev, layout.PARAMS)
    except DataError:
        return None
    try:
        section = (yaml.safe_load(raw) or {}).get("promotion") or {}
        return PromotionConfig.model_validate(section)
    except (yaml.YAMLError, AttributeError, ValidationError) as exc:
        raise ConfigError(
            f"{layout.PARAMS} at {rev[:12]}: its `promotion:` section is not valid for this "
            f"gitml ({type(exc).__name__}: {str(exc).splitlines()[0]}); fix it on that branch or "
            "promote with explicit rules (`gitml promote --params FILE`)"
        ) from None


def rules_for(repo: Path | str, commit: str) -> GateRules:
    """The gate's rules come from the base, never from the candidate itself.

    The candidate's first parent (main before the merge); else (a root commit) prod's commit;
    else, for a first version with no history, the candidate's own. A branch that changes
    `promotion:` is judged by the old rules; its rules apply from the next merge on.
    """
    repo = Path(repo)
    own = _promotion_at(repo, commit)
    parent = registry.git(repo, "rev-parse", "--verify", "--quiet", f"{commit}^1", check=False)
    found: tuple[Literal["first parent", "prod"], str, PromotionConfig] | None = None
    if parent:
        cfg = _promotion_at(repo, parent)
        if cfg is not None:
            found = ("first parent", parent, cfg)
    if found is None:
        prod = registry.find_stage(repo)
        if prod is not None:
            cfg = _promotion_at(repo, prod.commit)
            if cfg is not None:
                found = ("prod", prod.commit, cfg)
    if found is None:
        if own is None:
            raise DataError(
                f"no {layout.PARAMS} at {commit[:12]}, its first parent or prod's commit: "
                "there are no `promotion:` rules to judge it by"
            )
        return GateRules(own, "candidate", commit, False, "first version: its own rules apply")
    source, where, cfg = found
    changes = own is not None and own != cfg
    note = (
        f"this commit changes `promotion:`; it is judged by the rules of its {source} "
        f"({where[:12]}), and the new rules apply from the next merge on"
        if changes
        else ""
    )
    return GateRules(cfg, source, where, changes, note)


def _sha256(path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def _reproduction_rule(comparison: reproduce.Comparison) -> RuleResult:
    beyond = comparison.beyond
    if beyond:
        detail = (
            "the committed numbers are not what CI reproduced: "
            + "; ".join(m.line() for m in beyond[:5])
            + (f"; and {len(beyond) - 5} more" if len(beyond) > 5 else "")
            + f" (tolerance {comparison.tolerance:g})"
        )
        worst = max((m.difference for m in beyond if m.difference is not None), default=None)
        return RuleResult("reproduced", worst, comparison.tolerance, False, detail)
    worst = max((m.difference or 0.0 for m in comparison.metrics), default=0.0)
    return RuleResult("reproduced", worst, comparison.tolerance, True, comparison.summary())


def _with_reproduction(decision: GateDecision, rule: RuleResult) -> GateDecision:
    """The gate's decision with the reproduction check as its first rule."""
    rules = [rule, *decision.rules]
    if rule.passed:
        n_ok = sum(r.passed for r in rules)
        summary = decision.summary.replace(
            f"{n_ok - 1}/{len(rules) - 1} rules pass", f"{n_ok}/{len(rules)} rules pass"
        )
        return replace(decision, rules=rules, summary=summary)
    summary = f"REFUSE: {rule.detail}; the gate on CI's numbers alone: {decision.summary}"
    return replace(decision, passed=False, rules=rules, summary=summary)


def _model_md5(repo: Path, commit: str) -> str | None:
    try:
        return registry.locked_md5(repo, commit, layout.MODEL)
    except DataError:  # no dvc.lock at that commit: identity unknown, let the gate decide
        return None


def _gto(action: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from gto.exceptions import GTOException

    try:
        return fn(*args, **kwargs)
    except GTOException as exc:
        raise DataError(
            f"{action}: {exc}. Run `git fetch --tags` and `gitml registry` to see the registry; "
            "existing tags are never overwritten"
        ) from None


def _tag_message(title: str, decision: GateDecision | None, extra: str = "") -> str:
    lines = [title]
    if decision is not None:
        lines += ["", decision.summary, ""]
        lines += [f"{'PASS' if r.passed else 'FAIL'} {r.name}: {r.detail}" for r in decision.rules]
    if extra:
        lines += ["", extra]
    return "\n".join(lines)


def _run_tool(repo: Path, cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DataError(f"{what} failed ({' '.join(cmd)}): {proc.stderr.strip() or proc.stdout}")


def _dvc_remote_configured(repo: Path) -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "list"], cwd=repo, capture_output=True, text=True
    )
    return proc.returncode == 0 and bool(proc.stdout.strip())


def _publish(repo: Path, tags: list[str], dvc_push: bool) -> None:
    """`dvc push` (so no tag names a model the remote lacks), then push all tags atomically.

    git itself, not GTO's push: GTO pushes tag by tag, and a half-pushed promotion (a version
    without its stage, or the reverse) must not happen. On failure the local tags are deleted,
    so the local registry matches the remote one.
    """
    try:
        _require_remote(repo)
        if dvc_push and _dvc_remote_configured(repo):
            _run_tool(repo, [sys.executable, "-m", "dvc", "push"], "dvc push")
        _run_tool(
            repo,
            ["git", "push", "--atomic", REMOTE, *[f"refs/tags/{t}" for t in tags]],
            "pushing the tags",
        )
    except GitmlError:
        _delete_tags(repo, tags)
        raise


def _require_remote(repo: Path) -> None:
    if REMOTE not in registry.git(repo, "remote", check=False).split():
        raise ConfigError(
            f"--push needs a git remote named {REMOTE!r} and {repo.resolve()} has none; "
            f"add one (`git remote add {REMOTE} URL`) or leave out --push"
        )


def _delete_tags(repo: Path, tags: list[str]) -> None:
    for t in tags:
        registry.git(repo, "tag", "-d", t, check=False)


def promote(
    repo: Path,
    cfg: PromotionConfig | None = None,
    ref: str = "HEAD",
    *,
    push: bool = False,
    dry_run: bool = False,
    bump: str = "minor",
) -> PromotionResult:
    """Gate the candidate at `ref` against prod; on a pass, register it and assign `prod`.

    `cfg` None (what `gitml promote` passes): the rules of the base, see `rules_for`. When `ref`
    is the checked-out commit, the workspace is taken as CI's reproduction of it: its numbers
    are compared with the committed ones (refused beyond `reproduce_tolerance`), the gate judges
    the reproduced numbers, and the workspace model's sha256 goes into the tags and the record.
    """
    repo = Path(repo)
    if bump not in BUMPS:
        raise ConfigError(f"--bump {bump!r}: use one of {', '.join(BUMPS)}")
    if push and not dry_run:
        _require_remote(repo)
    commit = registry.resolve_rev(repo, ref)
    rules = GateRules(cfg, "given", None) if cfg is not None else rules_for(repo, commit)
    result = _promote(repo, rules, ref, commit, push=push, dry_run=dry_run, bump=bump)
    result = replace(result, rules=rules)
    result = replace(result, record=write_record(repo, result, rules.cfg, ref))
    write_outputs(result)
    return result


def write_outputs(result: PromotionResult) -> None:
    """`promoted`, `version`, `tag`, `sha256` for the next job (when $GITHUB_OUTPUT is set)."""
    promoted = result.outcome == "promoted"
    github_io.write_outputs(
        {
            "promoted": "true" if promoted else "false",
            "version": result.version if promoted and result.version else "",
            "tag": f"{registry.ARTIFACT}@{result.version}" if promoted and result.version else "",
            "sha256": result.model_sha256 or "",
        }
    )


def _promote(
    repo: Path,
    rules: GateRules,
    ref: str,
    commit: str,
    *,
    push: bool,
    dry_run: bool,
    bump: str,
) -> PromotionResult:
    from gto import api

    cfg = rules.cfg
    existing = next((v for v in registry.list_versions(repo) if v.commit == commit), None)
    if existing is not None:
        if registry.PROD in existing.stages:
            return PromotionResult(
                "already-prod",
                None,
                commit,
                existing.version,
                note=f"{ref} is already {registry.ARTIFACT}@{existing.version}, in prod",
            )
        raise DataError(
            f"{ref} ({commit[:12]}) is already registered as {registry.ARTIFACT}@"
            f"{existing.version}; to put it back in prod run `gitml rollback --to "
            f"{existing.version}`"
        )
    prod = registry.find_stage(repo)
    if prod is not None and _is_ancestor(repo, commit, prod.commit):
        return PromotionResult(
            "superseded",
            None,
            commit,
            None,
            note=f"{ref} ({commit[:12]}) is an ancestor of prod {registry.ARTIFACT}@"
            f"{prod.version} ({prod.commit[:12]}): prod already holds a newer commit, so an "
            "older one is not registered (a re-run of an old promote run?). To go back to an "
            "older version use `gitml rollback --to VERSION`",
        )
    reproduced = registry.resolve_rev(repo, "HEAD") == commit
    comparison: reproduce.Comparison | None = None
    sha256: str | None = None
    if reproduced:
        comparison = reproduce.compare(repo, commit, cfg.reproduce_tolerance)
        candidate = Evaluation.from_dir(repo / layout.EVALUATE_DIR)
        sha256 = _sha256(repo / layout.MODEL)
        if sha256 is None:
            raise DataError(
                f"{layout.MODEL}: not in the workspace; run `dvc repro --force` (or `dvc pull`) "
                "so that the model the gate judges is the one whose sha256 is recorded"
            )
    else:
        candidate = Evaluation.at_rev(repo, commit)
    decision = decide(repo, candidate, cfg)
    if comparison is not None:
        decision = _with_reproduction(decision, _reproduction_rule(comparison))
    base = PromotionResult(
        "refused", decision, commit, None, model_sha256=sha256, reproduction=comparison
    )
    notes = [rules.note] if rules.note else []
    if not reproduced:
        notes.append(
            f"{ref} is not the checked-out commit, so nothing was reproduced: the gate judged "
            "the numbers as committed and no model sha256 is recorded (CI promotes HEAD after "
            "`dvc repro --force`)"
        )
    base = replace(base, note="; ".join(notes))
    version = next_version(repo, bump)
    cand_md5 = _model_md5(repo, commit)
    if (
        (comparison is None or comparison.ok)
        and prod is not None
        and cand_md5 is not None
        and cand_md5 == _model_md5(repo, prod.commit)
    ):
        return replace(
            base,
            outcome="unchanged",
            note="; ".join(
                [
                    *notes,
                    f"the model at {ref} is byte-identical to prod {prod.version} "
                    f"(md5 {cand_md5}): no new version",
                ]
            ),
        )
    if not decision.passed:
        return base
    if dry_run:
        return replace(
            base,
            outcome="dry-run",
            version=version,
            note="; ".join([*notes, f"would register {version}"]),
        )

    registry.wait_past_last_tag(repo)
    title = f"{registry.ARTIFACT}@{version}: promoted to prod"
    extra = [f"candidate {commit}; model md5 {cand_md5 or '-'}"]
    if sha256:
        extra.append(f"{SHA256_LABEL} {sha256}")
    if rules.source != "given":
        extra.append(f"rules: promotion: of the {rules.source} ({(rules.commit or '')[:12]})")
    if rules.note:
        extra.append(rules.note)
    if comparison is not None:
        extra.append(f"reproduction: {comparison.summary()}")
    message = _tag_message(title, decision, "\n".join(extra))
    tags = [f"{registry.ARTIFACT}@{version}"]
    _gto(
        "registering",
        api.register,
        str(repo),
        registry.ARTIFACT,
        commit,
        version=version,
        message=message,
    )
    try:
        tags.append(_prod_tag(repo, "assign", version, message))
        if prod is not None:  # prod holds one version: the old one leaves it explicitly
            tags.append(
                _prod_tag(
                    repo,
                    "unassign",
                    prod.version,
                    f"{registry.ARTIFACT}@{prod.version} leaves prod: superseded by "
                    f"{version}\n\n{decision.summary}",
                )
            )
        if push:
            _publish(repo, tags, dvc_push=True)
    except GitmlError:
        _delete_tags(repo, tags)
        raise
    return replace(base, outcome="promoted", version=version, tags=tags, pushed=push)


def _is_ancestor(repo: Path, commit: str, of: str) -> bool:
    """`commit` is `of` or one of its ancestors."""
    proc = subprocess.run(
        ["git", "merge-base", "--is-ancestor", commit, of], cwd=repo, capture_output=True
    )
    return proc.returncode == 0


@dataclass(frozen=True)
class RollbackResult:
    from_version: str
    to_version: str
    tags: list[str]
    pushed: bool
    reason: str


def previous_version(repo: Path, current: str) -> str:
    """The newest version older than `current` that has been in prod before."""
    from gto.versions import SemVer

    older = [
        v
        for v in registry.list_versions(repo)
        if registry.PROD in v.ever_in and SemVer(v.version) < SemVer(current)
    ]
    if not older:
        raise DataError(
            f"no version older than {current} was ever in prod; name one with --to "
            "(see `gitml registry`)"
        )
    return older[0].version


def _prod_tag(repo: Path, action: str, version: str, message: str) -> str:
    """Assign (or unassign) stage prod to a version with a GTO tag; return the tag's name."""
    from gto import api

    fn = api.assign if action == "assign" else api.unassign
    what = "assigning prod" if action == "assign" else "unassigning prod"
    return str(
        _gto(
            what,
            fn,
            str(repo),
            registry.ARTIFACT,
            stage=registry.PROD,
            version=version,
            message=message,
        ).tag
    )


def rollback(
    repo: Path, to: str | None = None, *, reason: str = "", push: bool = False
) -> RollbackResult:
    """Move `prod` from its current version to `to` (default: the previous prod version)."""

    repo = Path(repo)
    if push:
        _require_remote(repo)
    current = registry.find_stage(repo)
    if current is None:
        raise DataError("nothing is in prod yet, so there is nothing to roll back")
    target = (
        registry.find_version(repo, to).version if to else previous_version(repo, current.version)
    )
    if target == current.version:
        raise DataError(f"{registry.ARTIFACT}@{target} is already in prod")
    why = reason.strip() or "no reason given"
    message = f"rollback: prod {registry.ARTIFACT}@{current.version} -> {target}\n\nreason: {why}"
    registry.wait_past_last_tag(repo)
    tags: list[str] = []
    try:
        tags.append(_prod_tag(repo, "unassign", current.version, message))
        tags.append(_prod_tag(repo, "assign", target, message))
        if push:
            _publish(repo, tags, dvc_push=False)
    except GitmlError:
        _delete_tags(repo, tags)
        raise
    return RollbackResult(current.version, target, tags, push, why)


# --------------------------------------------------------------------------- the record


def record_dict(result: PromotionResult, cfg: PromotionConfig, ref: str) -> dict[str, Any]:
    d = result.decision
    return {
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "outcome": result.outcome,
        "passed": None if d is None else d.passed,
        "summary": None if d is None else d.summary,
        "note": result.note,
        "candidate": {"ref": ref, "commit": result.candidate_commit, "version": result.version},
        "prod": {
            "version": None if d is None else d.prod_version,
            "commit": None if d is None else d.prod_commit,
        },
        "rules": [] if d is None else [asdict(r) for r in d.rules],
        "tags": result.tags,
        "pushed": result.pushed,
        "config": cfg.model_dump(mode="json"),
        "model": {"path": layout.MODEL.as_posix(), "sha256": result.model_sha256},
        "rules_from": _rules_from(result.rules),
        "reproduction": (None if result.reproduction is None else result.reproduction.to_dict()),
    }


def _rules_from(rules: GateRules | None) -> dict[str, Any] | None:
    if rules is None:
        return None
    return {
        "source": rules.source,
        "commit": rules.commit,
        "candidate_changes_rules": rules.candidate_changes,
        "note": rules.note,
    }


def render_markdown(record: dict[str, Any]) -> str:
    verdict = {
        "promoted": f"✅ promoted to prod as `{record['candidate']['version']}`",
        "dry-run": f"✅ would be promoted as `{record['candidate']['version']}` (dry run)",
        "refused": "❌ not promoted: prod is unchanged",
        "unchanged": "⚪ not promoted: same model as prod",
        "already-prod": "⚪ already in prod",
        "superseded": "⚪ not promoted: prod already holds a newer commit",
    }[record["outcome"]]
    prod = record["prod"]
    lines = [
        "## Model promotion",
        "",
        f"**{verdict}**",
        "",
        f"{record['summary'] or record['note']}",
        "",
        f"Candidate `{record['candidate']['commit'][:12]}` ({record['candidate']['ref']}) vs "
        + (
            f"prod `{prod['version']}` (`{prod['commit'][:12]}`)"
            if prod["version"]
            else "no prod yet"
        ),
        "",
    ]
    if record["note"] and record["summary"]:
        lines += [record["note"], ""]
    if record["rules"]:
        lines += ["| rule | value | threshold | result |", "|---|---|---|---|"]
        for r in record["rules"]:
            lines.append(
                f"| `{r['name']}` | {_fmt(r['value'])} | {_fmt(r['threshold'])} | "
                f"{'pass' if r['passed'] else '**FAIL**'} |"
            )
    lines += _markdown_provenance(record)
    if record["tags"]:
        lines += ["", "Tags: " + ", ".join(f"`{t}`" for t in record["tags"])]
    return "\n".join(lines) + "\n"


def _markdown_provenance(record: dict[str, Any]) -> list[str]:
    """Where the rules came from, what CI reproduced, the model's sha256 (when recorded)."""
    lines: list[str] = []
    src = record.get("rules_from")
    if src and src["source"] != "given":
        lines += [
            "",
            f"Rules: `promotion:` of the {src['source']} (`{(src['commit'] or '')[:12]}`).",
        ]
        if src["note"]:
            lines.append(f"⚠️ {src['note']}.")
    rep = record.get("reproduction")
    if rep:
        lines += ["", f"Reproduction by CI: {rep['summary']}."]
        diffs = rep["beyond_tolerance"] + rep["within_tolerance"]
        if diffs:
            lines += [
                "",
                f"| number | committed | reproduced | difference | within {rep['tolerance']:g} |",
                "|---|---|---|---|---|",
            ]
            for m in diffs[:30]:
                d = "n/a" if m["difference"] is None else f"{m['difference']:.3g}"
                lines.append(
                    f"| `{Path(m['file']).name}:{m['key']}` | {m['committed']} | "
                    f"{m['reproduced']} | {d} | {'yes' if m['within'] else '**NO**'} |"
                )
            if len(diffs) > 30:
                lines.append(f"| … {len(diffs) - 30} more in promotion.json | | | | |")
        if rep["outputs_differ"]:
            lines += ["", "Outputs with another md5 than the committed dvc.lock: "
                      + ", ".join(f"`{o['path']}`" for o in rep["outputs_differ"])]  # fmt: skip
    sha = (record.get("model") or {}).get("sha256")
    if sha:
        lines += ["", f"Model `{record['model']['path']}` sha256 `{sha}`."]
    return lines


def write_record(repo: Path, result: PromotionResult, cfg: PromotionConfig, ref: str) -> Path:
    """reports/promotion.json + .md in the workspace; the Markdown also to the CI job summary."""
    record = record_dict(result, cfg, ref)
    path = write_json(repo / RECORD, record)
    md = render_markdown(record)
    write_atomic(repo / RECORD_MD, md)
    append_step_summary(md)
    return path


def append_step_summary(markdown: str) -> None:
    github_io.append_step_summary(markdown)


# --------------------------------------------------------------------------- the registry table


@dataclass(frozen=True)
class RegistryRow:
    version: str
    commit: str
    registered_at: datetime
    stages: tuple[str, ...]
    primary: float | None
    summary: str


def registry_rows(repo: Path, primary_metric: str) -> list[RegistryRow]:
    rows = []
    for v in registry.list_versions(repo):
        try:
            value = Evaluation.at_rev(repo, v.commit).metrics.get(primary_metric)
        except DataError:
            value = None
        lines = [x for x in v.message.splitlines() if x.startswith(("PROMOTE", "REFUSE"))]
        rows.append(
            RegistryRow(
                v.version,
                v.commit,
                v.registered_at,
                v.stages,
                value if isinstance(value, int | float) else None,
                lines[0] if lines else v.message.splitlines()[0] if v.message else "",
            )
        )
    return rows


# --------------------------------------------------------------------------- deploy smoke test


SmokeResult = smoke.SmokeResult


def smoke_test(
    repo: Path, stage: str = registry.PROD, port: int | None = None, timeout: float = 120.0
) -> SmokeResult:
    """Start `gitml serve --stage STAGE` as a user would, wait for GET /health, stop it.

    Deploy checks a version instead (`smoke.smoke_test_version`): the stage may have moved
    since the deploy started.
    """
    return smoke.serve_and_probe(Path(repo), ["--stage", stage], port, timeout, predict=False)
