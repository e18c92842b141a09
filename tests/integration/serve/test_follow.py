"""`gitml serve --stage prod --follow`: a real GTO registry, real tags pushed to a real remote.

bench/registry_repo.py builds it: a bare `origin`, a `dev` clone where versions are fitted,
registered (the sha256 in the tag message) and assigned, a DVC remote, and a `server` clone with
no DVC cache, in which the server runs and fetches the tags. Nothing is mocked: the server is
`gitml serve` in its own process, and the registry moves by pushed tags.

- one server follows a promotion, a rollback (`gitml rollback --push`), and refuses a version
  whose file was tampered with in the DVC remote: it keeps serving, says so in /metadata, the
  log and /metrics, and does not try that version again until its stage moves;
- under load: `--workers 2` takes a promotion while clients send requests; no request fails,
  every answer names a version, and the log holds each answer with the version that made it;
- canary: a version assigned to stage `canary` gets the share of request keys, sticky;
- `--model-source release`: the models come from the versions' GitHub releases (the loopback
  fake GitHub of tests/workflows): a release published after the tags is tried again until it
  is there, a release whose assets were replaced is refused by the tag's sha256, and a missing
  release stops `gitml serve --version` with what to do.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import sqlite3
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from bench.registry_repo import Registry

from tests.helpers import BIN, tool_env
from tests.integration.serve.test_serve import free_port, metric
from tests.workflows.fake_github import PERSON_TOKEN, FakeGitHub

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]


class Follower:
    def __init__(
        self, repo: Path, name: str, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = repo.parent / f"{name}.log"
        self.proc = subprocess.Popen(
            [str(BIN / "gitml"), "serve", "--stage", "prod", "--follow", "--interval", "1",
             "--port", str(self.port), "--log-db", "sqlite:///logs/f.db", *args],
            cwd=repo, env={**tool_env(), "OMP_NUM_THREADS": "1", **(env or {})},
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def text(self) -> str:
        return self.log.read_text()

    def wait_ready(self, workers: int = 1, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.text()
            try:
                ok = httpx.get(f"{self.url}/ready", timeout=2).status_code == 200
                if ok and self.text().count("Application startup complete") >= workers:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"not ready:\n{self.text()}")

    def follow(self) -> dict[str, Any]:
        state: dict[str, Any] = httpx.get(f"{self.url}/metadata", timeout=10).json()["follow"]
        return state

    def version(self, example: dict[str, Any]) -> str:
        answer = httpx.post(f"{self.url}/predict", json=example, timeout=10)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["model_version"])

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 120) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            assert self.proc.poll() is None, self.text()
            if check():
                return time.monotonic() - start
            time.sleep(0.25)
        raise AssertionError(f"{what} not seen in {timeout} s:\n{self.text()[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def registry(tmp_path: Path, adult_sample: pd.DataFrame) -> Registry:
    reg = Registry(tmp_path, adult_sample)
    reg.make_version("v0.1.0", seed=1)
    reg.clone_server()
    return reg


@pytest.fixture
def server(registry: Registry) -> Iterator[Follower]:
    f = Follower(registry.server, "follow")
    try:
        f.wait_ready()
        yield f
    finally:
        f.stop()


def logged_versions(repo: Path) -> dict[str, str]:
    with sqlite3.connect(repo / "logs" / "f.db") as conn:
        return dict(conn.execute("SELECT id, model_version FROM predictions").fetchall())


def test_follows_a_promotion_a_rollback_and_refuses_a_tampered_model(
    registry: Registry, server: Follower
) -> None:
    example = httpx.get(f"{server.url}/metadata").json()["example"]
    assert server.version(example) == "v0.1.0"
    assert server.follow()["current_version"] == "v0.1.0"

    registry.make_version("v0.2.0", seed=2)  # a promotion, pushed to origin
    server.wait_for(lambda: server.version(example) == "v0.2.0", "the promotion")
    meta = httpx.get(f"{server.url}/metadata").json()
    assert meta["model_version"] == "v0.2.0"
    assert meta["model_sha256"] == registry.sha256["v0.2.0"]
    assert meta["follow"]["last_swap"]["from"] == "v0.1.0"
    assert meta["follow"]["last_failure"] is None

    registry.rollback("v0.1.0")  # `gitml rollback --push`: new stage tags only
    server.wait_for(lambda: server.version(example) == "v0.1.0", "the rollback")
    assert httpx.get(f"{server.url}/metadata").json()["model_sha256"] == registry.sha256["v0.1.0"]

    registry.make_version("v0.3.0", seed=3, stage=None)
    registry.tamper_in_remote("v0.3.0")
    registry.assign("v0.3.0", "prod")
    server.wait_for(lambda: server.follow()["last_failure"] is not None, "the refusal")
    failure = server.follow()["last_failure"]
    assert failure["version"] == "v0.3.0" and failure["stage"] == "prod"
    assert "md5" in failure["error"], failure
    assert server.version(example) == "v0.1.0"  # still serving the last good one
    assert metric(server.url, 'gitml_follow_failures_total{stage="prod"}') == 1
    assert re.search(r"v0\.3\.0 \(prod\) refused: .*md5.*still serving v0\.1\.0", server.text())

    # a person asks for a check: the same version is not tried again (the stage did not move)
    answer = httpx.post(f"{server.url}/admin/check", json={}, timeout=60).json()
    assert answer["checked"] and answer["follow"]["current_version"] == "v0.1.0"
    time.sleep(3)  # three more polls
    assert server.text().count("v0.3.0 (prod) refused") == 1
    assert metric(server.url, 'gitml_follow_failures_total{stage="prod"}') == 1

    # SIGHUP is a check too, and the server lives on
    server.proc.send_signal(signal.SIGHUP)
    time.sleep(2)
    assert server.proc.poll() is None and server.version(example) == "v0.1.0"

    # every logged row names the version that answered it
    versions = set(logged_versions(registry.server).values())
    assert versions == {"v0.1.0", "v0.2.0"}


def test_two_workers_take_a_promotion_under_load(registry: Registry) -> None:
    f = Follower(registry.server, "load", "--workers", "2")
    answers: list[tuple[str, str]] = []  # (prediction id, version)
    failures: list[str] = []
    stop = threading.Event()
    try:
        f.wait_ready(workers=2)
        example = httpx.get(f"{f.url}/metadata").json()["example"]

        def client() -> None:
            with httpx.Client(base_url=f.url, timeout=30) as http:
                while not stop.is_set():
                    try:
                        resp = http.post("/predict", json=example)
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))
                        continue
                    if resp.status_code != 200:
                        failures.append(f"{resp.status_code} {resp.text}")
                        continue
                    body = resp.json()
                    answers.append((body["prediction_id"], body["model_version"]))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(2)
        registry.make_version("v0.2.0", seed=2)

        def both_swapped() -> bool:
            recent = [v for _, v in answers[-60:]]
            return len(recent) == 60 and set(recent) == {"v0.2.0"}

        f.wait_for(both_swapped, "both workers on v0.2.0", timeout=180)
        stop.set()
        for t in threads:
            t.join(60)
    finally:
        stop.set()
        f.stop()
    assert failures == []
    seen = Counter(v for _, v in answers)
    assert set(seen) == {"v0.1.0", "v0.2.0"} and seen["v0.1.0"] > 0, seen
    assert f.text().count("follow: now serving v0.2.0") == 2  # each worker, after its own checks
    logged = logged_versions(registry.server)
    assert all(logged[pid] == version for pid, version in answers)  # the log says who answered


def test_canary_gets_its_share_of_request_keys_and_stops_when_unassigned(
    registry: Registry,
) -> None:
    f = Follower(registry.server, "canary", "--canary-share", "0.3")
    try:
        f.wait_ready()
        example = httpx.get(f"{f.url}/metadata").json()["example"]
        registry.make_version("v0.2.0", seed=2, stage="canary")
        f.wait_for(lambda: f.follow()["canary_version"] == "v0.2.0", "the canary")

        def by_key(key: str) -> str:
            resp = httpx.post(
                f"{f.url}/predict", json=example, headers={"X-Request-Key": key}, timeout=10
            )
            return str(resp.json()["model_version"])

        keys = [f"user-{i}" for i in range(300)]
        first = {k: by_key(k) for k in keys}
        share = sum(v == "v0.2.0" for v in first.values()) / len(keys)
        assert 0.2 < share < 0.4, share
        assert all(by_key(k) == first[k] for k in keys[:100])  # sticky
        # without a key each row is routed by its prediction id: both versions in one batch
        batch = httpx.post(f"{f.url}/predict", json=[example] * 60, timeout=30).json()
        assert {p["model_version"] for p in batch} == {"v0.1.0", "v0.2.0"}

        registry.unassign("v0.2.0", "canary")
        f.wait_for(lambda: f.follow()["canary_version"] is None, "the end of the canary")
        assert {by_key(k) for k in keys[:50]} == {"v0.1.0"}
    finally:
        f.stop()


SLUG = "acme/churn"


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    folder = tmp_path / "github"
    folder.mkdir()
    with FakeGitHub(folder, SLUG) as gh:
        yield gh


def release_env(gh: FakeGitHub) -> dict[str, str]:
    """What a server host sets for --model-source release (a person's token here)."""
    api = f"https://{gh.host}/api/v3"
    return {"GITHUB_API_URL": api, "SSL_CERT_FILE": str(gh.cert), "GH_TOKEN": PERSON_TOKEN}


def model_files(registry: Registry) -> tuple[bytes, bytes]:
    """The model and model.json of the version made last."""
    models = registry.dev / "models"
    return (models / "model.skops").read_bytes(), (models / "model.json").read_bytes()


def publish(gh: FakeGitHub, version: str, files: tuple[bytes, bytes]) -> None:
    """What promote.yml's `gh release create model@VERSION models/model.skops models/model.json`
    does, through the fake's REST API."""
    tls = ssl.create_default_context(cafile=str(gh.cert))
    auth = {"Authorization": f"token {PERSON_TOKEN}"}
    with httpx.Client(base_url=f"https://{gh.host}/api", verify=tls, headers=auth) as http:
        made = http.post(f"/v3/repos/{SLUG}/releases", json={"tag_name": f"model@{version}"})
        assert made.status_code == 201, made.text
        for name, data in zip(("model.skops", "model.json"), files, strict=True):
            up = http.post(
                f"/uploads/repos/{SLUG}/releases/{made.json()['id']}/assets",
                params={"name": name}, content=data,
                headers={"Content-Type": "application/octet-stream"},
            )  # fmt: skip
            assert up.status_code == 201, up.text


def test_follows_the_releases_and_refuses_a_replaced_asset(
    registry: Registry, github: FakeGitHub
) -> None:
    publish(github, "v0.1.0", model_files(registry))
    f = Follower(registry.server, "release", "--model-source", "release", "--github-repo", SLUG,
                 env=release_env(github))  # fmt: skip
    try:
        f.wait_ready()
        example = httpx.get(f"{f.url}/metadata").json()["example"]
        assert f.version(example) == "v0.1.0"

        # promoted before its release is published (promote.yml publishes it after the tag push);
        # its DVC copy is broken, so only the release can serve it
        registry.make_version("v0.2.0", seed=2, stage=None)
        v2 = model_files(registry)
        registry.tamper_in_remote("v0.2.0")
        registry.assign("v0.2.0", "prod")
        f.wait_for(lambda: f.follow()["last_failure"] is not None, "the missing release")
        failure = f.follow()["last_failure"]
        assert failure["version"] == "v0.2.0" and "UnavailableError" in failure["error"]
        assert "no release model@v0.2.0" in failure["error"], failure
        assert f.version(example) == "v0.1.0"
        publish(github, "v0.2.0", v2)
        f.wait_for(lambda: f.version(example) == "v0.2.0", "the swap once it is published")
        meta = httpx.get(f"{f.url}/metadata").json()
        assert meta["model_sha256"] == registry.sha256["v0.2.0"]
        assert meta["source"].endswith(f"from the GitHub release of {SLUG}"), meta["source"]
        assert github.calls("GET", r"/releases/assets/\d+$")  # the assets were downloaded

        # v0.3.0's release holds v0.2.0's files: model.json agrees with the file, the tag does not
        registry.make_version("v0.3.0", seed=3, stage=None)
        publish(github, "v0.3.0", v2)
        refused = metric(f.url, 'gitml_follow_failures_total{stage="prod"}')
        registry.assign("v0.3.0", "prod")
        f.wait_for(lambda: f.follow()["last_failure"]["version"] == "v0.3.0", "the refusal")
        error = f.follow()["last_failure"]["error"]
        assert "recorded in the tag model@v0.3.0" in error and "DataError" in error, error
        time.sleep(3)  # three more polls: not tried again, the stage did not move
        assert f.version(example) == "v0.2.0"
        assert f.text().count("v0.3.0 (prod) refused") == 1
        assert metric(f.url, 'gitml_follow_failures_total{stage="prod"}') == refused + 1
        assert PERSON_TOKEN not in f.text()
    finally:
        f.stop()


def test_serve_from_a_missing_release_says_what_to_do(
    registry: Registry, github: FakeGitHub
) -> None:
    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "gitml"), "serve", "--version", "v0.1.0", "--model-source", "release",
             "--port", str(free_port()), *args],
            cwd=registry.server, env={**tool_env(), **release_env(github)},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    proc = serve("--github-repo", SLUG)
    assert proc.returncode == 3, proc.stderr  # could not run: something outside gitml
    assert f"GitHub has no release model@v0.1.0 of {SLUG}" in proc.stderr
    assert "(404)" in proc.stderr and "--model-source dvc" in proc.stderr
    assert PERSON_TOKEN not in proc.stderr + proc.stdout
    # a release whose assets agree with each other but not with the tag (no follower checks here)
    model, meta = model_files(registry)
    other = model[:-10] + b"replaced!!"
    claims = json.loads(meta) | {"model_sha256": hashlib.sha256(other).hexdigest()}
    publish(github, "v0.1.0", (other, json.dumps(claims).encode()))
    proc = serve("--github-repo", SLUG)
    assert proc.returncode == 1, proc.stderr  # a failed check
    assert "recorded in the tag model@v0.1.0: not the model the gate judged" in proc.stderr
    proc = serve()  # the server's origin is a local path: it names no GitHub repository
    assert proc.returncode == 2, proc.stderr
    assert "the git remote 'origin' names no GitHub repository" in proc.stderr
