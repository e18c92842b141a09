"""monitoring.md: the report (gitml.contracts.monitoring.MonitoringReport) as Markdown, with Mermaid
charts."""

from __future__ import annotations

from gitml.contracts.monitoring import Contract, Estimate, FeatureDrift, MonitoringReport, Quality
from gitml.core.metrics import fmt


def render_markdown(report: MonitoringReport) -> str:
    status = {"alarm": "🔴 ALARM", "ok": "🟢 no alarm", "insufficient_data": "⚪ no verdict"}
    ref, cur = report.reference, report.current
    lines = [
        "# Model monitoring",
        "",
        f"**{status[report.status]}** · generated {report.generated_at}",
        "",
        f"- reference: {ref.source} ({ref.rows} rows)",
        f"- current: {cur.source} ({cur.rows} rows"
        + (f", {cur.window_start} → {cur.window_end}" if cur.window_end else "")
        + ")",
    ]
    if cur.model_versions:
        versions = ", ".join(f"{k}: {v}" for k, v in sorted(cur.model_versions.items()))
        lines.append(f"- model versions in the window: {versions}")
    if report.rule:
        lines.append(f"- rule: {report.rule.text}")
    if report.alarms:
        lines += ["", "## Alarms", ""]
        if report.causes:
            lines += [f"**Cause: {', '.join(report.causes)}.**", ""]
        lines += [f"- {a}" for a in report.alarms]
    lines += _feature_lines(report)
    lines += _quality_lines(report.quality)
    lines += _estimate_lines(report.estimate, report)
    lines += _contract_lines(report.contract, report)
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def _feature_lines(report: MonitoringReport) -> list[str]:
    lines: list[str] = []
    if report.features:
        lines += [
            "",
            "## Features",
            "",
            "| feature | type | test | statistic | p-value | PSI | missing (train → now) "
            "| unseen | status |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        rows = report.features + ([report.prediction] if report.prediction else [])
        for f in rows:
            lines.append(
                f"| {report.shown(f.name)} | {f.kind} | {f.test} | {fmt(f.statistic, '.3f')} | "
                f"{fmt(f.p_value, '.2g')} | {fmt(f.psi, '.3f')} | "
                f"{fmt(f.ref_missing_rate, '.1%')} → {fmt(f.cur_missing_rate, '.1%')} | "
                f"{fmt(f.unseen_share, '.1%')} | {'**drift**' if f.alarms else 'ok'} |"
            )
        lines += ["", *_psi_chart(report)]
    if report.prediction:
        lines += ["", *_score_chart(report.prediction)]
    return lines


def _quality_lines(q: Quality | None) -> list[str]:
    if not q or not q.live:
        return []
    lines = [
        "",
        f"## Live quality ({q.rows} rows with feedback)",
        "",
        "| metric | live | evaluation |",
        "|---|---|---|",
    ]
    binary = ("roc_auc", "accuracy", "calibration_error")
    for metric in binary if "calibration_error" in q.live else tuple(q.live):
        lines.append(
            f"| {metric} | {fmt(q.live.get(metric), '.4f')} | "
            f"{fmt(q.evaluation.get(metric), '.4f')} |"
        )
    return lines


def _contract_lines(contract: Contract | None, report: MonitoringReport) -> list[str]:
    if not contract or not contract.columns:
        return []
    lines = [
        "",
        f"## Data contract ({contract.invalid_rows} of {contract.rows} rows break it)",
        "",
        "| column | rows | rules | examples |",
        "|---|---|---|---|",
    ]
    for col, v in contract.columns.items():
        rules, examples = ", ".join(v.rules), ", ".join(v.examples)
        lines.append(f"| {report.shown(col)} | {v.rows} | {rules} | {examples} |")
    return lines


def _estimate_lines(e: Estimate | None, report: MonitoringReport) -> list[str]:
    """Estimated metrics of the window (no labels needed) next to the reference's estimate."""
    if not e:
        return []
    fb, prior = e.feedback, e.prior
    lines = [
        "",
        f"## Estimated performance ({e.rows} rows, no labels needed)",
        "",
        _method_line(e),
    ]
    if prior is not None and prior.estimated is not None and prior.reference is not None:
        fits = {True: "fits", False: "does not fit", None: "could not be checked against"}
        lines += [
            "",
            f"Share of positives: estimated {prior.estimated:.1%} against "
            f"{prior.reference:.1%} at evaluation ({prior.method}). The window "
            f"{fits[prior.fits_label_shift]} a label shift"
            + (
                f" (largest PSI against the class-re-weighted reference: "
                f"{fmt(prior.worst_input_psi, '.3f')}, {report.shown(prior.worst_input)})"
                if prior.worst_input
                else ""
            )
            + (
                "; the estimates below are corrected for the new share."
                if prior.label_shift
                else "; the estimates below take the scores as they are."
            ),
        ]
    lines += [
        "",
        "| metric | estimated now | band | estimated at evaluation | realized at evaluation |"
        + (f" estimated on the {fb.rows} rows with feedback | realized on them |" if fb else ""),
        "|---|---|---|---|---|" + ("---|---|" if fb else ""),
    ]
    for m in e.estimated:
        row = (
            f"| {m} | {fmt(e.estimated[m], '.4f')} | ± {fmt(e.band[m], '.4f')} | "
            f"{fmt(e.reference.get(m), '.4f')} | {fmt(e.evaluation.get(m), '.4f')} |"
        )
        if fb:
            row += (
                f" {fmt(fb.estimated[m], '.4f')} ± {fmt(fb.band[m], '.4f')} | "
                f"{fmt(fb.realized[m], '.4f')} |"
            )
        lines.append(row)
    if fb:
        lines += [
            "",
            "Where the realized value leaves the band of its estimate, the same inputs now lead "
            "to other outcomes (concept drift): estimation cannot see that, labels can.",
        ]
    return lines


def _method_line(e: Estimate) -> str:
    band = f"Band: ± {e.band_sigmas:g} sampling standard deviations. "
    if e.threshold is None:  # multiclass or regression (gitml.monitor.task_estimate)
        return (
            f"{e.method}. {band}Alarm when the estimated "
            f"{e.metric} is worse by more than the allowed change than the same estimate on "
            "the evaluation's test split."
        )
    return (
        f"{e.method}: the expected confusion matrix of the window follows from its "
        f"calibrated scores (calibration: {e.calibration}; threshold {e.threshold}). "
        f"{band}Alarm when the estimated "
        f"{e.metric} is more than the allowed drop below the same estimate on the "
        "evaluation's test split."
    )


# Mermaid xychart-beta: the first default line colour is nearly invisible, so set the palette;
# GitHub may draw no legend, so the title names the colours.
_PALETTE = '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#1f77b4, #d62728"}}}}%%'


def _psi_chart(report: MonitoringReport) -> list[str]:
    feats = [f for f in report.features if f.psi is not None]
    if not feats or report.rule is None:
        return []
    floor = report.rule.psi_threshold
    psis = [f.psi for f in feats if f.psi is not None]
    top = max([*psis, floor]) * 1.1
    return [
        "```mermaid",
        _PALETTE,
        "xychart-beta horizontal",  # horizontal: long feature names stay readable
        f'    title "PSI per feature (blue bars) vs the alarm floor {floor} (red line)"',
        "    x-axis [" + ", ".join(f'"{report.shown(f.name)}"' for f in feats) + "]",
        f'    y-axis "PSI" 0 --> {top:.3g}',
        "    bar [" + ", ".join(f"{p:.4f}" for p in psis) + "]",
        "    line [" + ", ".join(str(floor) for _ in feats) + "]",
        "```",
    ]


def _score_chart(pred: FeatureDrift) -> list[str]:
    ref_shares = [x or 0.0 for x in pred.ref_shares]
    cur_shares = [x or 0.0 for x in pred.cur_shares]
    top = max([*ref_shares, *cur_shares]) * 1.2  # from 0: honest proportions
    return [
        "```mermaid",
        _PALETTE,
        "xychart-beta",
        '    title "Share of scores per bin: reference (blue) vs now (red)"',
        # bin numbers keep the axis readable; the bounds are in the table of monitoring.json
        '    x-axis "score bin (deciles of the reference scores)" ['
        + ", ".join(f'"{i + 1}"' for i in range(len(pred.bins)))
        + "]",
        f'    y-axis "share of rows" 0 --> {top:.2g}',
        "    line [" + ", ".join(f"{x:.4f}" for x in ref_shares) + "]",
        "    line [" + ", ".join(f"{x:.4f}" for x in cur_shares) + "]",
        "```",
    ]
