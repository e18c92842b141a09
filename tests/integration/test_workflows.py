"""The GitHub workflows: linted (actionlint, zizmor) and kept in step with the code.

Every `run:` step may only call a `make` target of the Makefile, a `gitml` subcommand, a `dvc`
subcommand, `cml`, `gh`, `git` or a few shell builtins, so a renamed command or target fails
here instead of on GitHub.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from gitml.cli import app
from tests.helpers import BIN, ROOT, run, tool_env

pytestmark = pytest.mark.xdist_group("report")

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
# shell builtins, and grep and cp (on every runner image: the retrain workflow reads gh's error
# with grep; pages.yml copies the newest monitoring report with cp)
BUILTINS = frozenset({"echo", "cat", "printf", "test", "[", "true", "exit", "set", "grep", "cp"})
KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "!", "{", "}"})
OPERATORS = frozenset({";", "&&", "||", "|", "(", ")", "&"})
REDIRECTS = frozenset({">", ">>", "<", "2>", "2>>", "&>"})
# cml and gh are installed by the workflow (setup-cml) or the runner image, not here: their
# top-level commands (cml 0.20, gh 2.x) are listed instead
CML_COMMANDS = frozenset(
    {"asset", "check", "ci", "comment", "pr", "runner", "tensorboard", "workflow"}
)
GH_COMMANDS = frozenset((
    "alias", "api", "attestation", "auth", "browse", "cache", "codespace", "completion", "config",
    "extension", "gist", "gpg-key", "issue", "label", "org", "pr", "project", "release", "repo",
    "ruleset", "run", "search", "secret", "ssh-key", "status", "variable", "workflow",
))  # fmt: skip


def steps() -> list[tuple[str, str]]:
    """(workflow:job:step, script) of every `run:` step of every workflow."""
    found = []
    for wf in WORKFLOWS:
        doc = yaml.safe_load(wf.read_text())
        for job_id, job in (doc.get("jobs") or {}).items():
            for i, step in enumerate(job.get("steps") or []):
                if "run" in step:
                    found.append((f"{wf.name}:{job_id}:{step.get('name', i)}", step["run"]))
    return found


def commands(script: str) -> list[list[str]]:
    """The simple commands of a (simple) shell script: words, without assignments/redirects.

    Hand-written, not a shell parser: enough for the one-command steps the design asks for,
    plus `if`, `for NAME in WORDS; do … done`, `&&`/`||`/`|` chains and `$(...)` substitutions
    (checked as commands too).
    """
    script = script.replace("\\\n", " ")
    out: list[list[str]] = []
    for inner in re.findall(r"\$\(([^()]*)\)", script):
        out += commands(inner)
    script = re.sub(r"\$\([^()]*\)", "SUBST", script)
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        skip_next = loop_header = False
        for tok in lexer:
            if skip_next:
                skip_next = False
                continue
            if loop_header:  # `for NAME in WORDS`: the words are data, not a command
                loop_header = tok not in (";", "do")
                continue
            if not current and tok == "for":
                loop_header = True
            elif tok in OPERATORS:
                out.append(current)
                current = []
            elif tok in REDIRECTS:
                skip_next = True  # the file name
            elif not current and (
                tok in KEYWORDS or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", tok)
            ):
                continue
            else:
                current.append(tok)
        out.append(current)
    return [c for c in out if c]


@cache
def make_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text()
    return frozenset(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, flags=re.M))


@cache
def gitml_tree() -> Any:
    return typer.main.get_command(app)  # a click group (typer may ship its own click)


def gitml_command_exists(words: list[str]) -> bool:
    group = gitml_tree()
    for word in words:
        if word.startswith("-") or not hasattr(group, "commands"):
            break
        if word not in group.commands:
            return False
        group = group.commands[word]
    return True


@cache
def dvc_command_exists(sub: str) -> bool:
    proc = subprocess.run([str(BIN / "dvc"), sub, "--help"], env=tool_env(), capture_output=True)
    return proc.returncode == 0


def problem(words: list[str]) -> str | None:
    """None when the command exists, else what is wrong with it."""
    name = Path(words[0]).name if words[0].startswith(".venv/") else words[0]
    args = words[1:]
    if name in BUILTINS or name == "git":
        return None
    if name == "make":
        targets = [a for a in args if not a.startswith("-") and "=" not in a] or ["(default)"]
        missing = [t for t in targets if t != "(default)" and t not in make_targets()]
        return f"make target(s) {missing} not in the Makefile" if missing else None
    if name == "gitml":
        return None if args and gitml_command_exists(args) else f"no gitml command {args[:2]}"
    if name == "dvc":
        return None if args and dvc_command_exists(args[0]) else f"no dvc command {args[:1]}"
    if name == "cml":
        return None if args and args[0] in CML_COMMANDS else f"unknown cml command {args[:1]}"
    if name == "gh":
        return None if args and args[0] in GH_COMMANDS else f"unknown gh command {args[:1]}"
    return f"{name!r} is not make, gitml, dvc, cml, gh, git, grep or a shell builtin"


def test_there_are_workflows() -> None:
    names = {wf.name for wf in WORKFLOWS}
    assert {"pr.yml", "ci.yml"} <= names


def test_actionlint_finds_nothing() -> None:
    proc = run(["actionlint", "-no-color", *map(str, WORKFLOWS)], ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing_medium_or_high() -> None:
    proc = run(
        ["zizmor", "--offline", "--format", "json", str(ROOT / ".github" / "workflows")],
        ROOT,
        check=False,
    )
    findings = json.loads(proc.stdout or "[]")
    serious = [
        f"{f['ident']}: {f['desc']} ({f['locations'][0]['symbolic']['key']})"
        for f in findings
        if f["determinations"]["severity"] in ("Medium", "High") and not f.get("ignored")
    ]
    assert serious == []


@pytest.mark.parametrize(("where", "script"), steps(), ids=[s[0] for s in steps()])
def test_run_step_calls_commands_that_exist(where: str, script: str) -> None:
    found = commands(script)
    assert found, f"{where}: no command found in {script!r}"
    problems = [f"{' '.join(c)}: {p}" for c in found if (p := problem(c))]
    assert problems == [], where


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            "gitml report --base origin/main --out report.md",
            [["gitml", "report", "--base", "origin/main", "--out", "report.md"]],
        ),
        ('cat report.md >> "$GITHUB_STEP_SUMMARY"', [["cat", "report.md"]]),
        (
            'if [ -n "$(dvc remote list)" ]; then\n  dvc pull\nfi',
            [["dvc", "remote", "list"], ["[", "-n", "SUBST", "]"], ["dvc", "pull"]],
        ),
        ("A=1 make test && gh run list # comment", [["make", "test"], ["gh", "run", "list"]]),
    ],
)
def test_the_step_parser(script: str, expected: list[list[str]]) -> None:
    assert commands(script) == expected


@pytest.mark.parametrize(
    "words",
    [["make", "no-such-target"], ["gitml", "no-such-command"], ["gitml", "schema", "nope"],
     ["dvc", "no-such-command"], ["python", "-m", "gitml"], ["cml", "nope"]],
)  # fmt: skip
def test_a_missing_command_is_caught(words: list[str]) -> None:
    assert problem(words) is not None


def test_the_pr_workflow_keeps_its_promises() -> None:
    wf = yaml.safe_load((ROOT / ".github/workflows/pr.yml").read_text())
    triggers = wf[True]  # PyYAML reads the key `on` as True
    assert set(triggers) == {"pull_request"}
    assert wf["concurrency"]["cancel-in-progress"] is True
    assert wf["permissions"] == {}
    assert wf["env"]["ITERATIVE_DO_NOT_TRACK"] == "1"
    writers = [
        j for j, job in wf["jobs"].items() if job["permissions"].get("pull-requests") == "write"
    ]
    assert writers == ["comment"]
    comment = wf["jobs"]["comment"]
    assert "github.event.pull_request.head.repo.fork" in comment["if"]
    cml = next(s["run"] for s in comment["steps"] if "cml comment" in s.get("run", ""))
    assert "update" in cml and "--no-publish" in cml and "--watermark-title" in cml
    scripts = [s.get("run", "") for s in wf["jobs"]["reproduce"]["steps"]]
    order = [next(i for i, s in enumerate(scripts) if key in s) for key in
             ("gitml stale", "dvc repro", "gitml report", "GITHUB_STEP_SUMMARY")]  # fmt: skip
    assert order == sorted(order)


def test_every_action_is_pinned_to_a_commit_with_its_exact_version() -> None:
    """`uses: OWNER/REPO@<40 hex>  # vX.Y.Z` everywhere; no zizmor ignore left anywhere."""
    bad = []
    for wf in WORKFLOWS:
        text = wf.read_text()
        assert "zizmor: ignore" not in text, wf.name
        for line in text.splitlines():
            m = re.search(r"uses:\s*(\S+)(.*)$", line)
            if not m or m[1].startswith("./"):  # a reusable workflow of this repository
                continue
            if not re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", m[1]) or not re.fullmatch(
                r"\s+#\s+v\d+\.\d+\.\d+\b.*", m[2]
            ):
                bad.append(f"{wf.name}: {line.strip()}")
    assert bad == []


def test_ci_cancels_superseded_runs_only_for_pull_requests() -> None:
    wf = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    assert wf["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    # GitHub keeps one pending run per group and drops it for a newer one: on main each commit
    # needs a group of its own
    group = wf["concurrency"]["group"]
    assert "github.sha" in group and "github.ref" in group, group


def test_ci_tests_the_oldest_python_the_project_allows_and_3_13() -> None:
    import tomllib

    wf = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    versions = wf["jobs"]["test"]["strategy"]["matrix"]["python"]
    floor = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert floor.removeprefix(">=") in versions and "3.13" in versions, (floor, versions)
    setup = [s for s in wf["jobs"]["test"]["steps"] if "setup-python" in s.get("uses", "")]
    assert [s["with"]["python-version"] for s in setup] == ["${{ matrix.python }}"]


def test_every_step_that_reaches_origin_with_git_has_its_own_token() -> None:
    """Checkout keeps no token; gh's credential helper reads GH_TOKEN from the environment of
    the step that runs git (cli/cli pkg/cmd/auth/gitcredential/helper.go)."""
    bare = []
    for wf in WORKFLOWS:
        doc = yaml.safe_load(wf.read_text())
        for job_id, job in (doc.get("jobs") or {}).items():
            for step in job.get("steps") or []:
                # the commands, not the messages that name one
                script = "\n".join(
                    line for line in step.get("run", "").splitlines() if "echo" not in line
                )
                reaches = re.search(r"git (push|fetch|pull|ls-remote)\b|promote --push", script)
                if reaches and "GH_TOKEN" not in (step.get("env") or {}):
                    bare.append(f"{wf.name}:{job_id}:{step.get('name')}")
    assert bare == []


def test_environment_secrets_are_read_by_the_job_that_declares_the_environment() -> None:
    """An environment's secrets reach only a job that declares it; a job that calls a reusable
    workflow cannot declare one, so it has none to pass."""
    monitor = yaml.safe_load((ROOT / ".github/workflows/monitor.yml").read_text())
    assert "secrets" not in monitor["jobs"]["retrain"]
    retrain = yaml.safe_load((ROOT / ".github/workflows/retrain.yml").read_text())
    assert retrain["jobs"]["retrain"]["environment"] == "monitoring"
    assert "secrets" not in (retrain[True]["workflow_call"] or {})


def test_setup_cml_is_pinned_with_its_client() -> None:
    wf = yaml.safe_load((ROOT / ".github/workflows/pr.yml").read_text())
    step = next(s for s in wf["jobs"]["comment"]["steps"] if "setup-cml" in s.get("uses", ""))
    assert step["uses"] == "iterative/setup-cml@f12ea7685438c1fc438d50f77519b3860cf5fa98"
    assert step["with"] == {"version": "v0.20.6", "vega": False}
    assert step["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}
