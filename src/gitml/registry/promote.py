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

import json
import math
import subprocess
import sys
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from gitml import layout
from gitml.config import PromotionConfig
from gitml.core.metrics import LOWER_IS_BETTER
from gitml.errors import ConfigError, DataError, GitmlError
from gitml.io.files import write_atomic, write_json
from gitml.io.git import git, locked_md5, read_git_file, resolve_rev
from gitml.io.github import append_summary
from gitml.registry import versions as registry

FIRST_VERSION = "v0.1.0"  # 0.x: the model's interface may still change; see README
METRICS = layout.EVALUATE_DIR / "metrics.json"
SLICES = layout.EVALUATE_DIR / "slices.json"
RECORD = Path("reports/promotion.json")
RECORD_MD = Path("reports/promotion.md")
REMOTE = "origin"
BUMPS = ("major", "minor", "patch")


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
            read_git_file(repo, rev, METRICS),
            read_git_file(repo, rev, SLICES),
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


@dataclass(frozen=True)
class PromotionResult:
    outcome: Literal["promoted", "refused", "dry-run", "unchanged", "already-prod"]
    decision: GateDecision | None
    candidate_commit: str
    version: str | None  # registered (or, on a dry run, that would be)
    tags: list[str] = field(default_factory=list)
    pushed: bool = False
    record: Path | None = None
    note: str = ""


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


def _check_workspace(repo: Path, commit: str) -> None:
    """Refuse when HEAD is the candidate but the workspace holds different results.

    A version is a commit: the model it names is the one dvc.lock at that commit records. If
    `dvc repro` changed dvc.lock or the metrics after the commit, promoting the commit would
    ship a model that was never evaluated.
    """
    if resolve_rev(repo, "HEAD") != commit:
        return
    paths = ["dvc.lock", METRICS.as_posix(), SLICES.as_posix()]
    dirty = git(repo, "status", "--porcelain", "--", *paths)
    if dirty:
        raise DataError(
            "the workspace differs from HEAD in files that define the candidate:\n"
            f"{dirty}\ncommit the results of `dvc repro` (or `git restore` them) and rerun"
        )


def _model_md5(repo: Path, commit: str) -> str | None:
    try:
        return locked_md5(repo, commit, layout.MODEL)
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
    if REMOTE not in git(repo, "remote", check=False).split():
        raise ConfigError(
            f"--push needs a git remote named {REMOTE!r} and {repo.resolve()} has none; "
            f"add one (`git remote add {REMOTE} URL`) or leave out --push"
        )


def _delete_tags(repo: Path, tags: list[str]) -> None:
    for t in tags:
        git(repo, "tag", "-d", t, check=False)


def promote(
    repo: Path,
    cfg: PromotionConfig,
    ref: str = "HEAD",
    *,
    push: bool = False,
    dry_run: bool = False,
    bump: str = "minor",
) -> PromotionResult:
    """Gate the candidate at `ref` against prod; on a pass, register it and assign `prod`."""
    from gto import api

    if bump not in BUMPS:
        raise ConfigError(f"--bump {bump!r}: use one of {', '.join(BUMPS)}")
    repo = Path(repo)
    if push and not dry_run:
        _require_remote(repo)
    commit = resolve_rev(repo, ref)
    _check_workspace(repo, commit)
    candidate = Evaluation.at_rev(repo, commit)
    existing = next((v for v in registry.list_versions(repo) if v.commit == commit), None)
    if existing is not None:
        if registry.PROD in existing.stages:
            result = PromotionResult(
                "already-prod",
                None,
                commit,
                existing.version,
                note=f"{ref} is already {registry.ARTIFACT}@{existing.version}, in prod",
            )
            return replace(result, record=write_record(repo, result, cfg, ref))
        raise DataError(
            f"{ref} ({commit[:12]}) is already registered as {registry.ARTIFACT}@"
            f"{existing.version}; to put it back in prod run `gitml rollback --to "
            f"{existing.version}`"
        )
    decision = decide(repo, candidate, cfg)
    prod = registry.find_stage(repo)
    version = next_version(repo, bump)
    cand_md5 = _model_md5(repo, commit)
    if prod is not None and cand_md5 is not None and cand_md5 == _model_md5(repo, prod.commit):
        result = PromotionResult(
            "unchanged",
            decision,
            commit,
            None,
            note=f"the model at {ref} is byte-identical to prod {prod.version} "
            f"(md5 {cand_md5}): no new version",
        )
        return replace(result, record=write_record(repo, result, cfg, ref))
    if not decision.passed:
        result = PromotionResult("refused", decision, commit, None)
        return replace(result, record=write_record(repo, result, cfg, ref))
    if dry_run:
        result = PromotionResult(
            "dry-run", decision, commit, version, note=f"would register {version}"
        )
        return replace(result, record=write_record(repo, result, cfg, ref))

    registry.wait_past_last_tag(repo)
    title = f"{registry.ARTIFACT}@{version}: promoted to prod"
    message = _tag_message(title, decision, f"candidate {commit}; model md5 {cand_md5 or '-'}")
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
    result = PromotionResult("promoted", decision, commit, version, tags, pushed=push)
    return replace(result, record=write_record(repo, result, cfg, ref))


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
    }


