"""`gitml init`'s task: which kind of target the column is, with the evidence that says so.

The evidence is what a person would look at: the values' type (text, whole numbers, numbers),
how many distinct values there are, and a few of them. The rules:

- one value: an error (a constant target: nothing to learn);
- two values, whatever their type: binary;
- text with more values: multiclass (up to MAX_CLASSES; more reads as an identifier or free text);
- numbers with a fraction, or more than MAX_INTEGER_CLASSES whole numbers: regression;
- 3 to MAX_INTEGER_CLASSES whole numbers (a rating, a count, a class code): ambiguous, so
  `--task` decides; so does it anywhere the user disagrees with the proposal.

A task the values cannot support is an error naming the values and the fix, raised before
anything is written: regression needs finite numbers, multiclass at least three classes with
`target_rules.MIN_CLASS_ROWS` rows each, binary exactly two labels.

The draft then loses the keys the task has no use for (`edit_task_keys`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from ruamel.yaml.comments import CommentedMap

from gitml.config.data import LeakageConfig
from gitml.config.task_rules import MULTICLASS_ESTIMATED, TASK_KEYS, task_key_reason
from gitml.core import labels
from gitml.core.tasks import Task
from gitml.errors import ConfigError, DataError
from gitml.pipeline.target_rules import MIN_CLASS_ROWS
from gitml.project.limits import Decision
from gitml.project.params_yaml import COMMENT_COLUMN, yaml_section

MAX_CLASSES = 50
MAX_INTEGER_CLASSES = 20
POSITIVE_WORDS = {"1", "true", "yes", "y", "positive", "pos"}
SHOWN = 5


@dataclass(frozen=True)
class Evidence:
    """What the target column holds: its values' type, distinct count and examples."""

    kind: str  # text | integer | number
    distinct: int
    rows: int
    missing: int
    counts: pd.Series  # rows per distinct value (as text), most frequent first

    @classmethod
    def of(cls, values: pd.Series) -> Evidence:
        present = values.dropna().astype(str).str.strip()
        numbers = pd.to_numeric(present, errors="coerce")
        if len(present) and numbers.notna().all():
            finite = numbers[np.isfinite(numbers)]
            kind = "integer" if (finite == finite.round()).all() else "number"
        else:
            kind = "text"
        counts = present.value_counts()
        return cls(kind, len(counts), len(present), int(values.isna().sum()), counts)

    @property
    def examples(self) -> list[str]:
        if self.kind == "text" or self.distinct <= SHOWN:
            return sorted(self.counts.index[:SHOWN])
        ordered = sorted(self.counts.index, key=float)  # the range: smallest and largest
        return [*ordered[:3], "…", *ordered[-2:]]

    def describe(self) -> str:
        type_name = {"text": "text", "integer": "whole numbers", "number": "numbers"}[self.kind]
        return f"{type_name}, {self.distinct} distinct value(s), e.g. {self.examples}"


def propose(values: pd.Series, asked: str | None) -> tuple[Task, str]:
    """The task for the target column and why; `asked` (--task) wins when the values allow it.
    DataError when they do not; ConfigError (a usage error: exit 2) when the evidence is
    ambiguous and nothing was asked, since only the option can decide."""
    ev = Evidence.of(values)
    if ev.distinct < 2:
        shown = ev.examples or ["(no value)"]
        raise DataError(
            f"--target: a constant target ({shown[0]!r} in all {ev.rows} rows with a value): "
            "nothing to learn; pick another column"
        )
    if asked is not None:
        try:
            task = Task(asked)
        except ValueError:
            raise ConfigError(
                f"--task {asked!r}: use one of {', '.join(t.value for t in Task)}"
            ) from None
        _check(task, ev)
        return task, f"named by --task; the target holds {ev.describe()}"
    task, why = _guess(ev)
    _check(task, ev)
    return task, f"{ev.describe()}: {why} (--task to change)"


def _guess(ev: Evidence) -> tuple[Task, str]:
    if ev.distinct == 2:
        return Task.BINARY, "two labels"
    if ev.kind == "text":
        if ev.distinct > MAX_CLASSES:
            raise DataError(
                f"--target: {ev.describe()}: too many text values for classes (more than "
                f"{MAX_CLASSES}); an identifier or free text? Pick another column, or pass "
                "--task multiclass if these are the classes"
            )
        return Task.MULTICLASS, "text labels are classes"
    if ev.kind == "number":
        return Task.REGRESSION, "numbers with fractions are a quantity"
    if ev.distinct > MAX_INTEGER_CLASSES:
        return Task.REGRESSION, f"more than {MAX_INTEGER_CLASSES} whole numbers read as a quantity"
    raise ConfigError(  # not the data's fault: the option that decides is missing
        f"--target: {ev.describe()}: ambiguous, classes (a code, a grade) or a quantity (a "
        f"count, a score)? Pass --task multiclass or --task regression"
    )


