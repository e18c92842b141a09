"""`gitml promote`: judge CI's reproduced numbers with the base's rules and, on a pass, register
the next version and move `prod` to it."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from gitml import layout
from gitml.config import PromotionConfig
from gitml.errors import ConfigError, DataError, GitmlError
from gitml.io import github as github_io
from gitml.io.git import git, resolve_rev
from gitml.registry import canary, reproduce, servable
from gitml.registry import versions as registry
from gitml.registry.gate import Evaluation, GateDecision, RuleResult, decide
from gitml.registry.options import Bump
from gitml.registry.record import (
    NOTED,
    NOTES_REF,
    PromotionResult,
    notes_head,
    reset_notes,
    write_record,
)
from gitml.registry.rules import GateRules, rules_for
from gitml.registry.tags import (
    REMOTE,
    SHA256_LABEL,
    delete_tags,
    publish,
    register_into,
    require_remote,
    tag_message,
)

NOTES_FETCHED = "refs/notes/gitml/decisions-origin"  # the remote's notes, before the merge
FIRST_VERSION = "v0.1.0"  # 0.x: the model's interface may still change; see README


BUMPS = tuple(Bump)


def next_version(repo: Path, bump: str = "minor") -> str:
    """The version a promotion registers: FIRST_VERSION, then the latest one bumped."""
    from gto.versions import SemVer

    if bump not in BUMPS:
        raise ConfigError(f"--bump {bump!r}: use one of {', '.join(BUMPS)}")
    versions = registry.list_versions(repo)
    if not versions:
        return FIRST_VERSION
    return str(
        SemVer(versions[0].version)
        .bump(bump_major=bump == "major", bump_minor=bump == "minor", bump_patch=bump == "patch")
        .version
    )


def _reproduction_rule(comparison: reproduce.Comparison) -> RuleResult:
    beyond = comparison.beyond
    if beyond:
        detail = (
            "the committed numbers are not what CI reproduced: "
            + "; ".join(m.line() for m in beyond[:5])
            + (f"; and {len(beyond) - 5} more" if len(beyond) > 5 else "")
            + f" (tolerance {comparison.tolerance:g})"
        )
        worst = max((m.difference for m in beyond if m.difference is not None), default=None)
        return RuleResult("reproduced", worst, comparison.tolerance, False, detail)
    worst = max((m.difference or 0.0 for m in comparison.metrics), default=0.0)
    return RuleResult("reproduced", worst, comparison.tolerance, True, comparison.summary())


def _with_reproduction(decision: GateDecision, rule: RuleResult) -> GateDecision:
    """The gate's decision with the reproduction check as its first rule."""
    rules = [rule, *decision.rules]
    if rule.passed:
        n_ok = sum(r.passed for r in rules)
        summary = decision.summary.replace(
            f"{n_ok - 1}/{len(rules) - 1} rules pass", f"{n_ok}/{len(rules)} rules pass"
        )
        return replace(decision, rules=rules, summary=summary)
    summary = f"REFUSE: {rule.detail}; the gate on CI's numbers alone: {decision.summary}"
    return replace(decision, passed=False, rules=rules, summary=summary)


def with_reproduction(
    decision: GateDecision, comparison: reproduce.Comparison | None
) -> GateDecision:
    """The decision as `gitml promote` records it: with CI's reproduction check as its first
    rule when the workspace was compared with the commit. The PR report applies it too, so both
    count the same rules."""
    if comparison is None:
        return decision
    return _with_reproduction(decision, _reproduction_rule(comparison))


def promote(
    repo: Path,
    cfg: PromotionConfig | None = None,
    ref: str = "HEAD",
    *,
    push: bool = False,
    dry_run: bool = False,
    bump: str = "minor",
) -> PromotionResult:
    """Gate the candidate at `ref` against prod; on a pass, register it and assign `prod`.

    `cfg` None (what `gitml promote` passes): the rules of the base, see `rules_for`. When `ref`
    is the checked-out commit, the workspace is taken as CI's reproduction of it: its numbers
    are compared with the committed ones (refused beyond `reproduce_tolerance`), the gate judges
    the reproduced numbers, and the workspace model's sha256 goes into the tags and the record.
    """
    repo = Path(repo)
    if bump not in BUMPS:
        raise ConfigError(f"--bump {bump!r}: use one of {', '.join(BUMPS)}")
    if push and not dry_run:
        require_remote(repo)
    commit = resolve_rev(repo, ref)
    rules = GateRules(cfg, "given", None) if cfg is not None else rules_for(repo, commit)
    if push and not dry_run:
        fetch_notes(repo)  # this decision's note is added to every earlier one
    notes_before = notes_head(repo)
    tags_before = set(git(repo, "tag", "--list").split())
    result = _promote(repo, rules, ref, commit, dry_run=dry_run, bump=bump)
    result = replace(result, rules=rules, pushed=push and result.outcome == "promoted")
    result = replace(result, record=write_record(repo, result, rules.cfg, ref))
    if push and result.outcome in NOTED:
        # the tags and the decision note in one atomic push: no version without its record
        try:
            publish(repo, [*result.tags, NOTES_REF], dvc_push=result.outcome == "promoted")
        except GitmlError:
            # every tag this run made goes, and its note: the local registry stays the remote's
            delete_tags(repo, sorted(set(git(repo, "tag", "--list").split()) - tags_before))
            reset_notes(repo, notes_before)
            raise
    write_outputs(result)
    return result


