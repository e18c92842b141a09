"""`gitml serve --workers 2`: one port, two processes, one prediction log; kill -9 loses nothing.

A model fitted in-process on the sample (tests/served_model), so no pipeline run. The server is
killed with SIGKILL (its whole process group: the uvicorn parent and both workers) while 20
clients are sending; after a restart on the same SQLite log, every prediction that was answered
200 is in the log, once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.helpers import BIN, tool_env
from tests.integration.serve.test_serve import free_port, metric
from tests.served_model import model_repo

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]


def start(repo: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "gitml"), "serve", "--port", str(port), "--workers", "2",
         "--log-db", "sqlite:///logs/k.db"],
        cwd=repo, env={**tool_env(), "OMP_NUM_THREADS": "1"},
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240  # two workers load and check the model on a busy machine
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            # both workers up: uvicorn logs one "Application startup complete" each
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200 and log.read_text().count(
                "Application startup complete"
            ) >= 2 * _starts(log):
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not ready:\n{log.read_text()}")


def _starts(log: Path) -> int:
    return log.read_text().count("Started parent process")


def logged_ids(repo: Path) -> list[str]:
    with sqlite3.connect(repo / "logs" / "k.db") as conn:
        return [r[0] for r in conn.execute("SELECT id FROM predictions")]


def test_kill_9_under_load_loses_no_acknowledged_prediction(
    tmp_path: Path, adult_sample: pd.DataFrame
) -> None:
    repo = model_repo(tmp_path / "repo", adult_sample)
    log = tmp_path / "server.log"
    proc, url = start(repo, log)
    example: dict[str, Any] = httpx.get(f"{url}/metadata").json()["example"]

    for _ in range(10):
        assert httpx.post(f"{url}/predict", json=example).status_code == 200
    # Prometheus counts from both workers, summed (multiprocess mode)
    assert metric(url, "gitml_predictions_total") == 10
    assert metric(url, "gitml_log_written_rows_total") == 10

    acked: list[str] = []
    failed = 0

    async def load() -> None:
        nonlocal failed
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:

            async def one_client() -> None:
                nonlocal failed
                while True:
                    try:
                        resp = await client.post("/predict", json=[example, example])
                    except httpx.HTTPError:
                        failed += 1
                        return  # the server is gone
                    if resp.status_code == 200:
                        acked.extend(p["prediction_id"] for p in resp.json())

            async def killer() -> None:
                # kill -9 in the middle of the load: once answers are flowing (an observable
                # event, not a fixed sleep that a slow machine could outrun)
                deadline = time.monotonic() + 60
                while len(acked) < 60 and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                os.killpg(proc.pid, signal.SIGKILL)

            await asyncio.gather(killer(), *(one_client() for _ in range(20)))

    asyncio.run(load())
    proc.wait(10)
    assert len(acked) > 50 and failed > 0, (len(acked), failed)

    proc, url = start(repo, log)  # restart on the same log: SQLite recovers its WAL
    try:
        ids = logged_ids(repo)
        assert len(ids) == len(set(ids))  # nothing written twice
        missing = set(acked) - set(ids)
        assert not missing, f"{len(missing)} of {len(acked)} acknowledged predictions lost"
        after = httpx.post(f"{url}/predict", json=example).json()["prediction_id"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    assert after in logged_ids(repo)
    assert "Traceback" not in log.read_text()
    # no worker failed to open or write the log (two workers creating one new SQLite file at
    # once did: "cannot connect … OperationalError", rows dropped, answers still 200)
    assert "prediction log:" not in log.read_text()
