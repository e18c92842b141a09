"""config: params.yaml → typed models; every bad key or value names file, key path and rule."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gitml.cli.app import exit_code
from gitml.config import Params, TuneConfig, load_params
from gitml.core.features import REGISTRY
from gitml.errors import ConfigError
from tests.helpers import DEFAULT_PARAMS, default_params

ROOT = Path(__file__).resolve().parents[3]
# The default project's params.yaml spells out every key of every section (its header says so);
# it is the independent list of "allowed keys" the error messages are checked against.
COMMITTED: dict[str, dict[str, Any]] = default_params()
UNION_TAGS = {"int", "float", "categorical"}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load_dict(raw: Any) -> Params:
    """load_params on a throw-away file holding `raw` (so the message can name the file)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.yaml"
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        return load_params(path)


def config_error(raw: Any) -> tuple[ConfigError, Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "my-params.yaml"
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_params(path)
        return info.value, path


def error_line(message: str, key: str) -> str:
    """The line of the message that reports `key` (lines look like `  a.b = value: rule`)."""
    lines = [ln for ln in message.splitlines() if ln.strip().startswith(f"{key} ")]
    assert lines, f"no line for {key!r} in:\n{message}"
    return lines[0]


def listed_allowed(line: str) -> set[str]:
    match = re.search(r"allowed keys here: (.*)$", line)
    assert match, f"no list of allowed keys in {line!r}"
    return {k.strip() for k in match.group(1).split(",")}


# --------------------------------------------------------------------------- loading


@pytest.mark.parametrize(
    "path", [ROOT / "params.yaml", DEFAULT_PARAMS], ids=["workspace", "default"]
)
def test_params_file_loads_and_matches_its_yaml(path: Path) -> None:
    """The workspace's params.yaml (the template's, or the user's after `gitml init`) and the
    default project's copy both load, each to what its own YAML says."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    params = load_params(path)
    assert params.data.target == raw["data"]["target"]
    assert params.tune.n_trials == raw["tune"]["n_trials"]
    assert params.validate_.schema_file == raw["validate"]["schema_file"]
    assert params.features.derived == raw["features"]["derived"]


def test_the_default_params_fixture_is_the_template() -> None:
    """The suite reads the default project's params from tests/fixtures/params.yaml, not from
    the workspace (which `gitml init` points at the user's data). While the workspace is still
    the template, the two are the same file."""
    workspace = (ROOT / "params.yaml").read_text(encoding="utf-8")
    if yaml.safe_load(workspace)["data"]["source"] != "builtin:adult":
        pytest.skip("this workspace runs on its own data (gitml init): the copy stays Adult's")
    assert DEFAULT_PARAMS.read_text(encoding="utf-8") == workspace, (
        "params.yaml changed: copy it to tests/fixtures/params.yaml"
    )


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("", encoding="utf-8")
    assert load_params(path) == Params()


def test_missing_file_is_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert exit_code(info.value) == 2
    assert str(path) in str(info.value)


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("data:\n  target: income\n tune: [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert exit_code(info.value) == 2
    assert str(path) in str(info.value)
    assert "line" in str(info.value)


def test_a_yes_no_positive_class_stays_a_string_after_dvc_rewrites_params(tmp_path: Path) -> None:
    """`dvc exp run -S` rewrites params.yaml with ruamel.yaml (YAML 1.2) and drops the quotes
    `gitml init` put around 'yes'; read as YAML 1.1 the bare word was True, and model.json and
    the server's predicted_class then said "True" instead of "yes"."""
    from dvc.utils.serialize import modify_yaml

    path = tmp_path / "params.yaml"
    path.write_text(
        "data:\n  target: malignant\n  positive_class: 'yes'\ntune:\n  n_trials: 30\n",
        encoding="utf-8",
    )
    with modify_yaml(path) as params:  # what `dvc exp run -S tune.n_trials=5` does
        params["tune"]["n_trials"] = 5
    assert "positive_class: yes\n" in path.read_text(encoding="utf-8")  # DVC's own rewrite
    loaded = load_params(path)
    assert loaded.data.positive_class == "yes" and loaded.tune.n_trials == 5
    for word in ("on", "no", "off", "y"):  # YAML 1.1 booleans are words in YAML 1.2
        path.write_text(f"data:\n  positive_class: {word}\n", encoding="utf-8")
        assert load_params(path).data.positive_class == word
    path.write_text("data:\n  positive_class: true\n", encoding="utf-8")
    assert load_params(path).data.positive_class is True


@pytest.mark.parametrize("raw", [[1, 2], "just text", 3])
def test_top_level_must_be_a_mapping(raw: Any) -> None:
    err, path = config_error(raw)
    assert exit_code(err) == 2
    assert str(path) in str(err)
    assert "mapping" in str(err)


def test_params_are_frozen() -> None:
    params = Params()
    with pytest.raises(Exception, match="frozen"):
        params.tune.n_trials = 3  # type: ignore[misc]


# --------------------------------------------------------------------------- unknown keys

SECTIONS = sorted(COMMITTED)
KEY = st.from_regex(r"[a-z][a-z0-9_]{0,14}", fullmatch=True)


@SETTINGS
@given(section=st.sampled_from([None, *SECTIONS]), key=KEY)
def test_unknown_key_anywhere_names_file_key_path_and_allowed_keys(
    section: str | None, key: str
) -> None:
    allowed = set(COMMITTED) if section is None else set(COMMITTED[section])
    assume(key not in allowed)
    # Keys spelled like pydantic's union tags are covered by their own test below.
    assume(key not in UNION_TAGS)
    raw: dict[str, Any] = {key: 1} if section is None else {section: {key: 1}}
    err, path = config_error(raw)
    assert exit_code(err) == 2
    message = str(err)
    assert str(path) in message
    dotted = key if section is None else f"{section}.{key}"
    line = error_line(message, dotted)
    assert "unknown key" in line
    assert listed_allowed(line) == allowed


def test_misspelt_key_gets_a_suggestion() -> None:
    err, _ = config_error({"tune": {"n_trails": 3}})
    line = error_line(str(err), "tune.n_trails")
    assert "n_trials" in line


@pytest.mark.parametrize("key", sorted(UNION_TAGS))
def test_unknown_key_named_like_a_union_tag_keeps_its_path(key: str) -> None:
    # `data: {int: 1}` is as unknown as `data: {foo: 1}`; the message must say `data.int`.
    err, _ = config_error({"data": {key: 1}})
    line = error_line(str(err), f"data.{key}")
    assert listed_allowed(line) == set(COMMITTED["data"])


def test_unknown_key_inside_a_search_parameter_lists_the_allowed_keys() -> None:
    space = {"logistic_regression": {"C": {"type": "float", "low": 0.1, "high": 1.0, "step": 2}}}
    err, path = config_error({"tune": {"search_space": space}})
    assert str(path) in str(err)
    line = error_line(str(err), "tune.search_space.logistic_regression.C.step")
    assert {"type", "low", "high", "log"} <= listed_allowed(line)


# --------------------------------------------------------------------------- bad values

# (section, key, strategy of values outside the allowed range)
OUT_OF_RANGE: list[tuple[str, str, st.SearchStrategy[Any]]] = [
    ("validate", "max_missing_rate", st.floats(1.0001, 1e6) | st.floats(-1e6, -0.0001)),
    ("validate", "max_duplicate_rate", st.floats(1.0001, 1e6)),
    ("validate", "min_rows", st.integers(-1000, 0)),
    ("validate", "min_minority_rate", st.floats(0.5001, 10)),
    ("validate", "max_categories", st.integers(-5, 1)),
    ("split", "test_size", st.floats(1.0, 1e3) | st.floats(-1e3, 0.0)),
    ("tune", "n_trials", st.integers(-100, 0)),
    ("tune", "cv_folds", st.integers(-5, 1) | st.integers(21, 500)),
    ("tune", "timeout", st.floats(-1e3, 0.0)),
    ("train", "cv_folds", st.integers(21, 500)),
    ("evaluate", "min_slice_rows", st.integers(-10, 0)),
    ("evaluate", "calibration_bins", st.integers(-10, 1)),
    ("evaluate", "permutation_repeats", st.integers(-10, 0)),
]


@SETTINGS
@given(data=st.data(), case=st.sampled_from(OUT_OF_RANGE))
def test_out_of_range_value_names_key_and_value(
    data: st.DataObject, case: tuple[str, str, st.SearchStrategy[Any]]
) -> None:
    section, key, values = case
    value = data.draw(values)
    err, path = config_error({section: {key: value}})
    assert exit_code(err) == 2
    assert str(path) in str(err)
    line = error_line(str(err), f"{section}.{key}")
    assert f"= {value!r}" in line


def test_each_bad_value_is_reported_not_just_the_first() -> None:
    err, _ = config_error({"tune": {"n_trials": 0}, "split": {"test_size": 2}})
    error_line(str(err), "tune.n_trials")
    error_line(str(err), "split.test_size")


@pytest.mark.parametrize("rule", ["f1", "youden", 0.3])
def test_threshold_accepts_rules_and_numbers_in_the_open_unit_interval(rule: Any) -> None:
    assert load_dict({"train": {"threshold": rule}}).train.threshold == rule


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.2, "f2"])
def test_threshold_outside_rules_and_range_is_refused(bad: Any) -> None:
    err, _ = config_error({"train": {"threshold": bad}})
    line = error_line(str(err), "train.threshold")
    assert f"= {bad!r}" in line


