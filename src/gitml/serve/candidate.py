"""A follower's candidate read and checked in a child process, away from the requests' GIL.

Reading a version (git and DVC, the DVC remote), its hash checks, the skops load with the
allowlist and the input-contract check cost about 0.1-0.4 s of CPU in Python. Done in a
server worker's own process, next to the requests, they held the GIL that the worker's event
loop needs at every step of a request: under a paced load the requests queued behind them
(bench/follow.json before this module: swap-window p99 578 ms against a 60 ms baseline).

So `CandidateLoader` does all of it in one child process per follower (gitml.serve.follow):
spawned (not forked: the server has threads) when the follower starts, where it imports what it
reads with (DVC, GTO, scikit-learn: ~2 s of CPU, once), and kept for every candidate, at OS
priority +LOADER_NICENESS so that the requests keep their CPU when cores are short.
`verified_candidate` is the code path of `gitml serve --version` (gitml.serve.resolve: md5
against dvc.lock, or the release's checks; sha256 against model.json; schema hash; skops with
the allowlist), plus the follower's two checks: the sha256 in the version's tag message and the
input contract equal to the served one. What comes back is the verified ResolvedModel, pickled
by concurrent.futures over the pipe to its own child process (the model file itself is only
ever read by skops, in the child); the worker then only compiles, checks and warms the fast
path (gitml.serve.predictor).

An exception of the child is raised again in the worker (the same GitmlError types, so a
refused candidate and one to try again next check are told apart as before). A child that dies
(killed, out of memory) is an UnavailableError: tried again next check, in a new child. The
child ends with its follower (`close`), or with the server process when that dies first.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from gitml.errors import DataError, UnavailableError
from gitml.io.git import git
from gitml.registry import versions as registry
from gitml.registry.tags import SHA256_LABEL

if TYPE_CHECKING:
    from gitml.serve.requests import ColumnSpec
    from gitml.serve.resolve import ResolvedModel

# The child's OS priority: below the workers (0), so a core the requests need is theirs; not 19,
# so that a saturated machine still gives the child a share (each swap needs ~0.1-0.4 s of it).
LOADER_NICENESS = 10


def tag_sha256(repo: str, version: str) -> str | None:
    """The `model sha256:` line of the version's annotated tag message; None when it has none."""
    ref = f"refs/tags/{registry.ARTIFACT}@{registry.normalise_version(version)}"
    message = git(repo, "for-each-ref", "--format=%(contents)", ref)
    for line in message.splitlines():
        if line.startswith(SHA256_LABEL):
            return line[len(SHA256_LABEL) :].strip()
    return None


def verified_candidate(
    repo: str, version: str, release: str | None, served: tuple[ColumnSpec, ...]
) -> ResolvedModel:
    """The version resolved and checked as the follower needs it (in the child process)."""
    from gitml.serve.resolve import resolve

    # md5 (dvc.lock) or the release's checks, sha256 (model.json), schema hash, skops allowlist
    resolved = resolve(repo, version=version, release=release)
    recorded = tag_sha256(repo, version)
    sha = resolved.metadata.model_sha256
    if recorded is not None and recorded != sha:
        raise DataError(
            f"the model file of {version} has sha256 {str(sha)[:12]}…, not the "
            f"{recorded[:12]}… recorded in its tag: not the model the gate judged"
        )
    if resolved.specs != served:
        names = sorted({s.name for s in resolved.specs} ^ {s.name for s in served})
        raise DataError(
            f"{version}'s input contract differs from the served one "
            f"({', '.join(names) or 'same columns, other rules'}); a running server "
            "cannot change its request model: restart it to serve this version"
        )
    return resolved


def _in_child(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) in the child, its exception made one the parent can rebuild: a GitmlError as
    it is; any other (a library's, whose class may not unpickle with its arguments and would
    break the pool) as a DataError naming it, which refuses the version as the in-process
    follower did."""
    from gitml.errors import GitmlError

    try:
        return fn(*args)
    except GitmlError:
        raise
    except Exception as exc:
        raise DataError(f"{type(exc).__name__}: {exc}") from None


def _child_start() -> None:
    """In the child: a lower priority; SIGINT is the server's (its follower ends the child); and
    the child ends when the server process does, even killed (its pipe would not tell it)."""
    os.nice(LOADER_NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:

        def orphaned() -> None:
            parent.join()  # returns when the parent process is gone
            os._exit(0)

        threading.Thread(target=orphaned, name="gitml-loader-parent", daemon=True).start()


def _imports() -> None:
    """What a candidate's first read would import (DVC, GTO, scikit-learn, skops): ~2 s of CPU,
    paid when the server starts rather than in its first swap."""
    import dvc.api  # noqa: F401
    import gto.api  # noqa: F401

    import gitml.serve.resolve  # noqa: F401


class CandidateLoader:
    """One child process for a follower's candidates, started with the follower (`start`)."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the child and import what it reads with; it is started again at the next
        candidate if this fails (UnavailableError)."""
        self.call(_imports)

    def load(
        self, repo: str, version: str, release: str | None, served: tuple[ColumnSpec, ...]
    ) -> ResolvedModel:
        """`verified_candidate` in the child; its exceptions raised here."""
        resolved: ResolvedModel = self.call(verified_candidate, repo, version, release, served)
        return resolved

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) in the child (started now if there is none); its exception raised here."""
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"), initializer=_child_start
                )
            pool = self._pool
        try:
            return pool.submit(_in_child, fn, *args).result()
        except (BrokenProcessPool, RuntimeError) as exc:  # RuntimeError: closed meanwhile
            self.close()
            raise UnavailableError(
                f"the process that reads and checks candidates ended ({exc}); a new one is "
                "started at the next check"
            ) from None

    def close(self) -> None:
        """End the child now, even in the middle of a read (a hung DVC remote must not hold
        the server's exit): the waiting `call` gets BrokenProcessPool, so UnavailableError."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        # The executor has no public way to stop a running task before Python 3.14's
        # terminate_workers(); its worker processes are in `_processes`.
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
