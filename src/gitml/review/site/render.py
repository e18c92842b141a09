"""The site as files: Jinja2 templates (autoescaped) filled from `model.Site`, charts inlined.

Every text that comes from git (tag and commit messages, params, category values, file paths)
goes through Jinja2's autoescape; the only markup inserted unescaped is the vetted SVG of
`charts.svg`. Each page carries a Content-Security-Policy that allows no script and no request
at all, so even a missed escape could not run code or call out.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from gitml import layout
from gitml.core.metrics import LOWER_IS_BETTER, READING_ORDER, TASK_METRICS
from gitml.core.model_meta import ModelMeta
from gitml.errors import ConfigError, DataError
from gitml.registry.versions import PROD
from gitml.review.site import charts, digest, model, monitor_charts
from gitml.review.site.model import Site, Version

MARKER = ".gitml-site"  # marks a folder this module may replace
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)


def _f4(x: Any) -> str:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return "—" if x is None else str(x)
    return f"{x:,}" if isinstance(x, int) else f"{x:.4f}"


def _signed(x: Any) -> str:
    return "—" if not isinstance(x, int | float) else f"{x:+.4f}"


def _when(d: datetime | None) -> str:
    """24-hour, in UTC, and says so: a reader in any zone reads the same instant."""
    return "—" if d is None else d.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(text: Any) -> str:
    """An ISO time from a report (any offset) as the pages print times."""
    if not isinstance(text, str) or not text:
        return "…"
    try:
        return _when(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text


def _pct(x: Any) -> str:
    return f"{100 * x:.1f}%" if isinstance(x, int | float) and not isinstance(x, bool) else "—"


def _short(sha: str | None) -> str:
    return (sha or "")[:8]


def environment(renderer: charts.Renderer | None = None) -> Environment:
    env = Environment(
        loader=PackageLoader("gitml.review.site", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    svg = (renderer or charts.Renderer()).svg

    def chart(spec: dict[str, Any]) -> Markup:
        return Markup(svg(spec))  # vetted in charts._vet; everything else is escaped

    env.filters.update(
        f4=_f4, signed=_signed, when=_when, short=_short, chart=chart, slug=model.slug,
        iso=_iso, pct=_pct,
    )  # fmt: skip
    env.globals.update(PROD=PROD, CSP=CSP, LOWER_IS_BETTER=LOWER_IS_BETTER)
    return env


def _status(v: Version) -> str:
    if v.in_prod:
        return "in prod now"
    return "was in prod" if any(e.stage == PROD for e in v.events) else "never in prod"


def _marker(v: Version) -> str:
    kinds = [e.kind for e in v.events if e.stage == PROD and e.kind != "superseded"]
    return ", ".join(dict.fromkeys(kinds))


def _chart_status(v: Version) -> str:
    """A version's colour on the primary chart: a rolled-back version is not "was in prod"."""
    return "rolled back" if v.rolled_back and not v.in_prod else _status(v)


def registry_context(site: Site) -> dict[str, Any]:
    return {
        "latest": site.decisions[-1] if site.decisions else None,
        "unverified": [v for v in site.versions if v.provenance == "unverified"],
    }


def _site_metrics(versions: list[Version]) -> tuple[str, ...]:
    """The metric columns of the history: the names of the versions' task (Version.task, as
    recorded) that a version holds (binary: all of them, as before)."""
    held = {m for v in versions for m in v.metrics}
    tasks = {v.task for v in versions}
    for task in ("multiclass", "regression"):
        if task in tasks:
            return tuple(m for m in TASK_METRICS[task] if m in held)
    return READING_ORDER


def _and(names: list[str]) -> str:
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def history_context(site: Site) -> dict[str, Any]:
    versions = [v for v in site.versions if v.metrics]
    primary_rows = [
        {"version": v.version, "value": v.metric(site.primary), "status": _chart_status(v),
         "marker": _marker(v)}
        for v in versions
        if v.metric(site.primary) is not None
    ]  # fmt: skip
    secondary = [m for m in _site_metrics(versions) if m != site.primary]
    higher = [m for m in secondary if m not in LOWER_IS_BETTER]
    lower = [m for m in secondary if m in LOWER_IS_BETTER]

    def rows_of(names: list[str]) -> list[dict[str, Any]]:
        return [
            {"version": v.version, "value": v.metric(m), "series": m}
            for m in names
            for v in versions
            if v.metric(m) is not None
        ]

    gaps = {
        v.version: digest.slice_gaps(v.files.get("slices"), site.slice_min_rows) for v in versions
    }
    columns = sorted({c for g in gaps.values() for c in g})
    gap_rows = [
        {"version": ver, "value": g[c].gap, "series": c}
        for ver, g in gaps.items()
        for c in columns
        if c in g
    ]
    charts_ = []
    if primary_rows:
        charts_.append(charts.primary_history(primary_rows, site.primary))
    if rows_of(higher + lower):
        charts_.append(
            charts.small_multiples(
                rows_of(higher) + rows_of(lower),
                "Secondary metrics by version"
                + (f" ({_and(lower)}: lower is better)" if lower else ""),
            )
        )
    if gap_rows:
        charts_.append(
            charts.line_history(
                gap_rows,
                f"Largest slice gap by column (slices ≥ {site.slice_min_rows} rows)",
                "best minus worst slice",
                "series",
            )
        )
    return {
        "versions": versions,
        "metrics": [site.primary, *secondary],
        "gaps": gaps,
        "gap_columns": columns,
        "history_charts": charts_,
        "status": {v.version: _status(v) for v in versions},
        "marker": {v.version: _marker(v) for v in versions},
    }


