"""The follower's child process (gitml.serve.candidate): below the server's priority, its
errors raised in the server as they were, and a child that dies replaced at the next call."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitml.errors import DataError, UnavailableError
from gitml.serve.candidate import LOADER_NICENESS, CandidateLoader


@pytest.fixture
def loader() -> Iterator[CandidateLoader]:
    loader = CandidateLoader()
    try:
        yield loader
    finally:
        loader.close()


def test_the_child_runs_at_a_lower_priority_and_is_kept(loader: CandidateLoader) -> None:
    child = loader.call(os.getpid)
    assert child != os.getpid()
    assert loader.call(os.nice, 0) == min(os.nice(0) + LOADER_NICENESS, 19)
    assert loader.call(os.getpid) == child  # one child for the follower's candidates


def test_a_refused_candidate_raises_its_data_error_here(
    loader: CandidateLoader, tmp_path: Path
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with pytest.raises(DataError, match=r"v0\.2\.0"):  # a registry without that version
        loader.load(str(tmp_path), "v0.2.0", None, ())


def test_a_child_that_dies_is_unavailable_then_replaced(loader: CandidateLoader) -> None:
    first = loader.call(os.getpid)
    with pytest.raises(UnavailableError, match="a new one is started at the next check"):
        loader.call(os._exit, 1)
    second = loader.call(os.getpid)
    assert second != first


class _UnpicklableError(Exception):
    """Like many libraries' errors: its __init__ needs arguments pickle does not pass back."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")


def _raise_library_error() -> None:
    raise _UnpicklableError("model.skops", "bad header")


def test_a_library_error_refuses_the_version_without_breaking_the_child(
    loader: CandidateLoader,
) -> None:
    first = loader.call(os.getpid)
    with pytest.raises(DataError, match=r"_UnpicklableError: model.skops: bad header"):
        loader.call(_raise_library_error)
    assert loader.call(os.getpid) == first  # the same child: nothing to restart


def test_close_ends_a_child_in_the_middle_of_a_hung_read(loader: CandidateLoader) -> None:
    import threading
    import time

    child = loader.call(os.getpid)
    outcome: list[BaseException] = []

    def hung() -> None:
        try:
            loader.call(time.sleep, 600)  # a DVC remote that never answers
        except BaseException as exc:
            outcome.append(exc)

    waiting = threading.Thread(target=hung)
    waiting.start()
    time.sleep(0.5)
    started = time.monotonic()
    loader.close()
    waiting.join(timeout=30)
    assert not waiting.is_alive() and time.monotonic() - started < 30
    assert isinstance(outcome[0], UnavailableError)
    with pytest.raises(ProcessLookupError):  # the child is gone, not left reading
        for _ in range(100):
            os.kill(child, 0)
            time.sleep(0.1)