def _check(task: Task, ev: Evidence) -> None:
    """The values must support `task`: DataError naming what does not fit."""
    if task is Task.REGRESSION:
        _check_regression(ev)
    elif task is Task.MULTICLASS:
        if ev.distinct == 2:
            raise DataError(
                f"--task multiclass: the target has two labels {ev.examples}: that is a binary "
                "target (--task binary)"
            )
        if ev.kind != "text" and ev.distinct > MAX_CLASSES:
            raise DataError(
                f"--task multiclass: the target holds {ev.describe()}: too many numbers to be "
                f"classes (more than {MAX_CLASSES}); a quantity is --task regression"
            )
        rare = ev.counts[ev.counts < MIN_CLASS_ROWS]
        if len(rare):
            listed = [f"{k!r}: {v} row(s)" for k, v in rare.iloc[:SHOWN].items()]
            listed += ["…"] if len(rare) > SHOWN else []
            raise DataError(
                f"--target: class(es) with fewer than {MIN_CLASS_ROWS} rows ({', '.join(listed)}): "
                "too few to split into train, test and cross-validation folds; add rows, merge "
                "the class into another, or drop its rows"
            )


def _check_regression(ev: Evidence) -> None:
    if ev.kind == "text":
        numbers = pd.to_numeric(pd.Series(ev.counts.index), errors="coerce")
        text = sorted(v for v, n in zip(ev.counts.index, numbers, strict=True) if pd.isna(n))
        raise DataError(
            f"--task regression: the target holds text {text[:SHOWN]}; a regression target "
            "must be numeric (a categorical one: --task multiclass)"
        )
    values = pd.to_numeric(pd.Series(ev.counts.index))
    if not np.isfinite(values).all():
        raise DataError(
            "--task regression: the target holds infinite values; a regression target must be "
            "finite"
        )


def choose_positive(values: list[str], asked: str | None) -> tuple[labels.PositiveClass, str]:
    """The positive class of a binary target as params.yaml will hold it, and why."""
    if len(values) != 2:
        shown = sorted(values[:10]) + (["…"] if len(values) > 10 else [])
        raise DataError(
            f"--target: the column has {len(values)} label(s) {shown}; a binary target needs "
            "exactly two (--task multiclass for more classes, or recode it)"
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


def edit_task_keys(doc: CommentedMap, task: Task) -> list[Decision]:
    """Remove the keys a model of `task` has no use for (the template's are binary's; a re-run
    may change the task): the params check refuses them. A regression draft gets the leakage
    guard's R² limit, which the template (binary) leaves out."""
    out = []
    for key in TASK_KEYS:
        reason = task_key_reason(key, str(task))
        *path, last = key.split(".")
        section: Any = doc
        for part in path:
            section = section.get(part) if isinstance(section, CommentedMap) else None
        if reason and isinstance(section, CommentedMap) and section.get(last) is not None:
            del section[last]
            out.append(Decision(key, "(removed)", reason.removesuffix(". Remove the key")))
    monitor = doc.get("monitor")
    metric = monitor.get("estimated_metric") if isinstance(monitor, CommentedMap) else None
    if task is Task.MULTICLASS and metric is not None and metric not in MULTICLASS_ESTIMATED:
        monitor["estimated_metric"] = "accuracy"  # the template's roc_auc has no multiclass twin
        why = "what the estimate before labels alarms on (f1: macro-F1)"
        out.append(Decision("monitor.estimated_metric", "accuracy", why))
    leakage = yaml_section(yaml_section(doc, "validate"), "leakage")
    if task is Task.REGRESSION and "max_single_feature_r2" not in leakage:
        keys = list(leakage)
        auc = "max_single_feature_auc"
        after = keys.index(auc) + 1 if auc in keys else len(keys)
        leakage.insert(after, "max_single_feature_r2", LeakageConfig().max_single_feature_r2)
        why = "out-of-fold R² of one feature alone (or its rank form), on the train rows"
        leakage.yaml_add_eol_comment(why, "max_single_feature_r2", column=COMMENT_COLUMN)
    return out
