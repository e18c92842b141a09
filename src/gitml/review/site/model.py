"""The site's content as plain data: versions, their stage history, gate decisions and files.

`load(repo)` reads everything with the few processes of `gitobjects` and returns a `Site`;
rendering (HTML, charts) is elsewhere. Stage history is replayed from the GTO tags the way GTO
orders them (tag time, then the tag's counter), so the site shows what `gitml registry` shows.

Gate decisions come from the records `gitml promote` keeps as git notes, refusals included
(registry/record.py writes them; decisions.py reads them and decides which tags to trust).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, get_args

import yaml

from gitml import layout
from gitml.contracts.monitoring import MonitoringReport
from gitml.core.metrics import READING_ORDER, TASK_METRICS, SliceMetric, task_of_metrics
from gitml.core.tasks import recorded_task
from gitml.errors import DataError
from gitml.registry.gate import RuleResult
from gitml.registry.record import NOTES_REF
from gitml.registry.versions import ARTIFACT, PROD
from gitml.review.site import gitobjects
from gitml.review.site.decisions import Decision, github_url, read_decisions
from gitml.review.site.gitobjects import CommitInfo, TagRecord
from gitml.review.site.monitoring import MONITORING, load_monitoring

# binary's order first, then the other tasks' names (a version shows those it has)
METRIC_ORDER = tuple(
    dict.fromkeys((*READING_ORDER, *TASK_METRICS["multiclass"], *TASK_METRICS["regression"]))
)
SLICE_METRICS: tuple[str, ...] = get_args(SliceMetric)  # what the gate's max_slice_gap compares
PLOTS = layout.EVALUATE_DIR / "plots" / "sklearn"
# name -> path of the small files every version committed (`cache: false` in dvc.yaml)
FILES: dict[str, Path] = {
    "metrics": layout.METRICS,
    "slices": layout.SLICES,
    "importance": layout.EVALUATE_DIR / "importance.csv",
    "roc": PLOTS / "roc.json",
    "pr": PLOTS / "precision_recall.json",
    "calibration": PLOTS / "calibration.json",
    "params": layout.PARAMS,
    "lock": Path("dvc.lock"),
    "model": layout.MODEL_META,
}
_RULE = re.compile(r"^(PASS|FAIL) (.+?): (.*)$")  # rule names hold colons, not ": "
_VS_PROD = re.compile(r"\bvs prod (\S+?)[;:,)]?(?:\s|$)")
_ROLLBACK = re.compile(r"^rollback: prod \S+?@(\S+) -> (\S+)")


@dataclass(frozen=True)
class Event:
    """One stage tag or registration, as the registry page lists it."""

    kind: str  # registered | promoted | superseded | rolled back to | rolled back from | ...
    version: str
    stage: str | None
    tag: str
    who: str
    when: datetime | None
    commit: str
    message: str

    @property
    def reason(self) -> str:
        """A rollback's reason (the `reason:` paragraph of its tag message)."""
        _, found, rest = self.message.partition("\nreason:")
        return rest.strip() if found else ""

    @property
    def rollback(self) -> tuple[str, str] | None:
        """(from version, to version) of a rollback event."""
        m = _ROLLBACK.match(self.message)
        return (m[1], m[2]) if m else None


@dataclass
class Version:
    version: str
    commit: str
    registered_at: datetime | None
    registered_by: str
    message: str
    commit_info: CommitInfo | None = None
    registered_email: str = ""
    record: Decision | None = None  # the promote record that registered it (git notes)
    provenance: str = "unverified"  # ci | local | unverified | no-records (none in the clone)
    provenance_note: str = ""
    stages: tuple[str, ...] = ()  # held now
    events: list[Event] = field(default_factory=list)
    summary: str = ""  # the gate's PROMOTE/REFUSE line
    rules: list[RuleResult] = field(default_factory=list)
    files: dict[str, Any] = field(default_factory=dict)  # name (FILES) -> parsed content
    problems: list[str] = field(default_factory=list)  # files present but unreadable

    @property
    def in_prod(self) -> bool:
        return PROD in self.stages

    @property
    def slug(self) -> str:
        return slug(self.version)

    @property
    def metrics(self) -> dict[str, Any]:
        m = self.files.get("metrics")
        return m if isinstance(m, dict) else {}

    @property
    def task(self) -> str:
        """binary | multiclass | regression, as the version recorded it: models/model.json
        (binary leaves it out), else params.yaml's data.task; told by its metric names only for
        a version with neither file (older ones)."""
        recorded = recorded_task(self.files.get("model"), self.files.get("params"))
        return str(recorded) if recorded is not None else task_of_metrics(self.metrics)

    def metric(self, name: str) -> float | None:
        x = self.metrics.get(name)
        return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None

    @property
    def judged_against(self) -> str | None:
        """The version that was prod when the gate judged this one (what it was compared to)."""
        if self.record is not None:
            return self.record.prod_version
        m = _VS_PROD.search(self.summary)
        return m[1] if m else None

    @property
    def rolled_back(self) -> Event | None:
        """The rollback that took prod away from this version, if that is how it left."""
        prod_events = [e for e in self.events if e.stage == PROD]
        last = prod_events[-1] if prod_events else None
        return last if last is not None and last.kind == "rolled back from" else None


