"""The comparison of two snapshots as plain data; rendering (Markdown, terminal) is elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gitml.core.metrics import DEFAULT_PRIMARY, READING_ORDER, direction
from gitml.io.github import run_url
from gitml.registry.reproduce import ReproductionJson
from gitml.review.snapshot import Snapshot
from gitml.review.stale import StaleStage

# Shown with four decimals: a change smaller than this is "unchanged" to the reader too.
TOLERANCE = 1e-4
METRIC_ORDER = (*READING_ORDER, "threshold", "rows")
# Curves are resampled onto this grid: Mermaid spaces the points of a line evenly over the
# x axis, so every curve needs the same evenly spaced x values; 41 points (step 0.025) <= 50.
GRID = np.round(np.linspace(0.0, 1.0, 41), 3)


@dataclass(frozen=True)
class MetricRow:
    name: str
    base: float | None
    head: float | None

    @property
    def delta(self) -> float | None:
        return None if self.base is None or self.head is None else self.head - self.base

    @property
    def change(self) -> str:
        """'better', 'worse', 'unchanged', 'changed' (neutral metrics) or '' (no base)."""
        d = self.delta
        if d is None:
            return ""
        if abs(d) < TOLERANCE:
            return "unchanged"
        way = direction(self.name)
        if way not in ("higher", "lower"):  # threshold, rows: neither better nor worse
            return "changed"
        return "better" if (d < 0) == (way == "lower") else "worse"


@dataclass(frozen=True)
class SliceRow:
    column: str
    value: str
    rows: tuple[int | None, int | None]
    roc_auc: tuple[float | None, float | None]
    recall: tuple[float | None, float | None]


@dataclass(frozen=True)
class GapRow:
    column: str
    metric: str
    base: float | None
    head: float | None
    head_between: str  # "Female → Male": the lowest and the highest slice at head

    @property
    def widened(self) -> bool:
        return self.base is not None and self.head is not None and self.head - self.base > TOLERANCE


@dataclass(frozen=True)
class HashChange:
    stage: str
    path: str
    base: str | None  # md5, None when the output did not exist
    head: str | None


@dataclass(frozen=True)
class Curve:
    title: str
    x_label: str
    y_label: str
    base: list[float] | None  # y on GRID
    head: list[float] | None


@dataclass
class Report:
    base: Snapshot
    head: Snapshot
    head_label: str
    primary: str
    verdict: str  # better | worse | unchanged | new (no base metrics)
    primary_row: MetricRow
    gate: str | None = None  # the promotion gate's one-line summary, when it ran
    gate_passed: bool | None = None
    params: list[tuple[str, Any, Any]] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)
    slices: list[SliceRow] = field(default_factory=list)
    gaps: list[GapRow] = field(default_factory=list)
    data: list[MetricRow] = field(default_factory=list)  # row counts
    validation: tuple[str | None, str | None] = (None, None)
    hashes: list[HashChange] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    confusion: tuple[dict[str, int] | None, dict[str, int] | None] = (None, None)
    model: tuple[str | None, str | None] = (None, None)
    changed_stages: list[str] = field(default_factory=list)
    stale: list[StaleStage] | None = None  # None: not checked
    stale_rev: str | None = None
    stale_error: str | None = None  # why the staleness check could not run
    run_url: str | None = None
    images: dict[str, Path] = field(default_factory=dict)
    verify: ReproductionJson | None = None  # reports/verify.json (`gitml verify`), when present
    warnings: list[str] = field(default_factory=list)  # ⚠️ too good to be true (leakage)
    recent: dict[str, Any] | None = None  # the recent-traffic section (review/recent.py)


# --------------------------------------------------------------------------- building


def primary_metric(params: dict[str, Any] | None) -> str:
    """`promotion.primary_metric` of the head's params.yaml, else roc_auc."""
    promotion = (params or {}).get("promotion") or {}
    return str(promotion.get("primary_metric") or DEFAULT_PRIMARY)


class _Absent:
    """A key that one side does not have (not the same as a null value)."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()


def changed_params(base: Any, head: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, base value, head value) of every difference, at the deepest level both
    sides have a mapping: a section added or removed as a whole is one row, not one per leaf."""
    if not (isinstance(base, dict) and isinstance(head, dict)):
        return [] if base == head else [(prefix, base, head)]
    rows: list[tuple[str, Any, Any]] = []
    for key in sorted(set(base) | set(head), key=str):
        path = f"{prefix}.{key}" if prefix else str(key)
        rows += changed_params(base.get(key, ABSENT), head.get(key, ABSENT), path)
    return rows


