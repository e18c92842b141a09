"""The comparison of the window with the reference: drift, data contract and live quality.

`analyse` returns the typed report (gitml.contracts.monitoring.MonitoringReport); each part of it is
built by a function of its own below, in the order the report reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from gitml.config import MonitorConfig
from gitml.contracts.monitoring import (
    Contract,
    ContractColumn,
    CurrentInfo,
    FeatureDrift,
    MonitoringReport,
    Quality,
    ReferenceInfo,
    Rule,
)
from gitml.core.calibration import expected_calibration_error
from gitml.core.tasks import Task
from gitml.errors import GitmlError
from gitml.monitor import drift, estimate, task_estimate
from gitml.monitor import prior as prior_mod
from gitml.monitor.common import SCORE, MonitorError, significant
from gitml.monitor.current import Current
from gitml.monitor.reference import Reference


def featurize(cur: Current, ref: Reference) -> pd.DataFrame:
    """The current rows with the model's derived features, numeric columns as float64."""
    from gitml.core import features

    kinds = ref.columns
    derived = list(ref.meta.derived_features)
    inputs = [c for c in kinds if c not in derived]
    missing = [c for c in inputs if c not in cur.frame.columns]
    if missing:
        from gitml.serve.names import InputNames

        names = InputNames.of(inputs, ref.meta.original_names)
        matched = names.match([str(c) for c in cur.frame.columns], inputs, strict=False)
        own = [names.original.get(c, c) for c in missing]
        raise MonitorError(
            f"{cur.source}: lacks the model's input column(s) {own}: "
            + "; ".join(message for _, _, message in matched.problems)
        )
    frame = cur.frame.copy()
    for c in inputs:
        if kinds[c] == "numeric":
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    try:
        return features.apply(frame, derived)
    except GitmlError as exc:
        raise MonitorError(f"{cur.source}: {exc}") from None


def analyse(
    ref: Reference,
    cur: Current,
    cfg: MonitorConfig,
    profiles: dict[str, drift.Profile] | None = None,
    classes: dict[str, prior_mod.ByClass] | None = None,
) -> MonitoringReport:
    """Compare the window with the reference; return the report (monitoring.json).

    `profiles` and `classes` (gitml.monitor.prior.reference_classes) summarise the reference;
    pass them when judging many windows against one reference."""
    report = MonitoringReport(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        reference=ReferenceInfo(
            source=ref.source, version=ref.version, commit=ref.commit, rows=len(ref.frame)
        ),
        current=CurrentInfo(
            source=cur.source,
            rows=len(cur.frame),
            window_start=cur.start.isoformat(timespec="seconds") if cur.start else None,
            window_end=cur.end.isoformat(timespec="seconds") if cur.end else None,
            model_versions=cur.versions,
            logged_unseen_rows=cur.logged_unseen_rows,
            other_versions=cur.other_versions,
        ),
        notes=[*ref.notes, *_version_notes(ref, cur)],
        input_names={
            c: own for c, own in ref.meta.original_names.items() if c in ref.columns and own != c
        },
    )
    if len(cur.frame) < cfg.min_rows:
        report.status = "insufficient_data"
        report.notes.append(
            f"only {len(cur.frame)} row(s) in the window (monitor.min_rows = {cfg.min_rows}): "
            "no verdict; widen --since or wait for traffic"
        )
        return report
    current = featurize(cur, ref)
    _drift(report, ref, cur, cfg, current, profiles)
    if ref.schema is not None:
        report.contract = contract_violations(ref.schema, cur.frame, ref.meta.target)
        report.alarms += _contract_alarms(report, cfg)
    report.quality, notes = live_quality(ref, cur, cfg)
    report.notes += notes
    if report.quality:
        report.alarms += [f"live quality: {a}" for a in report.quality.alarms]
    _estimate(report, ref, cur, cfg, current, classes)
    report.alarm = bool(report.alarms)
    report.status = "alarm" if report.alarms else "ok"
    report.causes = causes(report.alarms)
    return report