def test_threshold_error_names_only_real_keys() -> None:
    # Each reported key must be a path a user could write in params.yaml; pydantic's internal
    # union member names ('constrained-float', ...) are not keys.
    err, _ = config_error({"train": {"threshold": 1.5}})
    keys = {ln.strip().split(" ", 1)[0] for ln in str(err).splitlines()[1:]}
    assert keys == {"train.threshold"}, str(err)


def test_unknown_derived_feature_lists_the_registry() -> None:
    err, _ = config_error({"features": {"derived": ["net_capital", "shoe_size"]}})
    line = error_line(str(err), "features.derived")
    assert "shoe_size" in line
    for name in REGISTRY:
        assert name in line


def test_derived_feature_listed_twice_is_refused() -> None:
    err, _ = config_error({"features": {"derived": ["net_capital", "net_capital"]}})
    assert "twice" in error_line(str(err), "features.derived")


def test_unknown_tuning_parameter_names_family_parameter_and_allowed() -> None:
    space = {"hist_gradient_boosting": {"learning_rat": {"type": "float", "low": 0.1, "high": 1}}}
    err, _ = config_error({"tune": {"search_space": space}})
    line = error_line(str(err), "tune.search_space")
    assert "learning_rat" in line
    assert "hist_gradient_boosting" in line
    assert "learning_rate" in line  # the allowed list


