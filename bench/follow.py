"""Swapping models under load, and the canary split: `gitml serve --stage prod --follow`.

    python -m bench.follow [--clients 50] [--workers 2] [--interval 10] [--pace 0.55 | --rate R]
                           [--out bench/follow.json]

A real registry (bench/registry_repo.py: a bare origin, a dev clone that fits, registers and
pushes versions, a DVC remote, and a server clone without a DVC cache), a real
`gitml serve --stage prod --follow --workers N` in the server clone, and CLIENTS concurrent
clients sending one-row requests. The load runs twice, each time through a baseline window,
a promotion and a rollback:

1. **saturated** (closed loop): each client sends its next request as soon as the last one is
   answered, so the machine (server and clients share its cores) runs flat out, and the p99 is
   mostly queueing. Its baseline throughput is the run's capacity;
2. **paced** (open loop): each client on a fixed schedule, together PACE x that capacity (or
   RATE requests a second: the same load in runs whose capacity differs, on a shared machine); a
   request's latency counts from when it was due, so a stall shows up in every request it
   delays. With spare capacity the p99 is service time, and what a swap adds to it.

In each: a **baseline window** of BASELINE seconds with nothing moving; a **promotion** (v0.2.0
saturated, v0.3.0 paced, both registered before the load began, assigned to prod and the tags
pushed), whose window runs from the push until every worker answers with the new version, plus
2 s; a **rollback** (`gitml rollback --to v0.1.0 --push` in the dev clone), the same window.
Then the **canary**: `v0.2.0` is assigned to stage `canary` (share 0.1, `--canary-share`); once
the server routes to it, 10,000 requests with 10,000 distinct `X-Request-Key`s, then 200 keys
sent 5 times each.

Figures: failed requests (a transport error or a status other than 200); per mode the p99 of
the requests sent in each swap window next to the same mode's baseline p99 (and the ratio);
seconds from the tag push to the first answer by the new version and to the last answer by the
old one (goal: within one poll interval + 30 s); the canary's observed share with its binomial
95% interval next to the configured share (goal ±1.5 points), and whether every repeated key
reached one version. Every answer must name a version. Registry moves run as git/gto/gitml
processes, so the load generator (asyncio streams in this process, a minimal keep-alive
HTTP/1.1 client) keeps its CPU. The load average is recorded at the start, after the swaps and
at the end: other tenants of the machine move every wall-clock figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.registry_repo import Registry, env
from bench.serving import _free_port
from gitml.serve.routing import bucket

BASELINE_SECONDS = 20.0
P99_GOAL_MS = 100.0
PACE = 0.55  # the paced load's rate, a share of the closed loop's throughput
ARRIVAL_SLACK = 30.0  # the new version answers within one poll interval + this
_LENGTH = re.compile(rb"(?i)content-length: *(\d+)")
_VERSION = re.compile(rb'"model_version":"([^"]+)"')
CANARY_REQUESTS = 10_000
CANARY_SHARE = 0.1
CANARY_TOLERANCE = 0.015
REPEATED_KEYS, REPEATS = 200, 5


@dataclass
class Load:
    """Every answer: (send time, latency s, version or None, the error or '')."""

    url: str
    example: dict[str, Any]
    clients: int
    rate: float = 0.0  # requests a second, all clients together; 0: closed loop
    records: list[tuple[float, float, str | None, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    async def run(self) -> None:
        """CLIENTS keep-alive connections, each sending one request after the other (closed
        loop), or, with `rate`, each on its own fixed schedule of rate / CLIENTS requests a
        second (open loop; the clients' schedules staggered evenly).

        Paced, a request's latency counts from the time it was due, not from when its client
        got round to sending it: a client still waiting for a slow answer sends its next
        requests late, and that wait is part of what they measure (no coordinated omission).
        A minimal HTTP/1.1 client on asyncio streams: httpx costs about ten times the CPU per
        request, and on two cores shared with the server that CPU showed up as latency."""
        host, port = self.url.removeprefix("http://").split(":")
        body = json.dumps(self.example).encode()
        request = (
            f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        period = self.clients / self.rate if self.rate else 0.0
        start = time.monotonic()

        async def client(n: int) -> None:
            reader, writer = await asyncio.open_connection(host, int(port))
            due = start + period * n / self.clients
            while not self.stop.is_set():
                if period:
                    due += period
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    sent = due
                else:
                    sent = time.monotonic()
                try:
                    writer.write(request)
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                    length = int(_LENGTH.search(head).group(1))  # type: ignore[union-attr]
                    answer = await reader.readexactly(length)
                    status = int(head.split(b" ", 2)[1])
                    found = _VERSION.search(answer)
                    version = found.group(1).decode() if found else None
                    error = "" if status == 200 else str(status)
                except (OSError, asyncio.IncompleteReadError, TimeoutError, AttributeError) as exc:
                    version, error = None, type(exc).__name__
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                if error == "" and not version:
                    error = "no model_version"
                self.records.append((sent, time.monotonic() - sent, version, error))
            writer.close()

        await asyncio.gather(*(client(n) for n in range(self.clients)))

    def since(self, t: float, mark: int = 0) -> list[tuple[float, float, str | None, str]]:
        """The answers to requests sent at `t` or later (all of them are past index `mark`
        when `mark` was the count at `t`: the scan stays short while the list grows)."""
        return [r for r in self.records[mark:] if r[0] >= t]


def _p99_ms(records: list[tuple[float, float, str | None, str]]) -> float:
    return float(np.percentile([r[1] for r in records], 99) * 1000) if records else math.nan


def _wait_for(what: str, check: Any, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic()
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not within {timeout:.0f} s")


def _swap(load: Load, move: Any, old: str, new: str, timeout: float) -> dict[str, Any]:
    """Move the registry (a callable that returns once the tags are pushed); time the swap."""
    mark = len(load.records)
    move()
    pushed = time.monotonic()
    first = _wait_for(
        f"first answer by {new}",
        lambda: any(r[2] == new for r in load.since(pushed, mark)),
        timeout,
    )

    def all_new() -> bool:  # the last 200 answers all by the new version: every worker swapped
        tail = load.records[-200:]
        return len(tail) == 200 and all(r[2] == new for r in tail)

    _wait_for(f"every worker on {new}", all_new, timeout)
    last_old = max((r[0] + r[1] for r in load.since(pushed, mark) if r[2] == old), default=pushed)
    time.sleep(2.0)
    window = [r for r in load.since(pushed, mark) if r[0] <= last_old + 2.0]
    return {
        "first_answer_by_new_s": round(first - pushed, 2),
        "last_answer_by_old_s": round(last_old - pushed, 2),
        "window_requests": len(window),
        "window_p99_ms": round(_p99_ms(window), 2),
        "window_failed": sum(1 for r in window if r[3]),
    }


def _canary(url: str, example: dict[str, Any], clients: int, new: str) -> dict[str, Any]:
    import httpx

    async def send(keys: list[str]) -> list[str | None]:
        out: list[str | None] = [None] * len(keys)
        queue = list(enumerate(keys))
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:

            async def client() -> None:
                while queue:
                    n, key = queue.pop()
                    try:  # a transport error is a failed request, counted, not the run's end
                        resp = await http.post(
                            "/predict", json=example, headers={"X-Request-Key": key}
                        )
                    except httpx.HTTPError:
                        continue
                    out[n] = resp.json().get("model_version") if resp.status_code == 200 else None

            await asyncio.gather(*(client() for _ in range(clients)))
        return out

    keys = [f"bench-key-{i}" for i in range(CANARY_REQUESTS)]
    versions = asyncio.run(send(keys))
    share = sum(v == new for v in versions) / len(keys)
    half = 1.96 * math.sqrt(CANARY_SHARE * (1 - CANARY_SHARE) / len(keys))
    repeated = [f"repeat-{i}" for i in range(REPEATED_KEYS)]
    again = asyncio.run(send([k for k in repeated for _ in range(REPEATS)]))
    sticky = all(
        len(set(again[i * REPEATS : (i + 1) * REPEATS])) == 1 for i in range(REPEATED_KEYS)
    )
    return {
        "requests": len(keys),
        "failed": sum(v is None for v in versions) + sum(v is None for v in again),
        "observed_share": round(share, 4),
        "configured_share": CANARY_SHARE,
        "binomial_95_interval": [round(CANARY_SHARE - half, 4), round(CANARY_SHARE + half, 4)],
        "within_goal": abs(share - CANARY_SHARE) <= CANARY_TOLERANCE,
        "repeated_keys": REPEATED_KEYS,
        "repeats": REPEATS,
        "every_repeated_key_one_version": sticky,
    }


def _start(reg: Registry, workers: int, interval: float, log: Path) -> tuple[Any, str]:
    import httpx

    port = _free_port()
    cmd = [sys.executable, "-m", "gitml", "serve", "--stage", "prod", "--follow",
           "--interval", str(interval), "--workers", str(workers), "--port", str(port),
           "--canary-share", str(CANARY_SHARE), "--log-db", "sqlite:///logs/bench.db"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=reg.server, env={**env(), "OMP_NUM_THREADS": "1"},
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text())
        try:
            ready = httpx.get(f"{url}/ready", timeout=2).status_code == 200
            if ready and log.read_text().count("Application startup complete") >= workers:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"not ready:\n{log.read_text()}")


def _window(records: list[tuple[float, float, str | None, str]], seconds: float) -> dict[str, Any]:
    ms = [r[1] * 1000 for r in records]
    return {
        "seconds": seconds,
        "requests": len(records),
        "requests_per_second": round(len(records) / seconds, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(_p99_ms(records), 2),
        "max_ms": round(max(ms), 2),
    }


def _phase(reg: Registry, url: str, example: dict[str, Any], clients: int, rate: float,
           new: str, timeout: float) -> dict[str, Any]:  # fmt: skip
    """One load (closed loop, or paced at `rate`): a baseline window, then `new` promoted and
    v0.1.0 rolled back to, each swap's window; then the load stops."""
    load = Load(url, example, clients, rate)
    thread = threading.Thread(target=lambda: asyncio.run(load.run()), daemon=True)
    try:
        thread.start()
        time.sleep(3.0)  # connections open, workers warm
        start = time.monotonic()
        time.sleep(BASELINE_SECONDS)
        baseline = [r for r in load.since(start) if r[0] <= start + BASELINE_SECONDS]
        promotion = _swap(load, lambda: reg.assign(new, "prod"), "v0.1.0", new, timeout)
        time.sleep(5.0)
        rollback = _swap(load, lambda: reg.rollback("v0.1.0"), new, "v0.1.0", timeout)
    finally:
        load.stop.set()
        thread.join(60)
    records = load.records
    base = _window(baseline, BASELINE_SECONDS)
    worst = max(promotion["window_p99_ms"], rollback["window_p99_ms"])
    return {
        "mode": f"paced at {rate:.0f} req/s" if rate else "closed loop (saturated)",
        "target_requests_per_second": round(rate, 1) if rate else None,
        "requests": len(records),
        "failed_requests": sum(1 for r in records if r[3]),
        "errors": sorted({r[3] for r in records if r[3]}),
        "baseline_window": base,
        "promotion": promotion,
        "rollback": rollback,
        "swap_window_p99_ms": worst,
        "swap_p99_over_baseline_p99": round(worst / base["p99_ms"], 3),
    }


def run(clients: int, workers: int, interval: float, pace: float, keep: Path | None,
        rate: float | None = None) -> dict[str, Any]:  # fmt: skip
    import httpx
    import pandas as pd

    from gitml.config import DataConfig
    from gitml.pipeline.ingest import normalise, read_source

    cfg = DataConfig()
    sample = normalise(read_source(cfg), cfg).sample(n=2000, random_state=0)
    root = Path(tempfile.mkdtemp(prefix="gitml-bench-follow-", dir=keep))
    reg = Registry(root, pd.DataFrame(sample).reset_index(drop=True))
    reg.make_version("v0.1.0", seed=1)
    # registered now, promoted under load: v0.2.0 under the saturating load, v0.3.0 paced
    reg.make_version("v0.2.0", seed=2, stage=None)
    reg.make_version("v0.3.0", seed=3, stage=None)
    reg.clone_server()
    log = root / "server.log"
    proc, url = _start(reg, workers, interval, log)
    example = httpx.get(f"{url}/metadata").json()["example"]
    timeout = interval + ARRIVAL_SLACK + 120
    load_before = list(os.getloadavg())
    try:
        saturated = _phase(reg, url, example, clients, 0.0, "v0.2.0", timeout)
        # what the machine sustains (server, clients and all, on these cores): the closed
        # loop's baseline throughput; the paced load runs at a share of it
        capacity = saturated["baseline_window"]["requests_per_second"]
        time.sleep(3.0)
        paced = _phase(reg, url, example, clients, rate or pace * capacity, "v0.3.0", timeout)
        load_during = list(os.getloadavg())
        reg.assign("v0.2.0", "canary")
        # every worker routes to the canary: a key in the canary's share, answered by it 40
        # times in a row (the kernel spreads connections over the workers)
        probe = next(k for k in (f"probe-{i}" for i in range(10_000)) if bucket(k) < CANARY_SHARE)

        def routed() -> bool:
            def one() -> Any:
                return httpx.post(
                    f"{url}/predict", json=example, headers={"X-Request-Key": probe}
                ).json()["model_version"]

            return all(one() == "v0.2.0" for _ in range(40))

        _wait_for("the canary routed by every worker", routed, timeout)
        canary = _canary(url, example, clients, "v0.2.0")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(120)
        server_log = log.read_text().splitlines()[-12:]
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    failed = saturated["failed_requests"] + paced["failed_requests"]
    phases = (saturated, paced)
    arrival = max(p[s]["last_answer_by_old_s"] for p in phases for s in ("promotion", "rollback"))
    return {
        "command": f"python -m bench.follow --clients {clients} --workers {workers} "
        f"--interval {interval:g} " + (f"--rate {rate:g}" if rate else f"--pace {pace:g}"),
        "clients": clients,
        "workers": workers,
        "interval_s": interval,
        "pace_share_of_capacity": None if rate else pace,
        "capacity_requests_per_second": capacity,
        "load_average": {
            "start": load_before,
            "after_the_swaps": load_during,
            "end": list(os.getloadavg()),
        },
        "saturated": saturated,
        "paced": paced,
        "canary": canary,
        "goals": {
            "zero_failed_requests": failed == 0,
            "paced_swap_window_p99_ms": paced["swap_window_p99_ms"],
            "paced_swap_window_p99_within_100ms": paced["swap_window_p99_ms"] <= P99_GOAL_MS,
            "paced_swap_p99_over_baseline_p99": paced["swap_p99_over_baseline_p99"],
            "saturated_swap_window_p99_ms": saturated["swap_window_p99_ms"],
            "saturated_swap_window_p99_within_100ms": saturated["swap_window_p99_ms"]
            <= P99_GOAL_MS,
            "saturated_swap_p99_over_baseline_p99": saturated["swap_p99_over_baseline_p99"],
            "all_workers_swapped_s": arrival,
            "within_interval_plus_30s": arrival <= interval + ARRIVAL_SLACK,
            "canary_share_within_1.5_points": canary["within_goal"],
            "canary_sticky": canary["every_repeated_key_one_version"],
        },
        "server_log_tail": server_log,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--pace", type=float, default=PACE, help="paced load, share of capacity")
    ap.add_argument("--rate", type=float, default=None, help="paced load, requests a second")
    ap.add_argument("--out", type=Path, default=Path("bench/follow.json"))
    ap.add_argument("--keep", type=Path, default=None, help="keep the repositories, under this")
    args = ap.parse_args(argv)
    result = run(args.clients, args.workers, args.interval, args.pace, args.keep, args.rate)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
