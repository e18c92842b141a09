"""Registry commands: the promotion gate, rollback, the deploy smoke test and the version table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gitml import layout
from gitml.cli.app import ParamsOpt, app, err, handle_errors, load, out
from gitml.registry.options import Bump

if TYPE_CHECKING:
    from gitml.registry import reproduce

BumpOpt = Annotated[Bump, typer.Option("--bump", help="which SemVer part to raise")]


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
    bump: BumpOpt = Bump.minor,
    params: ParamsOpt = layout.PARAMS,
) -> None:
    """Gate the model at --ref against prod; on a pass, tag it as the next version and prod.

    Run it after `dvc repro --force` (what CI does): when --ref is the checked-out commit, the
    workspace's reports/evaluate/{metrics,slices}.json are CI's numbers; they are compared with
    the committed ones (refused beyond `promotion.reproduce_tolerance`, differences within it
    recorded) and the gate judges them against the prod version's. The rules are `promotion:`
    of the candidate's first parent (main before the merge), else of prod's commit, else its
    own: a branch cannot loosen the gate it is judged by. Refuses a candidate that is an
    ancestor of prod's commit. Writes reports/promotion.json (+ .md, the CI job summary, and
    `promoted`/`version`/`tag`/`sha256` to $GITHUB_OUTPUT). On a pass: GTO tags `model@vX.Y.Z`
    (first: v0.1.0) and `model#prod#N`, with the decision and the model's sha256 in the tag
    message. Every decision, refusals included, is also kept as a git note on the candidate
    (refs/notes/gitml/decisions), which `gitml site` reads; --push pushes the note with the
    tags. Existing tags are never overwritten.
    """
    from gitml.registry import gate, promote

    load(params)  # the workspace must be valid; the gate's rules come from the base
    result = promote.promote(Path.cwd(), None, ref, push=push, dry_run=dry_run, bump=bump)
    d = result.decision
    if d is not None:
        against = f"prod {d.prod_version}" if d.prod_version else "no prod yet"
        table = Table(title=f"promotion gate (candidate {ref} vs {against})")
        for col in ("rule", "value", "threshold", "result"):
            table.add_column(col, justify="right" if col in ("value", "threshold") else "left")
        for r in d.rules:
            result_text = "pass" if r.passed else "[bold red]FAIL[/]"
            table.add_row(
                r.name, gate.fmt_metric(r.value), gate.fmt_metric(r.threshold), result_text
            )
        out.print(table)
        for r in d.rules:
            if not r.passed:
                line = f"FAIL {r.name}: {r.detail}"
                out.print(line, highlight=False, markup=False, soft_wrap=True)
        out.print(d.summary, highlight=False, markup=False, soft_wrap=True)
    if result.note:
        out.print(result.note, highlight=False, soft_wrap=True)
    if result.reproduction is not None:
        _print_reproduction(result.reproduction)
    if result.tags:
        local = " (local; push with `git push origin --tags refs/notes/gitml/decisions`)"
        pushed = " (pushed)" if result.pushed else local
        out.print(f"tags: {', '.join(result.tags)}{pushed}", highlight=False, soft_wrap=True)
    if result.model_sha256:
        out.print(f"model sha256: {result.model_sha256}", highlight=False, soft_wrap=True)
    if result.record:
        out.print(f"record: {result.record}", highlight=False, soft_wrap=True)
    if result.outcome in ("refused", "superseded") and strict:
        raise typer.Exit(1)


def _print_reproduction(comparison: reproduce.Comparison) -> None:
    """What CI rebuilt differently from the commit, on stderr: the record keeps it too, but a
    warning that stays in a file is not read."""
    if comparison.outputs or comparison.metrics:
        err.print(f"warning: {comparison.summary()}", highlight=False, markup=False, soft_wrap=True)
    for o in comparison.outputs:
        err.print(
            f"  md5 differs: {o.path} ({o.committed_md5} committed, {o.reproduced_md5} here)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


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
    enters it). Pushed with a person's credentials, the new prod tag starts deploy.yml (tags
    pushed with a workflow's GITHUB_TOKEN start no workflow: promote.yml calls deploy itself).
    """
    from gitml.registry import rollback

    result = rollback.rollback(Path.cwd(), to, reason=reason, push=push)
    out.print(
        f"prod: {result.from_version} → {result.to_version} ({result.reason}); "
        f"tags: {', '.join(result.tags)}" + (" (pushed)" if result.pushed else ""),
        highlight=False,
        soft_wrap=True,
    )


