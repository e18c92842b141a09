"""The `gitml` command. Thin: parse, call a stage's `run`, print, exit with a code.

Exit codes: 0 success, 1 the data or a check failed, 2 bad configuration or usage.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from gitml import __version__, layout
from gitml.config import Params, load_params
from gitml.errors import GitmlError

out = Console()
err = Console(stderr=True)

app = typer.Typer(
    help=(
        "gitml — a reproducible ML pipeline driven by params.yaml and dvc.yaml.\n\n"
        "Run the whole pipeline with `dvc repro` (or `make repro`); each stage is also a command "
        "here (`gitml stage NAME` or `gitml NAME`), which is what dvc.yaml calls."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
stage_app = typer.Typer(help="Run one pipeline stage (what dvc.yaml calls).", no_args_is_help=True)
schema_app = typer.Typer(
    help="Draft and check the data contract (pandera schema).", no_args_is_help=True
)
app.add_typer(stage_app, name="stage")
app.add_typer(schema_app, name="schema")

F = TypeVar("F", bound=Callable[..., Any])
ParamsOpt = Annotated[Path, typer.Option("--params", "-p", help="the params file")]


def handle_errors(fn: F) -> F:
    """Turn a GitmlError into its message on stderr and its exit code; no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GitmlError as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.code) from None

    return wrapper  # type: ignore[return-value]


def _params(path: Path) -> Params:
    return load_params(path)


def _version(value: bool) -> None:
    if value:
        out.print(f"gitml {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
) -> None:
    pass


# --------------------------------------------------------------------------- stages


def ingest(params: ParamsOpt = layout.PARAMS) -> None:
    """Read `data.source`, normalise names/missing markers/dtypes, write data/ingested.parquet."""
    from gitml import ingest as stage

    p = _params(params)
    result = stage.run(p.data, layout.INGESTED)
    out.print(f"ingest: {result.rows} rows x {len(result.columns)} columns → {result.path}")


def validate(params: ParamsOpt = layout.PARAMS) -> None:
    """Check the reviewed schema and the data-quality rules; write the validation report."""
    from gitml import validate as stage
    from gitml.io import read_parquet

    p = _params(params)
    result = stage.run(
        p.data,
        p.validate_,
        read_parquet(layout.INGESTED),
        layout.VALIDATION_REPORT,
        layout.VALIDATED,
    )
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
    from gitml import split as stage
    from gitml.io import read_parquet

    p = _params(params)
    result = stage.run(
        read_parquet(layout.VALIDATED),
        p.data,
        p.split,
        layout.SPLIT_DIR / "train.parquet",
        layout.SPLIT_DIR / "test.parquet",
    )
    out.print(f"split: {result.train_rows} train / {result.test_rows} test rows")


def featurize(params: ParamsOpt = layout.PARAMS) -> None:
    """Add the stateless, row-wise derived features named in `features.derived`."""
    from gitml import features as stage
    from gitml.io import read_parquet

    p = _params(params)
    inputs = {n: read_parquet(layout.SPLIT_DIR / f"{n}.parquet") for n in ("train", "test")}
    stage.run(p.features.derived, inputs, layout.FEATURES_DIR)
    out.print(f"featurize: {', '.join(p.features.derived) or '(none)'} → {layout.FEATURES_DIR}")


def tune(
    params: ParamsOpt = layout.PARAMS,
    progress: Annotated[bool, typer.Option(help="show the progress bar")] = True,
) -> None:
    """Optuna search over the families in `tune.search_space`; writes reports/tune/."""
    from gitml import tune as stage
    from gitml.io import file_sha256, read_parquet

    p = _params(params)
    train_path = layout.FEATURES_DIR / "train.parquet"
    result = stage.run(
        p.tune,
        p.data,
        p.split,
        read_parquet(train_path),
        file_sha256(train_path),
        layout.TUNE_DIR,
        increasing=p.features.monotonic_increasing,
        show_progress=progress and sys.stderr.isatty(),
    )
    s = result.summary
    out.print(
        f"tune: best {s['metric']} {result.cv_score:.4f} ({result.family}, trial "
        f"{s['best_trial']}); {s['n_complete']} complete, {s['n_pruned']} pruned"
    )