def _as_number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def metric_rows(base: dict[str, Any] | None, head: dict[str, Any], primary: str) -> list[MetricRow]:
    base = base or {}
    names = [n for n in METRIC_ORDER if n in head or n in base]
    names += sorted(n for n in set(head) | set(base) if n not in names)
    names = [primary] + [n for n in names if n != primary]
    rows = [MetricRow(n, _as_number(base.get(n)), _as_number(head.get(n))) for n in names]
    return [r for r in rows if r.base is not None or r.head is not None]


def slice_rows(
    base: dict[str, Any] | None, head: dict[str, Any] | None
) -> tuple[list[SliceRow], list[GapRow]]:
    bcols = (base or {}).get("columns", {})
    hcols = (head or {}).get("columns", {})
    rows: list[SliceRow] = []
    gaps: list[GapRow] = []
    for col in list(hcols) + [c for c in bcols if c not in hcols]:
        bvals = bcols.get(col, {}).get("values", {})
        hvals = hcols.get(col, {}).get("values", {})
        for value in sorted(set(bvals) | set(hvals)):
            b, h = bvals.get(value, {}), hvals.get(value, {})
            rows.append(
                SliceRow(
                    col,
                    value,
                    (b.get("rows"), h.get("rows")),
                    (b.get("roc_auc"), h.get("roc_auc")),
                    (b.get("recall"), h.get("recall")),
                )
            )
        bgap = bcols.get(col, {}).get("gap", {})
        hgap = hcols.get(col, {}).get("gap", {})
        for metric in sorted(set(bgap) | set(hgap)):
            hg = hgap.get(metric, {})
            between = f"{hg['min']} → {hg['max']}" if hg else ""
            gaps.append(
                GapRow(col, metric, bgap.get(metric, {}).get("gap"), hg.get("gap"), between)
            )
    return rows, gaps


def _outs(lock: dict[str, Any] | None) -> dict[tuple[str, str], str | None]:
    return {
        (stage, out["path"]): out.get("md5")
        for stage, body in ((lock or {}).get("stages") or {}).items()
        for out in body.get("outs", [])
    }


def hash_changes(base: dict[str, Any] | None, head: dict[str, Any] | None) -> list[HashChange]:
    b, h = _outs(base), _outs(head)
    return [
        HashChange(stage, path, b.get((stage, path)), h.get((stage, path)))
        for stage, path in sorted(set(b) | set(h), key=lambda k: (_stage_order(head, k[0]), k[1]))
        if b.get((stage, path)) != h.get((stage, path))
    ]


def _stage_order(lock: dict[str, Any] | None, stage: str) -> int:
    names = list((lock or {}).get("stages") or {})
    return names.index(stage) if stage in names else len(names)


def changed_stages(base: dict[str, Any] | None, head: dict[str, Any] | None) -> list[str]:
    """Stages whose dvc.lock entry differs: the ones a `dvc repro` of this branch reran."""
    b = (base or {}).get("stages") or {}
    h = (head or {}).get("stages") or {}
    return [s for s in h if b.get(s) != h[s]]


# validate's `test_overlap`: production rows whose model inputs equal a test-split row
OVERLAP_ROW = "production rows equal to a test row (left out of training)"


def _validation(v: dict[str, Any] | None) -> str | None:
    if v is None:
        return None
    return "passed" if v.get("passed") else f"failed ({v.get('n_violations', '?')} violation(s))"


def _leak_flags(v: dict[str, Any] | None) -> list[dict[str, Any]]:
    leak = (v or {}).get("leakage") or {}
    return [*(leak.get("flags") or []), *(leak.get("allowed_flags") or [])]


def too_good(
    base_validation: dict[str, Any] | None,
    head_validation: dict[str, Any] | None,
    head_checks: dict[str, Any] | None,
) -> list[str]:
    """⚠️ lines: a feature the leakage guard flags on this branch and not on the base (a newly
    dominant feature, allowed or warned), and evaluate's warnings (one feature carrying the
    model, a test ROC-AUC too good to be true)."""
    before = {f.get("column") for f in _leak_flags(base_validation)}
    allowed = set(((head_validation or {}).get("leakage") or {}).get("allow") or [])
    out = []
    for flag in _leak_flags(head_validation):
        if flag.get("column") in before:
            continue
        note = " (in validate.leakage.allow)" if flag.get("column") in allowed else ""
        out.append(f"⚠️ newly dominant feature `{flag.get('column')}`{note}: {flag.get('why')}")
    out += [str(w) for w in (head_checks or {}).get("warnings") or []]
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- curves


