"""`gitml serve --workers N`: N uvicorn worker processes behind one port, to use every core.

One process runs the model and the request handling on one core at a time (the GIL); the
machine this was measured on has two. uvicorn starts N workers sharing the listening socket;
each one builds its own app through `app_factory`:

- it resolves and loads the model itself, through the same hash check and skops allowlist, and
  refuses to start when the file's sha256 is not the one the parent process verified (the
  parent pins `--stage` to the version it resolved, so all workers serve one version);
- it compiles and checks the fast path (gitml.serve.fast) itself;
- it runs its own prediction-log writer (one writer per process; SQLite in WAL mode or
  PostgreSQL take the concurrent transactions; every row's key is its prediction id);
- it reads the API key file itself (gitml.serve.keys.KeyRing), and re-reads it when it
  changes, so a new or revoked key takes effect in every worker;
- its Prometheus metrics go to files in a temporary PROMETHEUS_MULTIPROC_DIR, and /metrics
  from any worker reports the sum over all of them. `/metadata`'s prediction_log counts are
  the answering worker's own;
- with `--follow`, it follows the registry itself (gitml.serve.follow): it starts on the
  parent's version and swaps after its own checks.

The settings reach the workers in an environment variable (uvicorn spawns fresh interpreters).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gitml.errors import DataError
from gitml.serve.auth import Access, Tls
from gitml.serve.follow import FollowConfig
from gitml.serve.resolve import ResolvedModel

ENV = "GITML_SERVE_WORKER"


def run(
    resolved: ResolvedModel,
    *,
    workers: int,
    host: str,
    port: int,
    log_url: str,
    max_body_bytes: int,
    fast_path: bool,
    repo: Path,
    stage: str | None,
    version: str | None,
    model_path: Path | None,
    params_path: Path,
    access: Access | None = None,
    tls: Tls | None = None,
    follow: FollowConfig | None = None,
    release: str | None = None,
) -> None:
    import uvicorn

    settings = {
        "repo": str(Path(repo).resolve()),
        # a stage moves; the workers serve the version the parent resolved
        "version": resolved.version if (stage or version) else None,
        "model_path": str(model_path.resolve()) if model_path else None,
        "params_path": str(params_path),
        "release": release,  # GitHub OWNER/NAME: the model from the version's release
        "sha256": resolved.metadata.model_sha256,
        "log_url": log_url,
        "max_body_bytes": max_body_bytes,
        "fast_path": fast_path,
        # each worker reads the key file itself, and re-reads it when it changes
        "access": access.settings() if access else None,
        "follow": follow.to_dict() if follow else None,
    }
    metrics_dir = tempfile.mkdtemp(prefix="gitml-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ[ENV] = json.dumps(settings)
    try:
        uvicorn.run(
            "gitml.serve.workers:app_factory",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="info",
            access_log=False,
            ssl_certfile=tls.certfile if tls else None,
            ssl_keyfile=tls.keyfile if tls else None,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def app_factory() -> Any:
    """Build one worker's app (uvicorn calls this in each worker process)."""
    from gitml.serve.app import build
    from gitml.serve.resolve import resolve

    settings = json.loads(os.environ[ENV])
    resolved = resolve(
        settings["repo"],
        version=settings["version"],
        model_path=Path(settings["model_path"]) if settings["model_path"] else None,
        params_path=Path(settings["params_path"]),
        release=settings["release"],
    )
    if resolved.metadata.model_sha256 != settings["sha256"]:
        raise DataError(
            f"worker {os.getpid()}: the model file changed after the server started "
            f"(sha256 {str(resolved.metadata.model_sha256)[:12]}… instead of "
            f"{settings['sha256'][:12]}…); refusing to serve two different models"
        )
    app, _, _ = build(
        resolved,
        settings["log_url"],
        max_body_bytes=settings["max_body_bytes"],
        fast_path=settings["fast_path"],
        access=Access.from_settings(settings["access"]) if settings["access"] else None,
        follow=FollowConfig(**settings["follow"]) if settings.get("follow") else None,
    )
    logging.getLogger("uvicorn.error").info(
        "worker %d: model %s (sha256 %s…, verified)",
        os.getpid(),
        resolved.version,
        settings["sha256"][:12],
    )
    return app
