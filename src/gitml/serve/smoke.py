"""`gitml smoke-test`: serve a model as a deployment would, probe it, stop it.

`--version vX.Y.Z` (what deploy.yml runs): the model file must have the sha256 that
`gitml promote` recorded in that version's annotated tag (`model@vX.Y.Z`), so the file deploy
serves is byte for byte the one the gate judged. Then `gitml serve --model FILE` runs on a free
port (its own process, a throw-away SQLite log) and answers GET /health, GET /ready,
GET /metadata (whose model_sha256 must be the same) and one POST /predict with the example row.

`--stage prod` (no version): the older check, `gitml serve --stage STAGE` and GET /health.

In GitHub Actions the version check also writes `deploy_summary` to the job summary (the
version, the sha256, how servers pick the version up) and `sha256` to the step's outputs.

Future home: gitml/registry/smoke.py or gitml/serve/ (the lead decides).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitml import layout
from gitml.errors import DataError
from gitml.io.files import file_sha256
from gitml.registry import versions as registry
from gitml.registry.tags import recorded_sha256


@dataclass(frozen=True)
class SmokeResult:
    url: str
    status: int
    body: dict[str, Any]
    seconds: float
    checks: list[str] = field(default_factory=list)  # what was probed, one line each
    sha256: str | None = None  # of the served file, when a version was checked


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS picks it), so parallel runs do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def model_sha256(path: Path) -> str:
    try:
        return file_sha256(path)
    except FileNotFoundError:
        raise DataError(
            f"{path}: model file not found; deploy gets it from the DVC remote (`dvc pull`), "
            "the release asset or the workflow artifact of the promote run"
        ) from None


def smoke_test_version(
    repo: Path | str,
    version: str,
    model: Path | None = None,
    port: int | None = None,
    timeout: float = 120.0,
) -> SmokeResult:
    """Check FILE's sha256 against the version's tag, then serve exactly FILE and probe it."""
    repo = Path(repo)
    tag = f"{registry.ARTIFACT}@{registry.normalise_version(version)}"
    expected = recorded_sha256(repo, version)
    path = model if model is not None else repo / layout.MODEL
    actual = model_sha256(path)
    if actual != expected:
        raise DataError(
            f"{path}: sha256 {actual} is not the {expected} recorded in {tag}'s tag: this is "
            "not the model the gate judged; refusing to deploy it"
        )
    args = ["--model", str(Path(path).resolve())]
    result = serve_and_probe(repo, args, port, timeout, predict=True)
    served = result.body.get("model_sha256")
    if served != expected:
        raise DataError(f"GET /metadata reports model_sha256 {served}, not {expected}")
    checks = [
        f"sha256 {expected} = {registry.ARTIFACT}@{registry.normalise_version(version)}'s tag",
        *result.checks,
    ]
    return SmokeResult(result.url, result.status, result.body, result.seconds, checks, actual)


def deploy_summary(version: str, result: SmokeResult) -> str:
    """The job summary of a deployment: what was checked, and how servers pick it up."""
    tag = f"{registry.ARTIFACT}@{registry.normalise_version(version)}"
    checks = "\n".join(f"- {line}" for line in result.checks)
    return f"""## Deploying {tag}

| version | sha256 of the model file (= the tag's) |
|---|---|
| `{registry.normalise_version(version)}` | `{result.sha256}` |

Smoke test, on the file above:

{checks}

**How servers pick it up.** The registry is git tags, so a server pointed at the stage needs no
push from here. Each `gitml serve --stage prod --follow` fetches the tags every `--interval`
seconds (30 by default), and so serves this version within one interval of the stage tag's
push: it first checks the file's md5 against `dvc.lock`, its sha256 against `{tag}`'s tag, and
the compiled model against the Pipeline, then swaps between requests. A server that refuses
the version keeps its current model and reports it (`GET /metadata` → `follow.last_failure`,
`gitml_follow_failures_total`). A rollback moves the stage the same way. A server started
without `--follow` keeps its model until it is restarted with `--stage prod`.
The files: the release `{tag}`. Set-up: docs/serving.md.
"""


def serve_and_probe(
    repo: Path,
    serve_args: list[str],
    port: int | None,
    timeout: float,
    *,
    predict: bool,
) -> SmokeResult:
    """Start `gitml serve ARGS` on 127.0.0.1:PORT (None: a free one), probe it, stop it.

    The server is a black box here (its own process, a throw-away SQLite prediction log), so
    this checks what a deployment would run. DataError with the server's output on failure.
    """
    import httpx

    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    shown = " ".join(["gitml", "serve", *serve_args])
    with tempfile.TemporaryDirectory(prefix="gitml-smoke-") as tmp:
        cmd = [sys.executable, "-m", "gitml", "serve", *serve_args, "--port", str(port),
               "--log-db", f"sqlite:///{Path(tmp) / 'smoke.db'}"]  # fmt: skip
        log = Path(tmp) / "serve.log"
        with log.open("w") as fh:
            proc = subprocess.Popen(cmd, cwd=repo, stdout=fh, stderr=subprocess.STDOUT)
        start = time.monotonic()
        try:
            while True:
                if time.monotonic() - start > timeout:
                    raise DataError(
                        f"`{shown}` did not answer {base}/health within {timeout:.0f} s"
                    )
                if proc.poll() is not None:
                    raise DataError(
                        f"`{shown}` exited with code {proc.returncode} before answering:\n"
                        f"{log.read_text()[-2000:]}"
                    )
                try:
                    health = httpx.get(f"{base}/health", timeout=2.0)
                    break
                except httpx.TransportError:
                    time.sleep(0.5)
            seconds = time.monotonic() - start
            _expect(health, "GET /health")
            checks = [f"GET /health: {health.status_code} after {seconds:.1f} s"]
            body: dict[str, Any] = health.json()
            if predict:
                ready = _expect(httpx.get(f"{base}/ready", timeout=30.0), "GET /ready")
                checks.append(f"GET /ready: {ready.status_code} {ready.json()}")
                meta = _expect(httpx.get(f"{base}/metadata", timeout=30.0), "GET /metadata")
                body = meta.json()
                answer = _expect(
                    httpx.post(f"{base}/predict", json=body["example"], timeout=30.0),
                    "POST /predict (the example row)",
                )
                checks.append(
                    f"POST /predict (the example row): {answer.status_code} {answer.json()}"
                )
            return SmokeResult(f"{base}/health", health.status_code, body, seconds, checks)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _expect(resp: Any, what: str) -> Any:
    if resp.status_code != 200:
        raise DataError(f"{what} answered {resp.status_code}: {resp.text[:500]}")
    return resp


def smoke_test(
    repo: Path, stage: str = registry.PROD, port: int | None = None, timeout: float = 120.0
) -> SmokeResult:
    """Start `gitml serve --stage STAGE` as a user would, wait for GET /health, stop it.

    Deploy checks a version instead (`smoke_test_version`): the stage may have moved
    since the deploy started.
    """
    return serve_and_probe(Path(repo), ["--stage", stage], port, timeout, predict=False)
