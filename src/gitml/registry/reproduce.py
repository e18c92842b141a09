"""Did CI reproduce what was committed? One comparison for `gitml promote` and `gitml verify`.

CI rebuilds the pipeline (`dvc repro --force`) in its workspace; this module compares what it
made with what the commit says: every number of reports/evaluate/metrics.json and slices.json
as committed at REV against the workspace's, and every output md5 of dvc.lock at REV against
the workspace's dvc.lock (which `dvc repro` rewrote for what it built).

How numbers are compared:

- a rate or score (a float) may differ by at most `tolerance`, absolute (the last bits of a
  fit on another CPU move metrics by about 1e-6; see README "Reproducibility");
- a count called `rows` must be equal: another row count is other data, not other last bits;
- any other count (the confusion matrix, a multiclass one cell by cell) is compared as a share
  of metrics.json's `rows`, so one flipped prediction out of 6,513 counts as 1.5e-4, like the
  accuracy it moves;
- a number on one side only, or defined on one side and null on the other, is beyond any
  tolerance.

Future home: gitml/registry/verify.py (the lead's restructure map).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import yaml

from gitml import layout
from gitml.errors import DataError
from gitml.io.files import file_sha256, write_json
from gitml.io.git import read_git_file, resolve_rev

METRICS, SLICES = layout.METRICS, layout.SLICES  # one home: gitml.layout
LOCK = Path("dvc.lock")
VERIFY = layout.VERIFY_REPORT

Number = float | int | None


class MetricRow(TypedDict):
    """A MetricDiff in reports/verify.json and the promotion record."""

    file: str
    key: str
    committed: Number
    reproduced: Number
    difference: float | None
    within: bool


class OutputRow(TypedDict):
    path: str
    committed_md5: str | None
    reproduced_md5: str | None


class ReproductionJson(TypedDict):
    """A Comparison as JSON: `reproduction` of the promotion record, and reports/verify.json
    (with `workspace`), which the PR report (gitml.review) reads."""

    rev: str
    commit: str
    tolerance: float
    compared: int
    ok: bool
    summary: str
    beyond_tolerance: list[MetricRow]
    within_tolerance: list[MetricRow]
    outputs_differ: list[OutputRow]
    workspace: NotRequired[dict[str, str | None]]  # verify.json: sha256 of the files compared


@dataclass(frozen=True)
class MetricDiff:
    """One number that differs between the commit and the workspace."""

    file: str
    key: str  # dotted path inside the file, e.g. columns.gender.values.Female.recall
    committed: Number
    reproduced: Number
    difference: float | None  # as judged: absolute, or a share of rows for counts; None: n/a
    within: bool

    def line(self) -> str:
        def show(x: Number) -> str:
            return "absent/null" if x is None else f"{x:.6g}" if isinstance(x, float) else str(x)

        diff = "" if self.difference is None else f" (difference {self.difference:.3g})"
        return (
            f"{self.key} in {Path(self.file).name}: committed {show(self.committed)}, "
            f"reproduced {show(self.reproduced)}{diff}"
        )


@dataclass(frozen=True)
class OutputDiff:
    """An output whose md5 in the workspace's dvc.lock differs from dvc.lock at REV."""

    path: str
    committed_md5: str | None
    reproduced_md5: str | None


@dataclass(frozen=True)
class Comparison:
    rev: str
    commit: str
    tolerance: float
    compared: int  # how many numbers were compared
    metrics: list[MetricDiff] = field(default_factory=list)  # only the ones that differ
    outputs: list[OutputDiff] = field(default_factory=list)

    @property
    def beyond(self) -> list[MetricDiff]:
        return [m for m in self.metrics if not m.within]

    @property
    def ok(self) -> bool:
        return not self.beyond

    def summary(self) -> str:
        if not self.metrics and not self.outputs:
            return (
                f"CI reproduced {self.commit[:12]} exactly: {self.compared} numbers and every "
                "output md5 agree"
            )
        if self.beyond:
            head = (
                f"{len(self.beyond)} of {self.compared} numbers differ beyond the tolerance "
                f"{self.tolerance:g}"
            )
        elif self.metrics:
            head = (
                f"{len(self.metrics)} of {self.compared} numbers differ, all within the "
                f"tolerance {self.tolerance:g}"
            )
        else:
            head = f"all {self.compared} numbers agree exactly (tolerance {self.tolerance:g})"
        return f"{head}; {len(self.outputs)} output(s) with another md5 than dvc.lock"

    def to_dict(self) -> ReproductionJson:
        def row(m: MetricDiff) -> MetricRow:
            return MetricRow(
                file=m.file,
                key=m.key,
                committed=m.committed,
                reproduced=m.reproduced,
                difference=m.difference,
                within=m.within,
            )

        return {
            "rev": self.rev,
            "commit": self.commit,
            "tolerance": self.tolerance,
            "compared": self.compared,
            "ok": self.ok,
            "summary": self.summary(),
            "beyond_tolerance": [row(m) for m in self.beyond],
            "within_tolerance": [row(m) for m in self.metrics if m.within],
            "outputs_differ": [
                OutputRow(
                    path=o.path, committed_md5=o.committed_md5, reproduced_md5=o.reproduced_md5
                )
                for o in self.outputs
            ],
        }


def _leaves(obj: Any, prefix: str = "") -> dict[str, Number]:
    """Numeric (and null) leaves of a JSON object by dotted key; strings and booleans skipped."""
    out: dict[str, Number] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out |= _leaves(v, f"{prefix}{k}.")
    elif isinstance(obj, list):  # a multiclass confusion matrix: confusion.matrix.ROW.COLUMN
        for i, v in enumerate(obj):
            out |= _leaves(v, f"{prefix}{i}.")
    elif obj is None or (isinstance(obj, int | float) and not isinstance(obj, bool)):
        out[prefix[:-1]] = obj
    return out