# What the plot files hold for the other tasks (pipeline.evaluate_tasks.write_plots); a
# regression model's ROC and precision-recall files are empty, so those charts are left out.
TASK_TITLES = {
    "multiclass": {
        "roc": ("ROC curve (one-vs-rest, micro-averaged)", "false positive rate",
                "true positive rate", True),
        "pr": ("Precision-recall curve (one-vs-rest, micro-averaged)", "recall", "precision",
               False),
        "calibration": ("Top-label calibration (dashed: perfect)", "probability of the "
                        "predicted class", "share predicted right", True),
    },
    "regression": {
        "calibration": ("Predicted vs actual, mean per bin of the prediction (dashed: "
                        "perfect)", "mean predicted", "mean actual", True),
    },
}  # fmt: skip


# The slice table's columns for the other tasks (binary's are in the template, as before).
SLICE_COLUMNS = {
    "multiclass": [("roc_auc_ovr", "roc_auc_ovr"), ("balanced_accuracy", "balanced_accuracy")],
    "regression": [("target_mean", "target mean"), ("rmse", "rmse"), ("mae", "mae")],
}


def _span(lines: dict[str, list[dict[str, float]]]) -> tuple[float, float]:
    values = [p[k] for pts in lines.values() for p in pts for k in ("x", "y")]
    return (min(values), max(values)) if values else (0.0, 1.0)


def version_context(site: Site, v: Version) -> dict[str, Any]:
    prev = site.baseline(v)  # the prod it was judged against, not the previous number
    series: dict[str, Callable[[Version], list[dict[str, float]]]] = {
        "roc": lambda x: digest.curve(x.files.get("roc"), "roc", "fpr", "tpr"),
        "pr": lambda x: digest.curve(x.files.get("pr"), "precision_recall", "recall", "precision"),
        "calibration": lambda x: digest.curve(
            x.files.get("calibration"), "calibration", "prob_pred", "prob_true"
        ),
    }
    titles = {
        "roc": ("ROC curve", "false positive rate", "true positive rate", True),
        "pr": ("Precision-recall curve", "recall", "precision", False),
        "calibration": ("Calibration (dashed: perfect)", "mean predicted probability",
                        "observed positive rate", True),
    }  # fmt: skip
    titles |= TASK_TITLES.get(v.task, {})
    curve_charts = []
    for key, fn in series.items():
        mine = fn(v)
        if not mine:
            continue
        lines = {charts.THIS + f" ({v.version})": mine}
        theirs = fn(prev) if prev else []
        if prev and theirs:
            lines[charts.PREVIOUS + f" ({prev.version})"] = theirs
        title, xt, yt, diag = titles[key]
        span = _span(lines) if v.task == "regression" else None
        curve_charts.append(charts.curves(lines, title, xt, yt, diag, span))
    # three charts, not one side by side: on a phone they stack, each at the full width
    imp = digest.importance(v.files.get("importance"))
    top = max([r["importance"] for r in imp] + [0.0])
    for r in imp:  # bar width in percent of the largest (a CSS width: no chart needed)
        r["width"] = round(100 * max(r["importance"], 0.0) / top, 1) if top > 0 else 0.0
    prev_imp = digest.importance(prev.files.get("importance")) if prev else []
    params = v.files.get("params")
    meta = _model_meta(v)
    return {
        "v": v,
        "prev": prev,
        "status": _status(v),
        "metric_rows": digest.metric_rows(v, prev),
        "curve_charts": curve_charts,
        "slices": digest.slice_rows(v.files.get("slices")),
        "slice_columns": SLICE_COLUMNS.get(v.task, []),
        "per_class": digest.class_rows(v, prev),
        "confusion": v.metrics.get("confusion") if v.task == "multiclass" else None,
        "gaps": digest.slice_gaps(v.files.get("slices"), site.slice_min_rows),
        "importance": imp,
        "prev_importance": {r["feature"]: r["importance"] for r in prev_imp},
        "params": sorted(digest.flatten(params).items()) if isinstance(params, dict) else [],
        "hashes": digest.data_hashes(v.files.get("lock")),
        "param_changes": digest.param_changes(prev.files.get("params"), params) if prev else [],
        "hash_changes": (
            digest.hash_changes(prev.files.get("lock"), v.files.get("lock")) if prev else []
        ),
        "model_meta": meta.to_json() if meta else {},  # the card reads model.json's keys
        "sha256": (v.record.model_sha256 if v.record else None)
        or (meta.model_sha256 if meta else None),
        "compared_with": (
            "judged" if v.record is not None or v.judged_against is not None else "previous"
        ),
    }


