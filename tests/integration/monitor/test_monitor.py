"""`gitml monitor` on the real Adult data: detection rates of the alarm rule, the prediction log
(SQLite, and PostgreSQL: `GITML_TEST_PG_URL`'s server or the session's own, tests/pg.py), the
prod reference through the GTO registry and DVC, the exit codes, the deduplicated alert with a
fake `gh`, and the workflow.

The "model" here is a logistic regression fitted in a second on the training split: the monitor
only needs scores, so the tests do not train the pipeline's model.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from gitml import monitor
from gitml.cli import app
from gitml.config import MonitorConfig
from gitml.contracts.monitoring import CurrentInfo, ReferenceInfo
from gitml.core import features
from gitml.core.model_meta import ModelMeta
from gitml.logstore import logdb
from gitml.monitor import prior
from gitml.monitor.shift import apply_shift, parse_shift
from tests.helpers import ROOT, every_default, run, tool_env
from tests.pg import url_with

pytestmark = pytest.mark.xdist_group("monitor")

DERIVED = ["net_capital", "log_capital_gain", "log_capital_loss"]
# The three shifts of docs/monitoring.md: each must alarm in >= 99 of 100 trials of 1,000 rows.
SHIFTS = ["age+5", "education=Bachelors@0.2", "occupation=blank@0.1"]
SCORED = ["age", "education_num", "hours_per_week", "log_capital_gain", "log_capital_loss"]


# --------------------------------------------------------------------------- data and model


@pytest.fixture(scope="module")
def splits(adult: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded 80/20 split of the real data: reference = train, current = held-out rows."""
    order = np.random.default_rng(42).permutation(len(adult))
    cut = int(0.8 * len(adult))
    train = adult.iloc[order[:cut]].reset_index(drop=True)
    held = adult.iloc[order[cut:]].reset_index(drop=True)
    return train, held


def meta_for(frame: pd.DataFrame) -> ModelMeta:
    feats = features.apply(frame.head(5), DERIVED).drop(columns=["income"])
    numeric = [c for c in feats.columns if pd.api.types.is_numeric_dtype(feats[c])]
    return ModelMeta.model_validate(
        {
            "model_sha256": "0" * 64,  # a stand-in model: the monitor never loads it
            "features": {
                "numeric": numeric,
                "categorical": [c for c in feats.columns if c not in numeric],
            },
            "derived_features": DERIVED,
            "target": "income",
            "positive_class": ">50K",
            "threshold": 0.4,
        }
    )


class Scorer:
    """A stand-in model: logistic regression on a few numeric features (plus married)."""

    def __init__(self, train: pd.DataFrame) -> None:
        self.lr = LogisticRegression(max_iter=500).fit(self._x(train), self.truth(train))

    @staticmethod
    def truth(frame: pd.DataFrame) -> np.ndarray:
        return (frame["income"] == ">50K").to_numpy("int64")

    @staticmethod
    def _x(frame: pd.DataFrame) -> np.ndarray:
        f = features.apply(frame, DERIVED)
        x = f[SCORED].to_numpy("float64")
        married = f["marital_status"].astype("str").str.startswith("Married").to_numpy("float64")
        return np.nan_to_num(np.column_stack([x, married]))

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.lr.predict_proba(self._x(frame))[:, 1])


@pytest.fixture(scope="module")
def scorer(splits: tuple[pd.DataFrame, pd.DataFrame]) -> Scorer:
    return Scorer(splits[0])


def reference_for(splits: tuple[pd.DataFrame, pd.DataFrame], scorer: Scorer) -> monitor.Reference:
    train, held = splits
    ref_scores, ref_y = scorer.score(held), Scorer.truth(held)
    return monitor.Reference(
        features.apply(train, DERIVED),
        meta_for(train),
        "train split",
        scores=ref_scores,
        y_true=ref_y,
        metrics={
            "roc_auc": skm.roc_auc_score(ref_y, ref_scores),
            "accuracy": skm.accuracy_score(ref_y, ref_scores >= 0.4),
        },
    )


