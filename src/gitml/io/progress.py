"""Progress of a long step (tune above all) on stderr: on a terminal a rich bar with an ETA;
anywhere else (`make repro | tee log`, CI, nohup) one line at least every `interval` seconds
with done/total, the elapsed time and an ETA.

Hand-written for the second case: rich's live display draws nothing on a stream that is not a
terminal until it stops, and tqdm redraws with carriage returns, which a log keeps as one
endless line. A timer thread prints even while one slow step (a trial) runs.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

INTERVAL = 30.0  # seconds between two lines off a terminal (issue 25: at least every 30 s)


def _clock(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class Progress:
    """`with Progress("tuning", 30, unit="trials") as p: ... p.update(done, note="best 0.93")`."""

    def __init__(
        self,
        what: str,
        total: int | None,
        *,
        unit: str = "",
        enabled: bool = True,
        interval: float = INTERVAL,
        stream: TextIO | None = None,
    ) -> None:
        self.what, self.total, self.unit, self.interval = what, total, unit, interval
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.done, self.note = 0, ""
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._bar: RichProgress | None = None
        self._task: int | None = None

    def __enter__(self) -> Progress:
        self.start = time.monotonic()
        if not self.enabled:
            return self
        if self.stream.isatty():
            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[note]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                speed_estimate_period=24 * 3600,  # the mean pace of the whole run: steps vary
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.what, total=self.total, note="")
        else:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()
        return self

    def update(self, done: int, note: str = "") -> None:
        with self._lock:
            self.done, self.note = done, note
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, note=note)  # type: ignore[arg-type]

    def advance(self, n: int) -> None:
        self.update(self.done + n, self.note)

    def line(self) -> str:
        """What is printed off a terminal: done/total, the note, elapsed and ETA."""
        with self._lock:
            done, note = self.done, self.note
        elapsed = time.monotonic() - self.start
        total = self.total
        if total is None:
            eta = "unknown (total unknown)"
        elif 0 < done < total:
            eta = _clock(elapsed / done * (total - done))
        else:
            eta = "0m00s" if done >= total else "unknown (nothing done yet)"
        unit = f" {self.unit}" if self.unit else ""
        extra = f", {note}" if note else ""
        count = f"{done:,}" if total is None else f"{done:,}/{total:,}"
        took = _clock(elapsed)
        return f"{self.what}: {count}{unit}{extra}, {took} elapsed, ETA {eta}"

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self._print()

    def _print(self) -> None:
        print(self.line(), file=self.stream, flush=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            if exc_type is None:
                self._print()  # the last line: how long it took
