"""merge → canary → prod in throw-away git repos (test_promote.py's fixtures): `gitml promote`
with `promotion.canary.enabled`, then `gitml canary decide --apply` on simulated prediction logs
of an equal, a better and a worse canary."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from gitml.logstore import logdb
from gitml.registry import promote
from gitml.registry import versions as registry
from gitml.registry.canary import CANARY, state
from gitml.registry.record import read_notes
from tests.e2e.registry import test_promote
from tests.e2e.registry.test_promote import commit_eval, gitml, metrics, slices, tags
from tests.helpers import run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("promotion")]
repo = test_promote.repo  # the fixture

# small enough for a test, large enough that the intervals decide (see tests/unit/monitor)
CANARY_RULES = {"enabled": True, "min_rows": 500, "min_labelled_rows": 2000,
                "min_duration": "1s", "max_drop": 0.02}  # fmt: skip


def enable_canary(repo: Path, **over: Any) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["promotion"]["canary"] = CANARY_RULES | over
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "commit", "-qam", "canary on"], repo)


def canary_world(repo: Path) -> tuple[str, str]:
    """v0.1.0 in prod (the first version goes straight there), then v0.2.0 in canary."""
    commit_eval(repo, metrics(0.90), slices())
    first = promote.promote(repo)
    assert (first.outcome, first.stage, first.version) == ("promoted", "prod", "v0.1.0")
    enable_canary(repo)
    sha = commit_eval(repo, metrics(0.91), slices())
    second = promote.promote(repo)
    assert (second.outcome, second.stage, second.version) == ("promoted", CANARY, "v0.2.0")
    return "v0.1.0", sha


def write_log(
    url: str,
    version: str,
    rows: int,
    seed: int,
    noise: float = 0.0,
    slower: float = 1.0,
    failed: int = 0,
) -> None:
    """Calibrated scores of `version` on `rows` requests, each with its feedback label; a worse
    model ranks by the truth's probability plus noise. Each row's scoring time is log-normal,
    the same draws for every version (equal versions: equal samples), `slower` times longer;
    `failed` one-row calls failed."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.6, 1.6, rows)
    y = rng.random(rows) < p
    s = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + rng.normal(0, noise, rows)))) if noise else p
    ms = np.random.default_rng(0).lognormal(np.log(0.4), 0.6, rows) * slower
    now = datetime.now(UTC)
    preds = [{"id": str(uuid.uuid4()), "created_at": now, "model_version": version,
              "features": {}, "score": float(v), "label": int(v >= 0.4), "threshold": 0.4,
              "unseen": [], "latency_ms": float(t)}
             for v, t in zip(s, ms, strict=True)]  # fmt: skip
    engine = logdb.engine_for(url)
    with engine.begin() as conn:
        conn.execute(logdb.predictions.insert(), preds)
        if failed:
            conn.execute(logdb.failures.insert(), [
                {"id": str(uuid.uuid4()), "created_at": now, "model_version": version,
                 "rows": 1, "error": "ValueError"} for _ in range(failed)
            ])  # fmt: skip
        conn.execute(logdb.feedback.insert(), [
            {"prediction_id": r["id"], "label": int(t), "created_at": now}
            for r, t in zip(preds, y, strict=True)
        ])  # fmt: skip
    engine.dispose()


def test_a_passed_gate_assigns_canary_and_prod_stays(repo: Path, tmp_path: Path) -> None:
    prod, sha = canary_world(repo)
    # GTO numbers stage tags across stages: model#prod#1, then model#canary#2
    assert sorted(t.rsplit("#", 1)[0] for t in tags(repo)) == [
        "model#canary",
        "model#prod",
        "model@v0.1.0",
        "model@v0.2.0",
    ]
    now = state(repo)
    assert now.prod is not None and now.prod.version == prod
    assert now.canary is not None and (now.canary.version, now.canary.commit) == ("v0.2.0", sha)
    assert now.since is not None
    message = run(["git", "tag", "-l", "--format=%(contents)", "model@v0.2.0"], repo).stdout
    assert message.startswith("model@v0.2.0: promoted to canary")
    record = json.loads((repo / "reports/promotion.json").read_text())
    assert (record["outcome"], record["stage"]) == ("promoted", CANARY)
    assert [n["stage"] for n in read_notes(repo) if n["candidate"]["commit"] == sha] == [CANARY]
    # a re-run decides nothing new
    again = promote.promote(repo)
    assert (again.outcome, again.version) == ("already-canary", "v0.2.0")
    # nothing logged yet: the command says why it waits (and could not compare)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    write_log(url, "v0.2.0", 10, 1)
    time.sleep(1.1)  # min_duration 1s
    proc = gitml(repo, "canary", "--log-db", url)
    assert proc.returncode == 0, proc.stderr
    assert "WAIT" in proc.stdout and "0 rows < min_rows 500" in proc.stdout


