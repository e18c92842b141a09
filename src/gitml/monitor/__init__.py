"""gitml monitor: drift and live quality of the served model, with one alarm rule.

Reference = the training features of the model in stage `prod` (read at its commit: the git
file models/model.json and the DVC output data/features/train.parquet), or the workspace when
nothing is in prod (or `--reference FILE`). Current = the requests logged by `gitml serve` in a
time window (the prediction log, `gitml.logstore.logdb`), or a CSV/Parquet file of raw input rows.
Both go through the same `gitml.core.features.apply` as training before they are compared.

Per model feature: numeric → Kolmogorov-Smirnov + PSI; categorical → chi-squared + PSI; the
missing-rate change; the share of categories never seen in training. Then the score
distribution (prediction drift) and, on rows with ground-truth feedback, ROC-AUC, accuracy and
calibration error against the model's evaluation metrics.

The alarm rule (params.yaml `monitor:`). Many features x tests inflate false alarms: with 30
tests at 5% each, an unchanged world alarms most days. So a distribution test alarms only when
its p-value is below alpha / (number of tests) — Bonferroni, which bounds the chance of any
false alarm by alpha — AND its PSI is at least `psi_threshold`, because with thousands of rows a
test is significant for shifts too small to matter. Missing rates: Bonferroni AND a change of at
least `missing_rate_delta`. tests/integration/test_monitor.py measures the rule on the real
data: the documented shifts alarm in ≥ 99 of 100 trials, unshifted data in ≤ 5 of 100.

Outputs `monitoring.json` and `monitoring.md` (not a DVC stage: it watches production, it does
not build anything). Exit code: 0 no alarm, 1 alarm, 2 bad configuration, 3 could not judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitml.config import MonitorConfig
from gitml.contracts.monitoring import MonitoringReport
from gitml.core.duration import parse_since
from gitml.errors import ConfigError
from gitml.io.github import append_step_summary, write_outputs
from gitml.monitor.alert import AlertResult, alert
from gitml.monitor.analyse import (
    analyse,
    contract_violations,
    featurize,
    live_quality,
    reference_profiles,
)
from gitml.monitor.common import ALARM_LABEL, DEFAULT_OUT, ISSUE_TITLE, SCORE, MonitorError
from gitml.monitor.current import Current, load_file, load_log
from gitml.monitor.reference import Reference, load_reference
from gitml.monitor.render import render_markdown

__all__ = [
    "ALARM_LABEL", "DEFAULT_OUT", "ISSUE_TITLE", "SCORE", "AlertResult", "Current",
    "MonitorError", "MonitorResult", "MonitoringReport", "Reference", "alert", "analyse",
    "contract_violations", "featurize", "live_quality", "load_file", "load_log",
    "load_reference", "parse_since", "reference_profiles", "render_markdown", "run",
]  # fmt: skip


@dataclass(frozen=True)
class MonitorResult:
    report: MonitoringReport
    json_path: Path
    md_path: Path

    @property
    def alarm(self) -> bool:
        return self.report.alarm


def run(
    cfg: MonitorConfig,
    out_dir: Path = DEFAULT_OUT,
    log_url: str | None = None,
    current_file: Path | None = None,
    since: str | None = None,
    reference_file: Path | None = None,
    repo: Path = Path(),
    schema_file: Path | None = None,
    inputs_only: bool = False,
) -> MonitorResult:
    """Load, compare, write monitoring.json and monitoring.md; the caller exits 0/1."""
    from gitml.io.files import write_atomic, write_json

    if log_url and current_file:
        raise ConfigError("pass --log-db URL or --current FILE, not both")
    try:
        window = parse_since(since or cfg.since)
    except ValueError as exc:
        raise ConfigError(f"--since: {exc}") from None
    ref = load_reference(repo, reference_file, schema_file)
    if current_file is not None:
        cur = load_file(current_file, ref.meta, inputs_only=inputs_only)
    else:
        from gitml.logstore.logdb import DEFAULT_LOG_URL

        # Judge the prod model on its own predictions (a rollout or rollback leaves older
        # versions' rows in the window); the workspace reference (no version) takes them all.
        cur = load_log(log_url or DEFAULT_LOG_URL, window, version=ref.version, meta=ref.meta)
    report = analyse(ref, cur, cfg)
    json_path = write_json(out_dir / "monitoring.json", report.to_json())
    md_path = write_atomic(out_dir / "monitoring.md", render_markdown(report))
    # In GitHub Actions: the verdict as a step output (the workflow branches on it) and the
    # report as the job summary, so the workflow needs no shell logic of its own.
    write_outputs({"alarm": "true" if report.alarm else "false"})
    append_step_summary(md_path.read_text(encoding="utf-8"))
    return MonitorResult(report, json_path, md_path)
