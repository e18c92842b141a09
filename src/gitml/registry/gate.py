"""Promotion: a candidate replaces the `prod` model only when the gate says it is not worse.

The gate (`gate`, pure) compares what evaluate wrote for the candidate with what it wrote for
the version now in `prod`, under the rules of `promotion:` in params.yaml. `registry.promote` reads
both from git, applies the gate, writes the decision record, and on a pass registers the next
SemVer version and moves `prod` to it with GTO tags (the git history is the registry).
`rollback` moves `prod` back. The PR report calls `decide` to show the verdict before a merge.

Rules, in order (a rule whose setting is null or empty is not applied):

- `floor:M` / `ceiling:M` — the primary metric and each `floors` metric against an absolute
  bound (a ceiling for the lower-is-better metrics: log_loss, brier, rmse, mae, mape);
- `max_drop:M` — only when there is a prod: how much worse than prod the candidate may be on
  the primary metric (`max_drop`) and each `max_drops` metric; "worse" is signed by direction;
- `slice_floor:COL=VALUE:M` — every slice with at least `slice_min_rows` rows and both classes
  (every class, multiclass); `slice_ceiling:...` for an error (rmse, mae);
- `max_slice_gap` — the largest best-minus-worst gap among those slices, per column and metric.

Tie rule: differences are rounded to 6 decimals (what evaluate writes) and the bounds are
inclusive, so a candidate exactly as good as prod passes `max_drop: 0` — it is not worse, and
it carries the newer code and data. A candidate whose model is prod's (the sha256 prod's tag
records, gitml.registry.servable) is not registered again: there is nothing new to promote.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml

from gitml import layout
from gitml.config import PromotionConfig, read_yaml
from gitml.core.metrics import LOWER_IS_BETTER, TASK_METRICS, SliceMetric, fmt, task_of_metrics
from gitml.core.tasks import recorded_task
from gitml.errors import DataError
from gitml.io.git import read_git_file
from gitml.registry import versions as registry
from gitml.registry.reproduce import json_object

METRICS, SLICES = layout.METRICS, layout.SLICES  # one home: gitml.layout
SLICE_METRICS: tuple[SliceMetric, ...] = get_args(SliceMetric)


@dataclass(frozen=True)
class Evaluation:
    """What evaluate wrote for one model: metrics.json and slices.json, and the model's task
    as recorded beside them (models/model.json, else params.yaml's data.task; None: neither)."""

    metrics: dict[str, Any]
    slices: dict[str, Any]
    task: str | None = None

    @classmethod
    def at_rev(cls, repo: Path, rev: str) -> Evaluation:
        """Both files as committed at `rev` (they are `cache: false`, so they live in git)."""

        def read(path: Path) -> bytes | None:
            try:
                return read_git_file(repo, rev, path)
            except DataError:
                return None

        return cls._parse(
            read_git_file(repo, rev, METRICS),
            read_git_file(repo, rev, SLICES),
            f"at {rev[:12]}",
            _recorded(read),
        )

    @classmethod
    def from_dir(cls, folder: Path, root: Path | None = None) -> Evaluation:
        """Both files from a folder of the workspace (normally reports/evaluate); the task from
        models/model.json or params.yaml under `root` (the workspace), when given."""
        folder = Path(folder)
        raw = []
        for name in (METRICS.name, SLICES.name):
            try:
                raw.append((folder / name).read_bytes())
            except FileNotFoundError:
                raise DataError(
                    f"{folder / name}: not found; run `dvc repro` (stage evaluate writes it)"
                ) from None

        def read(path: Path) -> bytes | None:
            file = None if root is None else Path(root) / path
            return file.read_bytes() if file is not None and file.is_file() else None

        return cls._parse(raw[0], raw[1], f"in {folder}", _recorded(read))

    @classmethod
    def _parse(
        cls, metrics_raw: bytes, slices_raw: bytes, where: str, task: str | None = None
    ) -> Evaluation:
        metrics = json_object(metrics_raw, f"{METRICS} {where}")
        slices = json_object(slices_raw, f"{SLICES} {where}")
        if not isinstance(slices.get("columns"), dict):
            raise DataError(
                f"{SLICES} {where} has no 'columns' mapping: not written by `gitml evaluate`"
            )
        return cls(metrics, slices, task)


def _recorded(read: Callable[[Path], bytes | None]) -> str | None:
    """The task models/model.json records, else params.yaml's data.task; None when neither is
    readable (`read`: a file's bytes, None when absent)."""
    parsed: list[Any] = []
    for path, parse in ((layout.MODEL_META, json.loads), (layout.PARAMS, read_yaml)):
        raw = read(path)
        try:
            parsed.append(None if raw is None else parse(raw))
        except (ValueError, yaml.YAMLError):  # unreadable: as good as absent for a hint
            parsed.append(None)
    task = recorded_task(*parsed)
    return None if task is None else str(task)


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
        # the task recorded beside the files; the metric names only for older ones without
        task = ev.task or task_of_metrics(ev.metrics)
        other = task if task != "binary" else None
        if other and name not in TASK_METRICS[other]:
            why = (
                f"it holds a {other} model's metrics ({', '.join(TASK_METRICS[other])}): the "
                f"rules must name those (data.task: {other}); change or remove the rule"
            )
        elif name == "mape" and task == "regression":  # core.metrics leaves it out then
            why = (
                "evaluate leaves mape out when a test target is 0, where it is undefined "
                "(reports/evaluate/evaluation.md says so); gate on rmse, mae or r2, or remove "
                "the rule"
            )
        else:
            why = "rerun `dvc repro evaluate` with this gitml, or remove the rule"
        raise DataError(
            f"the {who}'s {METRICS} has no {name!r} (gated by promotion.{setting}); {why}"
        )
    value = ev.metrics[name]
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    ):
        raise DataError(f"the {who}'s {METRICS}: {name} = {value!r} is not a finite number")
    return None if value is None else float(value)


