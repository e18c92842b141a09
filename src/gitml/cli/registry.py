"""Registry commands: the promotion gate, rollback, the deploy smoke test and the version table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gitml import layout
from gitml.cli.app import ParamsOpt, app, handle_errors, load, out

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
    from gitml.registry import promote

    cfg = load(params).promotion
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
    from gitml.registry import promote

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
    from gitml.registry import promote

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
    from gitml.registry import promote

    metric = load(params).promotion.primary_metric
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
