"""Canary against prod on the prediction log: the comparison and the rule that decides.

Both versions answer requests in the same window (the following server sends
`promotion.canary.share` of them to the canary), so their logged rows are two independent
samples of the same traffic. Per version: rows, rows with feedback, the live metric and the
misclassification rate on those rows, the estimate before labels on every row, the scores'
distribution (PSI and KS, canary against prod), and the serving side: latency p50/p99 and the
rate of failed requests (`gitml.monitor.canary_health`).

Per task (`Sample.task`, the project's data.task):
- binary: ROC-AUC or accuracy at the threshold; the estimate is CBPE (`gitml.monitor.estimate`);
- multiclass: accuracy or macro-F1 of the top class against the true class; the estimate is
  multiclass CBPE on the served probabilities (`gitml.monitor.cbpe_multi`, without the
  monitor's per-class calibration: that needs each version's test split);
- regression: MAE or RMSE of the prediction (lower is better); no estimate before labels (DLE
  needs a reference to train its error model on, and the canary has none), and no
  misclassification rate. The scores are the predictions.

The intervals of canary minus prod come from a bootstrap (scipy.stats.bootstrap, percentile
method, the two samples resampled independently). Its statistic is vectorised with weights: a
resample is a vector of counts per row, so ROC-AUC is the count-weighted Mann-Whitney sum over
the rows sorted by score once, accuracy and MAE weighted means, RMSE the root of one, macro-F1
per-class weighted counts; no resample is re-sorted.

`decide` is pure: a comparison and `CanaryConfig` in, "promote", "end" or "wait" out, with one
reason per rule. Conservative by construction: it promotes only when the interval's worse end
is within max_drop of prod (canary - prod above -max_drop; below +max_drop for the
lower-is-better MAE and RMSE). Latency and failures are shown, not decided on: no rule of
`CanaryConfig` reads them.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any, Literal

import numpy as np

from gitml.config import CanaryConfig
from gitml.config.task_rules import CANARY_METRICS
from gitml.core.duration import parse_since
from gitml.core.metrics import LOWER_IS_BETTER
from gitml.core.tasks import Task
from gitml.monitor import canary_health, cbpe_multi, drift
from gitml.monitor.canary_rows import Classes, Errors, Rows, Sorted, counts
from gitml.monitor.common import MonitorError, significant
from gitml.monitor.estimate import estimate, sampling_sd

N_RESAMPLES = 1999
BATCH = 40  # resamples per vectorised call: bounds memory at BATCH x rows floats
SEED = 20260101  # fixed: the interval is a property of the logged rows, not of a run
SCORE_BINS = 10
Decision = Literal["promote", "end", "wait"]


@dataclass(frozen=True)
class Sample:
    """One version's logged rows: scores, ground truth (NaN: no feedback yet), threshold;
    the model call's time per row (NaN: not logged) and the rows it failed to score (None: the
    log records no failures).

    Per task: binary scores are P(positive) and the truth 0/1; multiclass scores the top
    class's probability, `probs` the rows x classes probabilities and the truth the class's
    index among them (-1: a class this model does not have); regression scores the
    predictions and the truth the true values (the threshold means nothing)."""

    version: str
    scores: np.ndarray
    y_true: np.ndarray
    threshold: float
    latency_ms: np.ndarray | None = None
    failed: int | None = None
    task: Task = Task.BINARY
    probs: np.ndarray | None = None

    def labelled(self) -> tuple[np.ndarray, np.ndarray]:
        has = ~np.isnan(self.y_true)
        y = self.y_true[has]
        return self.scores[has], y if self.task is Task.REGRESSION else y.astype("int64")

    def rows(self) -> Rows:
        """The labelled rows as the bootstrap's statistic reads them."""
        has = ~np.isnan(self.y_true)
        if self.task is Task.REGRESSION:
            return Errors.of(self.scores[has], self.y_true[has])
        if self.task is Task.MULTICLASS:
            if self.probs is None:
                raise ValueError("a multiclass Sample needs its probabilities")
            return Classes.of(self.probs[has], self.y_true[has].astype("int64"))
        s, y = self.labelled()
        return Sorted.of(s, y, self.threshold)


