"""The PR report's "recent traffic" section: candidate and prod on the newest production rows.

The rows are the head's recent-traffic slice (data/features/recent.parquet: the newest
`data.recent_share` of the labelled production rows `gitml harvest` wrote, never trained on;
gitml.pipeline.production). The candidate's metrics come from its evaluate stage
(reports/evaluate/recent.json); prod's model (stage prod in the registry) scores the same rows
here. The test split stays the gate's yardstick; `promotion.recent_max_drop` (off by default)
adds a rule of its own: the candidate's primary metric on these rows may be at most that much
worse than prod's.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd

from gitml import layout
from gitml.core import labels
from gitml.core.metrics import LOWER_IS_BETTER, TASK_METRICS, compute_metrics, fmt
from gitml.core.tasks import Task, encode_target
from gitml.errors import GitmlError

RECENT_FEATURES = layout.FEATURES_DIR / "recent.parquet"


def _rows(repo: Path, head_rev: str | None) -> pd.DataFrame | None:
    from gitml.io.git import read_dvc_file

    try:
        if head_rev is None:
            path = repo / RECENT_FEATURES
            return pd.read_parquet(path) if path.is_file() else None
        return pd.read_parquet(io.BytesIO(read_dvc_file(repo, head_rev, RECENT_FEATURES)))
    except (GitmlError, OSError, ValueError):
        return None


def section(
    repo: Path, head_rev: str | None, params: dict[str, Any], candidate: dict[str, Any] | None
) -> dict[str, Any] | None:
    """None when the head has no recent-traffic rows; else both sides' metrics and the rule."""
    from gitml.config import DataConfig, promotion_of

    if not candidate or not candidate.get("rows"):
        return None
    cfg = promotion_of(params)
    data = DataConfig.model_validate(params.get("data") or {})
    primary = cfg.primary_metric
    out: dict[str, Any] = {
        "rows": int(candidate["rows"]),
        "task": str(data.task),  # the table's metrics are the task's
        "primary": primary,
        "candidate": candidate.get("metrics"),
        "prod": None,
        "prod_version": None,
        "note": None,
        "rule": None,
        "passed": None,
    }
    rows = _rows(repo, head_rev)
    if rows is None or rows.empty:
        out["note"] = f"{RECENT_FEATURES} not found in the head: prod not scored"
        return out
    try:
        from gitml.serve.resolve import resolve

        prod = resolve(repo, stage="prod")
        out["prod"] = _prod_metrics(prod, rows, data)
        out["prod_version"] = prod.version
    except KeyError as exc:
        out["note"] = f"prod's model needs a column the recent rows lack: {exc}"
    except Exception as exc:  # no registry, no prod yet, a DVC remote down: report, go on
        out["note"] = f"prod could not score the recent rows ({type(exc).__name__}: {exc})"
    limit = cfg.recent_max_drop
    if limit is None:
        out["rule"] = "not gated (promotion.recent_max_drop: null)"
        return out
    cand, base = (out["candidate"] or {}).get(primary), (out["prod"] or {}).get(primary)
    if out["rows"] < cfg.recent_min_rows or cand is None or base is None:
        out["rule"] = (
            f"not judged: {out['rows']} recent rows (promotion.recent_min_rows = "
            f"{cfg.recent_min_rows}) or a side without {primary}"
        )
        return out
    drop = cand - base if primary in LOWER_IS_BETTER else base - cand
    out["passed"] = drop <= limit
    out["rule"] = (
        f"recent traffic: {primary} {cand:.4f} vs prod {base:.4f} on {out['rows']} rows "
        f"({'passes' if out['passed'] else 'FAILS'}: worse by at most {limit})"
    )
    return out


def _prod_metrics(prod: Any, rows: pd.DataFrame, data: Any) -> dict[str, Any] | None:
    """Prod's metrics on the recent rows, for its task (None: one class only, binary)."""
    meta = prod.metadata
    X = rows[prod.feature_order]
    if meta.task is Task.BINARY:
        y = labels.is_positive(rows[data.target], data.positive)
        score = prod.model.predict_proba(X)[:, 1]
        return compute_metrics(y, score, prod.threshold) if 0 < y.sum() < len(y) else None
    from gitml.pipeline import evaluate_tasks

    y = encode_target(rows[data.target], meta.task, classes=meta.classes or None)
    predicted = evaluate_tasks.predict(prod.model, X, meta.task)
    return evaluate_tasks.metrics(meta.task, y, predicted, meta.classes)


# The metrics of the table per task (data.task, which section() records): binary's short list,
# the other tasks' headline metrics.
NAMES = {
    "binary": ("roc_auc", "pr_auc", "log_loss", "accuracy", "recall", "f1"),
    "multiclass": TASK_METRICS["multiclass"],
    "regression": TASK_METRICS["regression"],
}


def markdown(recent: dict[str, Any] | None, head: str) -> list[str]:
    if not recent:
        return []
    lines = [
        f"### Recent traffic ({recent['rows']} newest labelled production rows, never trained on)",
        "",
    ]
    prod = recent["prod"] or {}
    cand = recent["candidate"] or {}
    label = f"prod ({recent['prod_version']})" if recent["prod_version"] else "prod"
    lines += [f"| metric | {label} | {head} |", "|---|---|---|"]
    for m in NAMES[recent["task"]]:
        name = f"**{m}**" if m == recent["primary"] else m
        lines.append(f"| {name} | {fmt(prod.get(m))} | {fmt(cand.get(m))} |")
    lines.append("")
    for text in (recent["note"], recent["rule"]):
        if text:
            lines += [text, ""]
    return lines