def fetch_notes(repo: Path) -> None:
    """The remote's decision notes merged into the local ones, so that the new note is pushed
    on top of every earlier decision. Local notes the remote lacks (a `gitml promote` without
    --push) are kept: the two note histories are merged line by line (cat_sort_uniq: each
    record is one JSON line, and the site orders them by their timestamp)."""
    proc = subprocess.run(
        ["git", "fetch", "--no-tags", REMOTE, f"+{NOTES_REF}:{NOTES_FETCHED}"],
        cwd=repo, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        if "couldn't find remote ref" in proc.stderr:
            return  # no decision pushed yet
        raise DataError(
            f"fetching the decision records ({NOTES_REF}) from {REMOTE}: {proc.stderr.strip()}"
        )
    if not notes_head(repo):
        git(repo, "update-ref", NOTES_REF, NOTES_FETCHED)
        return
    git(repo, "notes", f"--ref={NOTES_REF}", "merge", "-q", "-s", "cat_sort_uniq", NOTES_FETCHED)


def write_outputs(result: PromotionResult) -> None:
    """`promoted`, `version`, `tag`, `sha256`, `stage` (prod or canary) for the next job
    (when $GITHUB_OUTPUT is set)."""
    promoted = result.outcome == "promoted"
    github_io.write_outputs(
        {
            "promoted": "true" if promoted else "false",
            "version": result.version if promoted and result.version else "",
            "tag": f"{registry.ARTIFACT}@{result.version}" if promoted and result.version else "",
            "sha256": result.model_sha256 or "",
            "stage": result.stage if promoted else "",
        }
    )


def _promote(
    repo: Path,
    rules: GateRules,
    ref: str,
    commit: str,
    *,
    dry_run: bool,
    bump: str,
) -> PromotionResult:
    cfg = rules.cfg
    prod = registry.find_stage(repo)
    early = _already_decided(repo, ref, commit, prod)
    if early is not None:
        return early
    reproduced = resolve_rev(repo, "HEAD") == commit
    candidate, comparison, sha256 = _candidate(
        repo, commit, reproduced, cfg.reproduce_tolerance, ref
    )
    decision = with_reproduction(decide(repo, candidate, cfg), comparison)
    notes = [rules.note] if rules.note else []
    if not reproduced:
        recorded = (
            "the sha256 recorded is that of the model its dvc.lock names, found here"
            if sha256
            else "its dvc.lock names no model, so no sha256 is recorded"
        )
        notes.append(
            f"{ref} is not the checked-out commit, so nothing was reproduced: the gate judged "
            f"the numbers as committed, and {recorded} (CI promotes HEAD after "
            "`dvc repro --force`)"
        )
    version = next_version(repo, bump)
    identity = servable.model_identity(repo, commit)
    base = PromotionResult(
        "refused", decision, commit, None, model_sha256=sha256, reproduction=comparison,
        note="; ".join(notes), identity=identity,
    )  # fmt: skip
    same = (
        servable.same_as_prod(repo, prod, sha256, identity)
        if (comparison is None or comparison.ok) and prod is not None and identity is not None
        else None
    )
    if same is not None:
        assert prod is not None
        return replace(
            base,
            outcome="unchanged",
            note="; ".join(
                [
                    *notes,
                    f"the model at {ref} and its metadata are those of prod {prod.version} "
                    f"({same}): no new version",
                ]
            ),
        )
    if not decision.passed:
        return base
    if dry_run:
        return replace(
            base,
            outcome="dry-run",
            version=version,
            note="; ".join([*notes, f"would register {version}"]),
        )
    # merge -> canary -> prod: prod stays until `gitml canary decide`; the first version (no prod
    # to compare a canary with) goes straight to prod
    if cfg.canary.enabled and prod is not None:
        message = _tag_message(version, commit, base, rules, canary.CANARY)
        tags = canary.register_canary(repo, version, commit, message)
        return replace(base, outcome="promoted", version=version, tags=tags, stage=canary.CANARY)
    message = _tag_message(version, commit, base, rules)
    tags = _register(repo, version, commit, message, prod, decision)
    return replace(base, outcome="promoted", version=version, tags=tags)


def _already_decided(
    repo: Path, ref: str, commit: str, prod: registry.ModelVersion | None
) -> PromotionResult | None:
    """A commit registered before (in prod: nothing to do; not in prod: rollback is the way), or
    an ancestor of prod (a re-run of an old promote run): no gate to run."""
    existing = next((v for v in registry.list_versions(repo) if v.commit == commit), None)
    if existing is not None:
        if canary.CANARY in existing.stages:  # a re-run after the canary was assigned
            return PromotionResult(
                "already-canary", None, commit, existing.version, stage=canary.CANARY,
                note=f"{ref} is already {registry.ARTIFACT}@{existing.version}, in canary",
            )  # fmt: skip
        if registry.PROD in existing.stages:
            return PromotionResult(
                "already-prod",
                None,
                commit,
                existing.version,
                note=f"{ref} is already {registry.ARTIFACT}@{existing.version}, in prod",
            )
        raise DataError(
            f"{ref} ({commit[:12]}) is already registered as {registry.ARTIFACT}@"
            f"{existing.version}; to put it back in prod run `gitml rollback --to "
            f"{existing.version}`"
        )
    if prod is not None and _is_ancestor(repo, commit, prod.commit):
        return PromotionResult(
            "superseded",
            None,
            commit,
            None,
            note=f"{ref} ({commit[:12]}) is an ancestor of prod {registry.ARTIFACT}@"
            f"{prod.version} ({prod.commit[:12]}): prod already holds a newer commit, so an "
            "older one is not registered (a re-run of an old promote run?). To go back to an "
            "older version use `gitml rollback --to VERSION`",
        )
    return None


def _candidate(
    repo: Path, commit: str, reproduced: bool, tolerance: float, ref: str
) -> tuple[Evaluation, reproduce.Comparison | None, str | None]:
    """(the numbers the gate judges, the reproduction check, the model's sha256): the
    workspace's, CI's own, when `commit` is checked out; else the committed ones. Either way
    the model must be one this workspace can serve (gitml.registry.servable)."""
    if not reproduced:
        sha256 = servable.committed_sha256(repo, commit, ref)
        return Evaluation.at_rev(repo, commit), None, sha256
    comparison = reproduce.compare(repo, commit, tolerance)
    sha256 = servable.judged_sha256(repo, commit, ref)
    return Evaluation.from_dir(repo / layout.EVALUATE_DIR, repo), comparison, sha256


def _tag_message(
    version: str, commit: str, base: PromotionResult, rules: GateRules, stage: str = registry.PROD
) -> str:
    identity = base.identity or {}
    extra = [
        f"candidate {commit}; model md5 {identity.get(layout.MODEL.as_posix()) or '-'}; "
        f"metadata md5 {identity.get(layout.MODEL_META.as_posix()) or '-'}"
    ]
    if base.model_sha256:
        extra.append(f"{SHA256_LABEL} {base.model_sha256}")
    if rules.source != "given":
        extra.append(f"rules: promotion: of the {rules.source} ({(rules.commit or '')[:12]})")
    if rules.note:
        extra.append(rules.note)
    if base.reproduction is not None:
        extra.append(f"reproduction: {base.reproduction.summary()}")
    assert base.decision is not None
    title = f"{registry.ARTIFACT}@{version}: promoted to {stage}"
    return tag_message(title, base.decision, "\n".join(extra))


def _register(
    repo: Path,
    version: str,
    commit: str,
    message: str,
    prod: registry.ModelVersion | None,
    decision: GateDecision,
) -> list[str]:
    """Register `version` at `commit` and move prod to it (the old prod leaves explicitly); the
    tags made, all deleted again when one fails."""
    leaving = prod.version if prod is not None else None
    why = (
        f"{registry.ARTIFACT}@{leaving} leaves prod: superseded by {version}\n\n{decision.summary}"
    )
    return register_into(repo, version, commit, message, registry.PROD, leaving, why)


def _is_ancestor(repo: Path, commit: str, of: str) -> bool:
    """`commit` is `of` or one of its ancestors."""
    proc = subprocess.run(
        ["git", "merge-base", "--is-ancestor", commit, of], cwd=repo, capture_output=True
    )
    return proc.returncode == 0