@dataclass(frozen=True)
class Interval:
    point: float | None
    low: float | None
    high: float | None

    def text(self, digits: int = 4) -> str:
        if self.point is None:
            return "n/a"
        if self.low is None or self.high is None:
            return f"{self.point:+.{digits}f}"
        return f"{self.point:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"


@dataclass(frozen=True)
class Side:
    """What the log says about one version."""

    version: str
    rows: int
    labelled: int
    metric: float | None  # live, on rows with feedback
    error_rate: float | None  # misclassified share of rows with feedback
    estimated: float | None  # CBPE, every row
    mean_score: float | None
    timed_rows: int = 0  # rows with a logged latency
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    failed_rows: int | None = None  # None: the log records no failures (older than them)
    failure_rate: float | None = None  # failed / (failed + timed rows)


@dataclass
class Comparison:
    metric: str
    confidence: float
    age_seconds: float  # since the canary's assignment
    canary: Side
    prod: Side
    difference: Interval  # live metric, canary minus prod
    error_rate_difference: Interval
    estimated_difference: Interval  # CBPE, ± the labels' sampling spread
    score_psi: float | None
    score_ks: float | None
    score_ks_pvalue: float | None
    latency_p50_difference: Interval = Interval(None, None, None)  # ms, canary - prod
    latency_p99_difference: Interval = Interval(None, None, None)
    failure_rate_difference: Interval = Interval(None, None, None)  # Newcombe
    decision: Decision = "wait"
    reasons: list[str] = field(default_factory=list)
    task: str = Task.BINARY.value

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- the bootstrap


def _bootstrap(
    canary: Rows, prod: Rows, metric: str, confidence: float
) -> tuple[Interval, Interval, tuple[float, float], tuple[float, float]]:
    """Intervals of canary minus prod (metric; misclassification rate); each side's point."""
    from scipy.stats import DegenerateDataWarning, bootstrap

    def statistic(ic: np.ndarray, ip: np.ndarray, axis: int = -1) -> np.ndarray:
        del axis  # scipy passes it; the resamples are always along the last axis
        mc, ac = canary.weighted(counts(ic, len(canary)), metric)
        mp, ap = prod.weighted(counts(ip, len(prod)), metric)
        out = np.stack([mc - mp, (1 - ac) - (1 - ap), mc, mp, ac, ap])
        return out[:, 0] if np.ndim(ic) == 1 else out

    with warnings.catch_warnings():
        # regression has no misclassification rate: its NaN statistic is degenerate by design
        warnings.simplefilter("ignore", DegenerateDataWarning)
        res = bootstrap(
            (np.arange(len(canary)), np.arange(len(prod))), statistic, paired=False,
            vectorized=True, n_resamples=N_RESAMPLES, batch=BATCH, method="percentile",
            confidence_level=confidence, rng=np.random.default_rng(SEED),
        )  # fmt: skip
    point = statistic(np.arange(len(canary)), np.arange(len(prod)))
    low, high = res.confidence_interval.low, res.confidence_interval.high

    def interval(i: int) -> Interval:
        if not np.isfinite(point[i]):
            return Interval(None, None, None)
        lo, hi = (float(low[i]), float(high[i])) if np.isfinite([low[i], high[i]]).all() else (
            None, None)  # fmt: skip
        return Interval(significant(float(point[i])), significant(lo), significant(hi))

    return interval(0), interval(1), (point[2], point[3]), (point[4], point[5])


# --------------------------------------------------------------------------- the comparison


def _finite(x: float) -> float | None:
    return significant(float(x)) if np.isfinite(x) else None


def _interval(t: canary_health.Triple) -> Interval:
    return Interval(*(significant(x) for x in t))


