"""A GitHub release's assets over the REST API: the transport of `--model-source release`.

`download_assets(repo, tag, names)` asks `GET {api}/repos/{owner}/{name}/releases/tags/{tag}`
for the release, then each named asset's API `url` with `Accept: application/octet-stream`
(GitHub answers with a redirect to a short-lived download URL on another host; httpx follows it
and drops the Authorization header when it leaves the API's host). What the bytes are, and
whether to trust them, is the caller's business (gitml.serve.release checks them).

- The API base is `GITHUB_API_URL` (Actions sets it; GitHub Enterprise Server:
  `https://HOST/api/v3`), default https://api.github.com.
- The token is `GH_TOKEN`, else `GITHUB_TOKEN` (a private repository needs one that can read its
  contents: a fine-grained token with `contents: read`); none for a public repository. It is
  sent as a header only: no message, log line or URL here contains it.
- Every failure is an UnavailableError that says what to do: no such release or asset yet (the
  workflows publish it seconds after the tag push), a refused token, the network, a timeout.

Hand-written over httpx (already a dependency) rather than PyGithub or ghapi: two GET requests
do not justify a new dependency, and the errors must say what to do in gitml's words.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from urllib.parse import quote

import httpx

from gitml.errors import ConfigError, UnavailableError

DEFAULT_API = "https://api.github.com"
TIMEOUT = httpx.Timeout(30.0, read=120.0)  # connect/write/pool 30 s; a model's body may be slow
_SLUG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
# https://host/o/r(.git), ssh://git@host[:port]/o/r(.git), git://host/o/r, git@host:o/r(.git)
_REMOTE = re.compile(
    r"^(?:(?:https?|ssh|git)://(?:[^@/]+@)?[^/]+/|[^@/:]+@[^/:]+:)/?"
    r"(?P<slug>[^/]+/[^/]+?)(?:\.git)?/?$"
)


def check_slug(repo: str) -> str:
    """`OWNER/NAME`, or ConfigError."""
    if not _SLUG.match(repo):
        raise ConfigError(f"{repo!r} is not a GitHub repository: give it as OWNER/NAME")
    return repo


def slug_of_remote(url: str) -> str | None:
    """`OWNER/NAME` of a git remote URL on a GitHub host (HTTPS, SSH or scp-like form); None
    for a local path or anything else."""
    found = _REMOTE.match(url.strip())
    return found["slug"] if found and _SLUG.match(found["slug"]) else None


def api_url() -> str:
    return (os.environ.get("GITHUB_API_URL") or DEFAULT_API).rstrip("/")


def _headers() -> dict[str, str]:
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "gitml",
    }
    token = os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def download_assets(
    repo: str, tag: str, names: Iterable[str], client: httpx.Client | None = None
) -> dict[str, bytes]:
    """name -> bytes of each asset `names` of release `tag` of `repo` (OWNER/NAME)."""
    check_slug(repo)
    base = api_url()
    where = f"release {tag} of {repo} ({base})"
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT, follow_redirects=True)
    try:
        release = _get(http, f"{base}/repos/{repo}/releases/tags/{quote(tag, safe='@')}", where)
        body = release.json()
        listed = body.get("assets") if isinstance(body, dict) else None
        assets = {a.get("name"): a for a in listed or [] if isinstance(a, dict)}
        out = {}
        for name in names:
            if name not in assets or not assets[name].get("url"):
                raise UnavailableError(
                    f"{where} has no asset {name} (it has: {', '.join(map(str, assets)) or 'none'})"
                    "; promote.yml and deploy.yml attach model.skops and model.json when they "
                    "publish it: attach it (`gh release upload`), or serve with --model-source dvc"
                )
            reply = _get(http, assets[name]["url"], f"asset {name} of {where}", binary=True)
            out[name] = reply.content
        return out
    finally:
        if own:
            http.close()


def _get(http: httpx.Client, url: str, what: str, binary: bool = False) -> httpx.Response:
    headers = _headers()
    if binary:
        headers["Accept"] = "application/octet-stream"
    try:
        reply = http.get(url, headers=headers)
    except httpx.HTTPError as exc:  # the message names the failure, never the URL's query
        raise UnavailableError(
            f"cannot get {what}: {type(exc).__name__}: {exc}; check the network, the API "
            "address (GITHUB_API_URL) and try again"
        ) from None
    if reply.status_code == 200:
        return reply
    if reply.status_code == 404:
        raise UnavailableError(
            f"GitHub has no {what} (404): it is published seconds after the version's tags are "
            "pushed (promote.yml, deploy.yml), or the token cannot read the repository (a "
            "private one needs GH_TOKEN or GITHUB_TOKEN with contents: read); publish it, or "
            "serve with --model-source dvc"
        )
    if reply.status_code in (401, 403, 429):
        raise UnavailableError(
            f"GitHub refused {what} ({reply.status_code}: {_message(reply)}): check the token "
            "in GH_TOKEN or GITHUB_TOKEN (it needs contents: read on the repository) or the "
            "rate limit, and try again"
        )
    raise UnavailableError(
        f"GitHub answered {reply.status_code} for {what} ({_message(reply)}); try again later"
    )


def _message(reply: httpx.Response) -> str:
    try:
        body = reply.json()
    except ValueError:
        return reply.text[:200]
    return str(body.get("message", ""))[:200] if isinstance(body, dict) else ""