@pytest.mark.parametrize(
    ("noise", "prod_noise", "decision"),
    [(0.0, 0.0, "promote"), (0.0, 1.0, "promote"), (1.0, 0.0, "end")],
    ids=["equal", "better", "worse"],
)
def test_decide_apply_promotes_or_ends(
    repo: Path, tmp_path: Path, noise: float, prod_noise: float, decision: str
) -> None:
    prod, sha = canary_world(repo)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    worse = decision == "end"  # the worse canary is also slower and fails more
    write_log(url, "v0.2.0", 20000, 1, noise, slower=1.3 if worse else 1.0,
              failed=100 if worse else 10)  # fmt: skip
    write_log(url, prod, 20000, 2, prod_noise, failed=10)
    time.sleep(1.1)
    outputs = tmp_path / "outputs"
    proc = gitml(repo, "canary", "decide", "--apply", "--log-db", url,
                 env={"GITHUB_OUTPUT": str(outputs)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"{decision.upper()}" in proc.stdout and "interval, bootstrap" in proc.stdout
    assert f"decision={decision}" in outputs.read_text()
    report = json.loads((repo / "reports/canary/canary.json").read_text())
    assert report["comparison"]["decision"] == decision and report["applied"]
    # latency and failures: shown with their intervals, above 0 for the worse canary only
    assert "latency p99, canary - prod: " in proc.stdout and "Newcombe" in proc.stdout
    for name in ("latency_p50", "latency_p99", "failure_rate"):
        d = report["comparison"][f"{name}_difference"]
        assert (d["low"] > 0) if worse else (d["low"] < 0 < d["high"]), (name, d)
    assert registry.find_stage(repo, CANARY) is None  # either way the canary is over
    now_prod = registry.find_stage(repo)
    assert now_prod is not None
    if decision == "promote":
        assert (now_prod.version, now_prod.commit) == ("v0.2.0", sha)
        assert "prod_version=v0.2.0" in outputs.read_text()
        versions = {v.version: v.stages for v in registry.list_versions(repo)}
        assert versions == {"v0.2.0": ("prod",), "v0.1.0": ()}
        [tag] = [t for t in tags(repo) if t.startswith("model#prod#") and t != "model#prod#1"]
        assert any(t.startswith("model#prod!#") for t in tags(repo))  # v0.1.0 left prod
    else:
        assert now_prod.version == prod  # prod never moved
        [tag] = [t for t in tags(repo) if t.startswith("model#canary!#")]
    message = run(["git", "tag", "-l", "--format=%(contents)", tag], repo).stdout
    assert "roc_auc canary - prod" in message and "bootstrap" in message
    # the next run finds no canary: nothing to decide
    again = gitml(repo, "canary", "decide", "--apply", "--log-db", url)
    assert again.returncode == 0 and "no version is in stage canary" in again.stdout


def test_disabled_canary_is_todays_merge_to_prod(repo: Path) -> None:
    commit_eval(repo, metrics(0.90), slices())
    promote.promote(repo)
    commit_eval(repo, metrics(0.91), slices())
    result = promote.promote(repo)
    assert (result.outcome, result.stage) == ("promoted", "prod")
    assert not any(t.startswith("model#canary") for t in tags(repo))
    assert registry.find_stage(repo).version == "v0.2.0"  # type: ignore[union-attr]
