"""The follower loads a candidate with short GIL slices, and gives the process its own back."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gitml.serve import gil
from gitml.serve.follow import FollowConfig, Follower


def test_short_slices_while_any_load_runs_then_the_process_interval() -> None:
    before = sys.getswitchinterval()
    first, second = threading.Event(), threading.Event()
    seen: list[float] = []

    def other() -> None:  # a second follower of the process, loading while the first one ends
        with gil.short_gil_slices():
            first.set()
            second.wait(10)
            seen.append(sys.getswitchinterval())

    with gil.short_gil_slices():
        assert sys.getswitchinterval() == pytest.approx(gil.LOAD_SWITCH_INTERVAL)
        thread = threading.Thread(target=other)
        thread.start()
        first.wait(10)
    assert sys.getswitchinterval() == pytest.approx(gil.LOAD_SWITCH_INTERVAL)  # still loading
    second.set()
    thread.join(10)
    assert seen == [pytest.approx(gil.LOAD_SWITCH_INTERVAL)]
    assert sys.getswitchinterval() == pytest.approx(before)


def test_a_shorter_process_interval_stays_and_an_error_restores_it() -> None:
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(gil.LOAD_SWITCH_INTERVAL / 2)
        with pytest.raises(RuntimeError), gil.short_gil_slices():
            assert sys.getswitchinterval() == pytest.approx(gil.LOAD_SWITCH_INTERVAL / 2)
            raise RuntimeError("a candidate that fails")
        assert sys.getswitchinterval() == pytest.approx(gil.LOAD_SWITCH_INTERVAL / 2)
    finally:
        sys.setswitchinterval(before)


def test_the_candidate_loads_with_short_slices(tmp_path: Path, monkeypatch: Any) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    follower = Follower(FollowConfig(str(tmp_path), "prod"), None, CollectorRegistry())  # type: ignore[arg-type]
    during: list[float] = []

    def load(self: Follower, version: str, reference: Any) -> Any:
        during.append(sys.getswitchinterval())
        return "loaded"

    monkeypatch.setattr(Follower, "_load", load)
    before = sys.getswitchinterval()
    assert follower._candidate("prod", "v0.2.0", None, "") == "loaded"  # type: ignore[arg-type]
    assert during == [pytest.approx(gil.LOAD_SWITCH_INTERVAL)]
    assert sys.getswitchinterval() == pytest.approx(before)