def resample_roc(points: list[dict[str, Any]]) -> list[float]:
    """TPR on GRID: at each FPR the highest TPR (a ROC curve's vertical steps), then linear."""
    fpr = np.array([p["fpr"] for p in points], dtype=float)
    tpr = np.array([p["tpr"] for p in points], dtype=float)
    xs = np.unique(fpr)
    ys = np.array([tpr[fpr == x].max() for x in xs])
    if xs[0] > 0:  # every ROC curve starts at (0, 0)
        xs, ys = np.r_[0.0, xs], np.r_[0.0, ys]
    return [round(float(v), 3) for v in np.clip(np.interp(GRID, xs, ys), 0, 1)]


def resample_pr(points: list[dict[str, Any]]) -> list[float]:
    """Interpolated precision on a recall GRID: the best precision at recall >= r (the usual
    PR envelope; it is what a threshold could achieve). Precision 0 past the largest recall."""
    recall = np.array([p["recall"] for p in points], dtype=float)
    precision = np.array([p["precision"] for p in points], dtype=float)
    order = np.argsort(-recall, kind="stable")
    rec, best = recall[order], np.maximum.accumulate(precision[order])
    out = []
    for r in GRID:
        reach = np.nonzero(rec >= r - 1e-12)[0]
        out.append(round(float(best[reach[-1]]), 3) if len(reach) else 0.0)
    return out


def _curve_rows(doc: Any, key: str) -> list[dict[str, Any]] | None:
    rows = doc.get(key) if isinstance(doc, dict) else None
    return rows if isinstance(rows, list) and rows else None


def curves(base: Snapshot | None, head: Snapshot) -> list[Curve]:
    def pick(snap: Snapshot | None, name: str, key: str, fn: Any) -> list[float] | None:
        rows = _curve_rows(snap.get(name), key) if snap else None
        return fn(rows) if rows else None

    out = [
        Curve(
            "ROC",
            "False positive rate",
            "True positive rate",
            pick(base, "roc", "roc", resample_roc),
            pick(head, "roc", "roc", resample_roc),
        ),
        Curve(
            "Precision-recall",
            "Recall",
            "Precision",
            pick(base, "pr", "precision_recall", resample_pr),
            pick(head, "pr", "precision_recall", resample_pr),
        ),
    ]
    return [c for c in out if c.head is not None or c.base is not None]


# --------------------------------------------------------------------------- the whole report


def build(base: Snapshot, head: Snapshot, head_label: str) -> Report:
    head_metrics = head.get("metrics") or {}
    base_metrics = base.get("metrics") if base.has_run else None
    primary = primary_metric(head.get("params"))
    metrics = metric_rows(base_metrics, head_metrics, primary)
    primary_row = next((m for m in metrics if m.name == primary), MetricRow(primary, None, None))
    if base_metrics is None:
        verdict = "new"
    elif primary_row.head is None:
        verdict = "unknown"
    else:
        verdict = primary_row.change or "unknown"
    slices, gaps = slice_rows(base.get("slices") if base.has_run else None, head.get("slices"))
    b_val, h_val = base.get("validation"), head.get("validation")
    data = [
        MetricRow(
            "validated rows",
            _as_number((b_val or {}).get("rows")),
            _as_number((h_val or {}).get("rows")),
        ),
        MetricRow(
            "test rows",
            _as_number((base_metrics or {}).get("rows")),
            _as_number(head_metrics.get("rows")),
        ),
    ]
    overlap = [(b_val or {}).get("test_overlap") or {}, (h_val or {}).get("test_overlap") or {}]
    if any(o.get("compared") for o in overlap):  # production rows on either side
        data.append(MetricRow(OVERLAP_ROW, *(_as_number(o.get("rows")) for o in overlap)))
    return Report(
        base=base,
        head=head,
        head_label=head_label,
        primary=primary,
        verdict=verdict,
        primary_row=primary_row,
        params=changed_params(base.get("params"), head.get("params")),
        metrics=metrics,
        slices=slices,
        gaps=gaps,
        data=[d for d in data if d.base is not None or d.head is not None],
        validation=(_validation(b_val), _validation(h_val)),
        hashes=hash_changes(base.get("lock"), head.get("lock")),
        curves=curves(base if base.has_run else None, head),
        confusion=(
            (base_metrics or {}).get("confusion"),
            head_metrics.get("confusion"),
        ),
        model=(
            base.model.family if base.model else None,
            head.model.family if head.model else None,
        ),
        changed_stages=changed_stages(base.get("lock"), head.get("lock")),
        run_url=run_url(),
        warnings=too_good(b_val if base.has_run else None, h_val, head.get("checks")),
    )