@dataclass
class Site:
    repo: Path
    primary: str
    slice_min_rows: int
    versions: list[Version]  # oldest first
    events: list[Event]  # every registry event, oldest first
    monitoring: MonitoringReport | None = None
    monitoring_source: str = ""
    monitoring_history: list[MonitoringReport] = field(default_factory=list)  # oldest first
    head: CommitInfo | None = None
    decisions: list[Decision] = field(default_factory=list)  # every record, oldest first
    github: str | None = None  # https://github.com/OWNER/REPO when the remote is GitHub

    @property
    def prod(self) -> Version | None:
        return next((v for v in reversed(self.versions) if v.in_prod), None)

    def previous(self, v: Version) -> Version | None:
        i = self.versions.index(v)
        return self.versions[i - 1] if i > 0 else None

    def version(self, name: str | None) -> Version | None:
        return next((v for v in self.versions if v.version == name), None)

    def baseline(self, v: Version) -> Version | None:
        """What a version page compares with: the prod version the gate judged it against
        (not the previous number, which may be a version rolled back since)."""
        against = v.judged_against
        if against is not None or v.record is not None:
            return self.version(against)
        return self.previous(v)

    @property
    def refusals(self) -> list[Decision]:
        return [d for d in self.decisions if d.outcome != "promoted"]


def slug(version: str) -> str:
    """A version's page name (versions/SLUG.html)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", version)


def _semver_key(version: str) -> Any:
    from gto.versions import SemVer

    return SemVer(version)


# libyaml's parser when PyYAML has it: the pure-Python one takes ~70 ms per params.yaml
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse_file(name: str, raw: bytes) -> Any:
    path = FILES[name]
    if path.suffix == ".csv":
        return list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    if path.suffix in (".yaml", ".lock") or path.name == "dvc.lock":
        return yaml.load(raw, Loader=_YAML_LOADER) or {}
    return json.loads(raw)


def _rules(message: str) -> tuple[str, list[RuleResult]]:
    summary = next((x for x in message.splitlines() if x.startswith(("PROMOTE", "REFUSE"))), "")
    rules = []
    for line in message.splitlines():
        m = _RULE.match(line)
        if m:
            rules.append(RuleResult(m[2], None, None, m[1] == "PASS", m[3]))  # no numbers in a tag
    return summary, rules


def _event_kind(action: str, stage: str, message: str) -> str:
    first = message.splitlines()[0] if message else ""
    if first.startswith("rollback:"):
        return "rolled back to" if action == "assign" else "rolled back from"
    if action == "assign":
        return "promoted" if stage == PROD else f"assigned to {stage}"
    if "superseded" in first:
        return "superseded"
    return f"left {stage}"


def replay(tags: list[TagRecord]) -> tuple[dict[str, Version], list[Event]]:
    """Versions and events from the GTO tags of ARTIFACT, in GTO's order (time, counter)."""
    from gto.tag import parse_name

    parsed = []
    for t in tags:
        p = parse_name(t.name, raise_on_fail=False) or {}
        if p.get("name") == ARTIFACT and t.annotated:  # GTO ignores lightweight tags
            parsed.append((t, p))
    versions: dict[str, Version] = {}
    by_commit: dict[str, str] = {}
    for t, p in parsed:
        if p["action"].value == "register":
            summary, rules = _rules(t.message)
            versions[p["version"]] = Version(
                p["version"], t.commit, t.when, t.tagger, t.message, summary=summary, rules=rules,
                registered_email=t.email.strip("<>"),
            )  # fmt: skip
            by_commit[t.commit] = p["version"]
    for _, p in parsed:
        if p["action"].value == "deregister":
            versions.pop(p["version"], None)
    events: list[Event] = []
    state: dict[tuple[str, str], bool] = {}
    order = sorted(
        parsed,
        key=lambda tp: (tp[0].when.timestamp() if tp[0].when else 0.0, tp[1].get("counter", -1)),
    )
    for t, p in order:
        action = p["action"].value
        if action == "register":
            version = p["version"]
            if version not in versions:
                continue
            ev = Event("registered", version, None, t.name, t.tagger, t.when, t.commit, t.message)
        elif action in ("assign", "unassign"):
            version = by_commit.get(t.commit, "")
            if version not in versions:
                continue
            stage = p["stage"]
            state[(version, stage)] = action == "assign"
            kind = _event_kind(action, stage, t.message)
            ev = Event(kind, version, stage, t.name, t.tagger, t.when, t.commit, t.message)
        else:
            continue
        events.append(ev)
        versions[version].events.append(ev)
    # A stage holds one version, the latest assigned (GTO's default; gitml also unassigns the
    # old one explicitly, but a hand-made `gto assign` may not).
    holder: dict[str, str] = {}
    for ev in events:
        assigned = ev.kind in ("promoted", "rolled back to") or ev.kind.startswith("assigned")
        if ev.stage and assigned and state.get((ev.version, ev.stage)):
            holder[ev.stage] = ev.version
    for v in versions.values():
        v.stages = tuple(sorted(s for s, ver in holder.items() if ver == v.version))
    return versions, events


