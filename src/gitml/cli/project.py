"""Project set-up commands: `gitml init` for a user's own table, and the data contract."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gitml import layout
from gitml.cli.app import ParamsOpt, app, err, handle_errors, load, out, schema_app
from gitml.errors import GitmlError

PANEL = "Pipeline"


@app.command("init", rich_help_panel=PANEL)
@handle_errors
def init(
    data: Annotated[
        str, typer.Argument(help="your table: data/raw/FILE.csv|.tsv|.parquet, or an fsspec URL")
    ],
    target: Annotated[str, typer.Option("--target", help="the column to predict")],
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            help="binary | multiclass | regression (default: proposed from the target's values; "
            "needed when they are ambiguous, e.g. 12 whole numbers)",
        ),
    ] = None,
    positive_class: Annotated[
        str | None,
        typer.Option(
            help="binary: the target value that means yes (default: 1/true/yes, else the rarer)"
        ),
    ] = None,
    ids: Annotated[
        list[str] | None, typer.Option("--id", help="an identifier column to leave out (repeat)")
    ] = None,
    time: Annotated[
        str | None, typer.Option("--time", help="a time column: test = the latest rows")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="overwrite a reviewed params.yaml data section / schema file")
    ] = False,
    params: ParamsOpt = layout.PARAMS,
) -> None:
    """Profile your table and write params.yaml and a schema draft; then run `dvc repro`.

    Decides how to read the file (delimiter, encoding), the task (binary, multiclass or
    regression, from the target's type, distinct values and examples), which columns to leave
    out (ids, free text, constant columns; each with a comment saying why), data-quality
    thresholds measured on the data, derived features whose inputs exist, and the slices to
    report. Prints every decision and why. Review the diff, commit, run `dvc repro`. On an
    error nothing is written: exit 2 for a usage error (a target whose task is ambiguous
    without --task, a --positive-class the target never takes), 1 for data that cannot serve
    the task (a constant target, a class too small to split, text in a regression target).
    """
    from gitml.project import init as project

    result = project.run(data, target, positive_class, ids, time, force, params, task=task)
    table = Table(title=f"gitml init {data}")
    table.add_column("key")
    table.add_column("value", overflow="fold")
    table.add_column("why", overflow="fold")
    for d in result.decisions:
        table.add_row(d.key, d.value, d.why)
    out.print(table)
    for w in result.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
    if result.unchanged:  # a re-run with the same file and options
        out.print(
            f"{result.params_path} and {result.schema_path} already hold this draft: "
            "nothing written"
        )
        return
    out.print(
        f"wrote {result.params_path} and {result.schema_path}: review them (git diff), "
        f"{_version_it(data)}commit, then run `dvc repro`"
    )


def _version_it(data: str) -> str:
    """'version the file with `dvc add FILE`, ' for a local file neither DVC nor git tracks
    yet (docs/your-own-data.md, "Version the raw file"): else the first commit lacks the data,
    and adding it after `dvc repro` changes data/raw, which reruns ingest, validate and split."""
    from gitml.io.git import git

    path = Path(data)
    if "://" in data or not path.is_file() or Path(f"{data}.dvc").exists():
        return ""
    if git(Path(), "ls-files", "--error-unmatch", data, check=False):
        return ""  # committed to git itself
    return f"version the file with `dvc add {data}` (before the first `dvc repro`), "


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
    from gitml.core import schema
    from gitml.core.names import normalise_name
    from gitml.io.files import read_parquet

    p = load(params)
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
    data: Annotated[
        Path,
        typer.Argument(
            help="Parquet in canonical form (ingest's output), or a CSV/TSV read as ingest "
            "reads data.source"
        ),
    ],
    params: ParamsOpt = layout.PARAMS,
) -> None:
    """Check a data file against the schema and quality rules without writing anything."""
    from gitml.core import schema
    from gitml.pipeline import ingest
    from gitml.pipeline import validate as stage

    p = load(params)
    result = stage.check(
        ingest.read_table(data, p.data),
        p.data,
        p.validate_,
        schema.load(p.validate_.schema_file),
        p.split,
        (p.tune.cv_folds, p.tune.seed),
    )
    for v in result.violations:
        err.print(f"- column {v.column}, rule {v.rule}: {v.count} row(s)", highlight=False)
    out.print("passed" if result.passed else f"{len(result.violations)} violation(s)")
    raise typer.Exit(0 if result.passed else 1)


# `gitml tune` becomes a group: with no subcommand it is the tune stage (what `gitml stage tune`
# and dvc.yaml run), and `gitml tune worker` joins a shared study from any machine.
