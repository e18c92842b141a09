"""Every bad input catalogued in docs/bad-inputs.md, through the real `gitml` CLI.

Each case starts from the Adult sample written as CSV, breaks one thing, and checks what a user
sees: the exit code (1 bad data, 2 bad configuration), a message that names the file / column /
rule / key / value, no traceback, and no half-written output. Each case also checks that its
row in docs/bad-inputs.md holds exactly the message the command printed; `make docs` (or
`GITML_WRITE_DOCS=1 pytest tests/integration/test_bad_inputs.py -k catalogue`) rewrites the page
from fresh runs of every case.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.docs import bad_inputs_page as page
from tests.helpers import ROOT, default_params, run, tool_env

SCHEMA = ROOT / "schema" / "adult.schema.yaml"
BASE_PARAMS: dict[str, Any] = default_params()

# A builder writes the (broken) data file into the folder and returns the path for data.source.
Builder = Callable[[Path, pd.DataFrame], Path]
ParamsEdit = Callable[[dict[str, Any], Path], None]


def run_gitml(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # A wide "terminal": rich wraps long lines at the width, and the page shows whole lines.
    env = {**tool_env(), "COLUMNS": "1000"}
    return subprocess.run(["gitml", *args], cwd=cwd, env=env, capture_output=True, text=True)


def _csv(folder: Path, df: pd.DataFrame, name: str = "raw.csv", **kwargs: Any) -> Path:
    path = folder / name
    df.to_csv(path, index=False, **kwargs)
    return path


def write_params(folder: Path, source: Path, edit: ParamsEdit | None) -> None:
    """params.yaml with paths relative to the folder, as a user writes them (the messages name
    them as written): data.source `raw.csv`, validate.schema_file `schema.yaml` (a copy)."""
    params = copy.deepcopy(BASE_PARAMS)
    params["data"]["source"] = str(source.relative_to(folder) if source.is_absolute() else source)
    (folder / "schema.yaml").write_text(SCHEMA.read_text(encoding="utf-8"), encoding="utf-8")
    params["validate"]["schema_file"] = "schema.yaml"
    if edit:
        edit(params, folder)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


def assert_clean_failure(
    proc: subprocess.CompletedProcess[str], code: int, says: list[str]
) -> None:
    output = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == code, output
    assert "Traceback" not in proc.stderr, output
    # rich wraps the violation lines at the terminal width: compare with whitespace collapsed
    flat = " ".join(proc.stderr.split())
    for text in says:
        assert " ".join(text.split()) in flat, f"{text!r} not in the message\n{output}"


def test_the_unbroken_sample_passes(tmp_path: Path, adult_sample: pd.DataFrame) -> None:
    """The control: every failure below comes from the one thing its case breaks."""
    write_params(tmp_path, _csv(tmp_path, adult_sample), None)
    run(["gitml", "stage", "ingest"], tmp_path)
    run(["gitml", "stage", "validate"], tmp_path)
    assert (tmp_path / "data" / "validated.parquet").exists()


# --------------------------------------------------------------------------- ingest: bad files


def empty_file(d: Path, df: pd.DataFrame) -> Path:
    (d / "raw.csv").write_bytes(b"")
    return d / "raw.csv"


def header_only(d: Path, df: pd.DataFrame) -> Path:
    (d / "raw.csv").write_text(",".join(df.columns) + "\n", encoding="utf-8")
    return d / "raw.csv"


def wrong_delimiter(d: Path, df: pd.DataFrame) -> Path:
    return _csv(d, df, sep=";")


def missing_target(d: Path, df: pd.DataFrame) -> Path:
    return _csv(d, df.drop(columns=["income"]))


def non_utf8(d: Path, df: pd.DataFrame) -> Path:
    df = df.astype({"native_country": object})
    df.loc[[4, 8], "native_country"] = "Café"  # data row 4 is line 6 of the file
    return _csv(d, df, encoding="latin-1")


def unknown_extension(d: Path, df: pd.DataFrame) -> Path:
    return _csv(d, df, name="raw.xlsx")


def nonexistent_file(d: Path, df: pd.DataFrame) -> Path:
    return d / "nope.csv"


def corrupt_parquet(d: Path, df: pd.DataFrame) -> Path:
    (d / "raw.parquet").write_bytes(b"PAR1 this is not a Parquet file")
    return d / "raw.parquet"


def ragged_row(d: Path, df: pd.DataFrame) -> Path:
    path = _csv(d, df)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[6] = lines[6].rstrip("\n") + ",extra,fields\n"  # line 7 of the file
    path.write_text("".join(lines), encoding="utf-8")
    return path


def name_clash(d: Path, df: pd.DataFrame) -> Path:
    return _csv(d, df.assign(Age=df["age"]))


def unknown_builtin(d: Path, df: pd.DataFrame) -> Path:
    return Path("builtin:iris")


INGEST_FAILURES: dict[str, tuple[Builder, list[str]]] = {
    "empty_file": (empty_file, ["raw.csv", "the file is empty (no header, no rows)"]),
    "header_only": (header_only, ["raw.csv", "has column names but no data rows"]),
    "wrong_delimiter": (
        wrong_delimiter,
        ["raw.csv", "separated by ';', not ','", "set data.delimiter"],
    ),
    "missing_target": (
        missing_target,
        ["data.target", "column 'income' not found in", "raw.csv", "columns are: age, "],
    ),
    "non_utf8_bytes": (
        non_utf8,
        ["raw.csv", "not valid utf-8 text", "b'\\xe9' on line 6", "Caf\\xe9", "data.encoding"],
    ),
    "unknown_extension": (
        unknown_extension,
        ["raw.xlsx", "unknown file type '.xlsx'", "data.source must end in one of .parquet"],
    ),
    "nonexistent_file": (nonexistent_file, ["data.source", "nope.csv", "not found"]),
    "corrupt_parquet": (
        corrupt_parquet,
        ["raw.parquet", "cannot read as Parquet", "magic bytes not found"],
    ),
    "ragged_row": (ragged_row, ["raw.csv", "cannot parse as CSV", "in line 7, saw 16"]),
    "column_name_clash": (
        name_clash,
        ["raw.csv", "['age', 'Age'] all become 'age'", "Rename one of them"],
    ),
    "unknown_builtin_data_set": (
        unknown_builtin,
        ["data.source: unknown built-in data set 'builtin:iris'; available: builtin:adult"],
    ),
}


@pytest.mark.parametrize("case", list(INGEST_FAILURES))
def test_bad_data_file_stops_ingest(case: str, tmp_path: Path, adult_sample: pd.DataFrame) -> None:
    test = f"test_bad_data_file_stops_ingest[{case}]"
    proc = BY_TEST[test].run(tmp_path, adult_sample)

    assert_clean_failure(proc, 1, INGEST_FAILURES[case][1])
    page.assert_documented(CATALOGUE, test, proc, tmp_path)
    assert not (tmp_path / "data").exists(), "ingest wrote output for a file it rejected"


# --------------------------------------------------------------------------- validate: bad data


@dataclass(frozen=True)
class Violates:
    """What the validation report must contain: a violation of `rule` on `column`."""

    column: str
    rule: str  # prefix of the rule text
    count: int  # rows
    says: list[str] = field(default_factory=list)  # also expected on stderr


def third_class(d: Path, df: pd.DataFrame) -> Path:
    df = df.copy()
    df.loc[[3, 10, 20], "income"] = "maybe"
    return _csv(d, df)


def wrong_type(d: Path, df: pd.DataFrame) -> Path:
    df = df.astype({"age": object})
    df.loc[[5, 7, 9], "age"] = "abc"
    return _csv(d, df)


def all_missing(d: Path, df: pd.DataFrame) -> Path:
    return _csv(d, df.assign(occupation=np.nan))


def huge_cardinality(d: Path, df: pd.DataFrame) -> Path:
    return _csv(d, df.assign(customer=[f"customer-{i:05d}" for i in range(len(df))]))


def missing_schema_column(d: Path, df: pd.DataFrame) -> Path:
    return _csv(d, df.drop(columns=["race"]))


def out_of_range(d: Path, df: pd.DataFrame) -> Path:
    df = df.copy()
    df.loc[[1, 2], "hours_per_week"] = 500
    return _csv(d, df)


def sample_csv(d: Path, df: pd.DataFrame) -> Path:
    return _csv(d, df)


def too_few_rows(d: Path, df: pd.DataFrame) -> Path:
    return _csv(d, df.head(500))


def duplicate_rows(d: Path, df: pd.DataFrame) -> Path:
    df = df.drop_duplicates()  # the sample's own duplicates would change the count
    return _csv(d, pd.concat([df, df.head(600)], ignore_index=True))


def rare_positive_class(d: Path, df: pd.DataFrame) -> Path:
    positive = df.index[df["income"] == ">50K"]
    return _csv(d, df.drop(index=positive[40:]))


def positive_class_absent(params: dict[str, Any], d: Path) -> None:
    params["data"]["positive_class"] = "yes"


def positive_class_wrong_case(params: dict[str, Any], d: Path) -> None:
    params["data"]["positive_class"] = ">50k"


def leaky_column(d: Path, df: pd.DataFrame) -> Path:
    """capital_loss recorded after the outcome: set for every >50K row, 0 otherwise."""
    rich = (df["income"] == ">50K").to_numpy()
    noise = np.random.default_rng(0).integers(0, 3000, len(df))
    return _csv(d, df.assign(capital_loss=np.where(rich, 1000 + noise, 0).astype(float)))


VALIDATE_FAILURES: dict[str, tuple[Builder, ParamsEdit | None, list[Violates]]] = {
    "third_target_class": (
        third_class,
        None,
        [
            Violates("income", "schema:isin(", 3),
            Violates(
                "income",
                "binary_target: 3 label(s) ['<=50K', '>50K', 'maybe'], need exactly two",
                3,
                ["- column income, rule binary_target", "{'row': 3, 'income': 'maybe'}"],
            ),
        ],
    ),
    "wrong_type_in_numeric_column": (
        wrong_type,
        None,
        [
            Violates(
                "age",
                "schema:dtype('float64') (values that cannot be read as this type)",
                3,
                [
                    "- column age, rule schema:dtype('float64')",
                    "3 row(s)",
                    "{'row': 5, 'age': 'abc'}",
                ],
            )
        ],
    ),
    "all_missing_column": (
        all_missing,
        None,
        [
            Violates(
                "occupation",
                "max_missing_rate: 1.0000 > 0.1",
                2000,
                ["- column occupation, rule max_missing_rate", "{'row': 0, 'occupation': None}"],
            )
        ],
    ),
    "huge_category_cardinality": (
        huge_cardinality,
        None,
        [
            Violates(
                "customer",
                "max_categories: 2000 distinct values > 200",
                2000,
                ["add it to data.drop_columns", "{'row': 0, 'customer': 'customer-00000'}"],
            ),
            Violates(
                "customer",
                "schema:column_in_schema",
                2000,
                ["- column customer, rule schema:column_in_schema"],
            ),
        ],
    ),
    "missing_schema_column": (
        missing_schema_column,
        None,
        [
            Violates(
                "race",
                "schema:column_in_dataframe",
                2000,
                ["- column race, rule schema:column_in_dataframe"],
            )
        ],
    ),
    "value_out_of_range": (
        out_of_range,
        None,
        [
            Violates(
                "hours_per_week",
                "schema:in_range(1.0, 99.0)",
                2,
                ["{'row': 1, 'hours_per_week': 500.0}"],
            )
        ],
    ),
    "too_few_rows": (
        too_few_rows,
        None,
        [Violates("(table)", "min_rows: 500 < 1000", 500, ["- column (table), rule min_rows"])],
    ),
    "too_many_duplicate_rows": (
        duplicate_rows,
        None,
        [
            Violates(
                "(table)",
                "max_duplicate_rate: 0.",
                600,
                ["- column (table), rule max_duplicate_rate", "600 row(s)", "'income':"],
            )
        ],
    ),
    "label_imbalance": (
        rare_positive_class,
        None,
        [Violates("income", "min_minority_rate: 0.02", 40, ["min_minority_rate", "40 row(s)"])],
    ),
    "positive_class_not_a_label": (
        sample_csv,
        positive_class_absent,
        [
            Violates(
                "income",
                "positive_class: data.positive_class='yes' is not a label",
                2000,
                ["labels are ['<=50K', '>50K']"],
            )
        ],
    ),
    "positive_class_in_the_wrong_case": (
        sample_csv,
        positive_class_wrong_case,
        [
            Violates(
                "income",
                "positive_class: data.positive_class='>50k' is not a label in the data; "
                "did you mean '>50K'? labels are ['<=50K', '>50K']",
                2000,
            )
        ],
    ),
    "leaky_column": (
        leaky_column,
        None,
        [
            Violates(
                "capital_loss",
                "leakage:copy: capital_loss: a near copy of the target",
                2000,
                [
                    "- column capital_loss, rule leakage:copy",
                    "add it to data.drop_columns",
                    "list it in validate.leakage.allow",
                ],
            )
        ],
    ),
}


@pytest.mark.parametrize("case", list(VALIDATE_FAILURES))
def test_bad_data_fails_validation(case: str, tmp_path: Path, adult_sample: pd.DataFrame) -> None:
    expected = VALIDATE_FAILURES[case][2]
    test = f"test_bad_data_fails_validation[{case}]"
    proc = BY_TEST[test].run(tmp_path, adult_sample)

    says = [f"validate: {len(expected)} violation(s)", "report: reports/validation.json"]
    assert_clean_failure(proc, 1, says + [s for v in expected for s in v.says])
    page.assert_documented(CATALOGUE, test, proc, tmp_path)
    report = json.loads((tmp_path / "reports" / "validation.json").read_text(encoding="utf-8"))
    assert report["passed"] is False
    assert report["n_violations"] == len(expected), report["violations"]
    for want in expected:
        found = [
            v
            for v in report["violations"]
            if v["column"] == want.column and v["rule"].startswith(want.rule)
        ]
        assert len(found) == 1, (want, report["violations"])
        assert found[0]["count"] == want.count
        assert len(found[0]["examples"]) <= 5
    assert not (tmp_path / "data" / "validated.parquet").exists()


# --------------------------------------------------------------------------- params.yaml


def edit(section: str, key: str, value: Any) -> ParamsEdit:
    def apply(params: dict[str, Any], d: Path) -> None:
        params.setdefault(section, {})[key] = value

    return apply


def unknown_section(params: dict[str, Any], d: Path) -> None:
    params["trainn"] = {"cv_folds": 3}


def unknown_family(params: dict[str, Any], d: Path) -> None:
    params["tune"]["search_space"]["random_forest"] = {
        "n_estimators": {"type": "int", "low": 10, "high": 100}
    }


# An edit, or the whole text of params.yaml (for files that are not a params mapping at all).
PARAMS_FAILURES: dict[str, tuple[ParamsEdit | str, list[str]]] = {
    "unknown_key": (
        edit("tune", "n_trails", 5),
        [
            "params.yaml: 1 invalid value(s)",
            "tune.n_trails = 5: unknown key; did you mean 'n_trials'?",
            "allowed keys here: metric, n_trials,",
        ],
    ),
    "unknown_section": (
        unknown_section,
        ["params.yaml", "trainn = {'cv_folds': 3}: unknown key", "did you mean 'train'?"],
    ),
    "wrong_type": (
        edit("tune", "n_trials", "many"),
        ["params.yaml", "tune.n_trials = 'many'", "valid integer", "(allowed: >= 1)"],
    ),
    "out_of_range": (
        edit("split", "test_size", 1.5),
        ["params.yaml", "split.test_size = 1.5", "less than 1", "(allowed: > 0, < 1)"],
    ),
    "unknown_derived_feature": (
        edit("features", "derived", ["net_capital", "log_age"]),
        ["params.yaml", "features.derived", "unknown feature ['log_age']; allowed: ["],
    ),
    "unknown_model_family": (
        unknown_family,
        [
            "params.yaml",
            "tune.search_space.random_forest",
            # the families of this project's task (binary), not every task's
            "'random_forest' is not a model family of a binary model (data.task: binary); use "
            "one of hist_gradient_boosting, logistic_regression",
        ],
    ),
    "reproduce_tolerance_out_of_range": (
        edit("promotion", "reproduce_tolerance", 2),
        [
            "params.yaml",
            "promotion.reproduce_tolerance = 2",
            "less than or equal to 1",
            "(allowed: >= 0, <= 1)",
        ],
    ),
    "metric_the_task_lacks": (
        edit("promotion", "primary_metric", "rmse"),
        [
            "params.yaml",
            "promotion.primary_metric: 'rmse' is not a metric of a binary model "
            "(data.task: binary); use one of roc_auc, pr_auc, log_loss",
        ],
    ),
    "unknown_encoding": (
        edit("data", "encoding", "utf-9"),
        ["params.yaml", "data.encoding = 'utf-9': unknown text encoding", "latin-1"],
    ),
    "invalid_yaml": (
        "data:\n  source: [unclosed\n  target: income\n",
        ["params.yaml: not valid YAML: line 3, column 9: expected ',' or ']'"],
    ),
    "top_level_not_a_mapping": (
        "- data\n- tune\n",
        ["params.yaml: the top level must be a mapping of sections", "got list"],
    ),
}


@pytest.mark.parametrize("case", list(PARAMS_FAILURES))
def test_bad_params_stop_before_anything_is_written(
    case: str, tmp_path: Path, adult_sample: pd.DataFrame
) -> None:
    test = f"test_bad_params_stop_before_anything_is_written[{case}]"
    proc = BY_TEST[test].run(tmp_path, adult_sample)

    assert_clean_failure(proc, 2, PARAMS_FAILURES[case][1])
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "reports").exists()
    page.assert_documented(CATALOGUE, test, proc, tmp_path)


def test_validate_before_ingest(tmp_path: Path, adult_sample: pd.DataFrame) -> None:
    proc = BY_TEST["test_validate_before_ingest"].run(tmp_path, adult_sample)

    assert_clean_failure(
        proc, 1, ["data/ingested.parquet: not found; run the stage that writes it"]
    )
    assert not (tmp_path / "reports").exists()
    page.assert_documented(CATALOGUE, "test_validate_before_ingest", proc, tmp_path)


def test_missing_params_file(tmp_path: Path, adult_sample: pd.DataFrame) -> None:
    proc = BY_TEST["test_missing_params_file"].run(tmp_path, adult_sample)

    assert_clean_failure(proc, 2, ["nope.yaml: file not found"])
    assert not (tmp_path / "data").exists()
    page.assert_documented(CATALOGUE, "test_missing_params_file", proc, tmp_path)


# --------------------------------------------------------------------------- the schema file


def schema_elsewhere(text: str | None) -> ParamsEdit:
    """Point validate.schema_file at a copy in the temp folder with `text` (None: no file)."""

    def apply(params: dict[str, Any], d: Path) -> None:
        path = d / "schema.yaml"
        if text is None:
            path.unlink()
        else:
            path.write_text(text, encoding="utf-8")
        params["validate"]["schema_file"] = "schema.yaml"

    return apply


_GOOD_SCHEMA = SCHEMA.read_text(encoding="utf-8")
SCHEMA_FAILURES: dict[str, tuple[ParamsEdit, list[str]]] = {
    "missing_schema_file": (
        schema_elsewhere(None),
        [
            "schema.yaml: schema file not found (validate.schema_file)",
            "gitml schema infer data/ingested.parquet --out",
        ],
    ),
    "schema_with_misspelt_check": (
        schema_elsewhere(_GOOD_SCHEMA.replace("in_range:", "in_rang:", 1)),
        ["schema.yaml: columns.age.in_rang: unknown key"],
    ),
    "empty_schema_file": (
        schema_elsewhere(""),
        ["schema.yaml: the schema declares no columns, so it would check nothing"],
    ),
    "schema_not_yaml": (
        schema_elsewhere("columns: [age\n"),
        ["schema.yaml: schema file is not valid YAML: line 2, column 1"],
    ),
    "schema_with_unknown_dtype": (
        schema_elsewhere(_GOOD_SCHEMA.replace("dtype: float64", "dtype: floaty", 1)),
        ["schema.yaml: not a valid pandera schema: data type 'floaty' not understood"],
    ),
}


@pytest.mark.parametrize("case", list(SCHEMA_FAILURES))
def test_bad_schema_file_stops_validate(
    case: str, tmp_path: Path, adult_sample: pd.DataFrame
) -> None:
    test = f"test_bad_schema_file_stops_validate[{case}]"
    proc = BY_TEST[test].run(tmp_path, adult_sample)

    assert_clean_failure(proc, 2, SCHEMA_FAILURES[case][1])
    assert not (tmp_path / "reports").exists()
    assert not (tmp_path / "data" / "validated.parquet").exists()
    page.assert_documented(CATALOGUE, test, proc, tmp_path)


# --------------------------------------------------------------------------- the catalogue page

Proc = subprocess.CompletedProcess[str]


def _ingest_case(case: str) -> page.Runner:
    def go(d: Path, df: pd.DataFrame) -> Proc:
        write_params(d, INGEST_FAILURES[case][0](d, df), None)
        return run_gitml(["stage", "ingest"], d)

    return go


def _ingested(d: Path, source: Path, edit: ParamsEdit | None) -> None:
    write_params(d, source, edit)
    ingest = run_gitml(["stage", "ingest"], d)
    assert ingest.returncode == 0, ingest.stderr


def _validate_case(case: str) -> page.Runner:
    def go(d: Path, df: pd.DataFrame) -> Proc:
        build, edit, _ = VALIDATE_FAILURES[case]
        _ingested(d, build(d, df), edit)
        return run_gitml(["stage", "validate"], d)

    return go


def _params_case(case: str) -> page.Runner:
    def go(d: Path, df: pd.DataFrame) -> Proc:
        change = PARAMS_FAILURES[case][0]
        source = _csv(d, df)
        if isinstance(change, str):
            (d / "params.yaml").write_text(change, encoding="utf-8")
        else:
            write_params(d, source, change)
        return run_gitml(["stage", "ingest"], d)

    return go


def _schema_case(case: str) -> page.Runner:
    def go(d: Path, df: pd.DataFrame) -> Proc:
        _ingested(d, _csv(d, df), SCHEMA_FAILURES[case][0])
        return run_gitml(["stage", "validate"], d)

    return go


def _validate_first(d: Path, df: pd.DataFrame) -> Proc:
    write_params(d, _csv(d, df), None)
    return run_gitml(["stage", "validate"], d)


def _no_params_file(d: Path, df: pd.DataFrame) -> Proc:
    return run_gitml(["stage", "ingest", "--params", "nope.yaml"], d)


_INGEST_WHAT = {
    "empty_file": "`data.source` is an empty (0-byte) file",
    "header_only": "the file has a header line and no data rows",
    "wrong_delimiter": "the file is separated by `;` but `data.delimiter` is `,`",
    "missing_target": "the file has no `data.target` column (`income`)",
    "non_utf8_bytes": "the file is latin-1 (`Café` as byte `0xE9`) but `data.encoding` is utf-8",
    "unknown_extension": "`data.source` is an `.xlsx` file",
    "nonexistent_file": "`data.source` names a file that does not exist (relative path)",
    "corrupt_parquet": "`data.source` is a `.parquet` file that is not Parquet",
    "ragged_row": "a CSV row has more fields than the header (line 7)",
    "column_name_clash": "two columns, `age` and `Age`, become the same snake_case name",
    "unknown_builtin_data_set": "`data.source: builtin:iris`",
}
_VALIDATE_WHAT = {
    "positive_class_in_the_wrong_case": (
        '`data.positive_class: ">50k"`, the right label in the wrong case'
    ),
    "leaky_column": (
        "a column recorded after the outcome (`capital_loss` set for every `>50K` row)"
    ),
    "third_target_class": "the target has a third class (`maybe` in 3 rows)",
    "wrong_type_in_numeric_column": "a numeric column has text (`age` is `abc` in 3 rows)",
    "all_missing_column": "a column is entirely missing (`occupation`)",
    "huge_category_cardinality": "an extra text column with 2,000 distinct values (an id)",
    "missing_schema_column": "a column the schema requires is absent (`race`)",
    "value_out_of_range": "values outside the reviewed range (`hours_per_week` = 500)",
    "too_few_rows": "500 rows, fewer than `validate.min_rows` (1000)",
    "too_many_duplicate_rows": (
        "23% exact duplicate rows, more than `validate.max_duplicate_rate`"
    ),
    "label_imbalance": "the positive class is 2.6% of rows, under `validate.min_minority_rate`",
    "positive_class_not_a_label": '`data.positive_class: "yes"`, a value the target never takes',
}
_PARAMS_WHAT = {
    "unknown_key": "misspelt key `tune.n_trails`",
    "unknown_section": "unknown top-level section `trainn`",
    "wrong_type": "`tune.n_trials: many`",
    "out_of_range": "`split.test_size: 1.5`",
    "unknown_derived_feature": (
        "`features.derived` names a feature that does not exist (`log_age`)"
    ),
    "unknown_model_family": (
        "`tune.search_space` has a family gitml does not know (`random_forest`)"
    ),
    "reproduce_tolerance_out_of_range": "`promotion.reproduce_tolerance: 2`",
    "metric_the_task_lacks": "`promotion.primary_metric: rmse` (regression) in a binary project",
    "unknown_encoding": "`data.encoding: utf-9`",
    "invalid_yaml": "params.yaml is not valid YAML (an unclosed `[`)",
    "top_level_not_a_mapping": "params.yaml is a YAML list, not sections",
}
_INIT_WHAT = {
    "init_positive_class_absent": "`--positive-class yes`, a value the target never takes",
    "init_positive_class_near_miss": "`--positive-class '>50k'` (wrong case)",
    "init_target_class_too_rare": "the target has a third class in 3 rows (multiclass)",
    "init_ambiguous_integer_target": "`--target education_num`: 16 whole numbers, no `--task`",
    "init_text_in_a_regression_target": "`--task regression` on a text target",
    "init_constant_target": "every row has the same target value",
    "init_unknown_target": "`--target salary`, not a column",
    "init_would_overwrite_reviewed_params": "`params.yaml` already points at other data (reviewed)",
}


def _init_case(case: str) -> page.Runner:
    def go(d: Path, df: pd.DataFrame) -> Proc:
        build, args, _, _ = INIT_FAILURES[case]
        source = build(d, df)
        return run_gitml(["init", source.name, *args(d, df)], d)

    return go


_SCHEMA_WHAT = {
    "missing_schema_file": "`validate.schema_file` does not exist",
    "schema_with_misspelt_check": (
        "a check name is misspelt (`in_rang:`), which pandera would silently ignore"
    ),
    "empty_schema_file": "the schema file is empty (it would check nothing)",
    "schema_not_yaml": "the schema file is not valid YAML",
    "schema_with_unknown_dtype": "a column has an unknown dtype (`floaty`)",
}

# --------------------------------------------------------------------------- promote
# A project whose HEAD's dvc.lock names a model; the workspace holds another, or the same one
# outside the DVC cache. Fixed commit dates: the message names the commit.
FIXED_DATES = {
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}


def _promote_repo(d: Path, committed: bytes, here: bytes, cached: bool) -> None:
    import hashlib

    from gitml.registry.servable import cache_path

    artifacts = yaml.safe_load((ROOT / "dvc.yaml").read_text())["artifacts"]
    (d / "dvc.yaml").write_text(yaml.safe_dump({"artifacts": artifacts}))
    (d / "params.yaml").write_text(yaml.safe_dump(BASE_PARAMS, sort_keys=False))
    (d / "reports" / "evaluate").mkdir(parents=True)
    for name, obj in (("metrics.json", {"roc_auc": 0.9, "rows": 100}), ("slices.json", {})):
        (d / "reports" / "evaluate" / name).write_text(json.dumps(obj))
    out = {"path": "models/model.skops", "md5": hashlib.md5(committed).hexdigest()}
    lock = {"schema": "2.0", "stages": {"train": {"cmd": "gitml stage train", "outs": [out]}}}
    (d / "dvc.lock").write_text(yaml.safe_dump(lock))
    (d / ".gitignore").write_text("/models/\n/reports/promotion.*\n")
    run(["git", "init", "-q", "-b", "main"], d)
    run(["dvc", "init", "-q"], d)
    env = {**tool_env(), **FIXED_DATES}
    for cmd in (["git", "add", "-A"], ["git", "commit", "-qm", "train"]):
        subprocess.run(cmd, cwd=d, env=env, check=True, capture_output=True)
    (d / "models").mkdir()
    (d / "models" / "model.skops").write_bytes(here)
    if cached:
        path = cache_path(d, hashlib.md5(here).hexdigest())
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(here)


def built_elsewhere(d: Path) -> None:
    _promote_repo(d, b"a model built on another machine", b"the model built here", cached=True)


def not_cached(d: Path) -> None:
    _promote_repo(d, b"copied in by hand", b"copied in by hand", cached=False)


PROMOTE_FAILURES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "promote_model_never_built_here": (
        built_elsewhere,
        [
            "models/model.skops at HEAD",
            "holds that model nowhere",
            "not the DVC cache (",
            "`dvc pull`",
            "then promote again",
        ],
    ),
    "promote_model_not_in_the_dvc_cache": (
        not_cached,
        [
            "models/model.skops in the workspace",
            "is not in the DVC cache (expected at",
            "`dvc commit models/model.skops`",
        ],
    ),
}


def _promote_case(case: str) -> page.Runner:
    def go(d: Path, df: pd.DataFrame) -> Proc:
        PROMOTE_FAILURES[case][0](d)
        return run_gitml(["promote"], d)

    return go


# ------------------------------------------------------------- caught where the mistake is made
# Each used to surface late (after tune and train, after loading the model) or point the wrong
# way; each now stops at once. The ones that need a model use tests/served_model (seconds).


def _served(d: Path, df: pd.DataFrame) -> Path:
    from tests.served_model import model_repo

    return model_repo(d, df)


def _misspelt_slice(d: Path, df: pd.DataFrame) -> Proc:
    write_params(d, _csv(d, df), edit("evaluate", "slices", ["gender", "racee"]))
    return run_gitml(["check-params"], d)


def _schema_check_csv(d: Path, df: pd.DataFrame) -> Proc:
    write_params(d, _csv(d, df), None)
    new_rows = df.copy()
    new_rows.loc[[1, 2], "hours_per_week"] = 500
    _csv(d, new_rows, name="new_rows.csv")
    return run_gitml(["schema", "check", "new_rows.csv"], d)


def _predict_missing_input(d: Path, df: pd.DataFrame) -> Proc:
    write_params(d, _csv(d, df), None)  # no model here: the path is checked before it loads
    return run_gitml(["predict", "rows.csv", "--out", "scored.csv"], d)


def _predict_bad_suffix(d: Path, df: pd.DataFrame) -> Proc:
    write_params(d, _csv(d, df), None)
    _csv(d, df.drop(columns=["income"]), name="rows.csv")
    return run_gitml(["predict", "rows.csv", "--out", "scored.xlsx"], d)


def _predict_misspelt_column(d: Path, df: pd.DataFrame) -> Proc:
    repo = _served(d, df)
    rows = df.drop(columns=["income"]).head(50).rename(columns={"age": "Age", "race": "racee"})
    _csv(repo, rows, name="rows.csv")
    proc = run_gitml(["predict", "rows.csv", "--out", "scored.csv", "--no-fast-path"], repo)
    # the page shows no model hash: it is this machine's fit of the sample
    shown = re.sub(r"sha256 [0-9a-f]{12}…", "sha256 …", proc.stderr)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout, shown)


def _serve_port_in_use(d: Path, df: pd.DataFrame) -> Proc:
    import socket

    write_params(d, _csv(d, df), None)  # no model here: the port is checked before it loads
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_gitml(["serve", "--port", str(port)], d)
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout, proc.stderr.replace(str(port), "8000")
    )


def _serve_release_no_repository(d: Path, df: pd.DataFrame) -> Proc:
    write_params(d, _csv(d, df), None)  # no model here: the option is checked before it loads
    run(["git", "init", "-q"], d)
    run(["git", "remote", "add", "origin", "/srv/git/churn.git"], d)
    return run_gitml(["serve", "--stage", "prod", "--model-source", "release"], d)


EARLY_FAILURES: dict[str, tuple[page.Runner, int, list[str]]] = {
    "slice_not_a_column": (
        _misspelt_slice,
        2,
        ["evaluate.slices: column 'racee' is not in the data contract schema.yaml",
         "did you mean 'race'?"],
    ),
    "schema_check_on_a_csv": (
        _schema_check_csv,
        1,
        ["- column hours_per_week, rule schema:in_range(1.0, 99.0) (values outside the "
         "reviewed range): 2 row(s)"],
    ),
    "predict_input_not_found": (
        _predict_missing_input, 1, ["rows.csv: input file not found"],
    ),
    "predict_output_of_an_unknown_type": (
        _predict_bad_suffix, 2, ["scored.xlsx: unknown file type '.xlsx'; use .csv or .parquet"],
    ),
    "predict_columns_misspelt": (
        _predict_misspelt_column,
        1,
        ["rows.csv: the columns do not match the model's inputs",
         "unknown column 'Age': did you mean 'age'?",
         "unknown column 'racee': did you mean 'race'?"],
    ),
    "serve_port_in_use": (
        _serve_port_in_use,
        3,
        ["port 8000 on 127.0.0.1 is in use", "pass --port with a free port"],
    ),
    "serve_release_without_a_github_repository": (
        _serve_release_no_repository,
        2,
        ["the git remote 'origin' names no GitHub repository", "give --github-repo OWNER/NAME"],
    ),
}  # fmt: skip
# Over HTTP the "exit" is the status code and what is printed is the response body.
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
HTTP_DOCUMENTED: dict[str, tuple[str, Callable[[dict[str, Any]], Any], int, list[str]]] = {
    "row_with_a_misspelt_and_a_missing_column": (
        "/predict",
        lambda ex: {("agee" if k == "age" else k): v for k, v in ex.items() if k != "race"},
        422,
        ["\"loc\":[\"body\",\"row\",\"agee\"]", "unknown column 'agee': did you mean 'age'?",
         "\"loc\":[\"body\",\"row\",\"race\"]", "column 'race' is missing"],
    ),
    "row_in_the_files_own_names_with_a_typo": (
        "/predict",
        lambda ex: {
            {"education_num": "education-num", "hours_per_week": "hours-per-weak"}.get(k, k): v
            for k, v in ex.items()
        },
        422,
        ["unknown column 'hours-per-weak': did you mean 'hours-per-week'?"],
    ),
    "feedback_for_a_prediction_never_made": (
        "/feedback",
        lambda ex: {"prediction_id": UNKNOWN_ID, "label": 1},
        404,
        [f"unknown prediction_id {UNKNOWN_ID}: no prediction with this id is in the prediction"],
    ),
}  # fmt: skip
_HTTP_WHAT = {
    "row_with_a_misspelt_and_a_missing_column": (
        "`POST /predict` with `agee` for `age`, and no `race`"
    ),
    "row_in_the_files_own_names_with_a_typo": (
        "`POST /predict` in the file's own names (`education-num`), one misspelt (`hours-per-weak`)"
    ),
    "feedback_for_a_prediction_never_made": "`POST /feedback` for an id no prediction has",
}


def _http_case(case: str) -> page.Runner:
    def go(d: Path, df: pd.DataFrame) -> Proc:
        from fastapi.testclient import TestClient

        from gitml.serve.app import build
        from gitml.serve.resolve import resolve

        path, body, _, _ = HTTP_DOCUMENTED[case]
        resolved = resolve(_served(d, df))
        app, _, _ = build(resolved, f"sqlite:///{d}/log.db", fast_path=False)
        with TestClient(app) as client:
            resp = client.post(path, json=body(resolved.example))
        return subprocess.CompletedProcess([path], resp.status_code, "", resp.text)

    return go


@pytest.mark.parametrize("case", list(PROMOTE_FAILURES))
def test_promote_registers_only_a_model_this_workspace_can_serve(
    case: str, tmp_path: Path, adult_sample: pd.DataFrame
) -> None:
    proc = _promote_case(case)(tmp_path, adult_sample)
    assert_clean_failure(proc, 1, PROMOTE_FAILURES[case][1])
    test = f"test_promote_registers_only_a_model_this_workspace_can_serve[{case}]"
    page.assert_documented(CATALOGUE, test, proc, tmp_path)
    assert run(["git", "tag", "--list"], tmp_path).stdout == ""  # nothing registered


_PROMOTE_WHAT = {
    "promote_model_never_built_here": (
        "`gitml promote` on a commit whose model was built on another machine and never "
        "fetched (the workspace holds another)"
    ),
    "promote_model_not_in_the_dvc_cache": (
        "`gitml promote` with the right model file in the workspace, but not in the DVC cache"
    ),
}


@pytest.mark.parametrize("case", list(HTTP_DOCUMENTED))
def test_http_answer_names_the_problem(
    case: str, tmp_path: Path, adult_sample: pd.DataFrame
) -> None:
    _, _, status, says = HTTP_DOCUMENTED[case]
    test = f"test_http_answer_names_the_problem[{case}]"
    proc = BY_TEST[test].run(tmp_path, adult_sample)

    assert proc.returncode == status, proc.stderr
    for text in says:
        assert text in proc.stderr, f"{text!r} not in {proc.stderr}"
    page.assert_documented(CATALOGUE, test, proc, tmp_path)
    detail = json.loads(proc.stderr)["detail"]
    if isinstance(detail, list):  # one error per problem, none echoing the row
        assert len(detail) == len([t for t in says if "column" in t])
        assert all(not isinstance(e.get("input"), dict) for e in detail)


_EARLY_WHAT = {
    "slice_not_a_column": "`evaluate.slices` names a column that is not in the data (`racee`)",
    "schema_check_on_a_csv": (
        "`gitml schema check new_rows.csv`: a CSV in the source's format, 2 values out of range"
    ),
    "predict_input_not_found": "`gitml predict rows.csv` where there is no rows.csv",
    "predict_output_of_an_unknown_type": "`gitml predict rows.csv --out scored.xlsx`",
    "predict_columns_misspelt": "`gitml predict` on a file whose header says `Age` and `racee`",
    "serve_port_in_use": "`gitml serve` on a port another server holds",
    "serve_release_without_a_github_repository": (
        "`gitml serve --stage prod --model-source release` in a clone whose `origin` is a "
        "local path"
    ),
}


@pytest.mark.parametrize("case", list(EARLY_FAILURES))
def test_mistake_is_caught_where_it_is_made(
    case: str, tmp_path: Path, adult_sample: pd.DataFrame
) -> None:
    _, code, says = EARLY_FAILURES[case]
    test = f"test_mistake_is_caught_where_it_is_made[{case}]"
    proc = BY_TEST[test].run(tmp_path, adult_sample)

    assert_clean_failure(proc, code, says)
    page.assert_documented(CATALOGUE, test, proc, tmp_path)
    assert not list(tmp_path.rglob("scored.*")), "predict wrote output for a refused input"
    assert "model " not in proc.stderr or case == "predict_columns_misspelt", (
        "the model was loaded before a mistake that needs none was reported"
    )


# The page's order: its entry numbers.
CATALOGUE: list[page.Entry] = [
    *(
        page.Entry(f"test_bad_data_file_stops_ingest[{c}]", "ingest", w, _ingest_case(c))
        for c, w in _INGEST_WHAT.items()
    ),
    *(
        page.Entry(f"test_bad_data_fails_validation[{c}]", "validate", w, _validate_case(c))
        for c, w in _VALIDATE_WHAT.items()
    ),
    *(
        page.Entry(
            f"test_bad_params_stop_before_anything_is_written[{c}]", "params", w, _params_case(c)
        )
        for c, w in _PARAMS_WHAT.items()
    ),
    page.Entry(
        "test_missing_params_file", "params", "`--params nope.yaml` does not exist", _no_params_file
    ),
    *(
        page.Entry(f"test_bad_schema_file_stops_validate[{c}]", "schema", w, _schema_case(c))
        for c, w in _SCHEMA_WHAT.items()
    ),
    page.Entry(
        "test_validate_before_ingest",
        "order",
        "`gitml stage validate` before `gitml stage ingest`",
        _validate_first,
    ),
    *(
        page.Entry(f"test_bad_init_writes_nothing[{c}]", "init", w, _init_case(c))
        for c, w in _INIT_WHAT.items()
    ),
    *(
        page.Entry(
            f"test_promote_registers_only_a_model_this_workspace_can_serve[{c}]",
            "promote",
            w,
            _promote_case(c),
        )
        for c, w in _PROMOTE_WHAT.items()
    ),
    *(
        page.Entry(
            f"test_mistake_is_caught_where_it_is_made[{c}]", "early", w, EARLY_FAILURES[c][0]
        )
        for c, w in _EARLY_WHAT.items()
    ),
    *(
        page.Entry(f"test_http_answer_names_the_problem[{c}]", "http", w, _http_case(c))
        for c, w in _HTTP_WHAT.items()
    ),
]
BY_TEST = {e.test: e for e in CATALOGUE}


def test_every_case_is_catalogued() -> None:
    cases = (
        [f"test_bad_data_file_stops_ingest[{c}]" for c in INGEST_FAILURES]
        + [f"test_bad_data_fails_validation[{c}]" for c in VALIDATE_FAILURES]
        + [f"test_bad_params_stop_before_anything_is_written[{c}]" for c in PARAMS_FAILURES]
        + [f"test_bad_schema_file_stops_validate[{c}]" for c in SCHEMA_FAILURES]
        + ["test_missing_params_file", "test_validate_before_ingest"]
        + [f"test_bad_init_writes_nothing[{c}]" for c in INIT_FAILURES]
        + [
            f"test_promote_registers_only_a_model_this_workspace_can_serve[{c}]"
            for c in PROMOTE_FAILURES
        ]
        + [f"test_mistake_is_caught_where_it_is_made[{c}]" for c in EARLY_FAILURES]
        + [f"test_http_answer_names_the_problem[{c}]" for c in HTTP_DOCUMENTED]
    )
    assert sorted(cases) == sorted(BY_TEST)


def test_catalogue_page(tmp_path: Path, adult_sample: pd.DataFrame) -> None:
    """docs/bad-inputs.md: one row per case, in order (each case checks its own row's words);
    with GITML_WRITE_DOCS=1 every case is rerun and the page rewritten."""
    page.check_page(CATALOGUE, adult_sample, tmp_path)


# --------------------------------------------------------------------------- HTTP (`gitml serve`)
# The app `gitml serve` runs, in-process, around a model fitted on the sample (tests/served_model).
# Every case gets a 4xx whose body names the field or the limit, never a 500.


@dataclass
class HttpCase:
    path: str
    body: bytes | Callable[[dict[str, Any]], bytes] | Iterator[bytes]
    status: int
    says: list[str] = field(default_factory=list)  # texts in the response body
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})


def _row_with(**change: Any) -> Callable[[dict[str, Any]], bytes]:
    # json.dumps writes NaN / Infinity / -Infinity tokens (allow_nan), as a careless client does
    return lambda example: json.dumps({**example, **change}).encode()


def _rows_with(index: int, **change: Any) -> Callable[[dict[str, Any]], bytes]:
    def build(example: dict[str, Any]) -> bytes:
        rows = [dict(example) for _ in range(3)]
        rows[index].update(change)
        return json.dumps(rows).encode()

    return build


def _gzip_bomb() -> bytes:
    import gzip

    return gzip.compress(b"[" + b" " * (50 * 1024 * 1024) + b"]", compresslevel=9)  # 50 KB


def _chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    yield b'{"age": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


BIG = 11 * 1024 * 1024  # above the default 10 MB body limit
HTTP_FAILURES: dict[str, HttpCase] = {
    "nan_in_a_number": HttpCase(
        "/predict", _row_with(age=float("nan")), 422,
        ['"loc":["body","row","age"]', '"input":"NaN"', "Input should be a finite number"],
    ),
    "infinity_in_a_batch_row": HttpCase(
        "/predict", _rows_with(1, hours_per_week=float("inf")), 422,
        ['"loc":["body","rows",1,"hours_per_week"]', '"input":"Infinity"'],
    ),
    "minus_infinity": HttpCase(
        "/predict", _row_with(capital_gain=float("-inf")), 422,
        ['"loc":["body","row","capital_gain"]', '"input":"-Infinity"'],
    ),
    "number_too_large_for_a_float": HttpCase(
        "/predict", lambda ex: json.dumps(ex).replace(f'"age": {ex["age"]}', '"age": 1e999')
        .encode(), 422, ['"loc":["body","row","age"]', '"input":"Infinity"'],
    ),
    "nan_in_feedback": HttpCase(
        "/feedback",
        b'{"prediction_id": "00000000-0000-4000-8000-000000000000", "label": NaN}', 422,
        ['"loc":["body","label"]', '"input":"NaN"'],
    ),
    "category_longer_than_256_characters": HttpCase(
        "/predict", _row_with(workclass="x" * 5000), 422,
        ['"loc":["body","row","workclass"]', "String should have at most 256 characters",
         "(5,000 characters)"],
    ),
    "body_over_the_limit": HttpCase(
        "/predict", lambda ex: json.dumps({**ex, "workclass": "x" * BIG}).encode(), 413,
        ["the request body is larger than 10,485,760 bytes (the server's --max-body-mb)"],
    ),
    "chunked_body_over_the_limit": HttpCase(
        "/predict", _chunks(BIG), 413, ["the request body is larger than 10,485,760 bytes"],
    ),
    "text_plain_content_type": HttpCase(
        "/predict", _row_with(), 415,
        ["Content-Type 'text/plain' is not accepted; send the body as application/json"],
        {"content-type": "text/plain"},
    ),
    "form_content_type": HttpCase(
        "/feedback", b"prediction_id=x&label=1", 415,
        ["Content-Type 'application/x-www-form-urlencoded' is not accepted"],
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    "gzip_bomb": HttpCase(
        "/predict", _gzip_bomb(), 415,
        ["Content-Encoding 'gzip' is not accepted; send plain (uncompressed) JSON"],
        {"content-type": "application/json", "content-encoding": "gzip"},
    ),
    "duplicate_key": HttpCase(
        "/predict", lambda ex: json.dumps(ex)[:-1].encode() + b', "age": 99}', 422,
        ["duplicate key 'age' in a JSON object; send each field once"],
    ),
    "deeply_nested_json": HttpCase(
        "/predict", b"[" * 100_000 + b"]" * 100_000, 422,
        ["the JSON is nested too deeply; send one object or a list of objects"],
    ),
    "not_json": HttpCase(
        "/predict", b'{"age": 30,', 422, ['"type":"json_invalid"', "JSON decode error"],
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def http_app(tmp_path_factory: pytest.TempPathFactory, adult_sample: pd.DataFrame) -> Any:
    from fastapi.testclient import TestClient

    from gitml.serve.app import build
    from gitml.serve.resolve import resolve
    from tests.served_model import model_repo

    repo = model_repo(tmp_path_factory.mktemp("http") / "repo", adult_sample)
    app, log, _ = build(resolve(repo), f"sqlite:///{repo}/log.db")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, resolve(repo).example, log


def _predicted(client: Any) -> str:
    return next(
        line for line in client.get("/metrics").text.splitlines()
        if line.startswith("gitml_predictions_total ")
    )  # fmt: skip


@pytest.mark.parametrize("case", list(HTTP_FAILURES))
def test_bad_http_input_gets_a_4xx_naming_the_problem(case: str, http_app: Any) -> None:
    client, example, _ = http_app
    spec = HTTP_FAILURES[case]
    body = spec.body(example) if callable(spec.body) else spec.body
    before = _predicted(client)
    resp = client.post(spec.path, content=body, headers=spec.headers)
    assert resp.status_code == spec.status, resp.text[:2000]
    for text in spec.says:
        assert text in resp.text, f"{text!r} not in {resp.text[:2000]}"
    assert _predicted(client) == before  # nothing predicted, so nothing logged


def test_unseen_category_is_accepted_and_counted_over_http(http_app: Any) -> None:
    client, example, _ = http_app
    resp = client.post("/predict", json={**example, "workclass": "Space-agency"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["unseen"] == ["workclass"]
    assert 'gitml_unseen_categories_total{column="workclass"} 1.0' in client.get("/metrics").text


# --------------------------------------------------------------------------- gitml init


def reviewed_params(d: Path, df: pd.DataFrame) -> list[str]:
    write_params(d, _csv(d, df, name="other.csv"), None)  # params already point at a file
    return ["--target", "income"]


INIT_FAILURES: dict[
    str, tuple[Builder, Callable[[Path, pd.DataFrame], list[str]], int, list[str]]
] = {
    "init_positive_class_absent": (
        sample_csv,
        lambda d, df: ["--target", "income", "--positive-class", "yes"],
        2,
        ["--positive-class 'yes' is not a value of the target; labels are ['<=50K', '>50K']"],
    ),
    "init_positive_class_near_miss": (
        sample_csv,
        lambda d, df: ["--target", "income", "--positive-class", ">50k"],
        2,
        ["--positive-class '>50k' is not a value of the target; did you mean '>50K'?"],
    ),
    "init_target_class_too_rare": (
        third_class,
        lambda d, df: ["--target", "income"],
        1,
        ["--target: class(es) with fewer than 10 rows ('maybe': 3 row(s))", "too few to split"],
    ),
    "init_ambiguous_integer_target": (
        sample_csv,
        lambda d, df: ["--target", "education_num"],
        2,
        ["whole numbers, 16 distinct value(s)", "--task multiclass or --task regression"],
    ),
    "init_text_in_a_regression_target": (
        sample_csv,
        lambda d, df: ["--target", "income", "--task", "regression"],
        1,
        ["--task regression: the target holds text ['<=50K', '>50K']", "must be numeric"],
    ),
    "init_constant_target": (
        lambda d, df: _csv(d, df.assign(income="<=50K")),
        lambda d, df: ["--target", "income"],
        1,
        ["a constant target ('<=50K' in all", "nothing to learn"],
    ),
    "init_unknown_target": (
        sample_csv,
        lambda d, df: ["--target", "salary"],
        1,
        ["column 'salary' not found", "columns are: age, workclass"],
    ),
    "init_would_overwrite_reviewed_params": (
        sample_csv,
        reviewed_params,
        2,
        ["would overwrite reviewed file(s): params.yaml", "pass --force"],
    ),
}


@pytest.mark.parametrize("case", list(INIT_FAILURES))
def test_bad_init_writes_nothing(case: str, tmp_path: Path, adult_sample: pd.DataFrame) -> None:
    build, args, code, says = INIT_FAILURES[case]
    source = build(tmp_path, adult_sample)
    extra = args(tmp_path, adult_sample)
    before = (tmp_path / "params.yaml").read_text() if (tmp_path / "params.yaml").exists() else None

    proc = run_gitml(["init", source.name, *extra], tmp_path)

    assert_clean_failure(proc, code, says)
    page.assert_documented(CATALOGUE, f"test_bad_init_writes_nothing[{case}]", proc, tmp_path)
    after = (tmp_path / "params.yaml").read_text() if (tmp_path / "params.yaml").exists() else None
    assert after == before
    assert not (tmp_path / "schema").exists()