def _estimate(s: Sample, metric: str) -> tuple[float | None, float]:
    """The task's estimate before labels on every row of `s`, and its sampling deviation."""
    if s.task is Task.MULTICLASS:
        assert s.probs is not None  # Sample.rows says so
        return cbpe_multi.estimate(s.probs)[metric], cbpe_multi.sampling_sd(s.probs)[metric]
    return estimate(s.scores, s.threshold)[metric], sampling_sd(s.scores, s.threshold)[metric]


def _estimated(c: Sample, p: Sample, metric: str, confidence: float) -> tuple[Interval, ...]:
    """The estimate before labels (CBPE) on every row of each version, and the difference with a
    normal interval from the labels' sampling spread (what the realized difference may still
    turn out to be). None for regression: no label-free estimate without a reference."""
    from scipy.stats import norm

    none = Interval(None, None, None)
    if not len(c.scores) or not len(p.scores) or c.task is Task.REGRESSION:
        return none, none, none
    (ec, sdc), (ep, sdp) = _estimate(c, metric), _estimate(p, metric)
    if ec is None or ep is None:
        return Interval(ec, None, None), Interval(ep, None, None), none
    sd = float(np.hypot(sdc, sdp))
    z = float(norm.ppf(0.5 + confidence / 2))
    diff = ec - ep
    return (
        Interval(significant(ec), None, None),
        Interval(significant(ep), None, None),
        Interval(significant(diff), significant(diff - z * sd), significant(diff + z * sd)),
    )


def _scores(c: Sample, p: Sample) -> tuple[float | None, float | None, float | None]:
    """PSI of the canary's scores over prod's quantile bins, and the two-sample KS test."""
    if not len(c.scores) or not len(p.scores):
        return None, None, None
    edges = drift.quantile_edges(p.scores, SCORE_BINS)
    value = drift.psi(drift.bin_counts(p.scores, edges), drift.bin_counts(c.scores, edges))
    ks, pvalue = drift.ks_test(p.scores, c.scores)
    return _finite(value), _finite(ks), _finite(pvalue)


def compare(canary: Sample, prod: Sample, cfg: CanaryConfig, age: timedelta) -> Comparison:
    """The comparison of the two versions' rows, decided by `decide`. MonitorError when the
    two are of different tasks or the metric is not one of their task's."""
    if canary.task is not prod.task:
        raise MonitorError(
            f"canary {canary.version} is a {canary.task} model and prod {prod.version} a "
            f"{prod.task} one: a canary is compared with a prod of the same task"
        )
    task = canary.task.value
    if cfg.metric not in CANARY_METRICS[task]:
        raise MonitorError(
            f"promotion.canary.metric: {cfg.metric!r} is not a canary metric of a {task} model;"
            f" use one of {', '.join(CANARY_METRICS[task])}"
        )
    nan = Interval(None, None, None)
    _, yc = canary.labelled()
    _, yp = prod.labelled()
    diff, err, metrics, accs = nan, nan, (float("nan"),) * 2, (float("nan"),) * 2
    if min(len(yc), len(yp)) >= 2:
        diff, err, metrics, accs = _bootstrap(
            canary.rows(), prod.rows(), cfg.metric, cfg.confidence
        )
    est_c, est_p, est_diff = _estimated(canary, prod, cfg.metric, cfg.confidence)
    psi, ks, pvalue = _scores(canary, prod)
    serving = [canary_health.Serving.of(s.latency_ms, s.failed) for s in (canary, prod)]
    sides = []
    for s, y, m, a, e, h in ((canary, yc, metrics[0], accs[0], est_c, serving[0]),
                             (prod, yp, metrics[1], accs[1], est_p, serving[1])):  # fmt: skip
        sides.append(
            Side(
                s.version, len(s.scores), len(y), _finite(m), _finite(1 - a), e.point,
                _finite(float(np.mean(s.scores))) if len(s.scores) else None,
                h.timed_rows, significant(h.latency_p50_ms), significant(h.latency_p99_ms),
                h.failed_rows, significant(h.failure_rate),
            )
        )  # fmt: skip
    p50, p99 = canary_health.latency_differences(
        canary.latency_ms, prod.latency_ms, cfg.confidence, n_resamples=N_RESAMPLES, seed=SEED
    )
    failed = canary_health.rate_difference(serving[0], serving[1], cfg.confidence)
    out = Comparison(
        cfg.metric, cfg.confidence, round(age.total_seconds(), 1), sides[0], sides[1],
        diff, err, est_diff, psi, ks, pvalue, _interval(p50), _interval(p99), _interval(failed),
        task=task,
    )  # fmt: skip
    out.decision, out.reasons = decide(out, cfg)
    return out


