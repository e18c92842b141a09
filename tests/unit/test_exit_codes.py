"""Exit codes are decided in one place (gitml.cli.app.exit_code), from the kind of error."""

from __future__ import annotations

import pytest

from gitml.cli.app import exit_code
from gitml.errors import ConfigError, DataError, GitmlError, UnavailableError
from gitml.monitor.common import MonitorError


@pytest.mark.parametrize(
    ("error", "code", "in_the_monitor"),
    [
        (DataError("bad rows"), 1, 3),  # the monitor's 1 is an alarm: an error is never one
        (ConfigError("bad key"), 2, 2),
        (UnavailableError("dvc add failed"), 3, 3),
        (MonitorError("no log"), 3, 3),
        (GitmlError("other"), 1, 3),
    ],
)
def test_each_kind_of_error_has_its_code(error: GitmlError, code: int, in_the_monitor: int) -> None:
    assert exit_code(error) == code
    assert exit_code(error, one_is_an_alarm=True) == in_the_monitor
