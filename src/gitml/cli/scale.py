"""Scale commands: synthetic data for load tests, and the S3 DVC remote."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitml import layout
from gitml.cli.app import ParamsOpt, app, handle_errors, load, out


@app.command("synth", rich_help_panel="Scale")
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
    from gitml.scale import synth as mod

    p = load(params)
    result = mod.run(p.data, rows, out_path, seed, noise)
    out.print(
        f"synth: {result.rows:,} synthetic rows from {result.source_rows:,} rows of "
        f"{p.data.source} → {result.path} (noise on {', '.join(result.noisy_columns) or 'none'})"
    )


remote_app = typer.Typer(
    help="Set up the shared DVC remote (a thin wrapper over `dvc remote`).", no_args_is_help=True
)
app.add_typer(remote_app, name="remote", rich_help_panel="Scale")


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
    from gitml.scale import remote

    result = remote.setup(Path.cwd(), url, name, endpoint_url, default)
    for cmd in result.commands:
        out.print(f"$ {' '.join(cmd)}", highlight=False, markup=False)
    out.print(f"remote {result.name} → {result.url}; commit .dvc/config, then `dvc push`")
