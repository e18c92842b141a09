"""Loading params.yaml as a whole, and error messages that name the file, key and fix."""

from __future__ import annotations

import difflib
import re
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo

from gitml.config.base import Section
from gitml.config.data import DataConfig, FeaturesConfig, SplitConfig, ValidateConfig
from gitml.config.stages import (
    EvaluateConfig,
    MonitorConfig,
    PromotionConfig,
    TrainConfig,
)
from gitml.config.task_rules import (
    estimated_metric_problems,
    task_key_problems,
    task_metric_problems,
    task_names,
    task_of_params,
    with_task_defaults,
)
from gitml.config.tune import TUNE_METRICS, TuneConfig, check_task, default_space
from gitml.core.tasks import Task
from gitml.errors import ConfigError
from gitml.io.files import yaml_problem

DEFAULT_PARAMS = Path("params.yaml")


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's booleans: only true/false, so `yes`, `no`, `on`
    and `off` stay strings. DVC reads and rewrites params.yaml with ruamel.yaml (YAML 1.2):
    `dvc exp run -S` turns `positive_class: 'yes'` into a bare `yes`, which YAML 1.1 reads as
    True (model.json then said `true` and the server answered predicted_class "True"). The
    resolver is swapped here rather than reading with ruamel, whose parse errors would change
    every message docs/bad-inputs.md quotes."""


_BOOL = "tag:yaml.org,2002:bool"
_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml(text: str | bytes) -> Any:
    """params.yaml's text as DVC reads it (YAML 1.2 booleans); raises yaml.YAMLError."""
    return yaml.load(text, Loader=_Yaml12Loader)  # a SafeLoader: no arbitrary objects


class Params(Section):
    data: DataConfig = DataConfig()
    validate_: ValidateConfig = Field(ValidateConfig(), alias="validate")
    split: SplitConfig = SplitConfig()
    features: FeaturesConfig = FeaturesConfig()
    tune: TuneConfig = TuneConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    promotion: PromotionConfig = PromotionConfig()
    monitor: MonitorConfig = MonitorConfig()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _task_promotion(cls, raw: Any) -> Any:
        """A multiclass or regression project's `promotion:` starts from its task's rules."""
        data = raw.get("data") if isinstance(raw, dict) else None
        if not isinstance(data, dict) or data.get("task") in (None, "binary"):
            return raw
        return raw | {"promotion": with_task_defaults(raw.get("promotion"), data["task"])}

    @model_validator(mode="before")
    @classmethod
    def _task_defaults(cls, raw: Any) -> Any:
        """tune.metric and tune.search_space, when unset, are those of data.task (binary's are
        the fields' own defaults)."""
        data = raw.get("data") if isinstance(raw, dict) else None
        tune = raw.get("tune", {}) if isinstance(raw, dict) else None
        if not isinstance(data, dict) or not isinstance(tune, dict):
            return raw  # the field validation reports what is wrong
        try:
            task = Task(data.get("task", Task.BINARY))
        except ValueError:
            return raw
        if task is Task.BINARY:
            return raw
        filled = {"metric": TUNE_METRICS[task][0], "search_space": default_space(task), **tune}
        return {**raw, "tune": filled}

    @model_validator(mode="after")
    def _cross_section(self) -> Params:
        reserved = {self.data.target, self.split.group_column, self.split.time_column}
        bad = sorted(c for c in self.evaluate.slices if c in reserved)
        if bad:
            raise ValueError(f"evaluate.slices cannot use the target/group/time column {bad}")
        if self.features.monotonic_increasing and self.data.task is Task.MULTICLASS:
            # Refused here, not deep in the fit: HistGradientBoostingClassifier rejects
            # monotonic_cst for more than two classes, and "never lowers P(positive)" has no
            # meaning without one positive class.
            raise ValueError(
                f"features.monotonic_increasing = {self.features.monotonic_increasing!r}: a "
                "multiclass target (data.task: multiclass) has no single positive class to be "
                "monotonic in, and scikit-learn's gradient boosting refuses monotonic "
                "constraints for more than two classes; set it to []"
            )
        problems = task_key_problems(self, self.data.task)
        problems += estimated_metric_problems(self, self.data.task)
        problems += task_metric_problems(self.promotion, self.data.task)
        if problems:
            raise ValueError("\n  ".join(problems))
        check_task(self.tune, self.data.task)
        return self


def load_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    """Read and validate params.yaml; raise ConfigError naming file, key, value and rule."""
    path = Path(path)
    try:
        raw = read_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (run from the repository root)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a params file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of sections "
            f"({', '.join(_keys_of(Params))}), got {type(raw).__name__} {raw!r:.60}"
        )
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc, _task_of(raw))) from None


def _task_of(raw: dict[str, Any]) -> str | None:
    """data.task of a params mapping (binary when left out); None when it names no task."""
    task = task_of_params(raw)  # a string: a list or mapping there is named, not hashed
    return task if task in set(Task) else None


