"""Monitor commands: drift and live quality of the served model, and the one alarm issue."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gitml import layout
from gitml.cli.app import ParamsOpt, app, err, handle_errors, load, out
from gitml.errors import ConfigError

if TYPE_CHECKING:
    from gitml.monitor.harvest import HarvestResult

monitor_app = typer.Typer(
    help=(
        "Drift and live-quality monitoring of the served model.\n\n"
        "`gitml monitor` compares the requests logged by `gitml serve` in a time window (or a "
        "file) with the training features of the model in stage prod: per feature a KS or "
        "chi-squared test and PSI, missing rates, unseen categories; the score distribution; "
        "ROC-AUC, accuracy and calibration on rows with feedback; estimated accuracy, "
        "precision, recall, F1 and ROC-AUC from the calibrated scores before labels arrive "
        "(CBPE), and a concept-drift alarm when feedback disagrees with them. A multiclass "
        "model: accuracy and macro-F1 (CBPE on class probabilities); a regression model: MAE "
        "and RMSE (direct loss estimation). The alarm rule is "
        "`monitor:` in params.yaml. Writes monitoring.json and monitoring.md.\n\n"
        "Exit codes: 0 no alarm, 1 alarm, 2 bad configuration or usage, 3 could not judge "
        "(an unreadable log, reference or file).\n\n"
        "Examples: `gitml monitor` (the default log, last `monitor.since`); "
        "`gitml monitor --log-db postgresql://mon@db/predictions --since 24h`; "
        "`gitml monitor --current predictions.parquet` (the output of `gitml predict`); "
        "`gitml monitor --current requests.csv --inputs-only --reference "
        "data/features/train.parquet`"
    ),
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(monitor_app, name="monitor", rich_help_panel="Monitor")


LogDbOpt = Annotated[
    str | None,
    typer.Option(
        "--log-db",
        envvar="GITML_LOG_DB",
        show_envvar=True,
        help="prediction log URL (default sqlite:///logs/predictions.db)",
    ),
]


@monitor_app.callback()
@handle_errors(one_is_an_alarm=True)
def monitor(
    ctx: typer.Context,
    log_db: LogDbOpt = None,
    current: Annotated[
        Path | None,
        typer.Option(
            "--current",
            help="a CSV/Parquet file instead of the log: `gitml predict`'s output, or rows "
            "with a `score` column (and the target column, if known)",
        ),
    ] = None,
    inputs_only: Annotated[
        bool,
        typer.Option(
            "--inputs-only",
            help="with --current: a file of raw input rows without scores; check the inputs' "
            "drift and contract only (nothing is estimated)",
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            envvar="GITML_MONITOR_SINCE",
            show_envvar=True,
            help="window of logged requests: 30m, 24h, 7d, 2w, all (default monitor.since)",
        ),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="folder for monitoring.json and monitoring.md")
    ] = layout.MONITORING_DIR,
    reference: Annotated[
        Path | None,
        typer.Option(
            help="training features to compare with (default: prod's, else the workspace's)"
        ),
    ] = None,
    params: ParamsOpt = layout.PARAMS,
) -> None:
    """Compare recent traffic with the training data; exit 1 on an alarm."""
    from gitml import monitor as mon

    if ctx.invoked_subcommand is not None:
        return
    p = load(params)
    result = mon.run(
        p.monitor,
        out_dir=out_dir,
        log_url=log_db,
        current_file=current,
        since=since,
        reference_file=reference,
        schema_file=Path(p.validate_.schema_file),
        inputs_only=inputs_only,
    )
    r = result.report
    for note in r.notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    for alarm in r.alarms:
        err.print(f"[bold red]alarm:[/] {alarm}", highlight=False, soft_wrap=True)
    verdict = {"alarm": "ALARM", "ok": "no alarm", "insufficient_data": "no verdict"}
    out.print(
        f"monitor: {verdict[r.status]} ({r.current.rows} rows, {len(r.alarms)} alarm(s)"
        + (f"; cause: {', '.join(r.causes)}" if r.causes else "")
        + f") → {result.md_path}",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(1 if result.alarm else 0)


@monitor_app.command("alert")
@handle_errors
def monitor_alert(
    report: Annotated[Path, typer.Option(help="the monitoring.md to post")] = layout.MONITORING_DIR
    / "monitoring.md",
    label: Annotated[str, typer.Option(help="label of the one alarm issue")] = "model-drift",
    repo: Annotated[
        str | None, typer.Option(help="OWNER/NAME (default: gh's, from the checkout or GH_REPO)")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="post even when monitoring.json says there is no alarm")
    ] = False,
) -> None:
    """Open one issue labelled model-drift, or comment on the open one (uses `gh`)."""
    from gitml import monitor as mon

    result = mon.alert(report, label=label, repo=repo, force=force)
    if result.action == "skipped":
        out.print("monitor alert: no alarm in the report; nothing posted")
    else:
        out.print(f"monitor alert: {result.action} issue #{result.issue} {result.url or ''}")


@app.command("harvest", rich_help_panel="Monitor")
@handle_errors
def harvest(
    log_db: LogDbOpt = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="window of the labels' ARRIVAL (feedback time, not prediction time): rows "
            "whose label came in the last 30m, 24h, 7d, 2w, or all (default monitor.since)"
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(help="harvest this model version's predictions (default: prod's)"),
    ] = None,
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="harvest every model version's predictions")
    ] = False,
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            help="only labels sent with this API key (its name, `gitml keys list`); repeatable; "
            "default: every label",
        ),
    ] = None,
    date: Annotated[
        str | None, typer.Option(help="file name DATE.parquet (default: today, UTC)")
    ] = None,
    dvc: Annotated[bool, typer.Option(help="`dvc add` the file written")] = True,
    params: ParamsOpt = layout.PARAMS,
) -> None:
    """Labelled production rows of a window → data/raw/production/DATE.parquet (+ dvc add).

    The window is when the label arrived (feedback time): a label that comes weeks after its
    prediction is harvested by the next run. Predictions of the window still without feedback,
    of other model versions, labelled with another API key than `--key`'s, already harvested,
    rows that break the data contract and, for a regression target, labels beyond the training
    target's range by more than its span (or negative for a target never negative) are left out
    and counted (reports/harvest/DATE.json); the labels are also counted per API key. Running
    it twice on the same window writes nothing new. Rows equal to a test-split row
    (data/split/test.parquet) are counted: the split stage leaves them out of training. List
    data/raw/production/ in `data.extra_sources` to let them join training
    (docs/retraining.md).
    """
    from gitml.core.duration import parse_since
    from gitml.logstore.logdb import DEFAULT_LOG_URL
    from gitml.monitor import harvest as mod
    from gitml.pipeline.split import split_columns

    p = load(params)
    try:
        window = parse_since(since or p.monitor.since)
    except ValueError as exc:
        raise ConfigError(f"--since: {exc}") from None
    if version is None and not all_versions:
        version = _prod_version()
    result = mod.run(
        log_db or DEFAULT_LOG_URL,
        window,
        Path(p.validate_.schema_file),
        p.data.target,
        p.data.positive_class,  # None for regression and multiclass
        version=version,
        date=date,
        dvc_add=dvc,
        exclude=split_columns(p.split),
        keys=key or None,
        task=p.data.task,
    )
    _print_harvest(result)


def _prod_version() -> str | None:
    """Prod's version, or None (with a note) when nothing is in stage prod."""
    from gitml.registry import versions

    try:
        prod = versions.find_stage(Path())
    except Exception:  # no git repo or no GTO config: nothing registered
        prod = None
    if prod is None:
        err.print("[yellow]note:[/] no model in stage prod: harvesting every version")
    return prod.version if prod else None


