"""Pipeline commands: each stage (what dvc.yaml calls), `tune worker`, params and schema checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gitml import layout
from gitml.cli.app import ParamsOpt, app, err, handle_errors, load, out, stage_app

PANEL = "Pipeline"


def ingest(params: ParamsOpt = layout.PARAMS) -> None:
    """Read `data.source`, normalise names/missing markers/dtypes, write data/ingested.parquet."""
    from gitml.pipeline import ingest as stage

    p = load(params)
    result = stage.run(p.data, layout.INGESTED, layout.COLUMN_NAMES)
    renamed = f" ({len(result.renamed)} renamed to snake_case)" if result.renamed else ""
    out.print(
        f"ingest: {result.rows} rows x {len(result.columns)} columns{renamed} → {result.path}"
    )


def validate(params: ParamsOpt = layout.PARAMS) -> None:
    """Check the reviewed schema and the data-quality rules; write the validation report."""
    from gitml.io.files import read_parquet
    from gitml.pipeline import leakage
    from gitml.pipeline import validate as stage

    p = load(params)
    result = stage.run(
        p.data,
        p.validate_,
        read_parquet(layout.INGESTED),
        layout.VALIDATION_REPORT,
        layout.VALIDATED,
        p.split,
        (p.tune.cv_folds, p.tune.seed),
    )
    if result.leakage is not None and p.validate_.leakage.mode == "warn":
        for flag in result.leakage.flags:
            err.print(f"[yellow]warning: leakage {flag.kind}[/] {leakage.describe(flag)}")
    if result.passed:
        out.print(
            f"validate: passed ({result.rows} rows, {result.columns} columns) → {layout.VALIDATED}"
        )
        return
    err.print(
        f"[bold red]validate: {len(result.violations)} violation(s)[/] "
        f"(report: {layout.VALIDATION_REPORT})"
    )
    for v in result.violations:
        err.print(f"- column [bold]{v.column}[/], rule {v.rule}: {v.count} row(s)", highlight=False)
        for ex in v.examples:
            err.print(f"    {ex}", highlight=False, markup=False)
    raise typer.Exit(1)


def split(params: ParamsOpt = layout.PARAMS) -> None:
    """Stratified, seeded train/test split (by group or time when configured)."""
    from gitml.io.files import read_parquet
    from gitml.pipeline import split as stage

    p = load(params)
    result = stage.run(
        read_parquet(layout.VALIDATED),
        p.data,
        p.split,
        layout.SPLIT_DIR / "train.parquet",
        layout.SPLIT_DIR / "test.parquet",
        layout.SPLIT_DIR / "recent.parquet",
    )
    extra = (
        f" (+{result.production_rows} production rows in train, {result.recent_rows} held out "
        f"as recent traffic, {result.test_overlap.get('rows', 0)} left out: equal to a test row)"
        if p.data.extra_sources
        else ""
    )
    out.print(f"split: {result.train_rows} train / {result.test_rows} test rows{extra}")


def featurize(params: ParamsOpt = layout.PARAMS) -> None:
    """Add the stateless, row-wise derived features named in `features.derived`."""
    from gitml.io.files import read_parquet
    from gitml.pipeline import featurize as stage

    p = load(params)
    inputs = {
        n: read_parquet(layout.SPLIT_DIR / f"{n}.parquet") for n in ("train", "test", "recent")
    }
    stage.run(p.features.derived, inputs, layout.FEATURES_DIR)
    out.print(f"featurize: {', '.join(p.features.derived) or '(none)'} → {layout.FEATURES_DIR}")


def tune(
    params: ParamsOpt = layout.PARAMS,
    progress: Annotated[
        bool,
        typer.Option(help="show progress on stderr: a bar on a terminal, else a line every 30 s"),
    ] = True,
) -> None:
    """Optuna search over the families in `tune.search_space`; writes reports/tune/."""
    from gitml.io.files import file_sha256, read_parquet
    from gitml.pipeline import tune as stage

    p = load(params)
    train_path = layout.FEATURES_DIR / "train.parquet"
    result = stage.run(
        p.tune,
        p.data,
        p.split,
        read_parquet(train_path),
        file_sha256(train_path),
        layout.TUNE_DIR,
        increasing=p.features.monotonic_increasing,
        show_progress=progress,  # a bar on a terminal, a line every 30 s elsewhere
    )
    s = result.summary
    out.print(
        f"tune: best {s['metric']} {result.cv_score:.4f} ({result.family}, trial "
        f"{s['best_trial']}); {s['n_complete']} complete, {s['n_pruned']} pruned"
    )


def train(params: ParamsOpt = layout.PARAMS) -> None:
    """Fit the best Pipeline on all of train; choose the threshold out-of-fold; save with skops."""
    from gitml.io.files import file_sha256, read_json, read_parquet
    from gitml.pipeline import train as stage

    p = load(params)
    train_path = layout.FEATURES_DIR / "train.parquet"
    result = stage.run(
        p,
        read_parquet(train_path),
        read_json(layout.TUNE_DIR / "summary.json"),
        file_sha256(train_path),
        layout.MODEL,
        layout.MODEL_META,
        read_json(layout.COLUMN_NAMES) if layout.COLUMN_NAMES.is_file() else {},
    )
    meta = result.metadata
    detail = (
        f"threshold {result.threshold:.4f}"
        if result.threshold is not None
        else f"{meta.task}" + (f", {len(meta.classes)} classes" if meta.classes else "")
    )
    out.print(f"train: {meta.family} → {layout.MODEL} ({detail})")


def evaluate(params: ParamsOpt = layout.PARAMS) -> None:
    """Test metrics, plots, slice metrics and permutation importance → reports/evaluate/."""
    from gitml.core.model_meta import ModelMeta
    from gitml.io.files import read_parquet
    from gitml.pipeline import evaluate as stage

    p = load(params)
    result = stage.run(
        p,
        read_parquet(layout.FEATURES_DIR / "test.parquet"),
        layout.MODEL,
        ModelMeta.read(layout.MODEL_META),
        layout.EVALUATE_DIR,
        layout.PREDICTIONS,
        recent=read_parquet(layout.FEATURES_DIR / "recent.parquet"),
    )
    out.print(f"evaluate: {result.summary} → {layout.EVALUATE_DIR}")
    print_warnings(result.warnings)


STAGES: dict[str, Callable[..., None]] = {
    "ingest": ingest,
    "validate": validate,
    "split": split,
    "featurize": featurize,
    "tune": tune,
    "train": train,
    "evaluate": evaluate,
}
for _name, _fn in STAGES.items():
    stage_app.command(_name)(handle_errors(_fn))
    if _name != "tune":  # `gitml tune` is a group: the stage itself, and `tune worker`
        app.command(_name, rich_help_panel=PANEL)(handle_errors(_fn))


# --------------------------------------------------------------------------- helpers


@app.command("check-params", rich_help_panel=PANEL)
@handle_errors
def check_params(params: ParamsOpt = layout.PARAMS) -> None:
    """Validate params.yaml (unknown keys, types, ranges; evaluate.slices against the schema's
    columns) without running anything."""
    from gitml.config import check_columns

    check_columns(load(params))
    out.print(f"{params}: ok")


@app.command("metrics", rich_help_panel=PANEL)
@handle_errors
def metrics(
    path: Annotated[Path, typer.Argument(help="metrics file")] = layout.METRICS,
) -> None:
    """Print the test metrics of the last `dvc repro` as a table."""
    from gitml.core.metrics import fmt, task_of_metrics
    from gitml.io.files import read_json

    data = read_json(path)
    table = Table(title=f"test metrics ({path})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in data.items():
        if key == "per_class" and isinstance(value, dict):  # multiclass: one row per class
            for name, m in value.items():
                got = m if isinstance(m, dict) else {}
                table.add_row(f"{name} (class)", f"precision {fmt(got.get('precision'))}, "
                              f"recall {fmt(got.get('recall'))}")  # fmt: skip
            continue
        if value is None:  # e.g. ece_uncalibrated of a model train.calibration left as it was
            value = "— (no calibration map)" if key == "ece_uncalibrated" else "—"
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.4f}"
        table.add_row(key, str(value))
    if task_of_metrics(data) == "regression" and "mape" not in data:  # as evaluation.md says
        table.add_row("mape", "— (a test target is 0: undefined)")
    out.print(table)
    print_warnings(open_warnings(path.parent / CHECKS.name, layout.VALIDATION_REPORT))


CHECKS = layout.EVALUATE_DIR / "checks.json"  # evaluate's warnings (a too-good ROC-AUC, …)


def print_warnings(warnings: list[str]) -> None:
    """Warnings a stage wrote to its reports, on stderr too: one in a file only is not read."""
    for w in warnings:
        err.print(f"warning: {w.removeprefix('⚠️ ')}", highlight=False, markup=False, soft_wrap=True)


def open_warnings(checks: Path, validation: Path) -> list[str]:
    """The warnings the last run left in its reports: evaluate's checks.json, and the leakage
    flags validate let through (`validate.leakage.mode: warn`)."""
    import json

    def read(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    found = [str(w) for w in read(checks).get("warnings") or []]
    leakage = read(validation).get("leakage") or {}
    if isinstance(leakage, dict) and leakage.get("mode") == "warn":
        found += [
            f"leakage {f.get('kind')}: {f.get('column')}: {f.get('why')} ({validation})"
            for f in leakage.get("flags") or []
            if isinstance(f, dict)
        ]
    return found


tune_app = typer.Typer(
    help=(
        "Optuna search over `tune.search_space` (the tune stage; writes reports/tune/). "
        "`gitml tune worker` joins a study on a shared database from another process or machine."
    ),
    invoke_without_command=True,
)
app.add_typer(tune_app, name="tune", rich_help_panel=PANEL)


@tune_app.callback()
@handle_errors
def _tune_group(
    ctx: typer.Context,
    params: ParamsOpt = layout.PARAMS,
    progress: Annotated[
        bool,
        typer.Option(help="show progress on stderr: a bar on a terminal, else a line every 30 s"),
    ] = True,
) -> None:
    if ctx.invoked_subcommand is None:
        tune(params=params, progress=progress)


@tune_app.command("worker")
@handle_errors
def tune_worker(
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Optuna storage URL, e.g. postgresql://user:pw@db:5432/optuna "
            "(default: tune.storage in params.yaml)",
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option(
            "--study",
            help="study name (default: tune.study_name, or the name derived from this "
            "checkout's tune inputs — the one `gitml tune` prints and writes to summary.json)",
        ),
    ] = None,
    n_trials: Annotated[
        int | None,
        typer.Option(
            "--n-trials",
            min=1,
            help="run at most this many trials here (default: until the "
            "study's tune.n_trials budget is spent)",
        ),
    ] = None,
    params: ParamsOpt = layout.PARAMS,
) -> None:
    """Join a running study and evaluate trials until its budget is spent.

    Run it in a checkout at the same commit, with the same data (`dvc pull`), as the `gitml
    tune` that created the study: the trial objective is built from this checkout's params.yaml
    and data/features/train.parquet, and a study made from other inputs is refused. A worker
    killed mid-trial loses nothing: after `tune.grace_period` seconds without its heartbeat,
    another worker re-runs that trial.
    """
    from gitml.errors import ConfigError
    from gitml.io.files import file_sha256, read_parquet
    from gitml.pipeline import tune as stage

    p = load(params)
    url = storage or p.tune.storage
    if not url:
        raise ConfigError(
            "tune worker: no storage; pass --storage URL or set tune.storage (an in-memory "
            "study cannot be shared between processes)"
        )
    train_path = layout.FEATURES_DIR / "train.parquet"
    result = stage.join(
        p.tune,
        p.data,
        p.split,
        read_parquet(train_path),
        file_sha256(train_path),
        url,
        study or p.tune.study_name,
        n_trials,
        increasing=p.features.monotonic_increasing,
    )
    best = "-" if result.best_value is None else f"{result.best_value:.4f}"
    out.print(
        f"tune worker: ran {result.ran_here} trial(s) of study {result.study_name}; "
        f"{result.finished}/{result.budget} finished in total; best {best}"
    )