def _model_meta(v: Version) -> ModelMeta | None:
    """The version's model.json through its contract; None when absent, or when it does not fit
    (a version an older gitml trained): the card then shows dashes, and the page still renders."""
    raw = v.files.get("model")
    if not isinstance(raw, dict):
        return None
    try:
        return ModelMeta.parse(raw, f"{layout.MODEL_META}@{v.commit[:10]}")
    except DataError:
        return None


def monitoring_context(site: Site) -> dict[str, Any]:
    """The monitoring page: the report (gitml.contracts.monitoring.MonitoringReport, given to
    the template as its JSON) and its charts, the over-time ones from the earlier reports."""
    report = site.monitoring
    out: dict[str, Any] = {"report": None, "source": site.monitoring_source, "mon_charts": []}
    if report is None:
        return out
    feats = [f.model_dump(mode="json") for f in report.features]
    if feats and report.rule is not None:
        out["mon_charts"].append(monitor_charts.psi_bars(feats, report.rule.psi_threshold))
    if report.prediction is not None and report.prediction.ref_shares:
        out["mon_charts"].append(
            monitor_charts.shares(
                report.prediction.model_dump(mode="json"),
                "Prediction score distribution: training vs the window",
            )
        )
    quality_rows, drift_rows = [], []
    out["runs"] = len(site.monitoring_history)
    for h in site.monitoring_history if len(site.monitoring_history) > 1 else []:
        when = h.current.window_end or h.generated_at
        live = h.quality.live if h.quality else {}
        for m in ("roc_auc", "accuracy"):
            if live.get(m) is not None:
                quality_rows.append({"when": when, "value": live[m], "series": f"live {m}"})
        if h.estimate is not None and h.estimate.estimated.get(h.estimate.metric) is not None:
            metric = h.estimate.metric
            value = h.estimate.estimated[metric]
            quality_rows.append({"when": when, "value": value, "series": f"estimated {metric}"})
        if h.features:
            drift_rows.append({"when": when, "value": max(f.psi or 0.0 for f in h.features),
                               "series": "largest feature PSI"})  # fmt: skip
    if quality_rows:
        out["mon_charts"].append(
            monitor_charts.over_time(
                quality_rows, "Quality over the monitoring runs (live and estimated)", "value"
            )
        )
    if drift_rows:
        out["mon_charts"].append(
            monitor_charts.over_time(drift_rows, "Drift over the monitoring runs", "PSI")
        )
    shown = report.model_dump(mode="json")  # what the template reads
    out["report"] = shown
    out["features"] = feats
    out["quality"], out["estimate"], out["contract"] = (
        shown["quality"],
        shown["estimate"],
        shown["contract"],
    )
    return out


def write(site: Site, out: Path) -> list[Path]:
    """Render every page into `out` (emptied first); return the files written."""
    pages: list[tuple[str, str, str, dict[str, Any]]] = [
        ("registry.html", "index.html", "", registry_context(site)),
        ("history.html", "history.html", "", history_context(site)),
        ("monitoring.html", "monitoring.html", "", monitoring_context(site)),
    ]
    pages += [
        ("version.html", f"versions/{v.slug}.html", "../", version_context(site, v))
        for v in site.versions
    ]
    renderer = charts.Renderer()
    renderer.prerender([s for *_, ctx in pages for s in _specs(ctx)])
    env = environment(renderer)
    out = Path(out)
    _clear(out)
    (out / "versions").mkdir(parents=True)
    (out / MARKER).write_text("written by `gitml site`; the folder is replaced on each build\n")
    common = {"site": site, "prod": site.prod, "generated": site.head}
    written = []
    for template, path, root, ctx in pages:
        html = env.get_template(template).render(**common, root=root, here=path, **ctx)
        target = out / path
        target.write_text(html, encoding="utf-8")
        written.append(target)
    return written


def _clear(out: Path) -> None:
    """Remove the previous site; refuse a folder that holds anything else."""
    if not out.exists():
        return
    if not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file()):
        raise ConfigError(
            f"--out {out}: exists and is not a site `gitml site` wrote (no {MARKER} in it); "
            "name a new or empty folder, e.g. --out _site"
        )
    shutil.rmtree(out)


def _specs(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart specs in a page's context (lists of specs, or one spec)."""
    found = []
    for value in ctx.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and item.get("$schema") == charts.SCHEMA:
                found.append(item)
    return found
