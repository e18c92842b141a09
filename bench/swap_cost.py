"""What loading a candidate costs the requests of the same process: `gitml serve --follow`'s swap.

    python -m bench.swap_cost [--rounds 6] [--out bench/swap_cost.json]

In one process, as in a server worker: the follower (gitml.serve.follow.Follower, on a real
registry from bench/registry_repo.py: the model read from the DVC remote and every check done)
loads a candidate in a thread, while the main thread runs an event loop that stands for the
requests: every tick sleeps 2 ms and scores one row through the served model, and its latency
is the time past those 2 ms. Variants, interleaved round by round:

- `idle`: no load (the ticks' own spread on this machine: the baseline);
- `switch_5ms`: the load with CPython's default switch interval (5 ms), as before 0.5 ms;
- `switch_0.5ms`: the load inside `gitml.serve.gil.short_gil_slices` (what the follower does);
- `nice_10`: the default interval, the loading thread at OS priority +10 (os.setpriority on
  its native id).

The process starts as a server does (gc.collect and gc.freeze, as the app's lifespan) and
freezes after each load (as the follower does after a swap).

Figures: the ticks' p50, p99, p99.9 and max during the loads, and p99 ÷ idle p99; the garbage
collections during each round and the longest (gc.callbacks); the load's wall seconds and the
CPU seconds of the loading thread (what the requests' process spends: the read and checks run
in the follower's child process, gitml.serve.candidate, started before the rounds as a server
starts it), and the parts of a load timed once on their own in one thread (resolve: the DVC
read, hash checks and skops load, now the child's work; prepare: compile and check against the
Pipeline; warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.registry_repo import Registry

TICK = 0.002
VARIANTS = ("idle", "switch_5ms", "switch_0.5ms", "nice_10")


class _Target:
    def __init__(self, routing: Any) -> None:
        self.routing = routing


def _ticks(work: Callable[[], float], score: Callable[[], Any]) -> tuple[float, list[float]]:
    """Run `work` in a thread (after 0.3 s) while the loop ticks; (its seconds, tick ms)."""
    out: list[float] = []
    stop = threading.Event()
    took: list[float] = []

    def thread() -> None:
        time.sleep(0.3)
        took.append(work())
        time.sleep(0.1)
        stop.set()

    async def loop() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(TICK)
            score()
            out.append((time.perf_counter() - start - TICK) * 1000)

    runner = threading.Thread(target=thread)
    runner.start()
    asyncio.run(loop())
    runner.join()
    return took[0], out


def _gc_timer(pauses: list[float]) -> Callable[[str, dict[str, Any]], None]:
    """A gc callback that appends each collection's seconds to `pauses`."""
    began = [0.0]

    def timer(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - began[0])

    return timer


def _variant(name: str) -> Callable[[], contextlib.AbstractContextManager[None]]:
    from gitml.serve.gil import short_gil_slices

    @contextlib.contextmanager
    def plain() -> Iterator[None]:
        if name == "nice_10":  # this thread only; it ends with the load
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        yield

    return short_gil_slices if name == "switch_0.5ms" else plain


def _steps(repo: str, version: str) -> dict[str, float]:
    """The load's parts, timed one after the other (thread CPU seconds)."""
    from gitml.serve.follow import WARM_UP_CALLS
    from gitml.serve.predictor import Predictor
    from gitml.serve.resolve import resolve

    out = {}
    start = time.thread_time()
    resolved = resolve(repo, version=version)
    out["resolve_cpu_s"] = time.thread_time() - start
    start = time.thread_time()
    predictor = Predictor.prepare(resolved)
    out["prepare_cpu_s"] = time.thread_time() - start
    start = time.thread_time()
    for _ in range(WARM_UP_CALLS):
        predictor.warm_up()
    out["warm_up_cpu_s"] = time.thread_time() - start
    return {k: round(v, 3) for k, v in out.items()}