def test_parameters_fixed_by_gitml_cannot_be_tuned() -> None:
    space = {"logistic_regression": {"random_state": {"type": "int", "low": 0, "high": 5}}}
    with pytest.raises(ValueError, match="random_state"):
        TuneConfig.model_validate({"search_space": space})


def test_unknown_model_family_is_refused() -> None:
    err, _ = config_error({"tune": {"search_space": {"random_forest": {}}}})
    assert "random_forest" in str(err)
    assert "hist_gradient_boosting" in str(err)


def test_empty_search_space_is_refused() -> None:
    err, _ = config_error({"tune": {"search_space": {}}})
    assert "tune.search_space" in str(err)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "low > 0"),
        ({"type": "float", "low": 2.0, "high": 1.0}, "low <= high"),
        ({"type": "int", "low": 5, "high": 1}, "low <= high"),
        ({"type": "categorical", "choices": []}, "at least 1"),
    ],
)
def test_bad_search_ranges_are_refused(spec: dict[str, Any], words: str) -> None:
    err, _ = config_error({"tune": {"search_space": {"logistic_regression": {"C": spec}}}})
    assert "tune.search_space.logistic_regression.C" in str(err)
    assert words in str(err)


def test_search_space_parses_typed_parameters() -> None:
    cfg = TuneConfig.model_validate(
        {
            "search_space": {
                "logistic_regression": {
                    "C": {"type": "float", "low": 0.1, "high": 2, "log": True},
                    "max_iter": {"type": "int", "low": 10, "high": 20},
                    "penalty": {"type": "categorical", "choices": ["l2", None]},
                }
            }
        }
    )
    c = cfg.search_space["logistic_regression"]
    assert type(c["C"]).__name__ == "FloatParam"
    assert type(c["max_iter"]).__name__ == "IntParam"
    assert c["penalty"].choices == ["l2", None]  # type: ignore[union-attr]


