"""`--help` of the root and of every group and command: it lists the commands and teaches."""

from __future__ import annotations

import pytest

from gitml import __version__
from tests.unit.cli.runner import command, commands, flat, gitml, listed

GROUPS = {
    "stage": ["ingest", "validate", "split", "featurize", "tune", "train", "evaluate"],
    "schema": ["infer", "check"],
    "tune": ["worker"],
    "monitor": ["alert"],
    "remote": ["setup"],
    "keys": ["create", "list", "revoke"],
    "canary": ["decide"],
}
PANELS = {
    "Pipeline": ["ingest", "validate", "split", "featurize", "train", "evaluate",
                 "check-params", "metrics", "init", "stage", "schema", "tune"],
    "Review": ["report", "stale", "site"],
    "Registry": ["promote", "rollback", "smoke-test", "verify", "registry", "canary"],
    "Serve": ["serve", "predict", "simulate", "keys"],
    "Monitor": ["harvest", "monitor"],
    "Scale": ["synth", "remote"],
}  # fmt: skip


def test_root_help_lists_every_command_in_its_panel() -> None:
    res = gitml("--help")
    assert res.exit_code == 0, res.output
    text = flat(res.stdout)
    assert text.startswith("Usage: gitml [OPTIONS] COMMAND [ARGS]...")
    assert "Run the whole pipeline with dvc repro" in text
    # the panels in the documented order (gitml/cli/__init__.py), each command in its panel
    assert list(listed(res.stdout).items()) == list(PANELS.items())
    top = {c[0] for c in commands()}
    assert top == {name for names in PANELS.values() for name in names}


def test_no_arguments_shows_the_help_and_is_a_usage_error() -> None:
    res = gitml()
    assert res.exit_code == 2
    assert "Usage: gitml [OPTIONS] COMMAND [ARGS]..." in flat(res.output)
    assert " Registry " in flat(res.output)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_group_help_lists_its_commands(group: str) -> None:
    res = gitml(group, "--help")
    assert res.exit_code == 0, res.output
    assert flat(res.stdout).startswith(f"Usage: gitml {group} [OPTIONS] COMMAND [ARGS]...")
    assert listed(res.stdout) == {"Commands": GROUPS[group]}
    assert {c[1] for c in commands() if c[0] == group and len(c) == 2} == set(GROUPS[group])


@pytest.mark.parametrize("group", ["stage", "schema", "remote"])
def test_a_group_without_a_command_shows_its_help(group: str) -> None:
    res = gitml(group)
    assert res.exit_code == 2
    assert f"Usage: gitml {group} [OPTIONS] COMMAND" in flat(res.output)


def test_every_command_option_and_argument_is_described() -> None:
    # read from the commands themselves: rendering 40 help screens would cost seconds
    undocumented = []
    for words in commands():
        cmd = command(words)
        first = (cmd.help or "").split("\n\n")[0]
        if len(first.split()) < 4:
            undocumented.append(" ".join(words))
        for param in cmd.params:
            if param.name != "help" and not getattr(param, "help", None):
                undocumented.append(f"{' '.join(words)} {param.name}")
    assert undocumented == []
    assert len(commands()) >= 39  # every command of the app was seen


@pytest.mark.parametrize(
    ("words", "teaches"),
    [
        # the monitor's exit codes and examples
        (
            ["monitor"],
            [
                "Exit codes: 0 no alarm, 1 alarm, 2 bad configuration or usage, 3 could not judge",
                "Examples: gitml monitor (the default log, last monitor.since)",
                "gitml monitor --current predictions.parquet",
                "[env var: GITML_LOG_DB]",
            ],
        ),
        (["report"], ["gitml report --base origin/main --out report.md", "<markdown|terminal>"]),
        (
            ["promote"],
            ["Run it after dvc repro --force", "<major|minor|patch>", "[default: minor]"],
        ),
        (["predict"], ["<fail|skip>", "[default: fail]", "[required]", "header = 1"]),
        (["rollback"], ["model#prod!#N", "--reason"]),
        (["smoke-test"], ["--version vX.Y.Z [--model FILE]", "POST /predict"]),
        (["tune", "worker"], ["postgresql://", "tune.grace_period"]),
        (["remote", "setup"], ["AWS_ACCESS_KEY_ID", "dvc push --run-cache"]),
        (["harvest"], ["data.extra_sources", "docs/retraining.md"]),
        (["check-params"], ["unknown keys, types, ranges", "[default: params.yaml]"]),
    ],
)
def test_help_teaches(words: list[str], teaches: list[str]) -> None:
    res = gitml(*words, "--help")
    assert res.exit_code == 0, res.output
    text = flat(res.stdout)
    for phrase in teaches:
        assert phrase in text, phrase


def test_version() -> None:
    res = gitml("--version")
    assert res.exit_code == 0
    assert res.stdout == f"gitml {__version__}\n"
    assert __version__[0].isdigit()


def test_version_is_eager_and_runs_no_command() -> None:
    # `promote` would need a git repository; --version answers before it is parsed
    res = gitml("--version", "promote", "--bump", "huge")
    assert (res.exit_code, res.stdout) == (0, f"gitml {__version__}\n")
