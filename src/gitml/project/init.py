"""`gitml init DATA --target COL`: a reviewed starting point for your own table.

Profiles a bounded sample of the file (project/profile.py) and writes:
- params.yaml `data:` (source, delimiter, encoding, target, positive class, drop_columns with a
  comment saying why each column is dropped), `validate:` thresholds measured on the data with
  headroom and `validate.schema_file`, `split.time_column`, `features.derived` limited to the
  features whose inputs exist, and `evaluate.slices`;
- the schema draft (the data contract) at the path validate.schema_file names.
Every other key of params.yaml, and its comments, are kept (ruamel.yaml round-trips them).
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from gitml.config import DEFAULT_PARAMS, format_validation_error, read_yaml
from gitml.core import labels, schema
from gitml.core.features import REGISTRY
from gitml.core.names import normalise_name
from gitml.errors import ConfigError, DataError
from gitml.io.files import write_atomic
from gitml.project import profile

SENSITIVE = re.compile(
    r"(^|_)(sex|gender|race|ethnic(ity)?|age_(group|band|bucket|range)|religion|nationality|"
    r"disab(led|ility)|marital(_status)?)($|_)"
)
MAX_SLICE_VALUES = 10
MAX_SLICES = 3
TEMPLATE_SOURCE = "builtin:adult"  # a params.yaml still on the template's data is not reviewed
POSITIVE_WORDS = {"1", "true", "yes", "y", "positive", "pos"}
COMMENT_COLUMN = 33  # where params.yaml's end-of-line comments start


@dataclass
class Decision:
    key: str  # params key (or file) decided
    value: str
    why: str


@dataclass
class InitResult:
    params_path: Path
    schema_path: Path
    decisions: list[Decision] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unchanged: bool = False  # both files already held this draft: a re-run was a no-op


def _ceil(x: float, digits: int = 2) -> float:
    return math.ceil(x * 10**digits) / 10**digits


def _floor(x: float, digits: int = 3) -> float:
    return math.floor(x * 10**digits) / 10**digits


def choose_positive(values: list[str], asked: str | None) -> tuple[labels.PositiveClass, str]:
    """The positive class as params.yaml will hold it, and why."""
    if len(values) != 2:
        shown = sorted(values[:10]) + (["…"] if len(values) > 10 else [])
        raise DataError(
            f"--target: the column has {len(values)} label(s) {shown}; gitml predicts a yes/no "
            "outcome, so the target needs exactly two (recode it, or pick another column)"
        )
    if asked is not None:
        hits = [v for v in values if labels.matches(v, asked)]
        if not hits:
            raise ConfigError(
                f"--positive-class {asked!r} is not a value of the target; "
                f"{labels.did_you_mean(values, asked)}"
            )
        return labels.yaml_value(hits[0]), "named by --positive-class"
    named = [v for v in values if v.strip().lower() in POSITIVE_WORDS]
    if len(named) == 1:
        return labels.yaml_value(
            named[0]
        ), f"{named[0]!r} reads as yes (--positive-class to change)"
    # values are most frequent first: the rarer label is what one usually wants to find
    return labels.yaml_value(values[-1]), "the rarer label (--positive-class to change)"


def pick_slices(frame: Any, candidates: list[profile.Column]) -> tuple[list[str], str]:
    low = [
        c
        for c in candidates
        if 2 <= c.distinct <= MAX_SLICE_VALUES
        and (c.kind == "categorical" or profile.integral(frame[c.name]))
    ]
    sensitive = [c.name for c in low if SENSITIVE.search(c.name)]
    if sensitive:
        return sensitive[:MAX_SLICES], "sensitive attributes (fairness gaps are gated)"
    ranked = sorted(low, key=lambda c: (c.distinct, c.name))
    if ranked:
        return [c.name for c in ranked[:2]], (
            f"no sensitive attribute found; the lowest-cardinality categoricals (≤ "
            f"{MAX_SLICE_VALUES} values)"
        )
    return [], f"no column with 2 to {MAX_SLICE_VALUES} values: no slices"


def _load_params(path: Path) -> tuple[YAML, CommentedMap]:
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 100
    rt.indent(mapping=2, sequence=2, offset=0)  # as DVC writes it: `dvc exp run -S` keeps the rest
    # No representer for None: ruamel's add_representer changes the class for every YAML in the
    # process (DVC's too), and its default (an empty value) is what `dvc exp run -S` writes.
    if not path.exists():
        return rt, CommentedMap()
    doc = rt.load(path.read_text(encoding="utf-8"))
    return rt, doc if isinstance(doc, CommentedMap) else CommentedMap()


def _section(doc: CommentedMap, name: str) -> CommentedMap:
    if not isinstance(doc.get(name), CommentedMap):
        doc[name] = CommentedMap()
    return doc[name]


def _set(section: CommentedMap, key: str, value: Any, why: str | None = None) -> None:
    """Set a key; its end-of-line comment (the template's, about Adult) becomes `why`."""
    section[key] = value
    section.ca.items.pop(key, None)
    if why:
        section.yaml_add_eol_comment(why, key, column=COMMENT_COLUMN)


def _dump(rt: YAML, doc: CommentedMap) -> str:
    buf = io.StringIO()
    rt.dump(doc, buf)
    # one blank line before each section, whatever comments the edits moved
    text = re.sub(r"\n+(?=[A-Za-z_]+:)", "\n\n", buf.getvalue())
    return text.lstrip("\n")


def _flow(items: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def run(
    data: str,
    target: str,
    positive_class: str | None = None,
    ids: list[str] | None = None,
    time_column: str | None = None,
    force: bool = False,
    params_path: Path = DEFAULT_PARAMS,
    schema_path: Path | None = None,
    max_rows: int = profile.MAX_ROWS,
) -> InitResult:
    rt, doc = _load_params(params_path)
    stem = normalise_name(re.sub(r"(\.[A-Za-z0-9]+)+$", "", Path(data).name)) or "data"
    schema_path = schema_path or Path("schema") / f"{stem}.schema.yaml"
    source_before = (doc.get("data") or {}).get("source", TEMPLATE_SOURCE)
    sample = profile.read_sample(data, target, max_rows)
    frame, tgt = sample.frame, normalise_name(target)
    time = _time_and_ids(frame, time_column, ids)
    values = [str(v) for v in frame[tgt].dropna().value_counts().index]
    positive, positive_why = choose_positive(values, positive_class)

    columns = profile.profile(frame, tgt, {time} if time else set(), set(ids or []))
    dropped = [c for c in columns if c.drop_reason]
    kept = [c for c in columns if not c.drop_reason]
    kept_frame = frame[[c.name for c in kept] + [tgt]]
    result = InitResult(params_path, schema_path)
    d = result.decisions
    where = f"first {sample.rows} rows" if sample.truncated else f"all {sample.rows} rows"
    d.append(Decision("data.source", data, f"profiled {where}"))
    d.append(Decision("data.delimiter", repr(sample.delimiter), "detected (csv.Sniffer)"))
    d.append(Decision("data.encoding", sample.encoding, "the first that decodes the file"))
    d.append(Decision("data.target", tgt, f"labels {sorted(values)}"))
    d.append(Decision("data.positive_class", repr(positive), positive_why))
    for c in dropped:
        d.append(Decision("data.drop_columns", c.name, c.drop_reason or ""))
    rate = float(labels.is_positive(frame[tgt], positive).mean())
    limits = _Limits.measure(kept, kept_frame, rate, sample.rows, time)
    d += limits.decisions(schema_path)
    if time:
        d.append(Decision("split.time_column", time, "named by --time: test = the latest rows"))
    derived = _derived(kept, d)
    slices, slices_why = pick_slices(frame, [c for c in kept if c.name != time])
    d.append(Decision("evaluate.slices", str(slices), slices_why))

    draft, warnings = schema.infer(
        kept_frame, tgt, limits.max_categories, frozenset({time} if time else ())
    )
    text = draft.to_yaml() or ""
    if sample.truncated:
        warnings.append(
            "profiled a sample: numeric ranges and category lists are those of the sample "
            "(ranges widened by 10%); review them"
        )
    result.warnings = warnings
    why = {x.key: x.why for x in d}
    data_values = {
        "source": data,
        "target": tgt,
        "positive_class": positive,
        "delimiter": sample.delimiter,
        "encoding": sample.encoding,
    }
    _edit_data(doc, data_values, dropped, why)
    _edit_validate(doc, limits.settings(schema_path), why)
    split = _section(doc, "split")
    _set(split, "time_column", time, why.get("split.time_column"))
    if time:
        _set(split, "group_column", None)
    _set(_section(doc, "features"), "derived", _flow(derived), why["features.derived"])
    _set(_section(doc, "evaluate"), "slices", _flow(slices), why["evaluate.slices"])
    text_params = _dump(rt, doc)
    _check(text_params, params_path)
    drafts = {schema_path: schema.HEADER + text, params_path: text_params}
    result.unchanged = _write_drafts(
        drafts, params_path, source_before if not force else None, data
    )
    return result


def _write_drafts(
    drafts: dict[Path, str], params_path: Path, source_before: str | None, data: str
) -> bool:
    """Write the drafts (schema first); `source_before` None: --force, replace them anyway.
    True when every file already held its draft (nothing written)."""
    if source_before is not None:
        _refuse_to_overwrite(drafts, params_path, source_before, data)
    same = {p for p, text in drafts.items() if p.is_file() and p.read_text("utf-8") == text}
    for path, text in drafts.items():
        if path not in same:
            write_atomic(path, text)
    return len(same) == len(drafts)


def _refuse_to_overwrite(
    drafts: dict[Path, str], params_path: Path, source_before: str, data: str
) -> None:
    """A file a person may have reviewed is replaced only with --force, unless the new draft is
    the same text: re-running `gitml init` on the same file with the same options is a no-op."""
    reviewed = []
    for path, text in drafts.items():
        if not path.exists() or path.read_text(encoding="utf-8") == text:
            continue
        if path != params_path:
            reviewed.append(f"{path} (differs from a fresh draft)")
        elif source_before not in (TEMPLATE_SOURCE, data):
            reviewed.append(f"{path} (data.source is already {source_before!r})")
        elif source_before == data:
            reviewed.append(f"{path} (edited since `gitml init`, or other options or data)")
    if reviewed:
        raise ConfigError(
            f"gitml init would overwrite reviewed file(s): {', '.join(reviewed)}; pass --force "
            "to replace them (commit first, so `git diff` shows what changed)"
        )


def _time_and_ids(
    frame: pd.DataFrame, time_column: str | None, ids: list[str] | None
) -> str | None:
    """The normalised --time column; DataError when it or an --id column is not in the data."""
    time = normalise_name(time_column) if time_column else None
    if time and time not in frame.columns:
        raise DataError(
            f"--time: column {time_column!r} not found; columns are: {', '.join(frame.columns)}"
        )
    missing_ids = [i for i in ids or [] if normalise_name(i) not in frame.columns]
    if missing_ids:
        raise DataError(
            f"--id: column(s) {missing_ids} not found; columns are: {', '.join(frame.columns)}"
        )
    return time


@dataclass(frozen=True)
class _Limits:
    """validate's thresholds, measured on the kept columns with headroom, so that new data of
    the same kind passes."""

    max_missing: float
    max_dup: float
    min_rows: int
    min_minority: float
    max_categories: int
    why: dict[str, str]

    @classmethod
    def measure(
        cls, kept: list[Any], kept_frame: pd.DataFrame, rate: float, rows: int, time: str | None
    ) -> _Limits:
        worst = max(kept, key=lambda c: c.missing_rate, default=None)
        worst_rate = worst.missing_rate if worst else 0.0
        dup = float(kept_frame.duplicated().mean()) if len(kept_frame) else 0.0
        minority = min(rate, 1 - rate)
        cats = [c.distinct for c in kept if c.kind == "categorical" and c.name != time]
        worst_name = f" ({worst.name})" if worst and worst_rate else ""
        return cls(
            max_missing=min(1.0, _ceil(worst_rate + max(0.05, worst_rate * 0.25))),
            max_dup=min(1.0, _ceil(dup + max(0.02, dup * 0.5))),
            min_rows=max(1, rows // 2),
            min_minority=max(0.001, _floor(minority * 0.5)),
            max_categories=max(20, 2 * max(cats, default=0)),
            why={
                "max_missing_rate": f"worst column {worst_rate:.1%}{worst_name} + headroom",
                "max_duplicate_rate": f"{dup:.1%} duplicate rows + headroom",
                "min_rows": f"half of the {rows} rows profiled",
                "min_minority_rate": f"half of the rarer label's {minority:.1%}",
                "max_categories": f"twice the most categories kept ({max(cats, default=0)})",
            },
        )

    def settings(self, schema_path: Path) -> dict[str, Any]:
        return {
            "schema_file": str(schema_path),
            "max_missing_rate": self.max_missing,
            "max_duplicate_rate": self.max_dup,
            "min_rows": self.min_rows,
            "min_minority_rate": self.min_minority,
            "max_categories": self.max_categories,
        }

    def decisions(self, schema_path: Path) -> list[Decision]:
        why = {**self.why, "schema_file": "the schema draft written now: review it"}
        order = ("max_missing_rate", "max_duplicate_rate", "min_rows", "min_minority_rate",
                 "max_categories", "schema_file")  # fmt: skip
        values = self.settings(schema_path)
        return [Decision(f"validate.{k}", f"{values[k]}", why[k]) for k in order]


def _derived(kept: list[Any], decisions: list[Decision]) -> list[str]:
    """The derived features whose inputs the kept columns hold, with the decision saying so."""
    kept_names = {c.name for c in kept}
    derived = [n for n, f in REGISTRY.items() if set(f.requires) <= kept_names]
    skipped = sorted(set(REGISTRY) - set(derived))
    decisions.append(
        Decision(
            "features.derived",
            str(derived),
            (
                f"the features whose inputs exist ({len(skipped)} others lack theirs)"
                if skipped
                else "every input exists"
            ),
        )
    )
    return derived


def _edit_data(
    doc: CommentedMap, values: dict[str, Any], dropped: list[Any], why: dict[str, str]
) -> None:
    data_sec = _section(doc, "data")
    for key, value in values.items():
        _set(data_sec, key, value, why[f"data.{key}"])
    drops = CommentedSeq([c.name for c in dropped]) if dropped else _flow([])
    for i, c in enumerate(dropped):
        drops.yaml_add_eol_comment(c.drop_reason, i, column=COMMENT_COLUMN)
    _set(data_sec, "drop_columns", drops)


def _edit_validate(doc: CommentedMap, settings: dict[str, Any], why: dict[str, str]) -> None:
    val = _section(doc, "validate")
    for key, setting in settings.items():
        _set(val, key, setting, why[f"validate.{key}"])
    if "leakage" not in val:
        _set(
            val, "leakage", CommentedMap(max_single_feature_auc=0.95, mode="error", allow=_flow([]))
        )


def _check(text: str, path: Path) -> None:
    """The written params.yaml must load: never leave a file `dvc repro` would refuse."""
    from pydantic import ValidationError

    from gitml.config import Params

    try:
        Params.model_validate(read_yaml(text) or {})
    except ValidationError as exc:
        raise ConfigError(
            "gitml init drafted an invalid params.yaml (a bug; nothing was written):\n"
            + format_validation_error(path, exc)
        ) from None