def check_columns(params: Params, root: Path = Path()) -> None:
    """The keys that name a column only at the end of the pipeline (evaluate.slices), against
    the data contract's columns (validate.schema_file), so `gitml check-params`, the first
    stage, stops a misspelt one before tune and train run. No readable schema: nothing to
    check against (validate reports the schema file itself)."""
    from gitml.core.names import normalise_name

    path = root / params.validate_.schema_file
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return
    columns = raw.get("columns") if isinstance(raw, dict) else None
    if not isinstance(columns, dict) or not columns:
        return
    dropped = {normalise_name(c) for c in params.data.drop_columns}
    known = [str(c) for c in columns if str(c) not in dropped]
    for name in params.evaluate.slices:
        if name in known:
            continue
        if name in dropped:
            raise ConfigError(f"evaluate.slices: column {name!r} is in data.drop_columns")
        close = [c for c in known if c == normalise_name(name)] or difflib.get_close_matches(
            name, known, n=1, cutoff=0.6
        )
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"evaluate.slices: column {name!r} is not in the data contract "
            f"{params.validate_.schema_file}; {hint}columns are: {', '.join(known)}"
        )


def format_validation_error(path: Path, exc: ValidationError, task: str | None = None) -> str:
    """One line per key. `task` (data.task, when valid): a metric or family that is not one
    of the type's (a Literal of every task's) is listed against the task's own names."""
    # A value that fails every member of a union gets one error per member: one line per key.
    problems: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        steps = _user_path(err["loc"])
        loc = [k for k, _ in steps]
        key = ".".join(loc) or "(top level)"
        container = steps[-1][1] if steps else Params
        # pydantic prefixes the messages of our own validators with "Value error, "
        msg = err["msg"].removeprefix("Value error, ")
        named = task_names(loc, task) if task else None
        if named and err["type"] == "literal_error":  # the value or the mapping key
            name = loc[-1] if err["loc"][-1:] == ("[key]",) else err["input"]
            what, names = named
            problems.setdefault(
                f"{key}: {name!r} is not a {what} of a {task} model (data.task: {task}); "
                f"use one of {', '.join(names)}",
                [],
            )
            continue
        if err["type"] == "extra_forbidden":
            allowed = _keys_of(container)
            close = difflib.get_close_matches(loc[-1], allowed, n=1) if loc else []
            hint = f"did you mean {close[0]!r}? " if close else ""
            msg = f"unknown key; {hint}allowed keys here: {', '.join(allowed) or '(see README)'}"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["loc"][-1:] == ("[key]",):  # a mapping key outside a Literal (a model family)
            msg = f"unknown key; allowed keys here: {err.get('ctx', {}).get('expected', msg)}"
        elif loc:
            msg += _bounds(container, loc[-1])
        if not loc or msg.startswith(f"{key}."):  # a check that names its keys itself
            for line in msg.split("\n  "):  # (across sections, or a section's): no value
                problems.setdefault(line, [])  # echo; one problem a line, each counted
            continue
        # a missing key has no value; a bad mapping key's value is the key itself
        echo = err["type"] != "missing" and err["loc"][-1:] != ("[key]",)
        value = f" = {err['input']!r}" if echo else ""
        problems.setdefault(f"{key}{value}", []).append(msg)
    lines = [f"{path}: {len(problems)} invalid value(s)"]
    lines += [
        f"  {where}: {'; or: '.join(msgs)}" if msgs else f"  {where}"
        for where, msgs in problems.items()
    ]
    return "\n".join(lines)


def _user_path(loc: tuple[int | str, ...]) -> list[tuple[str, Any]]:
    """The error location as the keys a user writes, each with the type it is a key of.

    pydantic puts more than keys in a location: the member of a union it tried ('float',
    'literal[...]', 'constrained-float') and '[key]' for a bad mapping key. Walking the types
    tells those apart from real keys that happen to be spelt the same (`data: {float: 1}`).
    """
    steps: list[tuple[str, Any]] = []
    ann: Any = Params
    for part in loc:
        ann = _unwrap(ann)
        if get_origin(ann) in (Union, types.UnionType):
            ann = _union_member(ann, part)  # `part` names the member, not a key
            continue
        if part == "[key]":
            continue
        steps.append((str(part), ann))
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            field = _field(ann, str(part))
            ann = field.annotation if field else None
        elif get_origin(ann) is dict:
            ann = get_args(ann)[1]
        elif get_origin(ann) is list:
            ann = get_args(ann)[0]
        else:
            ann = None
    return steps


def _unwrap(ann: Any) -> Any:
    """`Annotated[X, ...]` and `X | None` are X for the walk (pydantic adds no tag for them)."""
    while True:
        if get_origin(ann) is Annotated:
            ann = get_args(ann)[0]
            continue
        if get_origin(ann) in (Union, types.UnionType):
            members = [a for a in get_args(ann) if a is not type(None)]
            if len(members) == 1:
                ann = members[0]
                continue
        return ann


def _union_member(union: Any, tag: object) -> Any:
    # A tagged union of models (the search-space parameters): the member whose `type` is `tag`.
    for member in get_args(union):
        member = _unwrap(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get("type")
            if field is not None and tag in get_args(field.annotation):
                return member
    return None


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    return next((f for n, f in model.model_fields.items() if key in (n, f.alias)), None)


def _keys_of(container: Any) -> list[str]:
    if isinstance(container, type) and issubclass(container, BaseModel):
        return [f.alias or n for n, f in container.model_fields.items()]
    return []


_BOUND_OPS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "min_length": "length >="}


def _bounds(container: Any, key: str) -> str:
    """` (allowed: > 0, < 1)` from the constraints of a plain field."""
    if not (isinstance(container, type) and issubclass(container, BaseModel)):
        return ""
    field = _field(container, key)
    if field is None:
        return ""
    rules = [
        f"{op} {getattr(m, attr)}"
        for m in field.metadata
        for attr, op in _BOUND_OPS.items()
        if getattr(m, attr, None) is not None
    ]
    return f" (allowed: {', '.join(rules)})" if rules else ""