def _judge(key: str, a: Number, b: Number, rows: Number, tol: float) -> tuple[float | None, bool]:
    if a is None or b is None:
        return None, a is None and b is None
    if (
        isinstance(a, float)
        and isinstance(b, float)
        and not (math.isfinite(a) and math.isfinite(b))
    ):
        return None, a == b or (math.isnan(a) and math.isnan(b))
    raw = abs(float(b) - float(a))
    if isinstance(a, int) and isinstance(b, int):
        if key.rsplit(".", 1)[-1] == "rows":
            return float(raw), raw == 0
        if isinstance(rows, int) and rows > 0:
            share = round(raw / rows, 12)
            return share, share <= tol
    diff = round(raw, 12)  # not the float noise of the subtraction itself
    return diff, diff <= tol


def compare_numbers(
    file: str, committed: dict[str, Any], reproduced: dict[str, Any], tol: float, rows: Number
) -> tuple[int, list[MetricDiff]]:
    """Every number of one JSON file, committed vs reproduced: (how many, the ones that differ)."""
    a, b = _leaves(committed), _leaves(reproduced)
    diffs = []
    for key in sorted(a.keys() | b.keys()):
        if key not in a or key not in b:
            diffs.append(MetricDiff(file, key, a.get(key), b.get(key), None, False))
            continue
        if a[key] == b[key] and type(a[key]) is type(b[key]):
            continue
        difference, within = _judge(key, a[key], b[key], rows, tol)
        diffs.append(MetricDiff(file, key, a[key], b[key], difference, within))
    return len(a.keys() | b.keys()), diffs


def lock_outs(raw: bytes, where: str) -> dict[str, str | None]:
    """Output path -> md5 of every stage in a dvc.lock."""
    try:
        lock = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise DataError(f"{where} is not valid YAML: {exc}") from None
    outs: dict[str, str | None] = {}
    stages = lock.get("stages", {}) if isinstance(lock, dict) else {}
    for stage in stages.values() if isinstance(stages, dict) else []:
        for out in (stage or {}).get("outs", []) or []:
            if isinstance(out, dict) and "path" in out:
                md5 = out.get("md5")
                outs[str(out["path"])] = None if md5 is None else str(md5)
    return outs


def compare(repo: Path | str, rev: str, tolerance: float) -> Comparison:
    """The workspace (after CI's `dvc repro`) against what REV committed."""
    repo = Path(repo)
    commit = resolve_rev(repo, rev)
    compared = 0
    diffs: list[MetricDiff] = []
    committed_rows: Number = None
    for path in (METRICS, SLICES):
        committed = json_object(read_git_file(repo, commit, path), f"{path} at {rev}")
        try:
            raw = (repo / path).read_bytes()
        except FileNotFoundError:
            raise DataError(
                f"{path}: not in the workspace; run `dvc repro --force` (stage evaluate writes "
                "it) before comparing it with the commit"
            ) from None
        reproduced = json_object(raw, f"{path} in the workspace")
        if path == METRICS:
            rows = committed.get("rows")
            committed_rows = rows if isinstance(rows, int) and not isinstance(rows, bool) else None
        n, found = compare_numbers(
            path.as_posix(), committed, reproduced, tolerance, committed_rows
        )
        compared += n
        diffs += found
    outputs: list[OutputDiff] = []
    try:
        at_rev = lock_outs(read_git_file(repo, commit, LOCK), f"{LOCK} at {rev}")
    except DataError:
        at_rev = {}  # no dvc.lock committed: nothing to compare, the metrics still are
    if (repo / LOCK).is_file():
        here = lock_outs((repo / LOCK).read_bytes(), f"{LOCK} in the workspace")
        for out in sorted(at_rev.keys() | here.keys()):
            if at_rev.get(out) != here.get(out):
                outputs.append(OutputDiff(out, at_rev.get(out), here.get(out)))
    return Comparison(rev, commit, tolerance, compared, diffs, outputs)


def write(repo: Path | str, comparison: Comparison, out: Path = VERIFY) -> Path:
    """The comparison as JSON, with the sha256 of the workspace files it compared, so that a
    reader can tell a verify file of this workspace from a stale one (`is_current`)."""
    target = out if out.is_absolute() else Path(repo) / out
    return write_json(target, comparison.to_dict() | {"workspace": _workspace_hashes(Path(repo))})


def _workspace_hashes(repo: Path) -> dict[str, str | None]:
    return {
        p.as_posix(): file_sha256(repo / p) if (repo / p).is_file() else None
        for p in (METRICS, SLICES)
    }


def is_current(repo: Path | str, verify: ReproductionJson) -> bool:
    """Whether a verify file describes this workspace as it is: written for the checked-out
    commit, from the metrics files the workspace holds now (a later `dvc repro`, a checkout of
    another branch or a hand edit makes it stale)."""
    repo = Path(repo)
    head = resolve_rev(repo, "HEAD")
    return verify.get("commit") == head and verify.get("workspace") == _workspace_hashes(repo)


def load(path: Path) -> ReproductionJson | None:
    """A verify file written by `gitml verify`, or None when there is none (or it is not one:
    a file without every key of the contract)."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(obj, dict) or not ReproductionJson.__required_keys__ <= obj.keys():
        return None
    found: ReproductionJson = obj  # type: ignore[assignment]  # keys checked above
    return found


def json_object(raw: bytes | str, where: str) -> dict[str, Any]:
    """A JSON object from file bytes; DataError naming `where` when it is not one."""
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{where} must hold a JSON object, got {type(obj).__name__}")
    return obj
