"""registry.reproduce: how a committed number and CI's reproduction of it are compared.

The e2e tests (tests/e2e/registry/test_promote_ci.py) run the comparison through `gitml
promote`; here each rule of the comparison is checked on its own, with values worked by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from gitml.errors import DataError
from gitml.registry import reproduce
from gitml.registry.reproduce import Comparison, MetricDiff, OutputDiff
from tests.unit.registry.gitrepo import commit, init_repo

TOL = 1e-3
NAN = float("nan")
INF = float("inf")


# --------------------------------------------------------------------------- leaves


def test_leaves_are_numbers_and_nulls_by_dotted_key() -> None:
    obj = {
        "rows": 10,
        "roc_auc": 0.9,
        "confusion": {"tp": 3, "fn": None},
        "ranked": True,  # a boolean is not a number here
        "name": "x",
        "multi": {"classes": ["a", "b"], "matrix": [[3, 1], [0, None]]},  # cell by cell
        "columns": {"gender": {"values": {"Female": {"recall": 0.5}}}},
    }
    assert reproduce._leaves(obj) == {
        "rows": 10,
        "roc_auc": 0.9,
        "confusion.tp": 3,
        "confusion.fn": None,
        "multi.matrix.0.0": 3,
        "multi.matrix.0.1": 1,
        "multi.matrix.1.0": 0,
        "multi.matrix.1.1": None,
        "columns.gender.values.Female.recall": 0.5,
    }
    assert reproduce._leaves({}) == {}


# --------------------------------------------------------------------------- judge


@pytest.mark.parametrize(
    ("key", "a", "b", "rows", "expected"),
    [
        # null on both sides agrees; null on one side is beyond any tolerance
        ("x", None, None, None, (None, True)),
        ("x", None, 0.5, None, (None, False)),
        ("x", 0.5, None, None, (None, False)),
        # not finite: only the same value (NaN counts as NaN) agrees
        ("x", NAN, NAN, None, (None, True)),
        ("x", INF, 1.0, None, (None, False)),
        ("x", -INF, INF, None, (None, False)),
        # floats: absolute, inclusive bound
        ("x", 0.5, 0.501, None, (0.001, True)),
        ("x", 0.5, 0.5011, None, (0.0011, False)),
        ("x", 0.501, 0.5, None, (0.001, True)),  # the sign does not matter
        # counts: a share of metrics.json's rows (1/1000 = the tolerance: within)
        ("confusion.tp", 10, 11, 1000, (0.001, True)),
        ("confusion.tp", 10, 12, 1000, (0.002, False)),
        # a count with no row total to scale by is an absolute difference
        ("confusion.tp", 10, 11, None, (1.0, False)),
        ("confusion.tp", 10, 11, 0, (1.0, False)),
        # `rows` must be equal, however large the total and the tolerance
        ("rows", 6513, 6514, 6513, (1.0, False)),
        ("columns.gender.values.Female.rows", 100, 101, 10**9, (1.0, False)),
        ("rows", 6513, 6513, 6513, (0.0, True)),
        # an int and a float of the same value are the same number
        ("x", 1, 1.0, None, (0.0, True)),
    ],
)
def test_judge(
    key: str,
    a: float | None,
    b: float | None,
    rows: int | None,
    expected: tuple[float | None, bool],
) -> None:
    assert reproduce._judge(key, a, b, rows, TOL) == expected


def test_float_noise_of_the_subtraction_does_not_cross_the_bound() -> None:
    assert 0.4 - 0.1 > 0.3  # 0.30000000000000004
    assert reproduce._judge("x", 0.1, 0.4, None, 0.3) == (0.3, True)


def test_compare_numbers_lists_only_what_differs_in_key_order() -> None:
    committed = {"b": 0.5, "a": 0.25, "same": 1, "gone": 2, "c": {"n": None}}
    reproduced = {"b": 0.5004, "a": 0.3, "same": 1, "new": 3, "c": {"n": None}}
    n, diffs = reproduce.compare_numbers("m.json", committed, reproduced, TOL, None)
    assert n == 6  # a, b, c.n, gone, new, same
    assert [(d.key, d.committed, d.reproduced, d.difference, d.within) for d in diffs] == [
        ("a", 0.25, 0.3, 0.05, False),
        ("b", 0.5, 0.5004, 0.0004, True),
        ("gone", 2, None, None, False),
        ("new", None, 3, None, False),
    ]
    assert all(d.file == "m.json" for d in diffs)


# --------------------------------------------------------------------------- report


def test_metric_diff_line() -> None:
    d = MetricDiff("reports/evaluate/metrics.json", "roc_auc", 0.123456789, 0.9, 0.776543, False)
    assert d.line() == (
        "roc_auc in metrics.json: committed 0.123457, reproduced 0.9 (difference 0.777)"
    )
    missing = MetricDiff("reports/evaluate/slices.json", "c.tp", None, 5, None, False)
    assert missing.line() == "c.tp in slices.json: committed absent/null, reproduced 5"


BEYOND = MetricDiff("m.json", "roc_auc", 0.9, 0.8, 0.1, False)
WITHIN = MetricDiff("m.json", "f1", 0.7, 0.7004, 0.0004, True)
OUT = OutputDiff("models/model.skops", "a" * 32, "b" * 32)


@pytest.mark.parametrize(
    ("metrics", "outputs", "ok", "summary"),
    [
        ([], [], True, "CI reproduced 0123456789ab exactly: 12 numbers and every output md5 agree"),
        (
            [BEYOND, WITHIN],
            [],
            False,
            "1 of 12 numbers differ beyond the tolerance 0.001; 0 output(s) with another md5 "
            "than dvc.lock",
        ),
        (
            [WITHIN],
            [OUT],
            True,
            "1 of 12 numbers differ, all within the tolerance 0.001; 1 output(s) with another "
            "md5 than dvc.lock",
        ),
        (
            [],
            [OUT],
            True,
            "all 12 numbers agree exactly (tolerance 0.001); 1 output(s) with another md5 than "
            "dvc.lock",
        ),
    ],
)
def test_comparison_summary(
    metrics: list[MetricDiff], outputs: list[OutputDiff], ok: bool, summary: str
) -> None:
    c = Comparison("HEAD", "0123456789abcdef", TOL, 12, metrics, outputs)
    assert c.ok is ok
    assert c.summary() == summary


def test_comparison_to_dict_splits_beyond_and_within() -> None:
    c = Comparison("HEAD", "f" * 40, TOL, 3, [BEYOND, WITHIN], [OUT])
    d = c.to_dict()
    assert d["ok"] is False and d["compared"] == 3 and d["tolerance"] == TOL
    assert [m["key"] for m in d["beyond_tolerance"]] == ["roc_auc"]
    assert [m["key"] for m in d["within_tolerance"]] == ["f1"]
    assert d["outputs_differ"] == [
        {"path": "models/model.skops", "committed_md5": "a" * 32, "reproduced_md5": "b" * 32}
    ]
    assert d["summary"] == c.summary()
    json.dumps(d)  # what `gitml verify` writes: plain JSON


# --------------------------------------------------------------------------- files


def test_lock_outs_reads_every_stage() -> None:
    lock = {
        "schema": "2.0",
        "stages": {
            "train": {"outs": [{"path": "models/model.skops", "md5": "abc"}, "not-a-mapping"]},
            "evaluate": {"outs": [{"path": "reports/evaluate/metrics.json"}, {"md5": "no-path"}]},
            "empty": None,
            "no_outs": {"cmd": "x"},
        },
    }
    assert reproduce.lock_outs(yaml.safe_dump(lock).encode(), "dvc.lock") == {
        "models/model.skops": "abc",
        "reports/evaluate/metrics.json": None,
    }
    assert reproduce.lock_outs(b"", "dvc.lock") == {}
    assert reproduce.lock_outs(b"- a list\n", "dvc.lock") == {}
    assert reproduce.lock_outs(b"stages: [1, 2]\n", "dvc.lock") == {}


def test_lock_outs_rejects_bad_yaml_naming_where() -> None:
    with pytest.raises(DataError, match=r"^dvc\.lock at HEAD is not valid YAML"):
        reproduce.lock_outs(b"stages: {train: [\n", "dvc.lock at HEAD")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", r"^metrics\.json at HEAD is not valid JSON"),
        (b"\xff\xfe\xfa", r"^metrics\.json at HEAD is not valid JSON"),
        (b"[1, 2]", r"^metrics\.json at HEAD must hold a JSON object, got list$"),
        (b"null", r"must hold a JSON object, got NoneType$"),
    ],
)
def test_json_object_errors_name_the_file(raw: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        reproduce.json_object(raw, "metrics.json at HEAD")


def test_json_object_accepts_str_and_bytes() -> None:
    assert reproduce.json_object('{"a": 1}', "x") == {"a": 1}
    assert reproduce.json_object(b'{"a": 1}', "x") == {"a": 1}


def test_write_then_load_and_load_of_other_files(tmp_path: Path) -> None:
    c = Comparison("HEAD", "a" * 40, TOL, 2, [WITHIN], [])
    written = reproduce.write(tmp_path, c, Path("reports/verify.json"))
    assert written == tmp_path / "reports" / "verify.json"
    assert reproduce.load(written) == json.loads(written.read_text())
    assert reproduce.load(written)["within_tolerance"][0]["key"] == "f1"  # type: ignore[index]
    elsewhere = tmp_path / "abs" / "v.json"
    assert reproduce.write(tmp_path / "repo", c, elsewhere) == elsewhere  # absolute: as given
    # not a verify file: None, never an error (the report just leaves the section out)
    assert reproduce.load(tmp_path / "missing.json") is None
    (tmp_path / "other.json").write_text('{"roc_auc": 0.9}')
    assert reproduce.load(tmp_path / "other.json") is None
    (tmp_path / "broken.json").write_text("{")
    assert reproduce.load(tmp_path / "broken.json") is None
    (tmp_path / "list.json").write_text("[]")
    assert reproduce.load(tmp_path / "list.json") is None


# --------------------------------------------------------------------------- compare (git)

METRICS = {"rows": 1000, "roc_auc": 0.9, "confusion": {"tp": 100, "fn": 20}}
SLICES = {"columns": {"gender": {"values": {"Female": {"rows": 300, "recall": 0.5}}}}}
LOCK = {
    "schema": "2.0",
    "stages": {
        "train": {"outs": [{"path": "models/model.skops", "md5": "m1"}]},
        "evaluate": {"outs": [{"path": "reports/evaluate/metrics.json", "md5": "e1"}]},
    },
}


def _committed(repo: Path) -> str:
    return commit(
        repo,
        {
            "reports/evaluate/metrics.json": METRICS,
            "reports/evaluate/slices.json": SLICES,
            "dvc.lock": yaml.safe_dump(LOCK),
        },
    )


def test_compare_the_workspace_with_the_commit(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    sha = _committed(repo)
    exact = reproduce.compare(repo, "HEAD", TOL)
    assert (exact.commit, exact.compared, exact.metrics, exact.outputs) == (sha, 6, [], [])
    assert exact.ok and exact.summary().startswith(f"CI reproduced {sha[:12]} exactly: 6 numbers")

    # CI's run: one prediction flipped (1/1000 of the rows), last bits of roc_auc, one slice
    # recall beyond the tolerance, another model md5 and one more output
    reproduced = json.loads(json.dumps(METRICS))
    reproduced["roc_auc"] = 0.9004
    reproduced["confusion"]["tp"] = 101
    (repo / "reports/evaluate/metrics.json").write_text(json.dumps(reproduced))
    slices = json.loads(json.dumps(SLICES))
    slices["columns"]["gender"]["values"]["Female"]["recall"] = 0.51
    (repo / "reports/evaluate/slices.json").write_text(json.dumps(slices))
    lock = json.loads(json.dumps(LOCK))
    lock["stages"]["train"]["outs"] = [
        {"path": "models/model.skops", "md5": "m2"},
        {"path": "models/model.json", "md5": "j1"},
    ]
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))

    c = reproduce.compare(repo, "HEAD", TOL)
    got = [(Path(d.file).name, d.key, d.difference, d.within) for d in c.metrics]
    assert got == [
        ("metrics.json", "confusion.tp", 0.001, True),
        ("metrics.json", "roc_auc", 0.0004, True),
        ("slices.json", "columns.gender.values.Female.recall", 0.01, False),
    ]
    assert not c.ok and c.compared == 6
    assert c.outputs == [
        OutputDiff("models/model.json", None, "j1"),
        OutputDiff("models/model.skops", "m1", "m2"),
    ]


def test_compare_counts_use_the_committed_rows_not_the_reproduced(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    _committed(repo)
    reproduced = {"rows": 10, "roc_auc": 0.9, "confusion": {"tp": 101, "fn": 20}}
    (repo / "reports/evaluate/metrics.json").write_text(json.dumps(reproduced))
    c = reproduce.compare(repo, "HEAD", TOL)
    by_key = {d.key: d for d in c.metrics}
    assert by_key["rows"].within is False  # other data
    assert by_key["confusion.tp"].difference == 0.001  # 1 / 1000 committed rows, not 1 / 10
    assert by_key["confusion.tp"].within


def test_compare_errors(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    _committed(repo)
    with pytest.raises(DataError, match=r"revision 'nope' does not exist"):
        reproduce.compare(repo, "nope", TOL)
    (repo / "reports/evaluate/slices.json").unlink()
    with pytest.raises(DataError, match=r"slices\.json: not in the workspace; run `dvc repro"):
        reproduce.compare(repo, "HEAD", TOL)
    (repo / "reports/evaluate/slices.json").write_text("[]")
    with pytest.raises(DataError, match=r"slices\.json in the workspace must hold a JSON object"):
        reproduce.compare(repo, "HEAD", TOL)


def test_compare_without_a_committed_lock_still_compares_the_numbers(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    commit(
        repo,
        {"reports/evaluate/metrics.json": METRICS, "reports/evaluate/slices.json": SLICES},
    )
    c = reproduce.compare(repo, "HEAD", TOL)
    assert c.compared == 6 and c.metrics == [] and c.outputs == []
    assert math.isclose(c.tolerance, TOL)