# --------------------------------------------------------------------------- detection rates


@pytest.mark.slow
def test_detection_and_false_alarm_rates(
    splits: tuple[pd.DataFrame, pd.DataFrame], scorer: Scorer
) -> None:
    """100 seeded trials of 1,000 rows each: unshifted, and each documented shift. Every trial
    runs the whole rule (features, missing rates, unseen categories, scores, live quality)."""
    _, held = splits
    ref = reference_for(splits, scorer)
    cfg = MonitorConfig()
    # the reference's summaries, once for the 400 windows (as bench/estimation.py does): the
    # per-class ones took a third of each analyse
    profiles = monitor.reference_profiles(ref, cfg)
    classes = prior.reference_classes(ref, ref.columns, cfg.bins)
    held_scores = scorer.score(held)
    truth = Scorer.truth(held).astype("float64")
    alarms: dict[str, int] = {}
    on_column: dict[str, int] = {}
    for spec in [None, *SHIFTS]:
        name = spec or "unshifted"
        alarms[name] = on_column[name] = 0
        column = parse_shift(spec).column if spec else None
        for seed in range(100):
            rng = np.random.default_rng(seed)
            rows = rng.choice(len(held), 1000, replace=False)
            cur = held.iloc[rows].reset_index(drop=True)
            scores = held_scores[rows]
            if spec:
                cur = apply_shift(cur, parse_shift(spec), rng)
                scores = scorer.score(cur)  # the model sees the shifted rows
            current = monitor.Current(
                cur, name, scores=scores, labels=(scores >= 0.4).astype("int64")
            )
            current.y_true = truth[rows]
            report = monitor.analyse(ref, current, cfg, profiles, classes)
            alarms[name] += report.alarm
            on_column[name] += any(a.startswith(f"{column}: ") for a in report.alarms)
    print(f"\nalarms in 100 trials of 1,000 rows: {alarms}; on the shifted column: {on_column}")
    assert alarms["unshifted"] <= 5
    for spec in SHIFTS:
        assert alarms[spec] >= 99, spec
        assert on_column[spec] >= 99, spec  # and the alarm names the column that moved


# --------------------------------------------------------------------------- a workspace


def log_rows(
    frame: pd.DataFrame,
    scores: np.ndarray,
    created_at: datetime,
    version: str = "workspace",
) -> list[dict[str, Any]]:
    raw = frame.drop(columns=["income"]).astype("object")
    raw = raw.where(raw.notna(), None)
    return [
        {
            "id": str(uuid.uuid4()),
            "created_at": created_at - timedelta(seconds=i),
            "model_version": version,
            "features": row,
            "score": float(s),
            "label": int(s >= 0.4),
            "threshold": 0.4,
            "unseen": [],
        }
        for i, (row, s) in enumerate(zip(raw.to_dict("records"), scores, strict=True))
    ]


def write_log(url: str, rows: list[dict[str, Any]], truth: dict[str, int]) -> None:
    engine = logdb.engine_for(url)
    with engine.begin() as conn:
        conn.execute(logdb.predictions.insert(), rows)
        if truth:
            now = datetime.now(UTC)
            conn.execute(
                logdb.feedback.insert(),
                [{"prediction_id": k, "label": v, "created_at": now} for k, v in truth.items()],
            )
    engine.dispose()


def feedback_for(rows: list[dict[str, Any]], frame: pd.DataFrame, n: int) -> dict[str, int]:
    truth = Scorer.truth(frame)
    return {rows[i]["id"]: int(truth[i]) for i in range(n)}