def run(rounds: int, keep: Path | None) -> dict[str, Any]:
    import pandas as pd
    from prometheus_client import CollectorRegistry

    from gitml.config import DataConfig
    from gitml.pipeline.ingest import normalise, read_source
    from gitml.serve.follow import FollowConfig, Follower
    from gitml.serve.predictor import Predictor
    from gitml.serve.resolve import resolve
    from gitml.serve.routing import Loaded, Routing

    cfg = DataConfig()
    sample = normalise(read_source(cfg), cfg).sample(n=2000, random_state=0)
    root = Path(tempfile.mkdtemp(prefix="gitml-bench-swap-", dir=keep))
    gcs: dict[str, list[float]] = {}
    try:
        reg = Registry(root, pd.DataFrame(sample).reset_index(drop=True))
        reg.make_version("v0.1.0", seed=1)
        reg.make_version("v0.2.0", seed=2, stage=None)
        reg.clone_server()
        served = Predictor.prepare(resolve(reg.server, version="v0.1.0"))
        target = _Target(Routing(Loaded.of(served)))
        follower = Follower(FollowConfig(str(reg.server), "prod"), target, CollectorRegistry())
        follower._loader.start()  # the child process, started with the follower as in a server
        follower.check(forced=True)  # GTO and DVC imported, as in a server running for a while
        gc.collect()  # as the app's lifespan does at start-up: the heap frozen, out of gc's way
        gc.freeze()
        pauses: list[float] = []
        gc.callbacks.append(_gc_timer(pauses))
        example = [served.resolved.example]
        steps = _steps(str(reg.server), "v0.2.0")
        ticks: dict[str, list[float]] = {v: [] for v in VARIANTS}
        seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
        cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
        gcs.update({v: [] for v in VARIANTS})
        load_before = list(os.getloadavg())
        for _ in range(rounds):
            for name in VARIANTS:

                def work(name: str = name) -> float:
                    start, used = time.perf_counter(), time.thread_time()
                    if name == "idle":
                        time.sleep(1.0)
                    else:
                        with _variant(name)():
                            follower._load("v0.2.0", target.routing.prod)
                        gc.freeze()  # as the follower does once it swaps
                    cpu[name].append(time.thread_time() - used)
                    return time.perf_counter() - start

                pauses.clear()
                took, out = _ticks(work, lambda: served.proba_rows(example))
                gcs[name] += pauses
                seconds[name].append(took)
                ticks[name] += out
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    idle_p99 = float(np.percentile(ticks["idle"], 99))
    variants = {}
    for name in VARIANTS:
        t = np.array(ticks[name])
        p99 = float(np.percentile(t, 99))
        variants[name] = {
            "ticks": len(t),
            "p50_ms": round(float(np.median(t)), 3),
            "p99_ms": round(p99, 3),
            "p99_9_ms": round(float(np.percentile(t, 99.9)), 3),
            "max_ms": round(float(t.max()), 3),
            "p99_over_idle_p99": round(p99 / idle_p99, 3),
            "load_wall_s_median": round(float(np.median(seconds[name])), 3),
            "load_cpu_s_median": round(float(np.median(cpu[name])), 3),
            "gc_collections_per_round": round(len(gcs[name]) / rounds, 1),
            "gc_longest_ms": round(max(gcs[name], default=0.0) * 1000, 3),
        }
    return {
        "command": f"python -m bench.swap_cost --rounds {rounds}",
        "rounds": rounds,
        "tick": f"sleep {TICK * 1000:g} ms, then one row scored; latency = time past the sleep",
        "load_average": {"start": load_before, "end": list(os.getloadavg())},
        "python": sys.version.split()[0],
        "steps_of_one_load": steps,
        "variants": variants,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--out", type=Path, default=Path("bench/swap_cost.json"))
    ap.add_argument("--keep", type=Path, default=None, help="keep the repositories, under this")
    args = ap.parse_args(argv)
    result = run(args.rounds, args.keep)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
