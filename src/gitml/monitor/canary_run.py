"""`gitml canary`: read the registry and the prediction log, compare canary with prod
(`gitml.monitor.canary`), and with --apply carry out the decision in the registry
(`gitml.registry.canary`). Writes reports/canary/canary.json and canary.md (the Markdown also to
the CI job summary) and, under Actions, the step outputs `decision`, `applied`, `version` (the
canary's) and `prod_version` (prod's after the decision).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gitml.config import CanaryConfig
from gitml.core.metrics import fmt
from gitml.core.tasks import Task
from gitml.io import github as github_io
from gitml.io.files import write_atomic, write_json
from gitml.monitor.canary import Comparison, Sample, compare
from gitml.monitor.common import MonitorError
from gitml.monitor.current_tasks import logged_probabilities
from gitml.registry import canary as stage

REPORT_DIR = Path("reports/canary")


@dataclass
class CanaryRun:
    canary: str
    prod: str
    since: datetime
    comparison: Comparison
    tags: list[str] = field(default_factory=list)
    applied: bool = False
    pushed: bool = False
    json_path: Path | None = None
    md_path: Path | None = None


# The log's columns each task reads beyond the binary ones: (predictions', feedback's)
TASK_COLUMNS = {
    Task.BINARY: ((), ()),
    Task.MULTICLASS: (("task", "probabilities"), ("class_name",)),
    Task.REGRESSION: (("task",), ("value",)),
}


def load_samples(
    url: str, canary: str, prod: str, since: datetime, now: datetime, task: Task = Task.BINARY
) -> list[Sample]:
    """Each version's logged rows since the canary's assignment (the same window for both),
    with each row's latency and the rows each version failed to score in that window.

    The truth per task: binary the feedback's 0/1 label; multiclass the feedback's class NAME
    (not its index: the two versions may have different classes); regression its value."""
    from gitml.monitor.current import read_failures, read_log

    extra, truth = TASK_COLUMNS[task]
    rows = read_log(
        url, since, now, ["model_version", "score", "threshold", "latency_ms", *extra],
        feedback_columns=truth,
    )  # fmt: skip
    failed = read_failures(url, since, now)
    out = []
    for version in (canary, prod):
        mine = rows.loc[rows["model_version"] == version]
        thresholds = mine["threshold"].to_numpy("float64")
        y, probs = _truth(mine, version, task)
        out.append(
            Sample(
                version,
                mine["score"].to_numpy("float64") if probs is None else probs.max(axis=1),
                y,
                float(np.median(thresholds)) if len(thresholds) else 0.5,
                mine["latency_ms"].astype("float64").to_numpy("float64"),
                None if failed is None else failed.get(version, 0),
                task,
                probs,
            )
        )
    return out


def _truth(rows: pd.DataFrame, version: str, task: Task) -> tuple[np.ndarray, np.ndarray | None]:
    """A version's truth per row (NaN: no feedback) and, multiclass, its probabilities. A row
    logged by a model of another task (the log's `task`; NULL is binary) is refused."""
    if task is Task.BINARY:
        return rows["y_true"].astype("float64").to_numpy("float64"), None
    logged = rows["task"].fillna(Task.BINARY.value).astype(str)
    other = logged[logged != task.value]
    if len(other):
        raise MonitorError(
            f"prediction log: {len(other)} row(s) of {version} were scored by a "
            f"{other.iloc[0]} model, but data.task is {task}: canary and prod are compared on "
            "the project's task (re-run `gitml canary` once the canary is a model of it)"
        )
    if task is Task.REGRESSION:
        return pd.to_numeric(rows["feedback_value"], errors="coerce").to_numpy("float64"), None
    if not len(rows):  # no rows of this version yet
        return np.empty(0), np.empty((0, 1))
    maps = [v if isinstance(v, dict) else json.loads(v) for v in rows["probabilities"].dropna()]
    classes = sorted({name for m in maps for name in m})  # this version's model's classes
    if not classes:
        raise MonitorError(
            f"prediction log: the {len(rows)} multiclass row(s) of {version} hold no class "
            "probabilities"
        )
    probs = logged_probabilities(rows["probabilities"], classes)
    code = {name: i for i, name in enumerate(classes)}
    y = np.array(
        [np.nan if pd.isna(v) else code.get(str(v), -1) for v in rows["feedback_class_name"]],
        dtype="float64",
    )  # -1: a true class the model does not have (a wrong answer)
    return y, probs


def run(
    repo: Path,
    cfg: CanaryConfig,
    log_url: str,
    *,
    task: Task = Task.BINARY,
    apply: bool = False,
    push: bool = False,
    now: datetime | None = None,
    out_dir: Path = REPORT_DIR,
) -> CanaryRun | None:
    """Compare the version in `canary` with the one in `prod` over the log; with `apply`,
    promote or end the canary as decided (a wait changes nothing). None when no version is in
    `canary` (nothing to decide; the step outputs say `decision=none`)."""
    now = now or datetime.now(UTC)
    state = stage.state(repo)
    if state.canary is None:
        github_io.write_outputs(
            {"decision": "none", "applied": "false", "promoted": "false", "version": "",
             "prod_version": state.prod.version if state.prod else ""}
        )  # fmt: skip
        return None
    if state.prod is None:
        raise MonitorError("no version is in stage prod: a canary needs a prod to compare with")
    if state.since is None:
        raise MonitorError(
            f"{state.canary.version} is in {stage.CANARY} but its assignment tag is not an "
            "annotated tag with a date: fetch the tags again (`git fetch --force --tags origin`)"
        )
    samples = load_samples(
        log_url, state.canary.version, state.prod.version, state.since, now, task
    )
    comparison = compare(samples[0], samples[1], cfg, now - state.since)
    result = CanaryRun(state.canary.version, state.prod.version, state.since, comparison)
    if apply and comparison.decision != "wait":
        reason = "\n".join(render_lines(result))
        act = stage.promote_canary if comparison.decision == "promote" else stage.end_canary
        result.tags = act(repo, reason, push=push)
        result.applied, result.pushed = True, push
    result.json_path, result.md_path = write_report(repo / out_dir, result)
    write_outputs(result)
    return result


def render_lines(r: CanaryRun) -> list[str]:
    """The comparison as plain lines: the tag message, the terminal and the Markdown's core."""
    c = r.comparison
    level = f"{c.confidence:.0%} interval"
    lines = [
        f"canary {r.canary} vs prod {r.prod}: {c.decision.upper()}",
        *[f"- {reason}" for reason in c.reasons],
        "",
        f"window: since the canary's assignment {r.since:%Y-%m-%d %H:%M} UTC "
        f"({c.age_seconds / 3600:.1f} h)",
    ]
    regression = c.task == Task.REGRESSION
    for side in (c.canary, c.prod):
        if regression:
            lines.append(
                f"{side.version}: {side.rows} rows, {side.labelled} with feedback; live "
                f"{c.metric} {_shown(side.metric)}, mean prediction {_shown(side.mean_score)}"
            )
            continue
        lines.append(
            f"{side.version}: {side.rows} rows, {side.labelled} with feedback; live {c.metric} "
            f"{_shown(side.metric)}, misclassification {_shown(side.error_rate)}, estimated "
            f"{c.metric} (CBPE, all rows) {_shown(side.estimated)}, mean "
            f"{'top probability' if c.task == Task.MULTICLASS else 'score'} "
            f"{_shown(side.mean_score)}"
        )
    lines.append(f"live {c.metric}, canary - prod: {c.difference.text()} ({level}, bootstrap)")
    if regression:
        lines += [
            "no estimate before labels: a regression canary is judged on feedback only (the "
            "error estimate, DLE, needs a reference the canary lacks)",
            f"predictions, canary vs prod: PSI {_shown(c.score_psi)}, KS {_shown(c.score_ks)} "
            f"(p {_shown(c.score_ks_pvalue)})",
        ]
    else:
        lines += [
            f"misclassification rate, canary - prod: {c.error_rate_difference.text()} ({level})",
            f"estimated {c.metric}, canary - prod: {c.estimated_difference.text()} ({level} of "
            "the labels' sampling spread)",
            f"scores, canary vs prod: PSI {_shown(c.score_psi)}, KS {_shown(c.score_ks)} "
            f"(p {_shown(c.score_ks_pvalue)})",
        ]
    for side in (c.canary, c.prod):
        failed = (
            "failures not logged (a log older than them)"
            if side.failed_rows is None
            else f"{side.failed_rows} failed of {side.failed_rows + side.timed_rows} rows "
            f"({_shown(side.failure_rate)})"
        )
        lines.append(
            f"{side.version}: latency p50 {_shown(side.latency_p50_ms, 3)} ms, p99 "
            f"{_shown(side.latency_p99_ms, 3)} ms ({side.timed_rows} rows timed); {failed}"
        )
    lines += [
        f"latency p50, canary - prod: {c.latency_p50_difference.text(3)} ms ({level}, bootstrap)",
        f"latency p99, canary - prod: {c.latency_p99_difference.text(3)} ms ({level}, bootstrap)",
        f"failure rate (500s), canary - prod: {c.failure_rate_difference.text()} ({level}, "
        "Newcombe)",
    ]
    return lines


def _shown(x: float | None, digits: int = 4) -> str:
    return fmt(x, f".{digits}f", missing="n/a")


def record(r: CanaryRun) -> dict[str, Any]:
    return {
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "canary": r.canary,
        "prod": r.prod,
        "since": r.since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "comparison": r.comparison.to_dict(),
        "applied": r.applied,
        "pushed": r.pushed,
        "tags": r.tags,
    }


def render_markdown(r: CanaryRun) -> str:
    verdict = {
        "promote": f"✅ promote {r.canary} to prod",
        "end": f"❌ end the canary {r.canary}; prod {r.prod} stays",
        "wait": f"⏳ wait: {r.canary} keeps its share of traffic",
    }[r.comparison.decision]
    done = (
        f" (done: {', '.join(f'`{t}`' for t in r.tags)}{', pushed' if r.pushed else ''})"
        if r.applied
        else " (not applied)"
        if r.comparison.decision != "wait"
        else ""
    )
    body = "\n".join(render_lines(r)[1:])
    return f"## Canary\n\n**{verdict}**{done}\n\n```\n{body}\n```\n"


def write_report(folder: Path, r: CanaryRun) -> tuple[Path, Path]:
    data = record(r)
    json_path = write_json(folder / "canary.json", data)
    md = render_markdown(r)
    md_path = write_atomic(folder / "canary.md", md)
    github_io.append_step_summary(md)
    return json_path, md_path


def write_outputs(r: CanaryRun) -> None:
    promoted = r.applied and r.comparison.decision == "promote"
    github_io.write_outputs(
        {
            "decision": r.comparison.decision,
            "applied": "true" if r.applied else "false",
            "version": r.canary,
            "prod_version": r.canary if promoted else r.prod,
            "promoted": "true" if promoted else "false",
        }
    )
