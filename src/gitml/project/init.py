"""`gitml init DATA --target COL`: a reviewed starting point for your own table.

Profiles a bounded sample of the file (project/profile.py) and writes:
- params.yaml `data:` (source, delimiter, encoding, target, the task with the evidence for it
  (project/task.py), the positive class of a binary target, drop_columns with a comment saying
  why each column is dropped), `tune.metric` and `tune.search_space` when the template's do not
  fit the task, `validate:` thresholds measured on the data with
  headroom and `validate.schema_file`, `split.time_column`, `features.derived` limited to the
  features whose inputs exist, and `evaluate.slices`;
- the schema draft (the data contract) at the path validate.schema_file names.
The keys that mean nothing for the task (config/task_rules.TASK_KEYS: the template's
`train.threshold` in a multiclass project) are removed, since the params check refuses them;
a regression draft gets `validate.leakage.max_single_feature_r2`. Every other key of
params.yaml, and its comments, are kept (ruamel.yaml round-trips them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from gitml.config import DEFAULT_PARAMS, format_validation_error, read_yaml
from gitml.config.stages import PromotionConfig
from gitml.config.task_rules import CANARY_METRICS, TASK_PROMOTION, gate_metric_problems
from gitml.config.tune import TUNE_METRICS, default_space
from gitml.core import labels, schema
from gitml.core.features import REGISTRY
from gitml.core.models import families_for
from gitml.core.names import normalise_name
from gitml.core.tasks import Task
from gitml.errors import ConfigError, DataError
from gitml.io.files import write_atomic
from gitml.project import profile
from gitml.project.limits import Decision, Limits
from gitml.project.params_yaml import (
    COMMENT_COLUMN,
    dump_doc,
    flow_map,
    flow_seq,
    load_doc,
    set_key,
    yaml_section,
)
from gitml.project.task import choose_positive, edit_task_keys, propose

__all__ = ["Decision", "InitResult", "choose_positive", "pick_slices", "run"]

SENSITIVE = re.compile(
    r"(^|_)(sex|gender|race|ethnic(ity)?|age_(group|band|bucket|range)|religion|nationality|"
    r"disab(led|ility)|marital(_status)?)($|_)"
)
MAX_SLICE_VALUES = 10
MAX_SLICES = 3
TEMPLATE_SOURCE = "builtin:adult"  # a params.yaml still on the template's data is not reviewed


@dataclass
class InitResult:
    params_path: Path
    schema_path: Path
    decisions: list[Decision] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unchanged: bool = False  # both files already held this draft: a re-run was a no-op


def pick_slices(
    frame: Any, candidates: list[profile.Column], task: Task = Task.BINARY
) -> tuple[list[str], str]:
    low = [
        c
        for c in candidates
        if 2 <= c.distinct <= MAX_SLICE_VALUES
        and (c.kind == "categorical" or profile.integral(frame[c.name]))
    ]
    sensitive = [c.name for c in low if SENSITIVE.search(c.name)]
    if sensitive:
        if task is Task.REGRESSION:  # a gap in the target's units is not guessed: no rule
            why = (
                "sensitive attributes (reported per slice; a regression gate has no slice rule "
                "until promotion.max_slice_gap or slice_floors sets one)"
            )
        else:
            why = "sensitive attributes (fairness gaps are gated)"
        return sensitive[:MAX_SLICES], why
    ranked = sorted(low, key=lambda c: (c.distinct, c.name))
    if ranked:
        return [c.name for c in ranked[:2]], (
            f"no sensitive attribute found; the lowest-cardinality categoricals (≤ "
            f"{MAX_SLICE_VALUES} values)"
        )
    return [], f"no column with 2 to {MAX_SLICE_VALUES} values: no slices"


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
    task: str | None = None,
) -> InitResult:
    rt, doc = load_doc(params_path)
    stem = normalise_name(re.sub(r"(\.[A-Za-z0-9]+)+$", "", Path(data).name)) or "data"
    schema_path = schema_path or Path("schema") / f"{stem}.schema.yaml"
    source_before = (doc.get("data") or {}).get("source", TEMPLATE_SOURCE)
    sample = profile.read_sample(data, target, max_rows)
    frame, tgt = sample.frame, normalise_name(target)
    time = _time_and_ids(frame, time_column, ids)
    kind, kind_why = propose(frame[tgt], task)
    positive, positive_why, minority = _positive(frame[tgt], kind, positive_class)

    columns = profile.profile(frame, tgt, {time} if time else set(), set(ids or []))
    dropped = [c for c in columns if c.drop_reason]
    kept = [c for c in columns if not c.drop_reason]
    kept_frame = frame[[c.name for c in kept] + [tgt]]
    result = InitResult(params_path, schema_path)
    d = result.decisions
    d += _data_decisions(data, sample, frame[tgt], (kind, kind_why), (positive, positive_why))
    d += [Decision("data.drop_columns", c.name, c.drop_reason or "") for c in dropped]
    limits = Limits.measure(kept, kept_frame, minority, sample.rows, time)
    d += limits.decisions(schema_path)
    if time:
        d.append(Decision("split.time_column", time, "named by --time: test = the latest rows"))
    derived = _derived(kept, d)
    slices, slices_why = pick_slices(frame, [c for c in kept if c.name != time], kind)
    d.append(Decision("evaluate.slices", str(slices), slices_why))

    # a regression target (text until train reads it) has many values by nature, as a time
    # column: no category list, and no "an identifier?" warning
    many = {time} if time else set()
    many |= {tgt} if kind is Task.REGRESSION else set()
    draft, warnings = schema.infer(kept_frame, tgt, limits.max_categories, frozenset(many))
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
        "task": str(kind),
        "positive_class": positive,
        "delimiter": sample.delimiter,
        "encoding": sample.encoding,
    }
    _edit_data(doc, data_values, dropped, why)
    d += _edit_tune(doc, kind)
    d += _edit_promotion(doc, kind)
    _edit_validate(doc, limits.settings(schema_path), why)
    d += edit_task_keys(doc, kind)
    split = yaml_section(doc, "split")
    set_key(split, "time_column", time, why.get("split.time_column"))
    if time:
        set_key(split, "group_column", None)
    set_key(yaml_section(doc, "features"), "derived", flow_seq(derived), why["features.derived"])
    set_key(yaml_section(doc, "evaluate"), "slices", flow_seq(slices), why["evaluate.slices"])
    text_params = dump_doc(rt, doc)
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


def _data_decisions(
    data: str,
    sample: profile.Sample,
    target: pd.Series,
    task: tuple[Task, str],
    positive: tuple[labels.PositiveClass | None, str],
) -> list[Decision]:
    where = f"first {sample.rows} rows" if sample.truncated else f"all {sample.rows} rows"
    d = [
        Decision("data.source", data, f"profiled {where}"),
        Decision("data.delimiter", repr(sample.delimiter), "detected (csv.Sniffer)"),
        Decision("data.encoding", sample.encoding, "the first that decodes the file"),
    ]
    if task[0] is Task.BINARY:
        values = sorted(str(v) for v in target.dropna().unique())
        d.append(Decision("data.target", str(target.name), f"labels {values}"))
        d.append(Decision("data.task", str(task[0]), task[1]))
        d.append(Decision("data.positive_class", repr(positive[0]), positive[1]))
    else:
        d.append(Decision("data.target", str(target.name), "the column to predict"))
        d.append(Decision("data.task", str(task[0]), task[1]))
        # null, not left out: dvc.yaml tracks the key
        d.append(Decision("data.positive_class", "null", f"binary only (a {task[0]} target)"))
    return d


def _positive(
    target: pd.Series, kind: Task, asked: str | None
) -> tuple[labels.PositiveClass | None, str, tuple[float, str] | None]:
    """A binary target's positive class and why, and the label balance init measures (the
    rarer label's or the rarest class's share; None for regression)."""
    values = [str(v) for v in target.dropna().value_counts().index]
    if kind is not Task.BINARY:
        if asked is not None:
            raise ConfigError(
                f"--positive-class applies to a binary target; this one is {kind}: leave it out"
            )
        counts = target.dropna().value_counts(normalize=True)
        if kind is Task.REGRESSION:
            return None, "", None
        return None, "", (float(counts.iloc[-1]), "the rarest class")
    positive, why = choose_positive(values, asked)
    rate = float(labels.is_positive(target, positive).mean())
    return positive, why, (min(rate, 1 - rate), "the rarer label")


def _edit_tune(doc: CommentedMap, task: Task) -> list[Decision]:
    """tune.metric and tune.search_space, where the file's do not fit the task (the template's
    are binary's): the task's defaults (config/tune.py)."""
    tune = yaml_section(doc, "tune")
    decisions = []
    if tune.get("metric", "roc_auc") not in TUNE_METRICS[task]:
        metric = TUNE_METRICS[task][0]
        set_key(tune, "metric", metric, f"the default objective of a {task} target")
        decisions.append(Decision("tune.metric", metric, f"the default for a {task} target"))
    space = tune.get("search_space") or {}
    if not set(space) <= set(families_for(task)):
        plain = {
            family: {
                name: p.model_dump(exclude_defaults=True, exclude_none=True) | {"type": p.type}
                for name, p in params.items()
            }
            for family, params in default_space(task).items()
        }
        set_key(tune, "search_space", plain)
        listed = ", ".join(plain)
        decisions.append(Decision("tune.search_space", listed, f"the families of a {task} target"))
    return decisions


def _edit_promotion(doc: CommentedMap, task: Task) -> list[Decision]:
    """The gate's rules, where the file's name metrics a model of `task` lacks (the template's
    are binary's; a re-run may change the task): the task's defaults, binary's being
    PromotionConfig's own (config/task_rules.TASK_PROMOTION). Other keys stay."""
    section = yaml_section(doc, "promotion")
    decisions = _edit_canary(section, task)
    keys = TASK_PROMOTION["regression"].keys() - {"canary"}  # every gate key a task's defaults set
    current = PromotionConfig.model_validate({k: v for k, v in section.items() if k in keys})
    if not gate_metric_problems(current, task):
        return decisions
    binary = PromotionConfig().model_dump(include=set(keys))
    rules = TASK_PROMOTION.get(str(task), binary)
    for key, value in rules.items():
        if key in keys:
            set_key(section, key, flow_map(value) if isinstance(value, dict) else value)
    set_key(section, "primary_metric", rules["primary_metric"], f"the gate of a {task} model")
    shown = f"{rules['primary_metric']}, max_drops {rules['max_drops'] or 'none'}"
    return [*decisions, Decision("promotion", shown, f"the gate's rules for a {task} target")]


def _edit_canary(promotion: CommentedMap, task: Task) -> list[Decision]:
    """promotion.canary's metric where the file's is not one of the task's (the template's is
    binary's roc_auc); no misclassification gate for regression. The other keys stay."""
    section, out = promotion.get("canary"), list[Decision]()
    if not isinstance(section, CommentedMap):
        return out  # none in the file: the task's metric applies when it is read
    metric = CANARY_METRICS[task][0]  # = TASK_PROMOTION's (tests/unit/monitor/test_canary_tasks)
    if section.get("metric", "roc_auc") not in CANARY_METRICS[task]:
        out.append(Decision("promotion.canary.metric", metric, f"a {task} canary's metric"))
        set_key(section, "metric", metric, out[-1].why)
    if task is Task.REGRESSION and section.get("max_error_rate_increase") is not None:
        why = "no misclassification rate in regression"
        out.append(Decision("promotion.canary.max_error_rate_increase", "null", why))
        set_key(section, "max_error_rate_increase", None, why)
    return out


def _edit_data(
    doc: CommentedMap, values: dict[str, Any], dropped: list[Any], why: dict[str, str]
) -> None:
    data_sec = yaml_section(doc, "data")
    for key, value in values.items():
        set_key(data_sec, key, value, why[f"data.{key}"])
    drops = CommentedSeq([c.name for c in dropped]) if dropped else flow_seq([])
    for i, c in enumerate(dropped):
        drops.yaml_add_eol_comment(c.drop_reason, i, column=COMMENT_COLUMN)
    set_key(data_sec, "drop_columns", drops)


def _edit_validate(doc: CommentedMap, settings: dict[str, Any], why: dict[str, str]) -> None:
    val = yaml_section(doc, "validate")
    for key, setting in settings.items():
        set_key(val, key, setting, why[f"validate.{key}"])
    if "leakage" not in val:
        set_key(
            val,
            "leakage",
            CommentedMap(max_single_feature_auc=0.95, mode="error", allow=flow_seq([])),
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