def train(params: ParamsOpt = layout.PARAMS) -> None:
    """Fit the best Pipeline on all of train; choose the threshold out-of-fold; save with skops."""
    from gitml import train as stage
    from gitml.io import file_sha256, read_json, read_parquet

    p = _params(params)
    train_path = layout.FEATURES_DIR / "train.parquet"
    result = stage.run(
        p,
        read_parquet(train_path),
        read_json(layout.TUNE_DIR / "summary.json"),
        file_sha256(train_path),
        layout.MODEL,
        layout.MODEL_META,
    )
    out.print(
        f"train: {result.metadata['family']} → {layout.MODEL} (threshold {result.threshold:.4f})"
    )


def evaluate(params: ParamsOpt = layout.PARAMS) -> None:
    """Test metrics, plots, slice metrics and permutation importance → reports/evaluate/."""
    from gitml import evaluate as stage
    from gitml.io import read_json, read_parquet

    p = _params(params)
    result = stage.run(
        p,
        read_parquet(layout.FEATURES_DIR / "test.parquet"),
        layout.MODEL,
        read_json(layout.MODEL_META),
        layout.EVALUATE_DIR,
        layout.PREDICTIONS,
    )
    m = result.metrics
    out.print(f"evaluate: roc_auc {m['roc_auc']:.4f}, f1 {m['f1']:.4f} → {layout.EVALUATE_DIR}")


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
    app.command(_name, rich_help_panel="Pipeline stages")(handle_errors(_fn))


# --------------------------------------------------------------------------- helpers


@app.command("check-params", rich_help_panel="Project")
@handle_errors
def check_params(params: ParamsOpt = layout.PARAMS) -> None:
    """Validate params.yaml (unknown keys, types, ranges) without running anything."""
    _params(params)
    out.print(f"{params}: ok")


@app.command("metrics", rich_help_panel="Project")
@handle_errors
def metrics(
    path: Annotated[Path, typer.Argument(help="metrics file")] = layout.EVALUATE_DIR
    / "metrics.json",
) -> None:
    """Print the test metrics of the last `dvc repro` as a table."""
    from gitml.io import read_json

    data = read_json(path)
    table = Table(title=f"test metrics ({path})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.4f}"
        table.add_row(key, str(value))
    out.print(table)


@schema_app.command("infer")
@handle_errors
def schema_infer(
    data: Annotated[
        Path, typer.Argument(help="a Parquet file in canonical form (ingest's output)")
    ],
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="schema file to write")
    ] = None,
    params: ParamsOpt = layout.PARAMS,
    force: Annotated[bool, typer.Option(help="overwrite an existing schema file")] = False,
) -> None:
    """Draft a schema from data, for a person to review and commit."""
    from gitml import schema
    from gitml.ingest import normalise_name
    from gitml.io import read_parquet

    p = _params(params)
    target = out_path or Path(p.validate_.schema_file)
    if target.exists() and not force:
        raise GitmlError(f"{target} exists; pass --force to overwrite a reviewed schema")
    draft, warnings = schema.infer(
        read_parquet(data), normalise_name(p.data.target), p.validate_.max_categories
    )
    schema.write(draft, target)
    for w in warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
    out.print(f"wrote {target} ({len(draft.columns)} columns): review it, then commit it")


@schema_app.command("check")
@handle_errors
def schema_check(
    data: Annotated[Path, typer.Argument(help="a Parquet file in canonical form")],
    params: ParamsOpt = layout.PARAMS,
) -> None:
    """Check a data file against the schema and quality rules without writing anything."""
    from gitml import schema
    from gitml import validate as stage
    from gitml.io import read_parquet

    p = _params(params)
    result = stage.check(
        read_parquet(data), p.data, p.validate_, schema.load(p.validate_.schema_file)
    )
    for v in result.violations:
        err.print(f"- column {v.column}, rule {v.rule}: {v.count} row(s)", highlight=False)
    out.print("passed" if result.passed else f"{len(result.violations)} violation(s)")
    raise typer.Exit(0 if result.passed else 1)


def main() -> None:
    app(prog_name="gitml")
