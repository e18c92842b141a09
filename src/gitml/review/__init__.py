"""`gitml report`: what a branch does to the data, the model and its fairness, versus a base.

snapshot.py  read params, dvc.lock and the small reports at a revision (git) or workspace
stale.py     `dvc status` of a committed revision: stages whose dvc.lock is out of date
compare.py   the comparison as plain data (verdict, params, metrics, slices, data, curves)
render.py    GitHub Markdown with Mermaid charts, a rich terminal view, optional PNGs
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitml.config import task_of_params
from gitml.errors import ConfigError, DataError, GitmlError
from gitml.registry.reproduce import Comparison, ReproductionJson
from gitml.review import recent, render, snapshot
from gitml.review.compare import Report, build
from gitml.review.stale import StaleStage, find_stale

__all__ = ["Report", "StaleStage", "find_stale", "make_report", "render", "snapshot"]


def make_report(
    repo: Path,
    base_rev: str,
    head_rev: str | None = None,
    check_stale: bool = True,
    use_gate: bool = True,
) -> Report:
    """Compare `base_rev` with `head_rev` (None: the workspace) in the git repo `repo`."""
    base = snapshot.at_rev(repo, base_rev)
    head = snapshot.load(repo, head_rev)
    where = "the workspace" if head_rev is None else head_rev
    if "lock" not in head.files:
        raise DataError(f"no dvc.lock in {where}: run `dvc repro` first (and commit dvc.lock)")
    if "metrics" not in head.files:
        raise DataError(
            f"no {snapshot.FILES['metrics']} in {where}: run `dvc repro` (the evaluate stage)"
        )
    label = _branch(repo) if head_rev is None else head_rev
    report = build(base, head, label)
    if check_stale:
        # the workspace was reproduced by CI; what was committed is the branch's HEAD
        report.stale_rev = head_rev or "HEAD"
        try:
            report.stale = find_stale(repo, report.stale_rev)
        except DataError as exc:  # e.g. a first run not committed yet: report, do not stop
            report.stale_error = str(exc)
    head_params = head.get("params") or {}
    report.recent = recent.section(repo, head_rev, head_params, head.get("recent"))
    if use_gate:
        head_params = head.get("params") or {}
        base_params = base.get("params") or {}
        # The merge is judged by the base's `promotion:` rules (what `gitml promote` reads
        # from the merge's first parent), so the report applies them too; a branch without a
        # base params.yaml (a first run) is judged by its own.
        judge, task_note = judging_params(base_params, head_params)
        gate = promotion_gate(repo, head_rev, judge)
        if gate is not None:
            report.gate, report.gate_passed = gate
            if task_note:
                report.gate = f"{report.gate} ({task_note})"
            elif base_params and head_params.get("promotion") != base_params.get("promotion"):
                report.gate = (
                    f"{report.gate} ⚠️ this branch changes the `promotion:` rules: it is judged "
                    f"by `{base_rev}`'s rules, and the new rules apply from the next merge on"
                )
        if report.recent and report.recent["passed"] is not None:  # promotion.recent_max_drop
            report.gate = f"{report.gate or ''}; {report.recent['rule']}".lstrip("; ")
            if report.gate_passed is not False:
                report.gate_passed = bool(report.recent["passed"])
    if head_rev is None:
        report.verify = verify_result(repo)
    return report


def judging_params(base: dict[str, Any], head: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The params.yaml whose `promotion:` judges the merge, as `gitml promote` picks it
    (registry.rules.rules_for): the base's; the head's own for a first run (no base params),
    or when the branch changes data.task (the base's rules name another task's metrics), with
    a note saying so."""
    if not base:
        return head, ""
    before, now = task_of_params(base), task_of_params(head)
    if before == now:
        return base, ""
    return head, (
        f"this branch changes data.task from {before} to {now}: it is judged by its own "
        "`promotion:` rules"
    )


def verify_result(repo: Path) -> ReproductionJson | None:
    """reports/verify.json as `gitml verify` wrote it for this workspace, or None: none, or a
    stale one (another commit, or metrics files that changed since; it is not in git)."""
    from gitml.registry import reproduce

    found = reproduce.load(repo / reproduce.VERIFY)
    try:
        return found if found is not None and reproduce.is_current(repo, found) else None
    except DataError:  # no commit yet: nothing it could have been written for
        return None


def promotion_gate(
    repo: Path, head_rev: str | None, params: dict[str, Any]
) -> tuple[str, bool | None] | None:
    """The promotion gate's answer for the head under `params`' rules (the base's): its summary
    and whether it passes."""
    from gitml.config import promotion_of
    from gitml.io.git import resolve_rev
    from gitml.registry import gate as promote
    from gitml.registry.promote import with_reproduction

    try:
        # only the `promotion:` section (for data.task): all of Params would import scikit-learn
        cfg = promotion_of(params)
    except ValueError as exc:  # pydantic's ValidationError, or a metric the task has not
        raise ConfigError(
            "the promotion section of params.yaml (the base's, which judges the merge) is "
            f"invalid ({str(exc).splitlines()[0]}): run `gitml check-params`"
        ) from None
    try:
        if head_rev is None:
            candidate = promote.Evaluation.from_dir(repo / snapshot.FILES["metrics"].parent, repo)
        else:
            candidate = promote.Evaluation.at_rev(repo, resolve_rev(repo, head_rev))
        decision = promote.decide(repo, candidate, cfg)
    except GitmlError as exc:  # no prod evaluation in git, a registry problem: say so, go on
        return f"the promotion gate could not run: {exc}", None
    decision = with_reproduction(decision, _reproduction(repo, head_rev, cfg.reproduce_tolerance))
    return str(decision.summary), bool(decision.passed)


def _reproduction(repo: Path, head_rev: str | None, tolerance: float) -> Comparison | None:
    """The check `gitml promote` adds as its first rule when it judges the workspace (the
    candidate commit checked out and rebuilt by CI): the workspace's numbers against HEAD's
    committed ones. Without it the report said "0/0 rules pass" where promote said "1/1" for a
    project whose gate has no rule yet (a first regression version). None where promote makes
    no such check: a committed revision is judged as committed, and a workspace whose numbers
    are not HEAD's, with no current `gitml verify`, is a local run not committed yet."""
    from gitml.registry import reproduce

    if head_rev is not None:
        return None
    try:
        comparison = reproduce.compare(repo, "HEAD", tolerance)
    except GitmlError:  # no commit, or no committed metrics yet: nothing to reproduce
        return None
    return comparison if comparison.ok or verify_result(repo) is not None else None


def _branch(repo: Path) -> str:
    """The name to show for the workspace: the PR's branch in GitHub Actions (whose checkout
    is a detached commit), else the current branch."""
    import os
    import subprocess

    if os.environ.get("GITHUB_HEAD_REF"):
        return os.environ["GITHUB_HEAD_REF"]
    proc = subprocess.run(
        ["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=repo, capture_output=True, text=True
    )
    name = proc.stdout.strip()
    return name if proc.returncode == 0 and name and name != "HEAD" else "this branch"