def _neg(x: float | None) -> float | None:
    return None if x is None else -x


def _age(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{age.total_seconds() / 60:.0f} min"


def decide(c: Comparison, cfg: CanaryConfig) -> tuple[Decision, list[str]]:
    """promote / end / wait, with the reasons. End as soon as the canary is clearly worse with
    enough labels; promote only with enough rows, labels and time AND an interval whose worse
    end is within max_drop of prod (lower end above -max_drop; for a lower-is-better metric
    the upper end below +max_drop); end an undecided canary after max_duration; else wait."""
    age = timedelta(seconds=c.age_seconds)
    waits = []
    for side in (c.canary, c.prod):
        if side.rows < cfg.min_rows:
            waits.append(f"{side.version}: {side.rows} rows < min_rows {cfg.min_rows}")
        if side.labelled < cfg.min_labelled_rows:
            waits.append(
                f"{side.version}: {side.labelled} rows with feedback < min_labelled_rows "
                f"{cfg.min_labelled_rows}"
            )
    labels_ok = not any("feedback" in w for w in waits)
    young = age < (parse_since(cfg.min_duration) or timedelta())
    if young:
        waits.append(f"the canary is {_age(age)} old < min_duration {cfg.min_duration}")
    d, e = c.difference, c.error_rate_difference
    # The interval of canary - prod as a gain (positive = the canary is better): for an error
    # (MAE, RMSE) that is prod - canary, so its ends swap. The rules then read the same.
    lower = c.metric in LOWER_IS_BETTER
    gain_low, gain_high = (_neg(d.high), _neg(d.low)) if lower else (d.low, d.high)
    worse_end, bound = ("upper end", "+max_drop") if lower else ("lower end", "-max_drop")
    limit = cfg.max_drop if lower else -cfg.max_drop  # as shown, on canary - prod's scale
    words = ("above", "below") if lower else ("below", "above")  # worse than the limit, better
    level = f"{c.confidence:.0%} interval"
    what = f"{c.metric} canary - prod {d.text()} ({level})"
    if labels_ok and gain_high is not None and gain_high < -cfg.max_drop:
        return "end", [f"worse: {what}, entirely {words[0]} {bound} {limit:+g}"]
    gate_err = cfg.max_error_rate_increase
    if labels_ok and gate_err is not None and e.low is not None and e.low > gate_err:
        return "end", [
            f"more errors: misclassification rate canary - prod {e.text()} ({level}), entirely "
            f"above max_error_rate_increase {gate_err:g}"
        ]
    reasons = list(waits)
    if not waits and gain_low is not None and gain_low > -cfg.max_drop:
        if gate_err is None or (e.high is not None and e.high <= gate_err):
            ok = [f"{what}: {worse_end} {words[1]} {bound} {limit:+g}"]
            if gate_err is not None:
                ok.append(f"misclassification rate canary - prod {e.text()} <= {gate_err:g}")
            return "promote", ok
        reasons.append(f"misclassification rate canary - prod {e.text()}: upper end above "
                       f"max_error_rate_increase {gate_err:g}")  # fmt: skip
    elif not waits:
        reasons.append(f"undecided: {what} reaches {words[0]} {bound} {limit:+g}")
    if age >= (parse_since(cfg.max_duration) or age + timedelta(seconds=1)):
        return "end", [f"undecided after max_duration {cfg.max_duration}", *reasons]
    return "wait", reasons