@app.command("smoke-test", rich_help_panel="Registry")
@handle_errors
def smoke_test_cmd(
    version: Annotated[
        str | None,
        typer.Option("--version", help="the registered version to check and serve (vX.Y.Z)"),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="with --version: the model file (default models/model.skops)"),
    ] = None,
    stage: Annotated[
        str, typer.Option("--stage", help="without --version: the GTO stage to serve")
    ] = "prod",
    port: Annotated[
        int | None,
        typer.Option(help="TCP port on 127.0.0.1 (default: a free one)", min=1, max=65535),
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for /health")] = 120.0,
) -> None:
    """Serve a model in its own process, probe it, stop it; exit 1 on any failure.

    `--version vX.Y.Z [--model FILE]` (what deploy.yml runs): FILE's sha256 must equal the one
    `gitml promote` recorded in the annotated tag `model@vX.Y.Z`; then exactly FILE is served
    (`gitml serve --model FILE`, its metadata FILE.json beside it) and GET /health, GET /ready,
    GET /metadata and one POST /predict with the example row must answer 200. In GitHub Actions
    it writes the version, the sha256 and how servers pick the version up to the job summary.
    Without --version: `gitml serve --stage STAGE` and GET /health.
    """
    from gitml.serve import smoke

    if model is not None and version is None:
        raise typer.BadParameter("--model needs --version (the tag that records its sha256)")
    if version is not None:
        from gitml.io.github import append_step_summary, write_outputs

        result = smoke.smoke_test_version(Path.cwd(), version, model, port, timeout)
        append_step_summary(smoke.deploy_summary(version, result))  # in GitHub Actions only
        write_outputs({"sha256": str(result.sha256)})
    else:
        result = smoke.smoke_test(Path.cwd(), stage, port, timeout)
    for line in result.checks:
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    out.print(
        f"{result.url}: {result.status} after {result.seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
    )


@app.command("verify", rich_help_panel="Registry")
@handle_errors
def verify_cmd(
    rev: Annotated[str, typer.Option("--rev", help="the committed revision to compare with")] = (
        "HEAD"
    ),
    out_file: Annotated[
        Path, typer.Option("--out", "-o", help="where to write the comparison (JSON)")
    ] = layout.VERIFY_REPORT,
) -> None:
    """Did this workspace (after `dvc repro --force`) reproduce what REV committed?

    Compares every number of reports/evaluate/{metrics,slices}.json in the workspace with REV's,
    within `promotion.reproduce_tolerance` of REV's first parent (the rules `gitml promote`
    applies), and lists the outputs whose md5 in the workspace's dvc.lock differs from REV's.
    Writes --out, which `gitml report` shows as "outputs CI could not reproduce". Exit 1 when a
    number differs beyond the tolerance.
    """
    from gitml.io.git import resolve_rev
    from gitml.registry import reproduce, rules

    commit = resolve_rev(Path.cwd(), rev)
    tolerance = rules.rules_for(Path.cwd(), commit).cfg.reproduce_tolerance
    comparison = reproduce.compare(Path.cwd(), rev, tolerance)
    written = reproduce.write(Path.cwd(), comparison, out_file)
    out.print(comparison.summary(), highlight=False, markup=False, soft_wrap=True)
    for m in comparison.metrics:
        mark = "within" if m.within else "BEYOND"
        out.print(f"{mark}: {m.line()}", highlight=False, markup=False, soft_wrap=True)
    for o in comparison.outputs:
        out.print(
            f"md5 differs: {o.path} ({o.committed_md5} committed, {o.reproduced_md5} here)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    out.print(f"written: {written}", highlight=False, soft_wrap=True)
    if not comparison.ok:
        raise typer.Exit(1)


@app.command("registry", rich_help_panel="Registry")
@handle_errors
def registry_cmd(params: ParamsOpt = layout.PARAMS) -> None:
    """Registered model versions and their stages (GTO tags) with their primary metric."""
    from gitml.registry import gate
    from gitml.registry.table import registry_rows

    metric = load(params).promotion.primary_metric
    rows = registry_rows(Path.cwd(), metric)
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
            gate.fmt_metric(r.primary) if r.primary is not None else "-",
            r.summary,
        )
    out.print(table)