@pytest.fixture(scope="module")
def workspace(
    tmp_path_factory: pytest.TempPathFactory,
    splits: tuple[pd.DataFrame, pd.DataFrame],
    scorer: Scorer,
) -> Path:
    """What `dvc repro` leaves in a workspace, as far as the monitor reads it."""
    path = tmp_path_factory.mktemp("monitor") / "ws"
    ref = reference_for(splits, scorer)
    (path / "models").mkdir(parents=True)
    (path / "models/model.json").write_text(json.dumps(ref.meta.to_json()))
    (path / "data/features").mkdir(parents=True)
    ref.frame.to_parquet(path / "data/features/train.parquet", index=False)
    (path / "data/predictions").mkdir(parents=True)
    assert ref.scores is not None and ref.y_true is not None
    pd.DataFrame({"y_true": ref.y_true, "score": ref.scores}).to_parquet(
        path / "data/predictions/test.parquet", index=False
    )
    (path / "reports/evaluate").mkdir(parents=True)
    (path / "reports/evaluate/metrics.json").write_text(json.dumps(ref.metrics))
    params = every_default()
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copytree(ROOT / "schema", path / "schema")
    return path


def gitml(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["gitml", *args],
        cwd=cwd,
        env=tool_env() | (env or {}),
        capture_output=True,
        text=True,
        check=False,
    )


def sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=n, random_state=seed).reset_index(drop=True)


# --------------------------------------------------------------------------- the log


@pytest.mark.slow
def test_the_sqlite_log_window_alarms_on_recent_drift_only(
    workspace: Path, splits: tuple[pd.DataFrame, pd.DataFrame], scorer: Scorer, tmp_path: Path
) -> None:
    held = splits[1]
    now = datetime.now(UTC)
    old = sample(held, 600, 1)
    recent = apply_shift(sample(held, 600, 2), parse_shift("age+10"), np.random.default_rng(0))
    old_rows = log_rows(old, scorer.score(old), now - timedelta(days=3))
    recent_rows = log_rows(recent, scorer.score(recent), now - timedelta(minutes=5))
    url = f"sqlite:///{tmp_path / 'log.db'}"
    write_log(url, old_rows + recent_rows, feedback_for(old_rows, old, 300))

    out = tmp_path / "recent"
    proc = gitml(workspace, "monitor", "--log-db", url, "--since", "1d", "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((out / "monitoring.json").read_text())
    assert report["current"]["rows"] == 600  # the 3-day-old rows are outside the window
    assert report["current"]["model_versions"] == {"workspace": 600}
    assert any(a.startswith("age: distribution") for a in report["alarms"])
    assert report["prediction"]["statistic"] > 0.05  # the scores moved too (KS distance)
    assert "ALARM" in proc.stdout and "alarm: age: distribution" in proc.stderr
    assert "WORKSPACE training data" in proc.stderr  # no registry here: said out loud
    md = (out / "monitoring.md").read_text()
    assert "| age | numeric | ks |" in md and "```mermaid" in md

    # the same log with a window that holds only the old, unshifted rows: all clear
    out = tmp_path / "old"
    proc = gitml(
        workspace,
        "monitor",
        "--log-db",
        url,
        "--out",
        str(out),
        env={"GITML_MONITOR_SINCE": "all"},
    )
    report = json.loads((out / "monitoring.json").read_text())
    assert report["current"]["rows"] == 1200
    assert proc.returncode == 1  # half the window is shifted: still an alarm


@pytest.mark.slow
def test_an_unshifted_log_with_feedback_passes_with_live_quality(
    workspace: Path, splits: tuple[pd.DataFrame, pd.DataFrame], scorer: Scorer, tmp_path: Path
) -> None:
    held = splits[1]
    frame = sample(held, 800, 3)
    rows = log_rows(frame, scorer.score(frame), datetime.now(UTC) - timedelta(hours=1))
    url = f"sqlite:///{tmp_path / 'ok.db'}"
    write_log(url, rows, feedback_for(rows, frame, 400))
    out = tmp_path / "out"
    proc = gitml(workspace, "monitor", "--out", str(out), env={"GITML_LOG_DB": url})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "monitoring.json").read_text())
    assert report["status"] == "ok" and report["alarms"] == []
    q = report["quality"]
    assert q["rows"] == 400
    assert abs(q["live"]["roc_auc"] - q["evaluation"]["roc_auc"]) < 0.05
    assert q["evaluation"]["calibration_error"] is not None
    assert "## Live quality (400 rows with feedback)" in (out / "monitoring.md").read_text()

    # wrong ground truth (every label inverted) is a live-quality alarm
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.update(logdb.feedback).values(label=1 - logdb.feedback.c.label))
    engine.dispose()
    proc = gitml(workspace, "monitor", "--out", str(out), env={"GITML_LOG_DB": url})
    assert proc.returncode == 1
    assert "alarm: live quality: roc_auc" in proc.stderr


