"""gitml init decides how to read the file, what to drop and why, the positive class, slices."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gitml.config import load_params
from gitml.errors import ConfigError, DataError
from gitml.project import init, profile
from tests.helpers import DEFAULT_PARAMS

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("sep", "name"), [(",", "t.csv"), (";", "t.csv"), ("\t", "t.tsv"), ("|", "t.txt")]
)
def test_delimiter_is_detected(tmp_path: Path, sep: str, name: str) -> None:
    path = tmp_path / name
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y, z", "w"], "c": [0, 1, 0]}).to_csv(
        path, sep=sep, index=False
    )
    assert profile.detect_text_format(str(path)) == (sep, "utf-8")


def test_latin1_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes("city,y\nCafé,1\nParis,0\n".encode("latin-1"))
    assert profile.detect_text_format(str(path))[1] == "cp1252"


def frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "row": np.arange(n, dtype=float),
            "user_id": [f"u{i}" for i in range(n)],
            "comment": [f"the customer said thing number {i}" for i in range(n)],
            "code": [f"c{i % 150}" for i in range(n)],
            "constant": ["same"] * n,
            "age": rng.integers(18, 80, n).astype(float),
            "sex": rng.choice(["f", "m"], n),
            "y": rng.choice(["0", "1"], n),
        }
    )


def test_columns_left_out_each_with_a_reason() -> None:
    cols = {c.name: c for c in profile.profile(frame(), "y", set(), set())}
    reasons = {n: c.drop_reason for n, c in cols.items() if c.drop_reason}
    assert set(reasons) == {"row", "user_id", "comment", "constant"}
    assert reasons["row"].startswith("row number")
    assert reasons["user_id"].startswith("identifier")
    assert reasons["comment"].startswith("free text")
    assert reasons["constant"].startswith("one value only")
    assert cols["code"].drop_reason is None and cols["age"].drop_reason is None


def test_a_date_column_is_left_out_as_dates_and_points_to_time() -> None:
    """Dates are no category (each new day is one the model never saw) and no code: the
    reason says what they are and how to use them (--time), many distinct days or few."""
    df = frame()
    days = pd.date_range("2024-01-01", periods=len(df), freq="D")
    df["signed on"] = days.strftime("%d/%m/%Y")  # 200 distinct values: under max_categories
    df["month"] = days.strftime("%Y-%m-01")  # 7 values
    cols = {c.name: c for c in profile.profile(df, "y", set(), set())}
    for name in ("signed on", "month"):
        reason = cols[name].drop_reason or ""
        assert reason.startswith("dates (e.g. "), reason
        assert f"--time {shlex.quote(name)}" in reason
    assert cols["code"].drop_reason is None  # 'c12' is no date
    kept = {c.name: c for c in profile.profile(df, "y", {"month"}, set())}
    assert kept["month"].drop_reason is None  # the --time column is never dropped


def test_positive_class_choice() -> None:
    assert init.choose_positive(["0", "1"], None)[0] == 1
    assert init.choose_positive(["no", "yes"], None)[0] == "yes"
    assert init.choose_positive(["common", "rare"], None) == (
        "rare",
        "the rarer label (--positive-class to change)",
    )
    assert init.choose_positive(["approved", "declined"], "declined")[0] == "declined"
    with pytest.raises(ConfigError, match=r"did you mean 'approved'"):
        init.choose_positive(["approved", "declined"], "aproved")
    with pytest.raises(DataError, match="needs exactly two"):
        init.choose_positive(["a", "b", "c"], None)


def test_slices_prefer_sensitive_attributes() -> None:
    df = pd.DataFrame({"region": list("abcd") * 5, "gender": list("fm") * 10})
    cols = profile.profile(df, "none", set(), set())
    assert init.pick_slices(df, cols)[0] == ["gender"]
    df = df.drop(columns="gender")
    assert init.pick_slices(df, profile.profile(df, "none", set(), set()))[0] == ["region"]


def test_init_writes_params_that_load_and_keeps_comments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(DEFAULT_PARAMS.read_text())
    (tmp_path / "data.csv").write_text(frame().to_csv(index=False))
    result = init.run("data.csv", "y", ids=["code"])
    params = load_params("params.yaml")
    assert params.data.source == "data.csv" and params.data.positive_class == 1
    assert params.data.drop_columns == ["row", "user_id", "comment", "code", "constant"]
    assert params.validate_.schema_file == "schema/data.schema.yaml"
    assert params.evaluate.slices == ["sex"] and params.features.derived == []
    assert params.tune.n_trials == 30  # untouched
    text = (tmp_path / "params.yaml").read_text()
    assert "# identifier (named by --id)" in text and "# the rarer label" not in text
    assert "# Every key is validated" in text  # the template's comments stay
    schema = yaml.safe_load((tmp_path / "schema" / "data.schema.yaml").read_text())
    assert set(schema["columns"]) == {"age", "sex", "y"}
    assert {d.key for d in result.decisions} >= {"data.delimiter", "validate.max_missing_rate"}
    with pytest.raises(ConfigError, match="would overwrite reviewed file"):
        init.run("data.csv", "y")  # other options (no --id code): another draft


def test_an_experiment_on_init_s_params_changes_only_its_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dvc exp run -S` rewrites params.yaml with ruamel's defaults: init writes lists the same
    way, so an experiment's diff is its key (and quotes DVC drops), not every list re-indented;
    the untouched template keys stay as they were."""
    from dvc.utils.serialize import modify_yaml

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(DEFAULT_PARAMS.read_text())
    (tmp_path / "data.csv").write_text(frame().to_csv(index=False))
    init.run("data.csv", "y", ids=["code"])
    before = (tmp_path / "params.yaml").read_text().splitlines()
    template = DEFAULT_PARAMS.read_text().splitlines()
    markers = template.index("  missing_markers:")
    assert template[markers : markers + 6] == before[before.index("  missing_markers:") :][:6]
    with modify_yaml(tmp_path / "params.yaml") as params:
        params["tune"]["n_trials"] = 5
    after = (tmp_path / "params.yaml").read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert [b.split("#")[0].strip() for _, b in changed] == ["n_trials: 5"]