def test_group_and_time_split_together_are_refused() -> None:
    err, _ = config_error({"split": {"group_column": "a", "time_column": "b"}})
    assert "split" in str(err)
    assert "not both" in str(err)


def test_slices_cannot_use_the_target() -> None:
    err, _ = config_error({"evaluate": {"slices": ["gender", "income"]}})
    assert "evaluate.slices" in str(err)
    assert "income" in str(err)


def test_unknown_text_encoding_is_refused() -> None:
    err, _ = config_error({"data": {"encoding": "utf-9"}})
    assert "data.encoding = 'utf-9'" in str(err)


def test_slices_are_checked_against_the_schema_before_anything_runs(tmp_path: Path) -> None:
    from gitml.config import Params, check_columns

    (tmp_path / "s.yaml").write_text("columns:\n  sex: {dtype: str}\n  mean_radius: {}\n")

    def params(slices: list[str], drop: list[str] | None = None) -> Params:
        return Params.model_validate(
            {
                "validate": {"schema_file": "s.yaml"},
                "evaluate": {"slices": slices},
                "data": {"drop_columns": drop or []},
            }
        )

    check_columns(params(["sex"]), tmp_path)
    with pytest.raises(ConfigError, match=r"'sexx' is not in the data contract s.yaml; did you"):
        check_columns(params(["sexx"]), tmp_path)
    with pytest.raises(ConfigError, match=r"'mean radius'.*did you mean 'mean_radius'"):
        check_columns(params(["mean radius"]), tmp_path)
    with pytest.raises(ConfigError, match=r"'sex' is in data\.drop_columns"):
        check_columns(params(["sex"], ["Sex"]), tmp_path)
    check_columns(params(["sexx"]), tmp_path / "elsewhere")  # no schema: validate reports it


def test_a_check_that_names_its_key_does_not_echo_the_whole_section() -> None:
    """A section's own check (a binary target without data.positive_class) names the key in its
    message: the line was prefixed by `data = {...}`, the whole section as a Python dict."""
    err, path = config_error({"data": {"source": "t.csv", "target": "y", "positive_class": None}})
    assert str(err) == (
        f"{path}: 1 invalid value(s)\n  data.positive_class: a binary target needs the label "
        "value that is 1 (or set data.task to multiclass or regression)"
    )


def test_an_unknown_mapping_key_is_not_echoed_as_its_own_value() -> None:
    floors = {"slice_floors": {"f1_macro": 0.5}}
    err, _ = config_error({"promotion": floors})
    line = error_line(str(err), "promotion.slice_floors.f1_macro:")
    assert line.strip().startswith("promotion.slice_floors.f1_macro: 'f1_macro' is not a slice")
    # no valid data.task to take the names from: the type's own (every task's)
    err, _ = config_error({"data": {"task": "ranking"}, "promotion": floors})
    line = error_line(str(err), "promotion.slice_floors.f1_macro:")
    assert line.strip().startswith("promotion.slice_floors.f1_macro: unknown key; allowed")
