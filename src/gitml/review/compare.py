"""The comparison of two snapshots as plain data; rendering (Markdown, terminal) is elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitml.core.metrics import READING_ORDER, TASK_METRICS, TASK_SLICE_METRICS, direction
from gitml.io.github import run_url
from gitml.registry.reproduce import ReproductionJson
from gitml.review.curves import GRID, Curve, curves, resample_pr, resample_roc
from gitml.review.snapshot import Snapshot
from gitml.review.stale import StaleStage

# Shown with four decimals: a change smaller than this is "unchanged" to the reader too.
TOLERANCE = 1e-4
# binary's order first, then the other tasks' (a name only once): one order for every task
METRIC_ORDER = (
    *dict.fromkeys((*READING_ORDER, *TASK_METRICS["multiclass"], *TASK_METRICS["regression"])),
    "threshold",
    "rows",
)


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
    # slice metric (Report.slice_metrics: roc_auc and recall for a binary model) -> base, head
    values: dict[str, tuple[float | None, float | None]]


@dataclass(frozen=True)
class ClassRow:
    """A multiclass model's precision and recall on one class, base and head."""

    name: str
    precision: tuple[float | None, float | None]
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


__all__ = ["GRID", "Curve", "resample_pr", "resample_roc"]  # where the charts and tests look


@dataclass
class Report:
    base: Snapshot
    head: Snapshot
    head_label: str
    primary: str
    verdict: str  # better | worse | unchanged | new (no base metrics) | other_task | unknown
    primary_row: MetricRow
    gate: str | None = None  # the promotion gate's one-line summary, when it ran
    gate_passed: bool | None = None
    params: list[tuple[str, Any, Any]] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)
    slices: list[SliceRow] = field(default_factory=list)
    slice_metrics: tuple[str, ...] = ("roc_auc", "recall")  # the columns of the slice table
    gaps: list[GapRow] = field(default_factory=list)
    per_class: list[ClassRow] = field(default_factory=list)  # multiclass
    data: list[MetricRow] = field(default_factory=list)  # row counts
    validation: tuple[str | None, str | None] = (None, None)
    hashes: list[HashChange] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    # binary: tn fp fn tp; multiclass: {"classes": [...], "matrix": [[...]]}
    confusion: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None)
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
    """`promotion.primary_metric` of the head's params.yaml, else its task's (roc_auc)."""
    from gitml.config.task_rules import primary_of

    return primary_of(params or {})


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
    base: dict[str, Any] | None, head: dict[str, Any] | None, names: tuple[str, ...]
) -> tuple[list[SliceRow], list[GapRow]]:
    """The slice table's rows, one column pair per metric in `names` (the task's)."""
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
                    {n: (b.get(n), h.get(n)) for n in names},
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


def class_rows(base: dict[str, Any] | None, head: dict[str, Any]) -> list[ClassRow]:
    """Per-class precision and recall (multiclass metrics.json's `per_class`), head's order."""
    b, h = (base or {}).get("per_class") or {}, head.get("per_class") or {}
    return [
        ClassRow(
            name,
            (b.get(name, {}).get("precision"), h.get(name, {}).get("precision")),
            (b.get(name, {}).get("recall"), h.get(name, {}).get("recall")),
        )
        for name in list(h) + [n for n in b if n not in h]
    ]


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


# --------------------------------------------------------------------------- the whole report


def build(base: Snapshot, head: Snapshot, head_label: str) -> Report:
    head_metrics = head.get("metrics") or {}
    # a base of another task (a first own table on the binary template's main) has none of the
    # head's metrics, slices or curves to compare: the branch is shown alone, and says why
    comparable = base.has_run and base.task == head.task
    base_metrics = base.get("metrics") if comparable else None
    primary = primary_metric(head.get("params"))
    metrics = metric_rows(base_metrics, head_metrics, primary)
    primary_row = next((m for m in metrics if m.name == primary), MetricRow(primary, None, None))
    if base.has_run and not comparable:
        verdict = "other_task"
    elif base_metrics is None:
        verdict = "new"
    elif primary_row.head is None:
        verdict = "unknown"
    else:
        verdict = primary_row.change or "unknown"
    slice_metrics = TASK_SLICE_METRICS[head.task]
    slices, gaps = slice_rows(
        base.get("slices") if comparable else None, head.get("slices"), slice_metrics
    )
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
        slice_metrics=slice_metrics,
        gaps=gaps,
        per_class=class_rows(base_metrics, head_metrics),
        data=[d for d in data if d.base is not None or d.head is not None],
        validation=(_validation(b_val), _validation(h_val)),
        hashes=hash_changes(base.get("lock"), head.get("lock")),
        curves=curves(base if comparable else None, head),
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