def test_rerunning_init_with_the_same_file_and_options_is_a_no_op(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(DEFAULT_PARAMS.read_text())
    (tmp_path / "data.csv").write_text(frame().to_csv(index=False))
    assert not init.run("data.csv", "y", ids=["code"]).unchanged
    files = [tmp_path / "params.yaml", tmp_path / "schema" / "data.schema.yaml"]
    first = [f.read_text() for f in files]
    again = init.run("data.csv", "y", ids=["code"])  # as docs/your-own-data.md says: no --force
    assert [f.read_text() for f in files] == first
    assert again.unchanged  # the CLI says "nothing written", not "wrote …: review them"
    # a reviewed edit is not overwritten without --force
    files[1].write_text(first[1] + "# reviewed: age may be missing\n")
    with pytest.raises(ConfigError, match=r"schema/data.schema.yaml \(differs from a fresh"):
        init.run("data.csv", "y", ids=["code"])
    init.run("data.csv", "y", ids=["code"], force=True)
    assert [f.read_text() for f in files] == first


def test_a_time_column_is_kept_and_not_called_an_identifier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    df = frame(300).drop(columns=["row", "user_id", "comment", "constant", "code"])
    df["signup date"] = pd.date_range("2024-01-01", periods=len(df), freq="h").astype(str)
    (tmp_path / "data.csv").write_text(df.to_csv(index=False))
    result = init.run("data.csv", "y", time_column="signup date", max_rows=1000)
    assert not [w for w in result.warnings if "signup_date" in w], result.warnings
    assert load_params("params.yaml").split.time_column == "signup_date"


def test_a_big_parquet_file_is_sampled_and_its_ranges_widened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    df = frame(400).drop(columns=["row", "user_id", "comment", "constant"])
    df.to_parquet(tmp_path / "big.parquet")
    result = init.run("big.parquet", "y", max_rows=100)
    assert result.decisions[0].why == "profiled first 100 rows"
    assert any("sample" in w for w in result.warnings)
    schema = yaml.safe_load((tmp_path / "schema" / "big.schema.yaml").read_text())
    low, high = df["age"].head(100).min(), df["age"].head(100).max()
    assert schema["columns"]["age"]["in_range"]["min_value"] == pytest.approx(
        low - 0.1 * (high - low)
    )
    assert load_params("params.yaml").validate_.min_rows == 50