def render_markdown(record: dict[str, Any]) -> str:
    verdict = {
        "promoted": f"✅ promoted to prod as `{record['candidate']['version']}`",
        "dry-run": f"✅ would be promoted as `{record['candidate']['version']}` (dry run)",
        "refused": "❌ not promoted: prod is unchanged",
        "unchanged": "⚪ not promoted: same model as prod",
        "already-prod": "⚪ already in prod",
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
    if record["tags"]:
        lines += ["", "Tags: " + ", ".join(f"`{t}`" for t in record["tags"])]
    return "\n".join(lines) + "\n"


def write_record(repo: Path, result: PromotionResult, cfg: PromotionConfig, ref: str) -> Path:
    """reports/promotion.json + .md in the workspace; the Markdown also to the CI job summary."""
    record = record_dict(result, cfg, ref)
    path = write_json(repo / RECORD, record)
    md = render_markdown(record)
    write_atomic(repo / RECORD_MD, md)
    append_summary(md)
    return path


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


@dataclass(frozen=True)
class SmokeResult:
    url: str
    status: int
    body: dict[str, Any]
    seconds: float


def smoke_test(
    repo: Path, stage: str = registry.PROD, port: int = 8765, timeout: float = 120.0
) -> SmokeResult:
    """Start `gitml serve --stage STAGE` as a user would, wait for GET /health, stop it.

    The server is a black box here (its own process, a throw-away SQLite prediction log), so
    this checks what a deployment would run. DataError with the server's output on failure.
    """
    import tempfile
    import time

    import httpx

    url = f"http://127.0.0.1:{port}/health"
    with tempfile.TemporaryDirectory(prefix="gitml-smoke-") as tmp:
        cmd = [sys.executable, "-m", "gitml", "serve", "--stage", stage, "--port", str(port),
               "--log-db", f"sqlite:///{Path(tmp) / 'smoke.db'}"]  # fmt: skip
        log = Path(tmp) / "serve.log"
        with log.open("w") as fh:
            proc = subprocess.Popen(cmd, cwd=repo, stdout=fh, stderr=subprocess.STDOUT)
        start = time.monotonic()
        try:
            while time.monotonic() - start < timeout:
                if proc.poll() is not None:
                    raise DataError(
                        f"`gitml serve --stage {stage}` exited with code {proc.returncode} "
                        f"before answering:\n{log.read_text()[-2000:]}"
                    )
                try:
                    resp = httpx.get(url, timeout=2.0)
                except httpx.TransportError:
                    time.sleep(0.5)
                    continue
                if resp.status_code != 200:
                    raise DataError(f"GET {url} answered {resp.status_code}: {resp.text[:500]}")
                return SmokeResult(url, resp.status_code, resp.json(), time.monotonic() - start)
            raise DataError(f"`gitml serve` did not answer {url} within {timeout:.0f} s")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