def _label_range_count(result: HarvestResult) -> str:
    """Regression: how many labels were outside the range harvest keeps, and the range."""
    if "target_range" not in result.counts:
        return ""
    if result.label_range is None:
        return ", labels not range-checked (no reports/validation.json)"
    low, high = result.label_range
    return (
        f", {result.counts['target_range']} with a label outside {low:g}..{high:g} (the "
        "training target's range widened by its span)"
    )


def _print_harvest(result: HarvestResult) -> None:
    """The counts on the terminal, and as step outputs in GitHub Actions (retrain.yml skips
    reproducing when nothing new was harvested)."""
    from gitml.io.github import write_outputs
    from gitml.monitor.harvest import NO_KEY

    c = result.counts
    # test_overlap: how many of the written rows the split stage drops (empty: not compared).
    overlap = result.test_overlap.get("rows")
    write_outputs(
        {
            "written": str(result.written),
            "path": str(result.path or ""),
            "test_overlap": "" if overlap is None else str(overlap),
        }
    )
    out.print(
        f"harvest: {c['logged']} logged, left out {c['unlabelled']} unlabelled, "
        f"{c['other_version']} other version, {c['other_key']} other key, "
        f"{c['duplicate']} duplicate, {c['contract']} "
        f"breaking the contract{_label_range_count(result)} → {result.written} written"
        + (f" to {result.path}" + (" (dvc add)" if result.dvc_added else "") if result.path else "")
        + f"; counts in {result.report}",
        highlight=False,
        soft_wrap=True,
    )
    if set(result.labels_by_key) - {NO_KEY}:  # a server with keys sent some of them
        per_key = ", ".join(f"{k} {n}" for k, n in result.labels_by_key.items())
        out.print(f"harvest: labels per API key: {per_key}", highlight=False, soft_wrap=True)
    t = result.test_overlap
    if t.get("rows") is None:
        err.print(f"[yellow]note:[/] {t.get('note')}", highlight=False, soft_wrap=True)
    elif t["rows"]:
        out.print(
            f"harvest: {t['rows']} of the written rows equal a row of the test split "
            f"({t['test_split']}; e.g. {', '.join(t['examples'])}): the split stage leaves them "
            "out of training and of the recent slice",
            highlight=False,
            soft_wrap=True,
        )
    else:
        out.print(
            f"harvest: no written row equals a row of the test split ({t['test_split']})",
            highlight=False,
            soft_wrap=True,
        )
