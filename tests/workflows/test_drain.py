"""The BASH_ENV the workflow tests give act's steps (standins/drain.bash): a failing step's shell
waits before it exits, so act reads its last lines; the step's exit status is unchanged."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.workflows.harness import DRAIN


def _step(script: str) -> tuple[int, float]:
    """Run `script` the way act runs a `run:` step on the host, with the tests' BASH_ENV."""
    env = {k: v for k, v in os.environ.items() if k != "GITML_ACT_DRAIN"}
    start = time.monotonic()
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script],
        env={**env, "BASH_ENV": str(DRAIN)},
        capture_output=True,
        check=False,
    )
    return proc.returncode, time.monotonic() - start


@pytest.mark.parametrize(
    ("script", "status", "waits"),
    [
        ('echo "::error::no"; exit 3', 3, True),
        ("false", 1, True),
        ("echo fine", 0, False),
        # a shell the step starts fails, the step goes on and succeeds: nobody waits
        ("bash -c 'exit 4' || true; echo done", 0, False),
    ],
)
def test_a_failing_step_waits_and_keeps_its_status(script: str, status: int, waits: bool) -> None:
    rc, seconds = _step(script)
    assert rc == status
    assert (seconds >= 0.9) is waits, seconds