def _version_notes(ref: Reference, cur: Current) -> list[str]:
    if cur.other_versions:
        left_out = ", ".join(f"{k}: {v}" for k, v in sorted(cur.other_versions.items()))
        return [
            f"left out {sum(cur.other_versions.values())} row(s) that other model versions "
            f"predicted ({left_out}); this report is about {ref.version}"
        ]
    if ref.version and cur.versions and set(cur.versions) != {ref.version}:
        return [f"the window holds predictions of {sorted(cur.versions)}; prod is {ref.version}"]
    return []


def _drift(
    report: MonitoringReport,
    ref: Reference,
    cur: Current,
    cfg: MonitorConfig,
    current: pd.DataFrame,
    profiles: dict[str, drift.Profile] | None,
) -> None:
    """Every feature and the score against the reference, under one Bonferroni rule."""
    kinds = ref.columns
    if profiles is None:
        profiles = reference_profiles(ref, cfg)
    results = {c: drift.compare(profiles[c], current[c], cfg.min_expected) for c in kinds}
    score_drift = None
    if cur.scores is not None and ref.scores is not None:
        score_drift = drift.compare(
            drift.profile(pd.Series(ref.scores, name=SCORE), "numeric", cfg.bins),
            pd.Series(cur.scores, name=SCORE),
        )
    elif cur.scores is not None:
        report.notes.append("no reference score distribution: prediction drift not tested")
    # Bonferroni over every test that yields a p-value in this run.
    n_tests = sum(r.p_value is not None for r in results.values()) + len(results)
    n_tests += score_drift is not None and score_drift.p_value is not None
    p_floor = cfg.alpha / max(n_tests, 1)
    report.rule = Rule(
        alpha=cfg.alpha,
        tests=n_tests,
        p_threshold=significant(p_floor),
        psi_threshold=cfg.psi_threshold,
        missing_rate_delta=cfg.missing_rate_delta,
        max_unseen_share=cfg.max_unseen_share,
        text=(
            f"a distribution alarms when p < {cfg.alpha} / {n_tests} tests = {p_floor:.2g} "
            f"(Bonferroni) AND PSI ≥ {cfg.psi_threshold}; a missing rate when p < {p_floor:.2g} "
            f"AND it changed by ≥ {cfg.missing_rate_delta}; unseen categories when more than "
            f"{cfg.max_unseen_share:.1%} of rows have one"
        ),
    )
    for name, r in results.items():
        entry = _feature_entry(r, cfg, p_floor)
        report.alarms += [f"{report.shown(name)}: {a}" for a in entry.alarms]
        report.features.append(entry)
    if score_drift is not None:
        entry = _feature_entry(score_drift, cfg, p_floor)
        entry.alarms = [a for a in entry.alarms if a.startswith("distribution")]
        report.alarms += [f"prediction score: {a}" for a in entry.alarms]
        report.prediction = entry


def _contract_alarms(report: MonitoringReport, cfg: MonitorConfig) -> list[str]:
    contract = report.contract
    if contract is None or contract.share <= cfg.max_invalid_share:
        return []
    worst = ", ".join(f"{report.shown(c)} ({v.rows})" for c, v in contract.columns.items())
    return [
        f"data contract: {contract.share:.1%} of rows break the schema "
        f"(> {cfg.max_invalid_share:.1%}): {worst}"
    ]


def _estimate(
    report: MonitoringReport,
    ref: Reference,
    cur: Current,
    cfg: MonitorConfig,
    current: pd.DataFrame,
    classes: dict[str, prior_mod.ByClass] | None,
) -> None:
    """Estimated performance before labels, after the label-shift verdict it depends on."""
    if ref.meta.task is not Task.BINARY:  # no label-shift verdict: it is a binary method
        report.estimate, notes = task_estimate.section(ref, cur, cfg, current)
    else:
        report.estimate, notes = estimate.section(
            ref, cur, cfg, _prior(ref, cur, cfg, current, classes)
        )
    report.notes += notes
    if report.estimate:
        report.alarms += [f"estimated performance: {a}" for a in report.estimate.alarms]
    elif cur.scores is None:
        report.notes.append("no scores in the window: performance not estimated")


