"""The shared DVC remote against a real S3 API on loopback (moto server, fake credentials).

One clone (a copy of the run's cold pipeline, tests/helpers.py `prepared_repo`) pushes data,
models and the run-cache; a fresh clone pulls and `dvc repro` is a no-op; another fresh clone
that only fetches the run-cache reruns nothing.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import copy_repo, prepared_repo, run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("scaling")]

BUCKET = "gitml-remote"
MOTO = Path(sys.executable).with_name("moto_server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A moto S3 server on a free loopback port with one bucket; its endpoint URL."""
    import boto3

    # Fake credentials, and no chance of reading the real ones of whoever runs the tests.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = boto3.client("s3", endpoint_url=endpoint)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.create_bucket(Bucket=BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def test_push_pull_and_run_cache_through_s3(
    s3: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, adult_sample: pd.DataFrame
) -> None:
    import boto3

    # the run's cold pipeline on these params (tests/helpers.py `prepared_repo`), committed
    # the run's one cold pipeline (FAST_PARAMS), which the serve, pipeline and report tests share
    prepared = prepared_repo(tmp_path_factory, adult_sample)
    origin = copy_repo(prepared.repo, tmp_path / "origin")
    setup = run(["gitml", "remote", "setup", f"s3://{BUCKET}/gitml", "--endpoint-url", s3], origin)
    assert "dvc remote add --default --force storage" in setup.stdout
    config = (origin / ".dvc" / "config").read_text()
    assert f"s3://{BUCKET}/gitml" in config and s3 in config
    assert "testing" not in config  # credentials never land in the committed config

    run(["git", "add", "-A"], origin)
    run(["git", "commit", "-qm", "the S3 remote"], origin)
    run(["dvc", "push", "--run-cache"], origin)
    keys = [
        o["Key"]
        for page in boto3.client("s3", endpoint_url=s3)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=BUCKET, Prefix="gitml/")
        for o in page.get("Contents", [])
    ]
    assert any("/runs/" in k for k in keys), "the run-cache was pushed"
    assert any("/files/md5/" in k for k in keys), "the outputs were pushed"

    # A fresh clone, as CI does it: `dvc pull --run-cache` brings every output and the run
    # records; it changes nothing, so `dvc repro` reruns nothing.
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    assert not (clone / "models" / "model.skops").exists()
    run(["dvc", "pull", "--run-cache"], clone)
    assert (clone / "models" / "model.skops").read_bytes() == (
        origin / "models" / "model.skops"
    ).read_bytes()
    repro = run(["dvc", "repro"], clone)
    assert stages_run(repro.stdout) == []
    assert "up to date" in run(["dvc", "status"], clone).stdout.lower()

    # A clone that only fetches the run-cache (no `dvc pull`): the stages whose outputs are all
    # DVC-cached are restored from it instead of run. (Stages with `cache: false` outputs are
    # not: DVC pushes no objects for those outputs with the run-cache; see docs/scaling.md.)
    other = tmp_path / "other"
    run(["git", "clone", "-q", str(origin), str(other)], tmp_path)
    run(["dvc", "fetch", "--run-cache"], other)
    repro = run(["dvc", "repro"], other)
    restored = re.findall(r"Stage '([^']+)' is cached - skipping run", repro.stdout)
    # (ingest writes data/column_names.json, kept in git: cache: false, so it reruns)
    assert {"split", "featurize"} <= set(restored), repro.stdout
    assert not {"split", "featurize"} & set(stages_run(repro.stdout))
    for path in ("data/features/train.parquet", "models/model.skops", "reports/tune/summary.json"):
        assert (other / path).read_bytes() == (origin / path).read_bytes(), path
