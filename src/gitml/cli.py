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
from rich.markup import escape
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
            err.print(
                f"[bold red]error:[/] {escape(str(exc))}",
                markup=True,
                highlight=False,
                soft_wrap=True,
            )
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


# --------------------------------------------------------------------------- scaling (issue 7)
# `gitml tune` becomes a group: with no subcommand it is the tune stage (what `gitml stage tune`
# and dvc.yaml run), and `gitml tune worker` joins a shared study from any machine.

tune_app = typer.Typer(
    help=(
        "Optuna search over `tune.search_space` (the tune stage; writes reports/tune/). "
        "`gitml tune worker` joins a study on a shared database from another process or machine."
    ),
    invoke_without_command=True,
)
app.registered_commands = [c for c in app.registered_commands if c.name != "tune"]
app.add_typer(tune_app, name="tune", rich_help_panel="Pipeline stages")


@tune_app.callback()
@handle_errors
def _tune_group(
    ctx: typer.Context,
    params: ParamsOpt = layout.PARAMS,
    progress: Annotated[bool, typer.Option(help="show the progress bar")] = True,
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
    from gitml import tune as stage
    from gitml.errors import ConfigError
    from gitml.io import file_sha256, read_parquet

    p = _params(params)
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


@app.command("synth", rich_help_panel="Scaling")
@handle_errors
def synth(
    rows: Annotated[int, typer.Option("--rows", "-n", min=1, help="rows to write")],
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="file to write: .parquet (smaller) or .csv")
    ],
    seed: Annotated[int, typer.Option(help="seed of the resampling and the noise")] = 0,
    noise: Annotated[
        float, typer.Option(min=0.0, help="Gaussian noise on numbers, in column std units")
    ] = 0.05,
    params: ParamsOpt = layout.PARAMS,
) -> None:
    """Make a larger SYNTHETIC data set from `data.source`, for scale tests only.

    Resamples rows with replacement and adds noise to nonzero numeric values (clipped into each
    column's observed range). Then: `dvc add` the file under data/raw/ and point
    `data.source` at it.
    """
    from gitml import synth as mod

    p = _params(params)
    result = mod.run(p.data, rows, out_path, seed, noise)
    out.print(
        f"synth: {result.rows:,} synthetic rows from {result.source_rows:,} rows of "
        f"{p.data.source} → {result.path} (noise on {', '.join(result.noisy_columns) or 'none'})"
    )


remote_app = typer.Typer(
    help="Set up the shared DVC remote (a thin wrapper over `dvc remote`).", no_args_is_help=True
)
app.add_typer(remote_app, name="remote", rich_help_panel="Scaling")


@remote_app.command("setup")
@handle_errors
def remote_setup(
    url: Annotated[str, typer.Argument(help="s3://bucket/prefix")],
    endpoint_url: Annotated[
        str | None,
        typer.Option(help="an S3-compatible server (MinIO, Ceph, moto): http(s)://host:port"),
    ] = None,
    name: Annotated[str, typer.Option(help="the remote's name in .dvc/config")] = "storage",
    default: Annotated[bool, typer.Option(help="make it the default remote")] = True,
) -> None:
    """Add an S3 DVC remote to .dvc/config (committed, so every clone and CI run shares it).

    Runs `dvc remote add [--default] NAME URL` and, with --endpoint-url, `dvc remote modify
    NAME endpointurl URL`. Credentials are never written here: use AWS_ACCESS_KEY_ID /
    AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or `dvc remote modify --local NAME access_key_id …`
    (git-ignored .dvc/config.local). Then `dvc push --run-cache` and, in a clone, `dvc pull`.
    """
    from gitml import remote

    result = remote.setup(Path.cwd(), url, name, endpoint_url, default)
    for cmd in result.commands:
        out.print(f"$ {' '.join(cmd)}", highlight=False, markup=False)
    out.print(f"remote {result.name} → {result.url}; commit .dvc/config, then `dvc push`")