def _settings(params: Any) -> tuple[str, int]:
    promotion = params.get("promotion") if isinstance(params, dict) else None
    promotion = promotion if isinstance(promotion, dict) else {}
    from gitml.config.task_rules import primary_of

    return primary_of(params), int(promotion.get("slice_min_rows") or 100)


def load(repo: Path) -> Site:
    """Everything the site shows, read from `repo`'s git objects (and the workspace's
    monitoring report, which is not committed by default)."""
    repo = Path(repo)
    tags = gitobjects.list_tags(repo, [f"refs/tags/{ARTIFACT}@*", f"refs/tags/{ARTIFACT}#*"])
    found, events = replay(tags)
    versions = sorted(found.values(), key=lambda v: _semver_key(v.version))
    notes = gitobjects.list_notes(repo, NOTES_REF)
    requests = ["HEAD", f"HEAD:{FILES['params'].as_posix()}", f"HEAD:{MONITORING.as_posix()}"]
    requests += [blob for blob, _ in notes] + [commit for _, commit in notes]
    for v in versions:
        requests.append(v.commit)
        requests += [f"{v.commit}:{p.as_posix()}" for p in FILES.values()]
    shas: dict[str, str] = {}
    blobs = gitobjects.cat_files(repo, requests, shas)
    parsed: dict[str, Any] = {}  # blob id -> content: a file unchanged between versions once
    for v in versions:
        raw_commit = blobs.get(v.commit)
        if raw_commit is not None:
            v.commit_info = gitobjects.parse_commit(v.commit, raw_commit)
        for name, path in FILES.items():
            request = f"{v.commit}:{path.as_posix()}"
            raw = blobs.get(request)
            if raw is None:
                continue
            blob = shas.get(request, request)
            try:
                if blob not in parsed:
                    parsed[blob] = _parse_file(name, raw)
                v.files[name] = parsed[blob]
            except (ValueError, yaml.YAMLError, UnicodeDecodeError) as exc:
                v.problems.append(f"{path} at {v.commit[:12]} is unreadable: {exc}")
    head_raw = blobs.get("HEAD")
    head = gitobjects.parse_commit(shas["HEAD"], head_raw) if head_raw else None
    params: Any = {}
    workspace_params = repo / FILES["params"]
    try:
        if workspace_params.is_file():
            params = yaml.load(workspace_params.read_text(), Loader=_YAML_LOADER) or {}
        elif blobs.get(f"HEAD:{FILES['params'].as_posix()}"):
            params = (
                yaml.load(blobs[f"HEAD:{FILES['params'].as_posix()}"] or b"", Loader=_YAML_LOADER)
                or {}
            )
    except yaml.YAMLError as exc:
        raise DataError(
            f"{workspace_params}: not valid YAML ({exc}); run `gitml check-params`"
        ) from None
    primary, min_rows = _settings(params)
    decisions = read_decisions(notes, blobs)
    use_records(versions, decisions)
    site = Site(repo, primary, min_rows, versions, events, head=head, decisions=decisions)
    site.github = github_url(decisions, gitobjects.remote_url(repo))
    site.monitoring, site.monitoring_source, site.monitoring_history = load_monitoring(
        repo, blobs.get(f"HEAD:{MONITORING.as_posix()}")
    )
    return site


def use_records(versions: list[Version], decisions: list[Decision]) -> None:
    """Each version's gate decision from the record that registered it (its rules carry the
    values and thresholds), and whether its tag can be trusted: a record for this commit and
    version, written by the tag's tagger; made by a CI run or not."""
    if not decisions:  # a clone without the notes (not fetched): nothing can be checked
        for v in versions:
            v.provenance = "no-records"
            v.provenance_note = (
                "this clone holds no decision records (fetch them: git fetch origin "
                f"{NOTES_REF}:{NOTES_REF}), so the tag's message is shown unchecked"
            )
        return
    for v in versions:
        mine = [d for d in decisions if d.commit == v.commit and d.outcome == "promoted"]
        record = next((d for d in reversed(mine) if d.version == v.version), None)
        if record is None:
            v.provenance = "unverified"
            v.provenance_note = (
                "no decision record for this commit: the tag was not made by gitml promote "
                "(or its record was not pushed), so its message is unchecked text"
            )
            continue
        if record.decided_email != v.registered_email:
            v.provenance = "unverified"
            v.provenance_note = (
                f"tagged by {v.registered_by} <{v.registered_email}>, but the gate's record was "
                f"written by {record.decided_by} <{record.decided_email}>"
            )
            continue
        v.record = record
        v.rules = record.rules
        v.summary = record.summary or v.summary
        if record.by_ci:
            v.provenance = "ci"
            v.provenance_note = f"decided by the {record.workflow or 'CI'} workflow run"
        else:
            v.provenance = "local"
            v.provenance_note = (
                f"decided by gitml promote run by {record.decided_by} outside CI, not by the "
                "promote workflow"
            )
