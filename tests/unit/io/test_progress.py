"""Long steps report progress off a terminal: a line at least every interval with done/total
and an ETA (issue 25: tune printed nothing for 20 minutes under `make repro | tee log`)."""

from __future__ import annotations

import io
import re
import time

from gitml.io.progress import INTERVAL, Progress


def test_off_a_terminal_a_line_comes_every_interval_even_within_one_slow_step() -> None:
    stream = io.StringIO()  # not a terminal, like a pipe or a CI log
    with Progress("tuning", 4, unit="trials", interval=0.05, stream=stream) as p:
        p.update(1, "best 0.9100")
        time.sleep(0.3)  # one slow trial: no update, lines all the same
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 4  # about six ticks and the final line
    assert re.fullmatch(r"tuning: 1/4 trials, best 0\.9100, 0m00s elapsed, ETA 0m0\ds", lines[0]), (
        lines[0]
    )
    assert "\r" not in stream.getvalue()  # a log keeps lines, not redraws


def test_the_eta_is_the_mean_pace_times_what_is_left() -> None:
    p = Progress("tuning", 30, unit="trials", stream=io.StringIO())
    p.start -= 600  # ten minutes in
    p.update(10)
    assert p.line() == "tuning: 10/30 trials, 10m00s elapsed, ETA 20m00s"
    p.update(0)
    assert p.line().endswith("ETA unknown (nothing done yet)")


def test_disabled_prints_nothing_and_the_default_interval_is_30_s() -> None:
    stream = io.StringIO()
    with Progress("tuning", 2, enabled=False, interval=0.01, stream=stream) as p:
        p.update(1)
        time.sleep(0.05)
    assert stream.getvalue() == "" and INTERVAL <= 30


def test_an_unknown_total_counts_without_an_eta() -> None:
    p = Progress("predict", None, unit="rows", stream=io.StringIO())
    p.advance(65_536)
    p.advance(10)
    assert p.line() == "predict: 65,546 rows, 0m00s elapsed, ETA unknown (total unknown)"