def _prior(
    ref: Reference,
    cur: Current,
    cfg: MonitorConfig,
    current: pd.DataFrame,
    classes: dict[str, prior_mod.ByClass] | None,
) -> prior_mod.PriorShift | None:
    shift = None
    if cur.scores is not None and len(cur.scores):
        shift = prior_mod.judge(ref, np.asarray(cur.scores, "float64"), current, cfg, classes)
    return shift


def causes(alarms: list[str]) -> list[str]:
    """What the alarms point at, in the words the drift issue uses: input drift (the inputs or
    the contract moved), label shift (the share of positives moved, the inputs did not beyond
    what that share explains), concept drift (labels disagree with what the scores predict),
    live quality (labels show a drop)."""
    label_shift = any(a.startswith("estimated performance: label shift") for a in alarms)
    inputs = [a for a in alarms if not a.startswith(("estimated performance:", "live quality:"))]
    if label_shift:  # a distribution that moved is what the label shift predicts (prior.py)
        inputs = [a for a in inputs if ": distribution (" not in a]
    found = ["input drift"] if inputs else []
    if label_shift:
        found.append("label shift")
    if any(a.startswith("estimated performance: concept drift") for a in alarms):
        found.append("concept drift")
    if any(a.startswith("live quality:") for a in alarms):
        found.append("live quality")
    if any(a.startswith("estimated performance: estimated") for a in alarms) and not found:
        found.append("input drift")  # an estimated drop with no label shift: the inputs moved
    return found


def reference_profiles(ref: Reference, cfg: MonitorConfig) -> dict[str, drift.Profile]:
    missing = [c for c in ref.columns if c not in ref.frame.columns]
    if missing:
        raise MonitorError(
            f"{ref.source}: lacks the model feature column(s) {missing}; is it the training "
            "features file (data/features/train.parquet) of this model?"
        )
    return {c: drift.profile(ref.frame[c], k, cfg.bins) for c, k in ref.columns.items()}


def _feature_entry(r: drift.ColumnDrift, cfg: MonitorConfig, p_floor: float) -> FeatureDrift:
    flags = []
    if r.p_value is not None and r.p_value < p_floor and (r.psi or 0.0) >= cfg.psi_threshold:
        flags.append(
            f"distribution ({r.test} p = {r.p_value:.2g} < {p_floor:.2g}, "
            f"PSI {r.psi:.3f} ≥ {cfg.psi_threshold})"
        )
    delta = r.cur_missing_rate - r.ref_missing_rate
    if (
        r.missing_p_value is not None
        and r.missing_p_value < p_floor
        and abs(delta) >= cfg.missing_rate_delta
    ):
        flags.append(
            f"missing rate {r.ref_missing_rate:.1%} → {r.cur_missing_rate:.1%} "
            f"(p = {r.missing_p_value:.2g})"
        )
    if r.unseen_share > cfg.max_unseen_share:
        flags.append(
            f"{r.unseen_share:.1%} of rows have a category unseen in training "
            f"({', '.join(r.unseen_values[:5])}{', …' if len(r.unseen_values) > 5 else ''})"
        )
    return FeatureDrift(
        name=r.name,
        kind=r.kind,
        test=r.test,
        statistic=significant(r.statistic),
        p_value=significant(r.p_value),
        psi=significant(r.psi),
        ref_missing_rate=significant(r.ref_missing_rate),
        cur_missing_rate=significant(r.cur_missing_rate),
        missing_p_value=significant(r.missing_p_value),
        unseen_share=significant(r.unseen_share),
        unseen_values=r.unseen_values,
        rows=r.rows,
        bins=r.bins,
        ref_shares=[significant(x, 4) for x in r.ref_shares],
        cur_shares=[significant(x, 4) for x in r.cur_shares],
        alarms=flags,
    )


