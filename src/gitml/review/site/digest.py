"""What the pages compute from the files: gaps, diffs, hashes, curves. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitml.core.metrics import LOWER_IS_BETTER, TASK_METRICS
from gitml.review.site.model import METRIC_ORDER, SLICE_METRICS, Version

MAX_CURVE_POINTS = 60  # every 4 pixels of a 220-pixel chart; rendering cost grows with points
TOLERANCE = 1e-4  # shown with 4 decimals: a smaller change reads as "unchanged"


@dataclass(frozen=True)
class Gap:
    column: str
    gap: float
    metric: str
    high: str
    low: str

    def describe(self) -> str:
        return f"{self.metric}: {self.high} vs {self.low}"


def slice_gaps(slices: Any, min_rows: int) -> dict[str, Gap]:
    """Largest best-minus-worst gap per column over the slices the gate judges (ranked, at
    least `min_rows` rows), over roc_auc and recall — the gate's max_slice_gap rule."""
    out: dict[str, Gap] = {}
    columns = slices.get("columns") if isinstance(slices, dict) else None
    for col, info in (columns or {}).items():
        values = info.get("values", {}) if isinstance(info, dict) else {}
        gated = {
            str(k): m
            for k, m in values.items()
            if isinstance(m, dict) and m.get("ranked") and (m.get("rows") or 0) >= min_rows
        }
        for metric in SLICE_METRICS:
            scored = {k: float(m[metric]) for k, m in gated.items() if m.get(metric) is not None}
            if len(scored) < 2:
                continue
            hi = max(scored, key=scored.__getitem__)
            lo = min(scored, key=scored.__getitem__)
            gap = round(scored[hi] - scored[lo], 6)
            if col not in out or gap > out[col].gap:
                out[col] = Gap(str(col), gap, metric, hi, lo)
    return out


def slice_rows(slices: Any) -> list[dict[str, Any]]:
    """One row per (column, value) for the slice table."""
    rows = []
    columns = slices.get("columns") if isinstance(slices, dict) else None
    for col, info in (columns or {}).items():
        values = info.get("values", {}) if isinstance(info, dict) else {}
        for value, m in values.items():
            if isinstance(m, dict):
                rows.append({"column": str(col), "value": str(value)} | m)
    return rows


def change(metric: str, old: float | None, new: float | None) -> str:
    if old is None or new is None:
        return ""
    d = new - old
    if abs(d) < TOLERANCE:
        return "unchanged"
    if metric not in METRIC_ORDER:
        return "changed"
    return "better" if (d < 0) == (metric in LOWER_IS_BETTER) else "worse"


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out |= flatten(v, key)
        else:
            out[key] = v
    return out


def param_changes(old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    a, b = flatten(old or {}), flatten(new or {})
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def data_hashes(lock: Any) -> list[dict[str, Any]]:
    """Every output (and data dependency) dvc.lock records: stage, path, md5, size, files."""
    rows = []
    stages = lock.get("stages") if isinstance(lock, dict) else None
    for stage, info in (stages or {}).items():
        if not isinstance(info, dict):
            continue
        for kind in ("deps", "outs"):
            for item in info.get(kind) or []:
                if not isinstance(item, dict) or "path" not in item:
                    continue
                path = str(item["path"])
                if kind == "deps" and not path.startswith("data/"):
                    continue  # source files: the commit says which
                rows.append(
                    {
                        "stage": str(stage),
                        "kind": "output" if kind == "outs" else "input",
                        "path": path,
                        "md5": str(item.get("md5") or ""),
                        "size": item.get("size"),
                        "nfiles": item.get("nfiles"),
                    }
                )
    return rows


def hash_changes(old: Any, new: Any) -> list[tuple[str, str, str | None, str | None]]:
    a = {(r["stage"], r["path"]): r["md5"] for r in data_hashes(old) if r["kind"] == "output"}
    b = {(r["stage"], r["path"]): r["md5"] for r in data_hashes(new) if r["kind"] == "output"}
    return [
        (stage, path, a.get((stage, path)), b.get((stage, path)))
        for stage, path in sorted(set(a) | set(b))
        if a.get((stage, path)) != b.get((stage, path))
    ]


def curve(doc: Any, key: str, x: str, y: str) -> list[dict[str, float]]:
    """A committed sklearn plot file's points, thinned evenly to MAX_CURVE_POINTS (first and
    last kept), as {x, y} rows for a chart."""
    points = doc.get(key) if isinstance(doc, dict) else None
    pts = [
        {"x": float(p[x]), "y": float(p[y])}
        for p in points or []
        if isinstance(p, dict) and p.get(x) is not None and p.get(y) is not None
    ]
    if len(pts) <= MAX_CURVE_POINTS:
        return pts
    step = (len(pts) - 1) / (MAX_CURVE_POINTS - 1)
    return [pts[round(i * step)] for i in range(MAX_CURVE_POINTS)]


def importance(rows: Any) -> list[dict[str, Any]]:
    out = []
    for r in rows or []:
        try:
            out.append(
                {
                    "feature": str(r["feature"]),
                    "importance": float(r["importance"]),
                    "std": float(r.get("std") or 0.0),
                }
            )
        except (KeyError, TypeError, ValueError):
            continue
    return sorted(out, key=lambda r: -r["importance"])


def metric_rows(v: Version, prev: Version | None) -> list[dict[str, Any]]:
    order = dict.fromkeys((*TASK_METRICS.get(v.task, ()), *METRIC_ORDER))  # the task's first
    names = [m for m in order if m in v.metrics] + [
        m for m in ("threshold", "rows") if m in v.metrics
    ]
    rows = []
    for m in names:
        new: Any = v.metric(m)
        old: Any = prev.metric(m) if prev else None
        if m == "rows":  # a count: shown as an integer
            new, old = v.metrics.get(m), prev.metrics.get(m) if prev else None
        rows.append(
            {
                "name": m,
                "value": new,
                "prev": old,
                "delta": None if new is None or old is None else new - old,
                "change": change(m, old, new) if m in METRIC_ORDER else "",
                "lower_is_better": m in LOWER_IS_BETTER,
            }
        )
    return rows


def class_rows(v: Version, prev: Version | None) -> list[dict[str, Any]]:
    """A multiclass version's precision and recall per class, next to the previous version's."""
    mine = v.metrics.get("per_class") if v.task == "multiclass" else None
    theirs = prev.metrics.get("per_class") if prev is not None else None
    theirs = theirs if isinstance(theirs, dict) else {}
    return [
        {
            "name": str(name),
            "rows": m.get("rows"),
            "precision": m.get("precision"),
            "recall": m.get("recall"),
            "prev_precision": (theirs.get(name) or {}).get("precision"),
            "prev_recall": (theirs.get(name) or {}).get("recall"),
        }
        for name, m in (mine if isinstance(mine, dict) else {}).items()
        if isinstance(m, dict)
    ]
