"""A real `gitml serve` with API keys: HTTPS (a trustme certificate), two workers, the fuzz run
with a key, simulate with a key, harvest by key, a revoked key in every worker, and the refusal
to listen off loopback without keys.

A model fitted on the sample (tests/served_model), so no pipeline run.
"""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
import trustme

from tests.helpers import BIN, run, tool_env
from tests.integration.serve.test_serve import free_port, fuzz
from tests.served_model import model_repo

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]


@dataclass
class Tls:
    repo: Path
    url: str
    ca: Path  # the CA's PEM: clients trust the server's certificate through it
    keys: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
        context = ssl.create_default_context(cafile=str(self.ca))
        return httpx.Client(base_url=self.url, verify=context, headers=headers, timeout=30)


def create_key(repo: Path, name: str, *scopes: str) -> str:
    args = [a for s in scopes for a in ("--scope", s)]
    proc = run(["gitml", "keys", "create", name, *args, "--file", "keys.json"], repo)
    key = proc.stdout.strip()
    assert key.startswith("gitml_") and "\n" not in key and key not in proc.stderr
    return key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, adult_sample: pd.DataFrame) -> Iterator[Tls]:
    repo = model_repo(tmp_path_factory.mktemp("tls") / "repo", adult_sample)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(repo / "server.pem"))
    ca.cert_pem.write_to_path(str(repo / "ca.pem"))
    made = {
        "client": create_key(repo, "client", "predict", "feedback"),
        "ops": create_key(repo, "ops", "admin"),
        "all": create_key(repo, "all", "predict", "feedback", "admin"),
        "gone": create_key(repo, "gone", "predict"),
        "labeller": create_key(repo, "labeller", "feedback"),
    }
    port = free_port()
    log = repo.parent / "server.log"
    proc = subprocess.Popen(
        [str(BIN / "gitml"), "serve", "--port", str(port), "--workers", "2", "--keys",
         "keys.json", "--tls-cert", "server.pem", "--tls-key", "server.pem",
         "--log-db", "sqlite:///logs/tls.db"],
        cwd=repo, env={**tool_env(), "OMP_NUM_THREADS": "1"},
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    tls = Tls(repo, f"https://127.0.0.1:{port}", repo / "ca.pem", made, proc, log)
    deadline = time.monotonic() + 240
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        try:
            with tls.client() as c:
                if c.get("/ready").status_code == 200 and (
                    log.read_text().count("Application startup complete") >= 2
                ):
                    break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    try:
        yield tls
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_https_with_keys_on_two_workers(server: Tls) -> None:
    text = server.log.read_text()
    assert "serving on https://" in text and "API keys required (5 in keys.json" in text
    for key in server.keys.values():  # a key never reaches the server's output
        assert key not in text
    with server.client() as anonymous:
        assert anonymous.get("/health").json() == {"status": "ok"}
        assert anonymous.get("/metadata").status_code == 401
    with server.client("ops") as ops:
        example = ops.get("/metadata").json()["example"]
    with server.client("client") as client:
        for _ in range(10):  # both workers answer (one process would too: asserted below)
            assert client.post("/predict", json=example).status_code == 200
        assert client.get("/metrics").status_code == 403
    # plain HTTP on the TLS port gets nothing
    with pytest.raises(httpx.HTTPError):
        httpx.get(server.url.replace("https", "http") + "/health", timeout=5)
    # a client that does not trust the CA refuses the server's certificate
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{server.url}/health", timeout=5)


def test_the_fuzz_run_with_a_key_finds_no_server_error_nor_ignored_auth(server: Tls) -> None:
    """Every generated case sent with a key of all scopes; `ignored_auth` also sends each
    operation that declares the bearer scheme without the key, and fails unless it is refused."""
    fuzz(
        server.url,
        server.repo,
        "--header", f"Authorization: Bearer {server.keys['all']}",
        "--tls-verify", str(server.ca),
        checks="not_a_server_error,ignored_auth",
    )  # fmt: skip


def test_simulate_and_harvest_by_key(server: Tls) -> None:
    """simulate sends the client key (predict + feedback, no admin: it reads the columns from
    the OpenAPI document); harvest keeps one key's labels and counts every key's."""
    env = {**tool_env(), "GITML_API_KEY": server.keys["client"], "SSL_CERT_FILE": str(server.ca)}
    sim = subprocess.run(
        [str(BIN / "gitml"), "simulate", "--url", server.url, "--rows", "60", "--feedback",
         "--batch-size", "20"],
        cwd=server.repo, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert sim.returncode == 0, sim.stdout + sim.stderr
    assert "60 predicted, 0 rejected, 60 feedback labels" in sim.stdout
    with server.client("all") as client:
        example = client.get("/metadata").json()["example"]
        pids = [p["prediction_id"] for p in client.post("/predict", json=[example] * 5).json()]
    with server.client("labeller") as labeller:
        for pid in pids:
            fb = {"prediction_id": pid, "label": 1}
            assert labeller.post("/feedback", json=fb).status_code == 202
    keyless = subprocess.run(
        [str(BIN / "gitml"), "simulate", "--url", server.url, "--rows", "5"],
        cwd=server.repo, env={**tool_env(), "SSL_CERT_FILE": str(server.ca)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert keyless.returncode == 1 and "pass --api-key" in keyless.stderr

    harvest = [
        "gitml", "harvest", "--log-db", "sqlite:///logs/tls.db", "--all-versions", "--no-dvc",
        "--since", "all", "--date", "d1",
    ]  # fmt: skip
    proc = run([*harvest, "--key", "labeller"], server.repo)
    assert "client 60, labeller 5" in proc.stdout, proc.stdout
    report = json.loads((server.repo / "reports/harvest/d1.json").read_text())
    # the fuzz run, when it ran first, sent labels with the "all" key
    assert {k: n for k, n in report["labels_by_key"].items() if k != "all"} == {
        "client": 60,
        "labeller": 5,
    }
    labels = sum(report["labels_by_key"].values())
    assert report["counts"]["other_key"] == labels - 5 and report["counts"]["written"] == 5
    assert report["keys"] == ["labeller"]


def test_a_revoked_key_is_refused_by_every_worker_without_a_restart(server: Tls) -> None:
    with server.client("gone") as client:
        example_ok = client.post("/predict", json={}).status_code
        assert example_ok == 422  # let in (a bad body), so the key works
        run(["gitml", "keys", "revoke", "gone", "--file", "keys.json"], server.repo)
        listed = run(["gitml", "keys", "list", "--file", "keys.json"], server.repo).stdout
        assert [line.split()[0] for line in listed.splitlines()] == [
            "client", "ops", "all", "labeller",
        ]  # fmt: skip
        deadline = time.monotonic() + 10
        while client.post("/predict", json={}).status_code != 401:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(1.5)  # every worker has looked at the file by now
        assert {client.post("/predict", json={}).status_code for _ in range(20)} == {401}
    assert server.proc.poll() is None


def test_no_keys_off_loopback_refuses_to_start(tmp_path: Path) -> None:
    # The check comes before the model is resolved: an empty folder is enough.
    procs = {
        "any": ["serve", "--host", "0.0.0.0"],
        "ipv6": ["serve", "--host", "::"],
        "named": ["serve", "--keys", "absent.json"],
        "half_tls": ["serve", "--tls-cert", "absent.pem"],
    }
    for name, args in procs.items():
        proc = subprocess.run(
            [str(BIN / "gitml"), *args], cwd=tmp_path, env=tool_env(), capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2, (name, proc.stderr)
        if name in ("any", "ipv6"):
            assert "needs API keys" in proc.stderr and "gitml keys create" in proc.stderr
    assert not (tmp_path / "logs").exists()