def fmt_metric(x: float | None) -> str:
    """A metric in a gate message: 'undefined' (not '-') when missing, because a missing value
    is itself the reason a rule fails."""
    return fmt(x, missing="undefined")


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
        f"{name} is {fmt_metric(value)}; it must be {word} {bound:.4f}",
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
                lower = metric in LOWER_IS_BETTER  # an error (rmse, mae): a ceiling
                rules.append(
                    RuleResult(
                        f"slice_{'ceiling' if lower else 'floor'}:{col}={value}:{metric}",
                        x,
                        floor,
                        x is not None and (x <= floor if lower else x >= floor),
                        f"{metric} on {col}={value} ({m.get('rows')} rows) is {fmt_metric(x)}; "
                        f"it must be at {'most' if lower else 'least'} {floor:.4f}",
                    )
                )
    if cfg.max_slice_gap is None:
        return rules
    worst: tuple[float, str] | None = None
    for col, values in gated.items():
        for metric in SLICE_METRICS:  # those of the task: the others are in no slice
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
    no_prod: str = "no prod yet",
) -> GateDecision:
    """Apply the promotion rules. Pure: no git, no files. With no prod, only bounds apply
    (`no_prod` says why there is none to compare with)."""
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
    head = f"{primary} {fmt_metric(cand_primary)}"
    if prod is None:
        head += f" ({no_prod}: absolute rules only)"
    else:
        label = f"prod {prod_version}" if prod_version else "prod"
        delta = (
            ""
            if cand_primary is None or prod_primary is None
            else f" ({cand_primary - prod_primary:+.4f})"
        )
        head += f" vs {label} {fmt_metric(prod_primary)}{delta}"
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
    if candidate.task and prod_eval.task and candidate.task != prod_eval.task:
        # data.task changed (a first own table on the binary template): prod has none of the
        # candidate's metrics, so only the absolute rules can judge it
        return gate(
            candidate, None, cfg, no_prod=f"prod {prod.version} is a {prod_eval.task} model"
        )
    return gate(candidate, prod_eval, cfg, prod_version=prod.version, prod_commit=prod.commit)