@pytest.mark.slow
def test_the_postgres_log(
    workspace: Path,
    splits: tuple[pd.DataFrame, pd.DataFrame],
    scorer: Scorer,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    """Against a real server; fails (does not skip) when there is none (tests/pg.py)."""
    schema = f"gitml_monitor_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(logdb.normalise_url(postgres_url))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = url_with(postgres_url, search_path=schema)
    try:
        held = splits[1]
        frame = sample(held, 500, 4)
        shifted = apply_shift(frame, parse_shift("occupation=blank@0.3"), np.random.default_rng(1))
        rows = log_rows(shifted, scorer.score(shifted), datetime.now(UTC))
        write_log(url, rows, feedback_for(rows, shifted, 250))
        out = tmp_path / "pg"
        proc = gitml(workspace, "monitor", "--out", str(out), env={"GITML_LOG_DB": url})
        assert proc.returncode == 1, proc.stdout + proc.stderr
        report = json.loads((out / "monitoring.json").read_text())
        assert report["current"]["rows"] == 500
        assert report["quality"]["rows"] == 250
        assert any(a.startswith("occupation: missing rate") for a in report["alarms"])
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# --------------------------------------------------------------------------- errors → exit 2


def invoke(cwd: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "message", "expected"),
    [
        (["--log-db", "sqlite:///nowhere/predictions.db"], "no such database file", 3),
        (["--log-db", "not a url"], "is not a database URL", 3),
        (["--log-db", "sqlite:///x.db", "--current", "x.csv"], "not both", 2),
        (["--current", "missing.csv"], "missing.csv: file not found", 3),
        (["--current", "rows.txt"], "unknown file type", 3),
        (["--since", "yesterday"], "is not a duration", 2),
        (["--reference", "nope.parquet", "--current", "x.csv"], "reference data not found", 3),
    ],
)
def test_errors_exit_2_or_3_never_1_with_a_clear_message(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str, expected: int
) -> None:
    """2: a usage error; 3: the monitor could not judge. Never 1, which is the alarm."""
    (workspace / "rows.txt").write_text("a,b\n")
    code, output = invoke(workspace, monkeypatch, "monitor", *args)
    assert code == expected, output
    assert message in " ".join(output.split())
    assert "Traceback" not in output


def test_a_password_never_reaches_the_message(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = invoke(
        workspace, monkeypatch, "monitor", "--log-db", "postgresql://u:s3cret@127.0.0.1:1/x"
    )
    assert code == 3
    assert "s3cret" not in output and "***" in output


def test_without_a_model_it_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "params.yaml").write_text("{}\n")
    code, output = invoke(tmp_path, monkeypatch, "monitor", "--current", "x.csv")
    assert code == 3
    assert "models/model.json" in output and "dvc repro" in output


def test_a_log_without_the_tables_is_refused(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "other.db"
    engine = sa.create_engine(f"sqlite:///{other}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x int)"))
    engine.dispose()
    code, output = invoke(workspace, monkeypatch, "monitor", "--log-db", f"sqlite:///{other}")
    assert code == 3 and "has no 'predictions' table" in output


