"""Serving benchmarks: `gitml serve` latency under load, `gitml predict` throughput.

Both use the primary clone's workspace model (after its cold `dvc repro`) and measure their
baseline in the same run, in this process: the model's own `predict_proba`.

- `serve_latency`: a real `gitml serve` (uvicorn, one process) on 127.0.0.1. First 50
  concurrent clients send one-row POST /predict requests (full: 10,000 in all; quick: 1,000;
  smoke: 250)
  and every non-200 or transport error is counted (goal: 0). Then, unloaded, one client sends
  one-row requests one after another; figure = p50 latency (p99 in the details), baseline =
  p50 of in-process `predict_proba` on the same one-row frame. Goal: p50 within +2 ms.
- `batch_predict`: `gitml predict` (the command) on a Parquet file of the test split repeated
  (full: 1,000,000 rows; quick: 100,000); figure = the rows/s the command reports for its
  streaming phase (read, check, featurize, predict, write; process start and model load
  excluded: a constant of a few seconds, in `command_seconds`); baseline = raw
  `predict_proba` rows/s on the same rows already featurized in memory, in chunks of the
  same size. Goal >= 0.8x. The in-process `gitml.predict.run` rate is in the details.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.workspace import Workspace, result

CLIENTS = 50
LATENCY_GOAL_MS = 2.0
BATCH_GOAL_RATIO = 0.8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


async def _hammer(url: str, rows: list[dict[str, Any]], total: int) -> tuple[int, float]:
    import httpx

    errors = 0
    per_client = total // CLIENTS
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def one(k: int) -> int:
            bad = 0
            for i in range(per_client):
                try:
                    resp = await client.post(
                        "/predict", json=rows[(k * per_client + i) % len(rows)]
                    )
                    bad += resp.status_code != 200
                except httpx.HTTPError:
                    bad += 1
            return bad

        start = time.perf_counter()
        errors = sum(await asyncio.gather(*(one(k) for k in range(CLIENTS))))
        return errors, time.perf_counter() - start


def serve_latency(ws: Workspace) -> dict[str, Any]:
    import httpx

    from gitml.core import features
    from gitml.serve.requests import to_frame
    from gitml.serve.resolve import resolve

    clone = ws.primary().path
    total = ws.size(10_000, 1_000, 250)  # at least one request per client
    sequential = ws.size(2_000, 300, 50)
    resolved = resolve(clone)
    test = pd.read_parquet(clone / "data/split/test.parquet")
    columns = [s.name for s in resolved.specs]
    rows: list[dict[str, Any]] = json.loads(test[columns].head(500).to_json(orient="records"))

    port = _free_port()
    log = clone / "serve-bench.log"
    proc = subprocess.Popen(
        ["gitml", "serve", "--port", str(port), "--log-db", "sqlite:///logs/bench.db"],
        cwd=clone,
        env={**ws.env(clone), "OMP_NUM_THREADS": "1"},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gitml serve did not start:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        errors, load_seconds = asyncio.run(_hammer(url, rows, total))
        http_ms: list[float] = []
        with httpx.Client(base_url=url, timeout=30) as client:
            for i in range(sequential):
                start = time.perf_counter()
                resp = client.post("/predict", json=rows[i % len(rows)])
                http_ms.append((time.perf_counter() - start) * 1000)
                errors += resp.status_code != 200
        dropped = _metric(httpx.get(f"{url}/metrics").text, "gitml_log_dropped_rows_total")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()

    # Baselines, same rows, this process: the bare model, and the server's whole path.
    model_ms: list[float] = []
    path_ms: list[float] = []
    order = resolved.feature_order
    for i in range(sequential):
        row = rows[i % len(rows)]
        start = time.perf_counter()
        frame = features.apply(to_frame([row], resolved.specs), resolved.derived)[order]
        middle = time.perf_counter()
        resolved.model.predict_proba(frame)
        end = time.perf_counter()
        model_ms.append((end - middle) * 1000)
        path_ms.append((end - start) * 1000)

    p50, base50 = statistics.median(http_ms), statistics.median(model_ms)
    return result(
        figure=p50,
        figure_label="p50 ms of one-row POST /predict (unloaded, keep-alive)",
        baseline=base50,
        baseline_label="p50 ms of in-process predict_proba on the same row",
        unit="ms",
        goal=f"p50 within +{LATENCY_GOAL_MS:g} ms of predict_proba; 0 errors under load",
        within_goal=bool(p50 - base50 <= LATENCY_GOAL_MS and errors == 0),
        p99_ms=round(_pct(http_ms, 99), 3),
        baseline_p99_ms=round(_pct(model_ms, 99), 3),
        in_process_full_path_p50_ms=round(statistics.median(path_ms), 3),
        overhead_p50_ms=round(p50 - base50, 3),
        concurrent_clients=CLIENTS,
        concurrent_requests=total,
        concurrent_seconds=round(load_seconds, 3),
        concurrent_requests_per_second=round(total / load_seconds, 1),
        errors=errors,
        log_rows_dropped=dropped,
    )


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def batch_predict(ws: Workspace) -> dict[str, Any]:
    from gitml.core import features
    from gitml.serve import predict as batch
    from gitml.serve.resolve import resolve

    clone = ws.primary().path
    n = 100_000 if ws.quick else 1_000_000
    resolved = resolve(clone)
    test = pd.read_parquet(clone / "data/split/test.parquet")
    big = pd.concat([test] * (n // len(test) + 1), ignore_index=True).head(n)
    src = clone / "bench-predict-in.parquet"
    big.to_parquet(src, index=False)

    run = ws.run(["gitml", "predict", src.name, "--out", "bench-predict-out.parquet"], clone)
    reported = re.search(r"\(([\d,]+) rows/s\)", run.stdout)
    if reported is None:
        raise RuntimeError(f"`gitml predict` printed no rows/s:\n{run.stdout}")
    command_rate = float(reported.group(1).replace(",", ""))

    start = time.perf_counter()
    batch.run(resolved, src, clone / "bench-predict-out2.parquet", chunk_rows=batch.CHUNK_ROWS)
    in_process_rate = n / (time.perf_counter() - start)

    X = features.apply(big[[s.name for s in resolved.specs]], resolved.derived)
    X = X[resolved.feature_order]
    start = time.perf_counter()
    for i in range(0, n, batch.CHUNK_ROWS):
        resolved.model.predict_proba(X.iloc[i : i + batch.CHUNK_ROWS])
    raw_rate = n / (time.perf_counter() - start)
    for name in (
        "bench-predict-in.parquet",
        "bench-predict-out.parquet",
        "bench-predict-out2.parquet",
    ):
        Path(clone / name).unlink(missing_ok=True)
    return result(
        figure=command_rate,
        figure_label=f"rows/s `gitml predict` reports on {n:,} rows (Parquet in and out)",
        baseline=raw_rate,
        baseline_label="rows/s of raw predict_proba on the same rows, featurized in memory",
        unit="rows/s",
        goal=f">= {BATCH_GOAL_RATIO:g}x raw predict_proba",
        within_goal=bool(command_rate >= BATCH_GOAL_RATIO * raw_rate),
        rows=n,
        command_seconds=round(run.seconds, 3),
        command_rows_per_second_with_start=round(n / run.seconds, 1),
        in_process_rows_per_second=round(in_process_rate, 1),
        in_process_ratio=round(in_process_rate / raw_rate, 4),
        chunk_rows=batch.CHUNK_ROWS,
    )


SERVING_BENCHMARKS = {"serve_latency": serve_latency, "batch_predict": batch_predict}