def contract_violations(schema: Any, frame: pd.DataFrame, target: str | None) -> Contract:
    """Rows of the window that break the data contract (types, ranges, nullability).

    The allowed-categories (`isin`) checks are left out: serving accepts an unseen category
    (the model's encoder handles it) and the monitor reports those separately.
    """
    import pandera.pandas as pa

    names = [c for c in schema.columns if c != target and c in frame.columns]
    checked = pa.DataFrameSchema(
        {
            n: schema.columns[n].set_checks(
                [c for c in schema.columns[n].checks if c.name != "isin"]
            )
            for n in names
        },
        coerce=schema.coerce,
    )
    out = Contract(rows=len(frame))
    try:
        checked.validate(frame[names].reset_index(drop=True), lazy=True)
        return out
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    bad: set[int] = set()
    for column, group in cases.groupby("column", sort=True):
        rows = {int(i) for i in group["index"] if i is not None and not pd.isna(i)}
        bad |= rows or set(range(len(frame)))  # no row index: the whole column failed
        rule = group["check"].astype("str").str.replace(r"^coerce_dtype", "dtype", regex=True)
        typed = rule.str.startswith("dtype(")
        if typed.any():  # a value of the wrong type also crashes the range check: say it once
            group, rule = group[typed], rule[typed]
        rules = sorted(set(rule))
        examples = [str(v) for v in group["failure_case"].drop_duplicates()[:3]]
        out.columns[str(column)] = ContractColumn(
            rows=len(rows) or len(frame), rules=rules, examples=examples
        )
    out.invalid_rows = len(bad)
    out.share = (significant(len(bad) / len(frame)) or 0.0) if len(frame) else 0.0
    return out


def live_quality(
    ref: Reference, cur: Current, cfg: MonitorConfig
) -> tuple[Quality | None, list[str]]:
    """ROC-AUC, accuracy and calibration error on the rows with ground truth, against the
    model's evaluation on the test split; and the notes for the report. A multiclass or
    regression model's: gitml.monitor.task_estimate.live_quality."""
    from sklearn import metrics as skm

    if ref.meta.task is not Task.BINARY:
        return task_estimate.live_quality(ref, cur, cfg)

    if cur.y_true is None or cur.scores is None:
        return None, []
    has = ~np.isnan(cur.y_true)
    n = int(has.sum())
    out, notes = Quality(rows=n), []
    if n < cfg.min_feedback_rows:
        notes.append(
            f"{n} row(s) with feedback (monitor.min_feedback_rows = {cfg.min_feedback_rows}): "
            "live quality not judged"
        )
        return out, notes
    y = cur.y_true[has].astype("int64")
    s = cur.scores[has]
    labels = cur.labels[has] if cur.labels is not None else (s >= 0.5).astype("int64")
    live: dict[str, float | None] = {
        "accuracy": significant(float(skm.accuracy_score(y, labels))),
        "calibration_error": significant(expected_calibration_error(y, s, cfg.calibration_bins)),
        "roc_auc": significant(float(skm.roc_auc_score(y, s))) if 0 < y.sum() < len(y) else None,
    }
    if live["roc_auc"] is None:
        notes.append("feedback has one class only: live ROC-AUC undefined")
    evaluation: dict[str, float | None] = {
        "roc_auc": (ref.metrics or {}).get("roc_auc"),
        "accuracy": (ref.metrics or {}).get("accuracy"),
        "calibration_error": None,
    }
    if ref.scores is not None and ref.y_true is not None and len(ref.y_true):
        evaluation["calibration_error"] = significant(
            expected_calibration_error(ref.y_true, ref.scores, cfg.calibration_bins)
        )
    out.live, out.evaluation = live, evaluation
    limits = {
        "roc_auc": cfg.max_roc_auc_drop,
        "accuracy": cfg.max_accuracy_drop,
    }
    for metric, limit in limits.items():
        lv, ev = live[metric], evaluation[metric]
        if lv is not None and ev is not None and ev - lv > limit:
            out.alarms.append(f"{metric} {lv:.4f} vs {ev:.4f} at evaluation (drop > {limit})")
    lv, ev = live["calibration_error"], evaluation["calibration_error"]
    if lv is not None and lv - (ev or 0.0) > cfg.max_calibration_error_increase:
        out.alarms.append(
            f"calibration error {lv:.4f} vs {ev or 0.0:.4f} at evaluation "
            f"(increase > {cfg.max_calibration_error_increase})"
        )
    return out, notes
