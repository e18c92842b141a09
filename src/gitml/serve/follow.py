"""`gitml serve --stage prod --follow`: the server follows the registry and swaps models live.

A background thread checks every `--interval` seconds (and at once on SIGHUP, POST /admin/check,
or a check asked for by another worker of the same server):

1. `git fetch --force --tags REMOTE` (the GTO registry is git tags; the commits they point at
   come with them);
2. if no `model@…`/`model#…` tag changed since the last check, nothing more;
3. which version holds the stage now (and `canary`, when canary routing is on); a version that
   differs from the one served is a candidate, by promotion or rollback alike;
4. the candidate is resolved like `gitml serve --version` (gitml.serve.resolve: the file from
   the DVC cache or remote, its md5 against dvc.lock, its sha256 against model.json; or, with
   `release`, from the version's GitHub release, gitml.serve.release), its
   sha256 checked against the one in the version's tag message when there is one, its input
   contract checked equal to the one served (the request model cannot change in a running
   server): all of that in a child process at a lower OS priority (gitml.serve.candidate), so
   the requests keep the GIL; then, in this process, its fast path compiled and checked
   against the Pipeline, and warmed up, with the GIL's switch interval at 0.5 ms, so requests
   wait less for the loading thread;
5. only then the app's `Routing` (gitml.serve.routing) is replaced, whole, between two requests.

A candidate that fails any step is not served: the current model goes on answering, and the
failure is a log line, the counter `gitml_follow_failures_total` and `last_failure` in
/metadata's `follow`. The same version is not tried again until its stage moves (a new stage
tag), unless what failed was outside gitml (UnavailableError: a release not published yet, the
network): then the next check tries again. Under `--workers N` every worker runs its own
follower and swaps after its own checks; their fetches and model reads take turns on a lock file
in the git directory, and a check one worker is asked for is asked of all of them (a file there
whose change they watch).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, Request
from prometheus_client import CollectorRegistry, Counter
from starlette.concurrency import run_in_threadpool

from gitml.errors import DataError, UnavailableError
from gitml.registry import versions as registry
from gitml.serve.candidate import CandidateLoader
from gitml.serve.gil import short_gil_slices
from gitml.serve.predictor import Predictor
from gitml.serve.routing import Loaded, Routing

log = logging.getLogger("uvicorn.error")  # the logger uvicorn prints

CANARY = "canary"  # the GTO stage a canary version is assigned to
DEFAULT_INTERVAL = 30.0
DEFAULT_CANARY_SHARE = 0.1
FETCH_TIMEOUT = 120.0
STOP_WAIT = 10.0  # seconds a shutdown waits for a check under way
TRIGGER_POLL = 1.0  # seconds between looks at the shared check-request file
WARM_UP_CALLS = 20


@dataclass(frozen=True)
class FollowConfig:
    repo: str  # absolute path of the repository whose tags are the registry
    stage: str
    interval: float = DEFAULT_INTERVAL
    remote: str | None = "origin"  # None: the local tags only (someone else fetches)
    canary_share: float = DEFAULT_CANARY_SHARE  # 0 turns canary routing off
    fast_path: bool = True
    release: str | None = None  # GitHub OWNER/NAME: models from the versions' releases

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def canary_share_from_params(params_path: Path) -> float | None:
    """`promotion.canary.share` of params.yaml when it is there, read without the config model
    (an unknown or missing section means: no opinion)."""
    import yaml

    try:
        raw = yaml.safe_load(params_path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    canary = (raw.get("promotion") or {}).get("canary")
    share = canary.get("share") if isinstance(canary, dict) else None
    return float(share) if isinstance(share, int | float) and 0 <= share <= 1 else None


def _git(repo: str, *args: str, timeout: float = 30.0) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password
    proc = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, timeout=timeout, env=env
    )
    if proc.returncode != 0:
        raise DataError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


class HasRouting(Protocol):
    routing: Routing


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Follower:
    """The loop, one check, and what /metadata says about them."""

    def __init__(self, cfg: FollowConfig, target: HasRouting, metrics: CollectorRegistry) -> None:
        self.cfg, self.target = cfg, target
        self.swaps = Counter(
            "gitml_follow_swaps", "models swapped in by following the registry", ["stage"],
            registry=metrics,
        )  # fmt: skip
        self.failures = Counter(
            "gitml_follow_failures",
            "registry checks that failed: a candidate refused, or the fetch",
            ["stage"],
            registry=metrics,
        )
        gitdir = _git(cfg.repo, "rev-parse", "--git-common-dir").strip()
        self._gitdir = Path(cfg.repo, gitdir)
        self._trigger = self._gitdir / "gitml-follow-check"
        self._wake, self._stop = threading.Event(), threading.Event()
        self._checking = threading.Lock()
        self._checked = threading.Condition()
        self._generation = 0  # checks finished, so a caller can wait for the next one
        self._thread: threading.Thread | None = None
        self._loader = CandidateLoader()
        self._marker: str | None = None  # the registry's tags at the last check
        self._refused: dict[str, tuple[str, str]] = {}  # stage -> (version, the stage's tags)
        self._retry = False  # a candidate failed outside gitml: check again without a new tag
        self.remote = cfg.remote
        self.last_check: str | None = None
        self.last_result = "not checked yet"
        self.last_swap: dict[str, Any] | None = None
        self.last_failure: dict[str, Any] | None = None

    # ------------------------------------------------------------------ the loop

    def start(self) -> None:
        if self.remote and self.remote not in _git(self.cfg.repo, "remote").split():
            log.warning("follow: %s has no git remote %r; following its local tags only",
                        self.cfg.repo, self.remote)  # fmt: skip
            self.remote = None
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, lambda *_: self.request_check())
        try:  # the first candidate costs what the next ones do (gitml.serve.candidate)
            self._loader.start()
        except UnavailableError as exc:
            log.warning("follow: %s", exc)
        self._thread = threading.Thread(target=self._run, name="gitml-follow", daemon=True)
        self._thread.start()
        log.info(
            "follow: stage %s every %gs from %s; canary share %g", self.cfg.stage,
            self.cfg.interval, self.remote or "local tags", self.cfg.canary_share,
        )  # fmt: skip

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:  # a check under way ends with the process (a daemon)
            self._thread.join(timeout=STOP_WAIT)
        self._loader.close()

    def request_check(self) -> int:
        """Ask this follower and every other one on the repository (other workers) for a check
        now; return the number of checks done so far (see `wait_for_check`)."""
        # a check already under way may have fetched before this request: wait for the next one
        generation = self._generation + (1 if self._checking.locked() else 0)
        with contextlib.suppress(OSError):
            self._trigger.write_text(str(time.time_ns()))
        self._wake.set()
        return generation

    def wait_for_check(self, after: int, timeout: float) -> bool:
        with self._checked:
            return self._checked.wait_for(lambda: self._generation > after, timeout)

    def _trigger_stamp(self) -> int:
        try:
            return self._trigger.stat().st_mtime_ns
        except OSError:
            return 0

    def _run(self) -> None:
        stamp = self._trigger_stamp()
        self.check(forced=True)  # at start: the stage may have moved since the server resolved it
        due = time.monotonic() + self.cfg.interval
        while not self._stop.is_set():
            woke = self._wake.wait(min(TRIGGER_POLL, max(0.0, due - time.monotonic())))
            if self._stop.is_set():
                return
            seen = self._trigger_stamp()
            forced = woke or seen != stamp
            if forced or time.monotonic() >= due:
                self._wake.clear()
                stamp = seen
                self.check(forced=forced)
                due = time.monotonic() + self.cfg.interval

    # ------------------------------------------------------------------ one check

    def check(self, forced: bool = False) -> None:
        """Fetch, look, and swap when a candidate passes; never raises (the loop goes on)."""
        with self._checking:
            try:
                self.last_result = self._check(forced)
            except Exception as exc:  # a failure outside a candidate (git, GTO) or a bug
                self._failed(None, None, f"{type(exc).__name__}: {exc}")
                self.last_result = "failed"
            finally:
                self.last_check = _now()
                with self._checked:
                    self._generation += 1
                    self._checked.notify_all()

    def _check(self, forced: bool) -> str:
        self._retry = False
        if self.remote:
            try:
                with self._repo_lock():
                    _git(self.cfg.repo, "fetch", "--quiet", "--force", "--tags", self.remote,
                         timeout=FETCH_TIMEOUT)  # fmt: skip
            except (DataError, subprocess.TimeoutExpired) as exc:
                self._failed(None, None, f"fetching the tags from {self.remote}: {exc}")
        tags = _git(
            self.cfg.repo, "for-each-ref", "--format=%(refname) %(objectname)",
            f"refs/tags/{registry.ARTIFACT}@*", f"refs/tags/{registry.ARTIFACT}#*",
        )  # fmt: skip
        if tags == self._marker and not forced:
            return "no change in the registry"
        routing = self.target.routing
        prod = routing.prod
        found = registry.find_stage(self.cfg.repo, self.cfg.stage)
        if found is None:
            log.warning(
                "follow: no version is in stage %s; serving %s", self.cfg.stage, prod.version
            )
        elif found.version != prod.version:
            prod = self._candidate(self.cfg.stage, found.version, prod, tags) or prod
        canary = None
        if self.cfg.canary_share > 0:
            in_canary = registry.find_stage(self.cfg.repo, CANARY)
            if in_canary is not None and in_canary.version != prod.version:
                if routing.canary is not None and routing.canary.version == in_canary.version:
                    canary = routing.canary
                else:
                    canary = self._candidate(CANARY, in_canary.version, prod, tags)
        # Marked only now: a check that failed before here (GTO, git) is done again next time;
        # a refused candidate is not (`_refused`), one that failed outside gitml is.
        self._marker = None if self._retry else tags
        if prod is routing.prod and canary is routing.canary:
            return f"serving {prod.version}" + (f", canary {canary.version}" if canary else "")
        self.target.routing = Routing(prod, canary, self.cfg.canary_share)
        gc.freeze()  # the new model's objects join the frozen heap (gitml.serve.app's lifespan)
        what = {"at": _now(), "from": routing.prod.version, "to": prod.version,
                "canary": canary.version if canary else None}  # fmt: skip
        self.last_swap = what
        if prod is not routing.prod:
            self.swaps.labels(self.cfg.stage).inc()
        if canary is not None and canary is not routing.canary:
            self.swaps.labels(CANARY).inc()
        log.info(
            "follow: now serving %s (was %s)%s", prod.version, routing.prod.version,
            f"; canary {canary.version} for {self.cfg.canary_share:.1%} of request keys"
            if canary else ("; canary routing stopped" if routing.canary else ""),
        )  # fmt: skip
        return f"swapped to {prod.version}" + (f", canary {canary.version}" if canary else "")

    def _candidate(self, stage: str, version: str, reference: Loaded, tags: str) -> Loaded | None:
        """The version loaded and checked, or None (refused now, or earlier for these tags)."""
        prefix = f"refs/tags/{registry.ARTIFACT}#{stage}"
        stage_tags = "\n".join(t for t in tags.splitlines() if t.startswith(prefix))
        if self._refused.get(stage) == (version, stage_tags):
            return None  # refused before, and the stage has not moved since
        log.info("follow: stage %s moved to %s; checking it", stage, version)
        try:
            with short_gil_slices():
                return self._load(version, reference)
        except UnavailableError as exc:  # e.g. the release is published after the tags
            self._retry = True
            self._failed(stage, version, f"{type(exc).__name__}: {exc} (tried again next check)")
            return None
        except Exception as exc:
            self._refused[stage] = (version, stage_tags)
            self._failed(stage, version, f"{type(exc).__name__}: {exc}")
            return None

    def _load(self, version: str, reference: Loaded) -> Loaded:
        with self._repo_lock():  # read and checked in the child process (gitml.serve.candidate)
            resolved = self._loader.load(
                self.cfg.repo, version, self.cfg.release, reference.predictor.resolved.specs
            )
        meta, was = resolved.metadata, reference.predictor.resolved.metadata
        if (meta.task, meta.classes) != (was.task, was.classes):
            raise DataError(
                f"{version} is a {meta.task} model {meta.classes or ''}, the served one a "
                f"{was.task} model {was.classes or ''}; a running server cannot change its "
                "answers' schema: restart it to serve this version"
            )
        predictor = Predictor.prepare(resolved, self.cfg.fast_path)  # compiled, checked
        for _ in range(WARM_UP_CALLS):
            predictor.warm_up()
        return Loaded.of(predictor)

    def _failed(self, stage: str | None, version: str | None, error: str) -> None:
        self.failures.labels(stage or "-").inc()
        self.last_failure = {"at": _now(), "stage": stage, "version": version, "error": error}
        serving = self.target.routing.prod.version
        log.error(
            "follow: %s%s; still serving %s", f"{version} ({stage}) refused: " if version else "",
            error, serving,
        )  # fmt: skip

    @contextlib.contextmanager
    def _repo_lock(self) -> Iterator[None]:
        """One follower at a time reads or fetches the repository (workers share it)."""
        with (self._gitdir / "gitml-follow.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ /metadata

    def state(self) -> dict[str, Any]:
        routing = self.target.routing
        return {
            "stage": self.cfg.stage,
            "interval_seconds": self.cfg.interval,
            "remote": self.remote,
            "current_version": routing.prod.version,
            "canary_version": routing.canary.version if routing.canary else None,
            "canary_share": routing.share if routing.canary else 0.0,
            "last_check": self.last_check,
            "last_result": self.last_result,
            "last_swap": self.last_swap,
            "last_failure": self.last_failure,
            "pid": os.getpid(),  # under --workers N, which worker answered
        }


def admin_routes(follower: Follower, guard: Callable[..., Any] | None = None) -> APIRouter:
    """The router of POST /admin/check. `guard` is a FastAPI dependency put in front of it
    (the admin key's check); without one, only loopback clients may call it. (The annotations
    are strings here: FastAPI resolves them in this module's globals, hence the imports above.)"""

    async def loopback_only(request: Request) -> None:
        host = request.client.host if request.client else ""
        if host not in {"127.0.0.1", "::1", "localhost", "testclient"}:
            raise HTTPException(403, "POST /admin/check is open to loopback clients only")

    router = APIRouter(dependencies=[Depends(guard or loopback_only)])

    @router.post("/admin/check", summary="Check the registry now (every worker); the outcome")
    async def admin_check(wait: float = 60.0) -> dict[str, Any]:
        generation = follower.request_check()
        done = await run_in_threadpool(follower.wait_for_check, generation, min(wait, 600.0))
        return {"checked": done, "follow": follower.state()}

    return router
