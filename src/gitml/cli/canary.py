"""Canary commands: compare the version in stage `canary` with prod, and decide."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitml import layout
from gitml.cli.app import ParamsOpt, app, handle_errors, load, out
from gitml.cli.monitor import LogDbOpt

canary_app = typer.Typer(
    help=(
        "A canary earns prod (`promotion.canary` in params.yaml).\n\n"
        "`gitml canary` compares the version in stage `canary` with the one in `prod` over the "
        "prediction log since the canary's assignment: live quality on rows with feedback "
        "(the task's `promotion.canary.metric`: ROC-AUC or accuracy for binary, accuracy or "
        "macro-F1 for multiclass, MAE or RMSE for regression; and the misclassification rate) "
        "with bootstrap intervals of canary minus prod, the CBPE estimate on every row before "
        "labels arrive (none for regression), the score distributions (PSI, KS), and per "
        "version the latency of its model calls (p50, p99, bootstrap intervals) and the rate "
        "of requests it failed to score (500s, Newcombe interval), shown but not ruled on. "
        "`gitml canary decide --apply` carries out the rules' "
        "decision: promote (prod moves to the canary's version), end (the version leaves "
        "canary, the reason in the tag message) or wait. Writes reports/canary/canary.json and "
        "canary.md.\n\n"
        "Exit codes: 0 compared (whatever the decision) or no canary, 2 bad configuration or "
        "usage, 3 could not compare (no prod, an unreadable log)."
    ),
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(canary_app, name="canary", rich_help_panel="Registry")


def _show(apply: bool, push: bool, log_db: str | None, params: Path) -> None:
    from gitml.logstore.logdb import DEFAULT_LOG_URL
    from gitml.monitor import canary_run

    loaded = load(params)
    result = canary_run.run(
        Path.cwd(), loaded.promotion.canary, log_db or DEFAULT_LOG_URL,
        task=loaded.data.task, apply=apply, push=push,
    )  # fmt: skip
    if result is None:
        out.print(
            "no version is in stage canary: nothing to compare (`gitml promote` assigns it "
            "when promotion.canary.enabled is true)",
            highlight=False,
            soft_wrap=True,
        )
        return
    for line in canary_run.render_lines(result):
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    if result.applied:
        pushed = " (pushed)" if result.pushed else " (local; push with `git push origin --tags`)"
        out.print(f"tags: {', '.join(result.tags)}{pushed}", highlight=False, soft_wrap=True)
    elif result.comparison.decision != "wait":
        out.print("not applied: run `gitml canary decide --apply` to carry it out",
                  highlight=False, soft_wrap=True)  # fmt: skip
    out.print(f"report: {result.md_path}", highlight=False, soft_wrap=True)


@canary_app.callback()
@handle_errors
def canary(ctx: typer.Context, log_db: LogDbOpt = None, params: ParamsOpt = layout.PARAMS) -> None:
    """Compare canary with prod over the prediction log; print the decision (changes nothing)."""
    if ctx.invoked_subcommand is not None:
        return
    _show(False, False, log_db, params)


@canary_app.command("decide")
@handle_errors
def decide(
    apply: Annotated[
        bool, typer.Option("--apply", help="carry out promote or end with GTO tags")
    ] = False,
    push: Annotated[bool, typer.Option("--push", help="with --apply: push the new tags")] = False,
    log_db: LogDbOpt = None,
    params: ParamsOpt = layout.PARAMS,
) -> None:
    """Decide by `promotion.canary`: promote (lower end of canary - prod above -max_drop, upper
    end below +max_drop for MAE and RMSE, with enough rows, labels and time), end (clearly
    worse, or undecided after max_duration) or wait. With --apply, promote assigns prod to the
    canary's version (the old prod version leaves prod) and unassigns canary; end unassigns
    canary. Each tag's message holds the comparison. Writes `decision`, `applied`, `version`,
    `prod_version` and `promoted` to $GITHUB_OUTPUT."""
    if push and not apply:
        raise typer.BadParameter("--push needs --apply")
    _show(apply, push, log_db, params)
