"""`gitml simulate`: test-split rows, optionally shifted, sent to a running server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gitml import layout
from gitml.cli.app import app, err, handle_errors, load, out


def _target() -> dict[str, Any]:
    """The target, positive class and task of params.yaml, when there is one (simulate's
    fallback when the server's /metadata lacks them)."""
    if not layout.PARAMS.exists():
        return {}
    data = load(layout.PARAMS).data
    return {"target": data.target, "positive_class": data.positive_class, "task": str(data.task)}


@app.command("simulate", rich_help_panel="Serve")
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
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="GITML_API_KEY",
            show_envvar=True,
            help="the key to send (Authorization: Bearer); scope predict, and feedback with "
            "--feedback; prefer the environment variable (a command line is visible to others)",
        ),
    ] = None,
) -> None:
    """Send test-split rows (optionally shifted) to a running server, to watch the monitor react."""
    from gitml.monitor import simulate
    from gitml.monitor.shift import parse_shift

    shifts = [parse_shift(s) for s in shift or []]
    result = simulate.run(
        url,
        rows,
        shifts,
        data,
        feedback=feedback,
        seed=seed,
        batch_size=batch_size,
        api_key=api_key,
        data_config=_target(),
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
