"""Review commands: the PR report and the stale-stage check."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gitml.cli.app import app, err, handle_errors, out


class ReportFormat(StrEnum):
    markdown = "markdown"  # the PR comment: Mermaid charts GitHub draws itself
    terminal = "terminal"  # rich tables


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
        ReportFormat | None,
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

    from gitml import review as report
    from gitml.review.charts import write_images

    if fmt is None:
        fmt = ReportFormat.markdown if out_file or not out.is_terminal else ReportFormat.terminal
    result = report.make_report(Path.cwd(), base, head, check_stale=stale)
    if images is not None:
        written = write_images(result, images)
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
    from gitml.io.files import write_atomic

    write_atomic(out_file, text)
    out.print(
        f"report: {result.verdict.replace('_', ' ')} on {result.primary} → {out_file}",
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
    from gitml.review import find_stale

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


@app.command("site", rich_help_panel="Review")
@handle_errors
def site_cmd(
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="folder to write the site into (replaced)")
    ] = Path("_site"),
    open_it: Annotated[
        bool, typer.Option("--open", help="open the registry page in a web browser")
    ] = False,
) -> None:
    """A static model site from git: registry, metric history, a page per version, monitoring.

    Reads the GTO tags and each version's committed evaluation (reports/evaluate/ at its
    commit), and reports/monitoring/monitoring.json when there is one. Self-contained HTML with
    inline SVG charts, no script: open _site/index.html, or let .github/workflows/pages.yml
    publish it to GitHub Pages.
    """
    from gitml.review.site import build

    result = build(Path.cwd(), out_dir)
    out.print(
        f"site: {len(result.pages)} pages, {result.versions} versions, prod "
        f"{result.prod or '-'}, monitoring {'yes' if result.monitoring else 'none'} "
        f"in {result.seconds:.1f} s -> {result.index}",
        highlight=False,
        soft_wrap=True,
    )
    if open_it:
        import webbrowser

        webbrowser.open(result.index.resolve().as_uri())