# --------------------------------------------------------------------------- serving (issue 6A)
# `gitml serve`, `gitml predict`, `gitml simulate`: the model used by software.

StageOpt = Annotated[
    str | None,
    typer.Option("--stage", help="serve the version in this GTO stage, e.g. prod"),
]
VersionOpt = Annotated[
    str | None, typer.Option("--version", help="serve this registered version, e.g. v0.2.0")
]
ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model", help="a model file (its metadata .json beside it); default: the workspace's"
    ),
]
LogDbOpt = Annotated[
    str,
    typer.Option(
        "--log-db",
        envvar="GITML_LOG_DB",
        help="prediction log database URL (SQLAlchemy): sqlite:///… or postgresql://…",
        show_envvar=True,
    ),
]


FastPathOpt = Annotated[
    bool,
    typer.Option(
        "--fast-path/--no-fast-path",
        help="score through the model compiled to numpy (checked equal to the Pipeline at "
        "load); --no-fast-path uses the scikit-learn Pipeline itself",
    ),
]


def _resolve_model(stage: str | None, version: str | None, model: Path | None, params: Path) -> Any:
    from gitml.serve.resolve import resolve

    resolved = resolve(".", stage=stage, version=version, model_path=model, params_path=params)
    err.print(
        f"model {resolved.version} from {resolved.source} "
        f"(sha256 {str(resolved.metadata['model_sha256'])[:12]}…, verified; "
        f"threshold {resolved.threshold:g})",
        highlight=False,
        soft_wrap=True,
    )
    return resolved


@app.command("serve", rich_help_panel="Serving")
@handle_errors
def serve_cmd(
    stage: StageOpt = None,
    version: VersionOpt = None,
    model: ModelOpt = None,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8000,
    log_db: LogDbOpt = "sqlite:///logs/predictions.db",
    max_body_mb: Annotated[
        float,
        typer.Option(help="largest request body accepted, in MB; a larger one gets 413", min=0.001),
    ] = 10.0,
    fast_path: FastPathOpt = True,
    workers: Annotated[
        int,
        typer.Option(
            help="worker processes (one per core); each verifies and loads the model and "
            "writes its own share of the prediction log",
            min=1,
        ),
    ] = 1,
    params: ParamsOpt = layout.PARAMS,
) -> None:
    """Serve a model over HTTP: POST /predict, /feedback; GET /health, /ready, /metadata, /metrics.

    With no flag it serves the workspace model (models/model.skops after `dvc repro`). The model
    file's hash is checked against the one DVC/train recorded, and it is loaded with skops and an
    explicit list of trusted types; a mismatch refuses to start. Interactive docs: /docs.
    """
    from gitml.serve.app import serve
    from gitml.serve.logdb import check_url, mask_url

    check_url(log_db)
    resolved = _resolve_model(stage, version, model, params)
    err.print(
        f"serving on http://{host}:{port} (docs /docs); prediction log {mask_url(log_db)}",
        highlight=False,
        soft_wrap=True,
    )
    max_body_bytes = int(max_body_mb * 1024 * 1024)
    if workers == 1:
        serve(resolved, host, port, log_db, max_body_bytes=max_body_bytes, fast_path=fast_path)
        return
    from gitml.serve import workers as multi

    multi.run(
        resolved,
        workers=workers,
        host=host,
        port=port,
        log_url=log_db,
        max_body_bytes=max_body_bytes,
        fast_path=fast_path,
        repo=Path(),
        stage=stage,
        version=version,
        model_path=model,
        params_path=params,
    )


