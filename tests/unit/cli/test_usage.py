"""Usage errors exit 2 with a message that names the option and the fix, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli.runner import flat, gitml


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "No such command 'nosuch'."),
        (["stage", "nosuch"], "No such command 'nosuch'."),
        (["promote", "--nope"], "No such option: --nope"),
        (["check-params", "--param", "x"], "No such option: --param"),
        # the Enum options: the choices are listed
        (
            ["promote", "--bump", "huge"],
            ["Invalid value for '--bump'", "'huge' is not one of 'major', 'minor', 'patch'."],
        ),
        (
            ["promote", "--bump", "Minor"],  # case-sensitive, like the tag names
            ["Invalid value for '--bump'", "'Minor' is not one of 'major', 'minor', 'patch'."],
        ),
        (
            ["report", "--format", "html"],
            ["Invalid value for '--format' / '-f'", "'html' is not one of 'markdown', 'terminal'."],
        ),
        (
            ["predict", "in.csv", "-o", "out.csv", "--on-error", "ignore"],
            ["Invalid value for '--on-error'", "'ignore' is not one of 'fail', 'skip'."],
        ),
        # required arguments and options
        (["predict", "-o", "out.csv"], "Missing argument 'input_path'."),
        (["predict", "in.csv"], "Missing option '--out' / '-o'."),
        (["init", "data/raw/x.csv"], "Missing option '--target'."),
        (["init", "--target", "y"], "Missing argument 'data'."),
        (["synth", "-o", "x.parquet"], "Missing option '--rows' / '-n'."),
        (["remote", "setup"], "Missing argument 'url'."),
        (["schema", "check"], "Missing argument 'data'."),
        # ranges and types
        (
            ["synth", "-n", "0", "-o", "x.parquet"],
            ["'--rows' / '-n'", "greater than or equal to 1"],
        ),
        (["serve", "--port", "70000"], ["'--port'", "less than or equal to 65535"]),
        (["serve", "--workers", "0"], ["'--workers'", "greater than or equal to 1"]),
        (["simulate", "--rows", "many"], ["'--rows'", "unable to parse string as an integer"]),
        (["tune", "worker", "--n-trials", "0"], ["'--n-trials'", "greater than or equal to 1"]),
        (["rollback", "--to"], "Option '--to' requires an argument."),
    ],
)
def test_usage_errors_exit_2_and_say_what_is_wrong(
    args: list[str], message: str | list[str]
) -> None:
    res = gitml(*args)
    assert res.exit_code == 2, res.output
    for fragment in [message] if isinstance(message, str) else message:
        assert fragment in flat(res.stderr)
    assert res.stdout == ""


def test_a_usage_error_points_to_the_commands_help() -> None:
    res = gitml("tune", "worker", "--bogus")
    assert res.exit_code == 2
    assert flat(res.stderr).startswith(
        "Usage: gitml tune worker [OPTIONS] Try 'gitml tune worker -h' for help. Error No such "
        "option: --bogus"
    )


def test_smoke_test_model_needs_a_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # nothing is served: the check comes first
    res = gitml("smoke-test", "--model", "models/model.skops")
    assert res.exit_code == 2
    assert "--model needs --version (the tag that records its sha256)" in flat(res.stderr)
