"""`gitml report`: what a branch does to the data, the model and its fairness, versus a base.

snapshot.py  read params, dvc.lock and the small reports at a revision (git) or workspace
stale.py     `dvc status` of a committed revision: stages whose dvc.lock is out of date
compare.py   the comparison as plain data (verdict, params, metrics, slices, data, curves)
render.py    GitHub Markdown with Mermaid charts, a rich terminal view, optional PNGs
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitml.errors import ConfigError, DataError, GitmlError
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
        gate = promotion_gate(repo, head_rev, head_params)
        if gate is not None:
            report.gate, report.gate_passed = gate
            # The merge is judged by the branch's own `promotion:` rules: a PR that relaxes
            # them must not slip past the reviewer.
            if head_params.get("promotion") != (base.get("params") or {}).get("promotion"):
                report.gate = (
                    f"{report.gate} ⚠️ this branch changes the `promotion:` rules it is judged by"
                )
        if report.recent and report.recent["passed"] is not None:  # promotion.recent_max_drop
            report.gate = f"{report.gate or ''}; {report.recent['rule']}".lstrip("; ")
            if report.gate_passed is not False:
                report.gate_passed = bool(report.recent["passed"])
    return report


def promotion_gate(
    repo: Path, head_rev: str | None, params: dict[str, Any]
) -> tuple[str, bool | None] | None:
    """The promotion gate's answer for the head: its summary and whether it passes."""
    from pydantic import ValidationError

    from gitml.config import PromotionConfig
    from gitml.registry import promote

    try:
        # only the `promotion:` section: validating all of Params would import scikit-learn
        cfg = PromotionConfig.model_validate(params.get("promotion") or {})
        if head_rev is None:
            candidate = promote.Evaluation.from_dir(repo / snapshot.FILES["metrics"].parent)
        else:
            candidate = promote.Evaluation.at_rev(repo, snapshot.at_rev(repo, head_rev).commit)
        decision = promote.decide(repo, candidate, cfg)
    except ValidationError:
        raise ConfigError(
            "the promotion section of the head's params.yaml is invalid: run `gitml check-params`"
        ) from None
    except GitmlError as exc:  # no prod evaluation in git, a registry problem: say so, go on
        return f"the promotion gate could not run: {exc}", None
    return str(decision.summary), bool(decision.passed)


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