@app.command("predict", rich_help_panel="Serving")
@handle_errors
def predict_cmd(
    input_path: Annotated[Path, typer.Argument(help="rows to predict: .csv or .parquet")],
    out_path: Annotated[
        Path,
        typer.Option("--out", "-o", help="output .csv or .parquet: input + probability, label"),
    ],
    stage: StageOpt = None,
    version: VersionOpt = None,
    model: ModelOpt = None,
    on_error: Annotated[
        str,
        typer.Option(
            "--on-error", help="fail: stop, write nothing; skip: leave bad rows out, report them"
        ),
    ] = "fail",
    chunk_rows: Annotated[int, typer.Option(help="rows per chunk (memory bound)", min=1)] = 65_536,
    fast_path: FastPathOpt = True,
    params: ParamsOpt = layout.PARAMS,
) -> None:
    """Batch predictions from a file, streamed in chunks, checked against the data contract.

    Bad rows are reported with their line number (CSV: line in the file, header = 1).
    The output appears only when the whole input went through.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from gitml import predict
    from gitml.errors import ConfigError

    if on_error not in ("skip", "fail"):
        raise ConfigError(f"--on-error must be skip or fail, got {on_error!r}")
    resolved = _resolve_model(stage, version, model, params)
    markers = _params(params).data.missing_markers if params.exists() else None
    total = _count_rows(input_path)
    with Progress(
        TextColumn("predict"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("rows", total=total)
        result = predict.run(
            resolved,
            input_path,
            out_path,
            on_error=on_error,  # type: ignore[arg-type]
            missing_markers=markers,
            chunk_rows=chunk_rows,
            progress=lambda n: bar.advance(task, n),
            fast_path=fast_path,
        )
    for bad in result.bad:
        err.print(f"[yellow]skipped[/] line {bad}", highlight=False, soft_wrap=True)
    if result.bad_count > len(result.bad):
        err.print(
            f"… {result.bad_count - len(result.bad)} more bad rows skipped",
            highlight=False,
            soft_wrap=True,
        )
    for col, n in sorted(result.unseen.items()):
        err.print(
            f"note: {n} row(s) with a {col} value unseen in training (accepted)",
            highlight=False,
            soft_wrap=True,
        )
    out.print(
        f"wrote {out_path}: {result.rows_out:,} of {result.rows_in:,} rows "
        f"({result.positives:,} predicted positive, {result.bad_count:,} skipped) "
        f"in {result.seconds:.2f} s ({result.rows_per_second:,.0f} rows/s)",
        soft_wrap=True,
    )


def _count_rows(path: Path) -> int | None:
    """Rows in the input for the progress bar (Parquet: from the footer; CSV: unknown)."""
    if path.suffix.lower() in (".parquet", ".pq") and path.is_file():
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception:  # unreadable: predict.run reports it properly
            return None
    return None


@app.command("simulate", rich_help_panel="Serving")
@handle_errors
def simulate_cmd(
    url: Annotated[str, typer.Option(help="a running `gitml serve`")] = "http://127.0.0.1:8000",
    rows: Annotated[int, typer.Option(help="rows to send", min=1)] = 1000,
    shift: Annotated[
        list[str] | None,
        typer.Option(
            "--shift",
            help="shift the rows: 'age+10', 'age*1.5', 'workclass=Private', "
            "'occupation=blank', any with '@0.3' for 30% of rows; repeatable",
        ),
    ] = None,
    feedback: Annotated[
        bool, typer.Option(help="also send each row's true label to POST /feedback")
    ] = False,
    data: Annotated[Path, typer.Option(help="rows are drawn from this file")] = layout.SPLIT_DIR
    / "test.parquet",
    seed: Annotated[int, typer.Option(help="seed of the draw and of partial shifts")] = 0,
    batch_size: Annotated[int, typer.Option(help="rows per request", min=1, max=10_000)] = 100,
) -> None:
    """Send test-split rows (optionally shifted) to a running server, to watch the monitor react."""
    from gitml import simulate
    from gitml.shift import parse_shift

    shifts = [parse_shift(s) for s in shift or []]
    result = simulate.run(
        url, rows, shifts, data, feedback=feedback, seed=seed, batch_size=batch_size
    )
    for e in result.errors:
        err.print(f"[red]rejected[/] {e}", highlight=False, soft_wrap=True)
    mean = f"{result.mean_score:.4f}" if result.mean_score is not None else "n/a"
    out.print(
        f"sent {result.sent:,} rows to {url}: {result.predicted:,} predicted, "
        f"{result.rejected:,} rejected, {result.feedback:,} feedback labels; mean score {mean}"
        + (f"; shifts: {', '.join(map(str, shifts))}" if shifts else ""),
        soft_wrap=True,
    )
    raise typer.Exit(1 if result.rejected else 0)


# --------------------------------------------------------------------------- promotion (issue 5)

BumpOpt = Annotated[
    str, typer.Option("--bump", help="which SemVer part to raise: major, minor or patch")
]


@app.command("promote", rich_help_panel="Registry")
@handle_errors
def promote_cmd(
    ref: Annotated[str, typer.Option("--ref", help="the candidate revision")] = "HEAD",
    push: Annotated[
        bool, typer.Option("--push", help="push the new tags (and `dvc push` if a remote is set)")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="decide and write the record; create no tag")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="exit 1 when the gate refuses (default: exit 0)")
    ] = False,
    bump: BumpOpt = "minor",
    params: ParamsOpt = layout.PARAMS,
) -> None:
    """Gate the model at --ref against prod; on a pass, tag it as the next version and prod.

    Reads reports/evaluate/{metrics,slices}.json at the candidate and at the prod version's
    commit, applies `promotion:` from params.yaml, writes reports/promotion.json (+ .md, and the
    CI job summary). On a pass: GTO tags `model@vX.Y.Z` (first: v0.1.0) and `model#prod#N`,
    with the decision in the tag message. Existing tags are never overwritten.
    """
    from gitml import promote

    cfg = _params(params).promotion
    result = promote.promote(Path.cwd(), cfg, ref, push=push, dry_run=dry_run, bump=bump)
    d = result.decision
    if d is not None:
        against = f"prod {d.prod_version}" if d.prod_version else "no prod yet"
        table = Table(title=f"promotion gate (candidate {ref} vs {against})")
        for col in ("rule", "value", "threshold", "result"):
            table.add_column(col, justify="right" if col in ("value", "threshold") else "left")
        for r in d.rules:
            result_text = "pass" if r.passed else "[bold red]FAIL[/]"
            table.add_row(r.name, promote._fmt(r.value), promote._fmt(r.threshold), result_text)
        out.print(table)
        for r in d.rules:
            if not r.passed:
                line = f"FAIL {r.name}: {r.detail}"
                out.print(line, highlight=False, markup=False, soft_wrap=True)
        out.print(d.summary, highlight=False, markup=False, soft_wrap=True)
    if result.note:
        out.print(result.note, highlight=False, soft_wrap=True)
    if result.tags:
        pushed = " (pushed)" if result.pushed else " (local; push with `git push --tags`)"
        out.print(f"tags: {', '.join(result.tags)}{pushed}", highlight=False, soft_wrap=True)
    if result.record:
        out.print(f"record: {result.record}", highlight=False, soft_wrap=True)
    if result.outcome == "refused" and strict:
        raise typer.Exit(1)


@app.command("rollback", rich_help_panel="Registry")
@handle_errors
def rollback_cmd(
    to: Annotated[
        str | None,
        typer.Option("--to", help="the version to put in prod (default: the previous prod one)"),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="why; kept in the tag message")] = "",
    push: Annotated[bool, typer.Option("--push", help="push the new tags")] = False,
) -> None:
    """Move prod back to the previous (or the named) version; the reason goes in the tags.

    "Previous" is the newest version older than the current prod one that was in prod before.
    Creates `model#prod!#N` (the current version leaves prod) and `model#prod#N+1` (the target
    enters it); once pushed, the new prod tag starts deploy.yml like a promotion does.
    """
    from gitml import promote

    result = promote.rollback(Path.cwd(), to, reason=reason, push=push)
    out.print(
        f"prod: {result.from_version} → {result.to_version} ({result.reason}); "
        f"tags: {', '.join(result.tags)}" + (" (pushed)" if result.pushed else ""),
        highlight=False,
        soft_wrap=True,
    )


@app.command("smoke-test", rich_help_panel="Registry")
@handle_errors
def smoke_test_cmd(
    stage: Annotated[str, typer.Option("--stage", help="the GTO stage to serve")] = "prod",
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1", min=1, max=65535)] = 8765,
    timeout: Annotated[float, typer.Option(help="seconds to wait for /health")] = 120.0,
) -> None:
    """Start `gitml serve --stage STAGE`, wait for GET /health to answer 200, stop the server.

    What deploy.yml runs on a new prod tag before it publishes the model. Exit 1 on failure.
    """
    from gitml import promote

    result = promote.smoke_test(Path.cwd(), stage, port, timeout)
    out.print(
        f"{result.url}: {result.status} after {result.seconds:.1f} s: {result.body}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("registry", rich_help_panel="Registry")
@handle_errors
def registry_cmd(params: ParamsOpt = layout.PARAMS) -> None:
    """Registered model versions and their stages (GTO tags) with their primary metric."""
    from gitml import promote

    metric = _params(params).promotion.primary_metric
    rows = promote.registry_rows(Path.cwd(), metric)
    if not rows:
        out.print("no registered version yet: `gitml promote` registers the first")
        return
    table = Table(title="model registry (git tags)")
    for col in ("version", "stage", "commit", "registered (UTC)", metric, "decision"):
        table.add_column(col, justify="right" if col == metric else "left")
    for r in rows:
        table.add_row(
            r.version,
            ", ".join(r.stages) or "-",
            r.commit[:12],
            r.registered_at.strftime("%Y-%m-%d %H:%M"),
            promote._fmt(r.primary) if r.primary is not None else "-",
            r.summary,
        )
    out.print(table)


# --------------------------------------------------------------------------- PR report (issue 4)


@app.command("report", rich_help_panel="Review")
@handle_errors
def report_cmd(
    base: Annotated[
        str, typer.Option("--base", "-b", help="the revision to compare with (branch, tag, sha)")
    ] = "main",
    head: Annotated[
        str | None,
        typer.Option("--head", help="the revision to report on (default: the workspace)"),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="write the report to this file")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="markdown or terminal (default: terminal on a terminal, else markdown)",
        ),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            "--images",
            help="also render the curves to PNG files in this folder and link them (for "
            "`cml comment create --publish`); Markdown alone needs no image",
        ),
    ] = None,
    stale: Annotated[
        bool,
        typer.Option(
            "--stale/--no-stale",
            help="check that the committed dvc.lock matches the code and params (dvc status)",
        ),
    ] = True,
) -> None:
    """Compare a branch's pipeline run with --base: verdict, params, metrics, slices, data, plots.

    Reads the base from git only (no `dvc pull`). Typical uses:

    * `gitml report --base main` — this workspace (after `dvc repro`) vs main, in the terminal
    * `gitml report --base origin/main --out report.md` — the PR comment CI posts (Markdown with
      Mermaid charts that GitHub draws itself)

    Exit code 0 even when the model got worse or dvc.lock is stale: `gitml stale` is the check.
    """
    import os

    from gitml import report

    fmt = fmt or ("markdown" if out_file or not out.is_terminal else "terminal")
    if fmt not in ("markdown", "terminal"):
        raise typer.BadParameter(f"{fmt!r}: use markdown or terminal", param_hint="--format")
    result = report.make_report(Path.cwd(), base, head, check_stale=stale)
    if images is not None:
        written = report.render.write_images(result, images)
        # links relative to the report file, so the folder can move with it
        where = (out_file or Path("report.md")).resolve().parent
        result.images = {k: Path(os.path.relpath(p.resolve(), where)) for k, p in written.items()}
    if fmt == "terminal":
        report.render.terminal(result, out)
        return
    text = report.render.markdown(result)
    if out_file is None:
        sys.stdout.write(text)
        return
    from gitml.io import write_atomic

    write_atomic(out_file, text)
    out.print(
        f"report: {result.verdict} on {result.primary} → {out_file}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("stale", rich_help_panel="Review")
@handle_errors
def stale_cmd(
    rev: Annotated[str, typer.Argument(help="the committed revision to check")] = "HEAD",
) -> None:
    """Exit 1 when the dvc.lock committed at REV is out of date with REV's code or params.

    Runs `dvc status` on a clean checkout of REV (a temporary git worktree), so it answers for
    what was committed, whether or not this workspace has been reproduced since; missing data
    is not staleness. Fix: `dvc repro`, then commit dvc.lock and the reports.
    """
    from gitml.report import find_stale

    found = find_stale(Path.cwd(), rev)
    if not found:
        out.print(f"dvc.lock at {rev} matches its code and params", highlight=False, soft_wrap=True)
        return
    err.print(f"[bold red]dvc.lock at {rev} is stale:[/] {len(found)} stage(s) need `dvc repro`")
    for s in found:
        err.print(f"- {s.line()}", markup=False, highlight=False, soft_wrap=True)
    err.print(
        "run `dvc repro`, then commit dvc.lock and the reports", highlight=False, soft_wrap=True
    )
    raise typer.Exit(1)


# --------------------------------------------------------------------------- monitoring (issue 6B)

monitor_app = typer.Typer(
    help=(
        "Drift and live-quality monitoring of the served model.\n\n"
        "`gitml monitor` compares the requests logged by `gitml serve` in a time window (or a "
        "file) with the training features of the model in stage prod: per feature a KS or "
        "chi-squared test and PSI, missing rates, unseen categories; the score distribution; "
        "ROC-AUC, accuracy and calibration on rows with feedback. The alarm rule is "
        "`monitor:` in params.yaml. Writes monitoring.json and monitoring.md.\n\n"
        "Exit codes: 0 no alarm, 1 alarm, 2 error.\n\n"
        "Examples: `gitml monitor` (the default log, last `monitor.since`); "
        "`gitml monitor --log-db postgresql://mon@db/predictions --since 24h`; "
        "`gitml monitor --current requests.parquet --reference data/features/train.parquet`"
    ),
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(monitor_app, name="monitor", rich_help_panel="Serving")


@monitor_app.callback()
@handle_errors
def monitor(
    ctx: typer.Context,
    log_db: Annotated[
        str | None,
        typer.Option(
            "--log-db",
            envvar="GITML_LOG_DB",
            show_envvar=True,
            help="prediction log URL (default sqlite:///logs/predictions.db)",
        ),
    ] = None,
    current: Annotated[
        Path | None,
        typer.Option("--current", help="a CSV/Parquet file of raw input rows instead of the log"),
    ] = None,
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
    try:
        p = _params(params)
        result = mon.run(
            p.monitor,
            out_dir=out_dir,
            log_url=log_db,
            current_file=current,
            since=since,
            reference_file=reference,
            schema_file=Path(p.validate_.schema_file),
        )
    except GitmlError as exc:  # any failure is exit 2 here: 1 means "alarm"
        raise mon.MonitorError(str(exc)) from None
    r = result.report
    for note in r["notes"]:
        err.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    for alarm in r["alarms"]:
        err.print(f"[bold red]alarm:[/] {alarm}", highlight=False, soft_wrap=True)
    verdict = {"alarm": "ALARM", "ok": "no alarm", "insufficient_data": "no verdict"}
    out.print(
        f"monitor: {verdict[r['status']]} ({r['current']['rows']} rows, "
        f"{len(r['alarms'])} alarm(s)) → {result.md_path}",
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


def main() -> None:
    app(prog_name="gitml")
