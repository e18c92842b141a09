"""`gitml remote setup`: a thin wrapper over `dvc remote add` / `dvc remote modify` for S3.

It only runs DVC's own commands (printed, so you can run them by hand instead) and never writes
credentials: the URL and endpoint go into `.dvc/config` (committed, shared by every clone and CI
run); keys come from the usual AWS sources (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
AWS_PROFILE, ~/.aws/credentials, an instance role) or from `dvc remote modify --local`, which
writes the git-ignored `.dvc/config.local`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from gitml.errors import ConfigError, GitmlError

_S3_URL = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")
_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


@dataclass(frozen=True)
class RemoteSetup:
    name: str
    url: str
    commands: list[list[str]]


def _dvc() -> str:
    found = shutil.which("dvc") or str(Path(sys.executable).with_name("dvc"))
    if not Path(found).exists():
        raise GitmlError("dvc not found on PATH; install the project (make venv)")
    return found


def commands(
    url: str, name: str = "storage", endpoint_url: str | None = None, default: bool = True
) -> list[list[str]]:
    """The DVC commands `setup` runs, in order (for printing and for tests)."""
    if not _S3_URL.match(url):
        raise ConfigError(
            f"remote URL {url!r}: expected s3://bucket or s3://bucket/prefix (bucket: 3-63 "
            "lowercase letters, digits, dots or hyphens); for other remote types use "
            "`dvc remote add` directly"
        )
    if not _NAME.match(name):
        raise ConfigError(f"remote name {name!r}: use letters, digits, '-' or '_'")
    if endpoint_url is not None and not re.match(r"^https?://[^\s/]+", endpoint_url):
        raise ConfigError(
            f"--endpoint-url {endpoint_url!r}: expected http(s)://host[:port] "
            "(MinIO, Ceph, moto, an S3-compatible service)"
        )
    add = ["dvc", "remote", "add", "--force", name, url]
    if default:
        add.insert(3, "--default")
    cmds = [add]
    if endpoint_url:
        cmds.append(["dvc", "remote", "modify", name, "endpointurl", endpoint_url])
    return cmds


def setup(
    repo: Path,
    url: str,
    name: str = "storage",
    endpoint_url: str | None = None,
    default: bool = True,
) -> RemoteSetup:
    cmds = commands(url, name, endpoint_url, default)
    if not (repo / ".dvc").is_dir():
        raise GitmlError(f"{repo}: not a DVC repository (no .dvc/); run from the project root")
    dvc = _dvc()
    for cmd in cmds:
        proc = subprocess.run([dvc, *cmd[1:]], cwd=repo, capture_output=True, text=True)
        if proc.returncode != 0:
            raise GitmlError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip() or proc.stdout}")
    return RemoteSetup(name, url, cmds)
