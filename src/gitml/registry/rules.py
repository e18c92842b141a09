"""Which rules judge a candidate: `promotion:` as it was before the change, never the candidate's
own (a pull request cannot loosen the gate it is judged by)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from gitml import layout
from gitml.config import PromotionConfig, promotion_of, task_of_params
from gitml.errors import ConfigError, DataError
from gitml.io.git import git, read_git_file
from gitml.registry import versions as registry


@dataclass(frozen=True)
class GateRules:
    """The `promotion:` rules a candidate is judged by, and where they were read."""

    cfg: PromotionConfig
    source: Literal["first parent", "prod", "candidate", "given"]
    commit: str | None  # the commit whose params.yaml they come from
    candidate_changes: bool = False  # the candidate's own `promotion:` differs from them
    note: str = ""


def _promotion_at(repo: Path, rev: str) -> PromotionConfig | None:
    """`promotion:` of params.yaml as committed at `rev`; None when the file is not there."""
    from pydantic import ValidationError

    try:
        raw = read_git_file(repo, rev, layout.PARAMS)
    except DataError:
        return None
    try:
        # the rules for the task that params.yaml names (data.task): its defaults, its metrics
        return promotion_of(yaml.safe_load(raw) or {})
    except (yaml.YAMLError, AttributeError, ValueError) as exc:
        if isinstance(exc, ValidationError):  # name each key and what is wrong with it
            why = "; ".join(
                f"{'.'.join(['promotion', *map(str, e['loc'])])} = {e.get('input')!r}: "
                + e["msg"].removeprefix("Value error, ")
                for e in exc.errors(include_url=False)
            )
        elif isinstance(exc, ValueError):  # a rule naming a metric the task has not
            why = str(exc)
        else:
            why = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        raise ConfigError(
            f"{layout.PARAMS} at {rev[:12]}: its `promotion:` section is not valid for this "
            f"gitml ({why}); fix it on that branch or promote with explicit rules "
            "(`gitml promote --params FILE`)"
        ) from None


def _task_at(repo: Path, rev: str) -> str:
    """`data.task` of params.yaml as committed at `rev` (binary when unset or unreadable)."""
    try:
        params = yaml.safe_load(read_git_file(repo, rev, layout.PARAMS)) or {}
    except (DataError, yaml.YAMLError):
        return "binary"
    return task_of_params(params)


def rules_for(repo: Path | str, commit: str) -> GateRules:
    """The gate's rules come from the base, never from the candidate itself.

    The candidate's first parent (main before the merge); else (a root commit) prod's commit;
    else, for a first version with no history, the candidate's own. A branch that changes
    `promotion:` is judged by the old rules; its rules apply from the next merge on. A commit
    that changes `data.task` (a first own table on the binary template) is judged by its own:
    the base's name another task's metrics, which its model does not have.
    """
    repo = Path(repo)
    own = _promotion_at(repo, commit)
    parent = git(repo, "rev-parse", "--verify", "--quiet", f"{commit}^1", check=False)
    found: tuple[Literal["first parent", "prod"], str, PromotionConfig] | None = None
    if parent:
        cfg = _promotion_at(repo, parent)
        if cfg is not None:
            found = ("first parent", parent, cfg)
    if found is None:
        prod = registry.find_stage(repo)
        if prod is not None:
            cfg = _promotion_at(repo, prod.commit)
            if cfg is not None:
                found = ("prod", prod.commit, cfg)
    if found is None:
        if own is None:
            raise DataError(
                f"no {layout.PARAMS} at {commit[:12]}, its first parent or prod's commit: "
                "there are no `promotion:` rules to judge it by"
            )
        return GateRules(own, "candidate", commit, False, "first version: its own rules apply")
    source, where, cfg = found
    before, now = _task_at(repo, where), _task_at(repo, commit)
    if own is not None and before != now:
        return GateRules(
            own,
            "candidate",
            commit,
            False,
            f"data.task changed from {before} to {now} since its {source} ({where[:12]}): those "
            f"rules name a {before} model's metrics, so this commit's own `promotion:` applies",
        )
    changes = own is not None and own != cfg
    note = (
        f"this commit changes `promotion:`; it is judged by the rules of its {source} "
        f"({where[:12]}), and the new rules apply from the next merge on"
        if changes
        else ""
    )
    return GateRules(cfg, source, where, changes, note)