def test_an_empty_window_gives_no_verdict(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    logdb.engine_for(url).dispose()
    out = tmp_path / "out"
    code, output = invoke(workspace, monkeypatch, "monitor", "--log-db", url, "--out", str(out))
    assert code == 0, output
    assert "no verdict" in output
    assert json.loads((out / "monitoring.json").read_text())["status"] == "insufficient_data"


# --------------------------------------------------------------------------- data contract


def test_the_contract_counts_bad_types_ranges_and_nulls_not_new_categories(
    splits: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    from gitml.core import schema

    contract = schema.load(ROOT / "schema/adult.schema.yaml")
    rows = sample(splits[1], 200, 7).astype({"hours_per_week": "object"})
    rows.loc[0:2, "age"] = 200.0  # out of range
    rows.loc[3, "hours_per_week"] = "many"  # wrong type
    rows.loc[4:5, "education"] = None  # not nullable
    rows.loc[6:9, "workclass"] = "Robot"  # an unseen category: reported elsewhere, not here
    rows = rows.drop(columns=["income"])  # requests carry no target
    found = monitor.contract_violations(contract, rows, "income")
    assert found.invalid_rows == 6 and found.share == 0.03
    assert {c: v.rows for c, v in found.columns.items()} == {
        "age": 3,
        "education": 2,
        "hours_per_week": 1,
    }
    assert found.columns["hours_per_week"].rules == ["dtype('float64')"]
    assert found.columns["age"].examples == ["200.0"]
    clean = monitor.contract_violations(contract, sample(splits[1], 200, 8), "income")
    assert clean.invalid_rows == 0 and clean.columns == {}


def test_a_file_breaking_the_contract_alarms(
    workspace: Path,
    splits: tuple[pd.DataFrame, pd.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    rows = sample(splits[1], 500, 9)
    rows.loc[0:19, "age"] = 120.0  # 4% of the rows
    rows.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "out"
    code, output = invoke(
        workspace,
        monkeypatch,
        "monitor",
        "--current",
        str(tmp_path / "bad.csv"),
        "--inputs-only",
        "--out",
        str(out),
    )
    assert code == 1, output
    assert "data contract: 4.0% of rows break the schema (> 1.0%): age (20)" in output
    assert "## Data contract (20 of 500 rows break it)" in (out / "monitoring.md").read_text()


def test_a_raw_reference_file_gets_the_derived_features(
    workspace: Path,
    splits: tuple[pd.DataFrame, pd.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    splits[0].to_parquet(tmp_path / "train_raw.parquet", index=False)  # no derived columns
    sample(splits[1], 400, 10).to_csv(tmp_path / "cur.csv", index=False)
    out = tmp_path / "out"
    code, output = invoke(
        workspace,
        monkeypatch,
        "monitor",
        "--reference",
        str(tmp_path / "train_raw.parquet"),
        "--current",
        str(tmp_path / "cur.csv"),
        "--inputs-only",
        "--out",
        str(out),
    )
    assert code == 0, output
    report = json.loads((out / "monitoring.json").read_text())
    assert "net_capital" in [f["name"] for f in report["features"]]
    assert report["notes"][0].startswith("reference given on the command line")


# --------------------------------------------------------------------------- prod reference


@pytest.mark.slow
def test_the_reference_is_the_prod_models_training_data(
    workspace: Path, splits: tuple[pd.DataFrame, pd.DataFrame], scorer: Scorer, tmp_path: Path
) -> None:
    """prod's train.parquet comes from DVC at prod's commit, not from the workspace; from the
    log, only the rows prod's version predicted are judged."""
    repo = tmp_path / "repo"
    for sub in ("models", "data", "reports", "schema", "params.yaml"):
        src = workspace / sub
        if src.is_dir():
            shutil.copytree(src, repo / sub)
        else:
            repo.mkdir(exist_ok=True)
            (repo / sub).write_bytes(src.read_bytes())
    artifacts = yaml.safe_load((ROOT / "dvc.yaml").read_text())["artifacts"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"artifacts": artifacts}))
    (repo / "models/model.skops").write_bytes(b"placeholder")
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["dvc", "init", "-q"], repo)
    run(["dvc", "add", "-q", "data/features/train.parquet", "data/predictions/test.parquet"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "model v0.1.0"], repo)
    run(["gto", "register", "model", "HEAD", "--version", "v0.1.0"], repo)
    run(["gto", "assign", "model", "--version", "v0.1.0", "--stage", "prod"], repo)

    # The workspace moves on: its training data is now older people. prod's is not.
    train = features.apply(
        apply_shift(splits[0], parse_shift("age+10"), np.random.default_rng(0)), DERIVED
    )
    train.to_parquet(repo / "data/features/train.parquet", index=False)
    sample(splits[1], 1000, 5).to_csv(repo / "current.csv", index=False)

    proc = gitml(repo, "monitor", "--current", "current.csv", "--inputs-only", "--out", "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((repo / "out/monitoring.json").read_text())
    assert report["reference"]["version"] == "v0.1.0"
    assert report["reference"]["source"].startswith("model v0.1.0 in stage prod")
    # the same rows against the workspace's (shifted) training data do alarm
    proc = gitml(
        repo,
        "monitor",
        "--current",
        "current.csv",
        "--inputs-only",
        "--reference",
        "data/features/train.parquet",
    )
    assert proc.returncode == 1
    assert "alarm: age: distribution" in proc.stderr

    # A log holding prod's predictions and, after a rollback, another version's on shifted
    # traffic: the other version's rows are left out (and counted), so no alarm.
    mine = sample(splits[1], 600, 6)
    theirs = apply_shift(sample(splits[1], 600, 7), parse_shift("age+10"), np.random.default_rng(1))
    now = datetime.now(UTC)
    url = f"sqlite:///{tmp_path / 'versions.db'}"
    write_log(
        url,
        log_rows(mine, scorer.score(mine), now, "v0.1.0")
        + log_rows(theirs, scorer.score(theirs), now, "v0.2.0"),
        {},
    )
    proc = gitml(repo, "monitor", "--log-db", url, "--out", "out-log")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((repo / "out-log/monitoring.json").read_text())
    assert report["current"]["rows"] == 600
    assert report["current"]["model_versions"] == {"v0.1.0": 600}
    assert report["current"]["other_versions"] == {"v0.2.0": 600}
    assert any("left out 600 row(s)" in n for n in report["notes"])


# --------------------------------------------------------------------------- alert (fake gh)

FAKE_GH = """\
#!{python}
# A stand-in for the GitHub CLI: records each call, keeps issues in a JSON file.
import json, os, sys
state_path = os.environ["FAKE_GH_STATE"]
state = json.load(open(state_path))
args = sys.argv[1:]
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if os.environ.get("FAKE_GH_FAIL"):
    sys.stderr.write("HTTP 403: Resource not accessible by integration\\n")
    sys.exit(1)
def opt(name):
    return args[args.index(name) + 1]
if args[:2] == ["label", "create"]:
    state["labels"] = sorted(set(state["labels"]) | {{args[2]}})
elif args[:2] == ["issue", "list"]:
    found = [i for i in state["issues"] if i["state"] == "open" and opt("--label") in i["labels"]]
    print(json.dumps([{{"number": i["number"], "url": i["url"]}} for i in found]))
elif args[:2] == ["issue", "comment"]:
    issue = next(i for i in state["issues"] if i["number"] == int(args[2]))
    issue["comments"].append(open(opt("--body-file")).read())
    print(issue["url"] + "#issuecomment-1")
elif args[:2] == ["issue", "create"]:
    number = max([i["number"] for i in state["issues"]] + [0]) + 1
    url = "https://github.com/o/r/issues/%d" % number
    state["issues"].append({{"number": number, "url": url, "state": "open",
        "title": opt("--title"), "labels": [opt("--label")],
        "body": open(opt("--body-file")).read(), "comments": []}})
    print(url)
else:
    sys.exit("fake gh: unexpected call %r" % args)
json.dump(state, open(state_path, "w"))
"""


@pytest.fixture
def fake_gh(tmp_path: Path) -> Iterator[dict[str, Any]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(FAKE_GH.format(python=sys.executable))
    gh.chmod(gh.stat().st_mode | stat.S_IXUSR)
    state = tmp_path / "gh-state.json"
    state.write_text(json.dumps({"labels": [], "issues": []}))
    log = tmp_path / "gh-calls.jsonl"
    log.touch()
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{tool_env()['PATH']}",
        "FAKE_GH_STATE": str(state),
        "FAKE_GH_LOG": str(log),
    }
    yield {"env": env, "state": state, "log": log}


def report_dir(tmp_path: Path, alarm: bool, text: str = "drift in age") -> Path:
    folder = tmp_path / "reports"
    folder.mkdir(exist_ok=True)
    report = monitor.MonitoringReport(
        generated_at="2026-12-07T00:00:00+00:00",
        reference=ReferenceInfo(source="test", rows=10),
        current=CurrentInfo(source="test", rows=10),
        status="alarm" if alarm else "ok",
        alarm=alarm,
    )
    (folder / "monitoring.json").write_text(json.dumps(report.to_json()))
    (folder / "monitoring.md").write_text(f"# Model monitoring\n\n{text}\n")
    return folder / "monitoring.md"


def calls(fake: dict[str, Any]) -> list[list[str]]:
    return [json.loads(line) for line in fake["log"].read_text().splitlines()]


@pytest.mark.slow
def test_alert_opens_one_issue_then_comments_on_it(tmp_path: Path, fake_gh: dict[str, Any]) -> None:
    md = report_dir(tmp_path, alarm=True, text="first alarm")
    proc = gitml(tmp_path, "monitor", "alert", "--report", str(md), env=fake_gh["env"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "created issue #1 https://github.com/o/r/issues/1" in proc.stdout
    md.write_text("# Model monitoring\n\nsecond alarm\n")
    proc = gitml(tmp_path, "monitor", "alert", "--report", str(md), env=fake_gh["env"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "commented issue #1" in proc.stdout
    state = json.loads(fake_gh["state"].read_text())
    assert len(state["issues"]) == 1  # deduplicated
    issue = state["issues"][0]
    assert issue["labels"] == ["model-drift"] and "first alarm" in issue["body"]
    assert ["second alarm" in c for c in issue["comments"]] == [True]
    assert state["labels"] == ["model-drift"]


@pytest.mark.slow
def test_alert_comments_on_the_oldest_open_issue_and_ignores_closed_ones(
    tmp_path: Path, fake_gh: dict[str, Any]
) -> None:
    def issue(number: int, status: str, labels: list[str]) -> dict[str, Any]:
        url = f"https://github.com/o/r/issues/{number}"
        return {"number": number, "url": url, "state": status, "labels": labels, "comments": []}

    fake_gh["state"].write_text(
        json.dumps(
            {
                "labels": ["model-drift"],
                "issues": [
                    issue(3, "closed", ["model-drift"]),
                    issue(7, "open", ["bug"]),
                    issue(9, "open", ["model-drift"]),
                    issue(12, "open", ["model-drift"]),
                ],
            }
        )
    )
    md = report_dir(tmp_path, alarm=True)
    proc = gitml(
        tmp_path, "monitor", "alert", "--report", str(md), "--repo", "o/r", env=fake_gh["env"]
    )
    assert proc.returncode == 0, proc.stderr
    assert "commented issue #9" in proc.stdout
    assert all(c[-2:] == ["--repo", "o/r"] for c in calls(fake_gh))


@pytest.mark.slow
def test_alert_without_an_alarm_calls_nothing_and_gh_errors_exit_2(
    tmp_path: Path, fake_gh: dict[str, Any]
) -> None:
    md = report_dir(tmp_path, alarm=False)
    proc = gitml(tmp_path, "monitor", "alert", "--report", str(md), env=fake_gh["env"])
    assert proc.returncode == 0 and "nothing posted" in proc.stdout
    assert calls(fake_gh) == []

    md = report_dir(tmp_path, alarm=True)
    env = fake_gh["env"] | {"FAKE_GH_FAIL": "1"}
    proc = gitml(tmp_path, "monitor", "alert", "--report", str(md), env=env)
    assert proc.returncode == 3
    assert "Resource not accessible by integration" in proc.stderr

    no_gh = {"PATH": str(Path(sys.executable).parent)}  # gitml's venv only, no gh
    proc = gitml(tmp_path, "monitor", "alert", "--report", str(md), env=no_gh)
    assert proc.returncode == 3 and "`gh` is not on PATH" in proc.stderr


def test_a_long_report_is_truncated_for_github(
    tmp_path: Path, fake_gh: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    md = report_dir(tmp_path, alarm=True, text="x" * 100_000)
    for key, value in fake_gh["env"].items():
        monkeypatch.setenv(key, value)
    result = monitor.alert(md)
    assert result.action == "created" and result.issue == 1
    body = json.loads(fake_gh["state"].read_text())["issues"][0]["body"]
    assert len(body) < 65_536 and body.endswith("(truncated; the full report is an artifact)\n")


# --------------------------------------------------------------------------- the workflow


def test_the_monitor_workflow_keeps_its_promises() -> None:
    wf = yaml.safe_load((ROOT / ".github/workflows/monitor.yml").read_text())
    triggers = wf[True]  # PyYAML reads the key `on` as True
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert triggers["schedule"][0]["cron"]
    assert wf["permissions"] == {}
    jobs = wf["jobs"]
    # only the alert job may write, and only issues
    writes = {
        job: [k for k, v in body["permissions"].items() if v == "write"]
        for job, body in jobs.items()
    }
    # ... the opt-in retrain call, which pushes a branch and opens its pull request, and the
    # call of pages.yml, whose deploy job alone publishes (pages, id-token) and whose tag-run job
    # (never run from here) may dispatch it: GitHub checks a called workflow's permissions
    # against the caller's
    assert writes == {
        "monitor": [],
        "alert": ["issues"],
        "site": ["actions", "pages", "id-token"],
        "retrain": ["contents", "pull-requests"],
    }
    assert jobs["site"]["uses"] == "./.github/workflows/pages.yml"
    assert "!cancelled()" in jobs["site"]["if"]  # after an alarm too (the monitor job fails)
    assert "needs.monitor.outputs.alarm == 'true'" in jobs["alert"]["if"]
    assert "needs.monitor.outputs.alarm == 'true'" in jobs["retrain"]["if"]
    assert "vars.RETRAIN_ON_ALARM == 'true'" in jobs["retrain"]["if"]
    assert jobs["retrain"]["uses"] == "./.github/workflows/retrain.yml"
    assert "inherit" not in str(jobs["retrain"].get("secrets"))
    text = (ROOT / ".github/workflows/monitor.yml").read_text()
    assert "secrets.PREDICTION_LOG_URL" in text
    for job in jobs.values():
        for step in job.get("steps", []):
            if "uses" in step:
                assert len(step["uses"].split("@")[1]) == 40, step["uses"]  # pinned by SHA
            # secrets reach commands through env, never pasted into a script
            assert "${{" not in step.get("run", ""), step
    runs = [s["run"] for s in jobs["alert"]["steps"] if "run" in s]
    assert runs[-1].startswith(".venv/bin/gitml monitor alert")


@pytest.mark.slow
def test_github_output_and_summary(
    workspace: Path, splits: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    """What the workflow relies on: alarm=true|false in $GITHUB_OUTPUT, the report as summary."""
    sample(splits[1], 300, 6).to_csv(tmp_path / "cur.csv", index=False)
    out, summary = tmp_path / "gh-output", tmp_path / "summary.md"
    env = {"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)}
    proc = gitml(
        workspace,
        "monitor",
        "--current",
        str(tmp_path / "cur.csv"),
        "--inputs-only",
        "--out",
        str(tmp_path),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == "alarm=false\n"
    assert summary.read_text() == (tmp_path / "monitoring.md").read_text()
