"""A loopback fake of the GitHub REST and GraphQL endpoints that `gh` (2.23) and the `cml`
stand-in call: issues, labels, issue search, issue/PR comments, pull requests (REST create),
releases with asset upload and download, tag refs. HTTPS with a self-signed certificate, so
`gh` talks to it as to a GitHub Enterprise host (GH_HOST=127.0.0.1:PORT, SSL_CERT_FILE, and the
token: tests/workflows/standins/gh/gh maps a step's GH_TOKEN to GH_ENTERPRISE_TOKEN).

It also serves the repository itself over git's smart HTTP (`git http-backend`, at
/OWNER/NAME.git) as a PRIVATE repository: a fetch or push without a token is answered 401, as
github.com answers a private repository. Every push, pull request and workflow dispatch is
recorded as an `Event` with the actor its token stands for (the job's GITHUB_TOKEN, a person, a
GitHub App), so the tests can start exactly the workflows GitHub would start (harness.py).

Hand-written: no maintained library fakes GitHub's API for the GitHub CLI. It answers only what
the workflows' commands send, with the fields gh reads, and records every call so tests can
assert on them; anything else is answered 404 and recorded as `unhandled`.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import re
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import graphql as gql
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TOKEN = "fake-token-for-tests"  # a job's GITHUB_TOKEN (act's `-s GITHUB_TOKEN`)
PERSON_TOKEN = "fake-person-token"  # a person's credentials (the tests' own git pushes)
APP_KEY = "fake-app-private-key"  # the GitHub App's private key (a secret of the repository)
APP_CLIENT_ID = "Iv23fakeclientid"
GITHUB_ACTIONS = "github-actions[bot]"  # the actor of GITHUB_TOKEN
PERSON = "a-person"
APP = "gitml-app[bot]"
ZERO = "0" * 40


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (cert.pem, key.pem), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any  # JSON, or the GraphQL {"query", "variables"}, or bytes for uploads
    status: int = 0
    actor: str | None = None  # whose token made the call (None: no or an unknown token)


@dataclass
class Event:
    """A repository event: `push` (ref, before, after), `pull_request` (action, number, ref =
    the head branch, after = its commit), `workflow_dispatch` (workflow, ref)."""

    kind: str
    actor: str
    ref: str = ""
    before: str = ""
    after: str = ""
    action: str = ""
    number: int = 0
    workflow: str = ""

    @property
    def starts_workflows(self) -> bool:
        """GitHub's rule: events caused by GITHUB_TOKEN start no workflow, except
        workflow_dispatch and repository_dispatch."""
        return self.actor != GITHUB_ACTIONS or self.kind in (
            "workflow_dispatch",
            "repository_dispatch",
        )


@dataclass
class State:
    repo: str
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)  # PRs are issues too
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)  # by tag
    tags: set[str] = field(default_factory=set)  # what `git ls-remote --tags origin` has
    calls: list[Call] = field(default_factory=list)
    unhandled: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    app_tokens: set[str] = field(default_factory=set)
    workflow_ids: dict[str, int] = field(default_factory=dict)
    next_id: int = 1000
    actions_may_open_prs: bool = True  # the repository setting of that name

    def actor(self, token: str) -> str | None:
        if token == TOKEN:
            return GITHUB_ACTIONS
        if token == PERSON_TOKEN:
            return PERSON
        return APP if token in self.app_tokens else None

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class FakeGitHub:
    """`with FakeGitHub(folder, "acme/churn") as gh:` → gh.host, gh.cert, gh.state."""

    def __init__(self, folder: Path, repo: str) -> None:
        self.state = State(repo)
        self.origin: Path | None = None  # the bare repository whose tags `ref(...)` reports
        self.cert, key = self_signed(folder)
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def git_url(self) -> str:
        """The repository over smart HTTP (git rewrites github.com's URL to it)."""
        return f"https://{self.host}/{self.state.repo}.git"

    def env(self) -> dict[str, str]:
        """What gh (and the cml stand-in) need to talk to this fake; no token: a step has one
        only when it sets GH_TOKEN (or REPO_TOKEN for cml), as on github.com."""
        return {
            "GH_HOST": self.host,
            "SSL_CERT_FILE": str(self.cert),
            "GIT_SSL_CAINFO": str(self.cert),  # git's, which wins over http.sslCAInfo
            "GIT_TERMINAL_PROMPT": "0",  # no terminal on a runner: git fails, it does not ask
            "GH_NO_UPDATE_NOTIFIER": "1",
            "GH_PROMPT_DISABLED": "1",
            "FAKE_GITHUB_API": f"https://{self.host}/api/v3",
        }

    def reset(self) -> None:
        with self.lock:
            self.state = State(self.state.repo)

    def refs(self) -> dict[str, str]:
        """origin's refs → object names."""
        if self.origin is None:
            return {}
        out = subprocess.run(
            ["git", "--git-dir", str(self.origin), "for-each-ref",
             "--format=%(refname) %(objectname)"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return dict(line.split(" ", 1) for line in out.splitlines())

    def events(self, kind: str | None = None) -> list[Event]:
        return [e for e in self.state.events if kind is None or e.kind == kind]

    def calls(self, method: str | None = None, path: str = "") -> list[Call]:
        return [
            c
            for c in self.state.calls
            if (method is None or c.method == method) and re.search(path, c.path)
        ]

    def graphql(self, word: str) -> list[Call]:
        return [c for c in self.state.calls if c.path == "/api/graphql" and word in c.body["query"]]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGitHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # ------------------------------------------------------------------ plumbing
    def _reply(self, status: int, body: Any = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
        self.send_response(status)
        ctype = "application/octet-stream" if raw is not None else "application/json"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Enterprise-Version", "3.12.0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.call.status = status

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _token(self) -> str:
        kind, _, cred = self.headers.get("Authorization", "").partition(" ")
        if kind.lower() == "basic":
            try:
                return base64.b64decode(cred).decode().partition(":")[2]
            except ValueError:
                return ""
        return cred.strip()

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        raw = self._read_body()
        body: Any = raw
        if raw and "json" in (self.headers.get("Content-Type") or "json") and method != "UPLOAD":
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        fake = self.fake
        with fake.lock:
            actor = fake.state.actor(self._token())
            self.call = Call(method, unquote(parts.path), parse_qs(parts.query), body, 0, actor)
            fake.state.calls.append(self.call)
            if self.call.path.startswith(f"/{fake.state.repo}.git/"):
                self._git(method, parts.query, raw, actor)
                return
            if self.call.path == "/api/v3/_fake/app-token" and method == "POST":
                self._app_token(body)  # authenticated by the App's key, not a token
                return
            if actor is None:
                self._reply(401, {"message": "Bad credentials"})
                return
            try:
                handled = self._route(method, unquote(parts.path), parse_qs(parts.query), body)
            except Exception as exc:  # a bug in the fake: tell the test, answer 500
                fake.state.unhandled.append(f"{method} {self.path}: {exc!r}")
                self._reply(500, {"message": repr(exc)})
                return
            if not handled:
                fake.state.unhandled.append(f"{method} {self.path}")
                self._reply(404, {"message": "Not Found (fake GitHub)"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    # ------------------------------------------------------------------ git, the App
    def _git(self, method: str, query: str, raw: bytes, actor: str | None) -> None:
        """git's smart HTTP through `git http-backend`, for a private repository: no token, no
        access (401 asks git for credentials, as GitHub does). A push is recorded as events."""
        fake = self.fake
        if actor is None or fake.origin is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.call.status = 401
            return
        rest = self.call.path.removeprefix(f"/{fake.state.repo}.git")
        pushing = rest == "/git-receive-pack" and method == "POST"
        before = fake.refs() if pushing else {}
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(fake.origin.parent),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{fake.origin.name}{rest}",
            "REQUEST_METHOD": method,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(raw)),
            "REMOTE_USER": actor,
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        proc = subprocess.run(["git", "http-backend"], input=raw, env=env, capture_output=True)
        head, _, data = proc.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.call.status = status
        if pushing:
            self._record_push(before, fake.refs(), actor)

    def _record_push(self, before: dict[str, str], after: dict[str, str], actor: str) -> None:
        st = self.fake.state
        for ref in sorted(set(before) | set(after)):
            old, new = before.get(ref, ZERO), after.get(ref, ZERO)
            if old == new:
                continue
            st.events.append(Event("push", actor, ref, old, new))
            branch = ref.removeprefix("refs/heads/")
            for pr in st.issues.values():
                open_pr = pr.get("is_pr") and pr["state"] == "OPEN"
                if open_pr and pr["head"] == branch and new != ZERO:
                    st.events.append(Event("pull_request", actor, branch, old, new,
                                           "synchronize", pr["number"]))  # fmt: skip

    def _app_token(self, body: Any) -> None:
        """What actions/create-github-app-token gets from GitHub (the stand-in asks here): an
        installation token, given the App's client id and private key."""
        st = self.fake.state
        if not isinstance(body, dict) or (body.get("client_id"), body.get("private_key")) != (
            APP_CLIENT_ID,
            APP_KEY,
        ):
            self._reply(401, {"message": "A JSON web token could not be decoded"})
            return
        token = f"ghs_fakeapp{st.new_id()}"
        st.app_tokens.add(token)
        self._reply(201, {"token": token})

    # ------------------------------------------------------------------ routes
    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> bool:
        st = self.fake.state
        base = f"https://{self.fake.host}"
        repo = f"/repos/{st.repo}"
        if path == "/api/graphql" and method == "POST":
            self._reply(200, self._graphql(body["query"], body.get("variables") or {}))
            return True
        if path.startswith("/api/uploads" + repo + "/releases/"):
            m = re.fullmatch(r"/api/uploads" + repo + r"/releases/(\d+)/assets", path)
            rel = next((r for r in st.releases.values() if m and r["id"] == int(m[1])), None)
            if rel is None:
                return False
            name = query["name"][0]
            asset = {"id": st.new_id(), "name": name, "size": len(body), "state": "uploaded"}
            asset["url"] = f"{base}/api/v3{repo}/releases/assets/{asset['id']}"
            asset["browser_download_url"] = asset["url"]
            rel["assets"].append(asset)
            rel["blobs"][asset["id"]] = body if isinstance(body, bytes) else json.dumps(body)
            self._reply(201, asset)
            return True
        if not path.startswith("/api/v3"):
            return False
        path = path.removeprefix("/api/v3")
        if path in ("", "/"):
            self._reply(200, {})
            return True
        # labels
        if path == repo + "/labels" and method == "POST":
            if body["name"] in st.labels:
                self._reply(422, {"message": "Validation Failed",
                                  "errors": [{"resource": "Label", "code": "already_exists",
                                              "field": "name"}]})  # fmt: skip
            else:
                st.labels[body["name"]] = body | {"id": f"LA_{st.new_id()}"}
                self._reply(201, st.labels[body["name"]])
            return True
        m = re.fullmatch(repo + r"/labels/(.+)", path)
        if m and method == "PATCH":
            st.labels[m[1]] = st.labels.get(m[1], {}) | body | {"name": m[1]}
            self._reply(200, st.labels[m[1]])
            return True
        # issue / PR comments (REST: what the cml stand-in uses)
        m = re.fullmatch(repo + r"/issues/(\d+)/comments", path)
        if m:
            issue = st.issues.setdefault(int(m[1]), _issue(int(m[1]), "pull request", [], ""))
            if method == "GET":
                page = int(query.get("page", ["1"])[0])
                per = int(query.get("per_page", ["30"])[0])
                self._reply(200, issue["comments"][(page - 1) * per : page * per])
            else:
                comment = {"id": st.new_id(), "body": body["body"]}
                comment["html_url"] = f"{base}/{st.repo}/issues/{m[1]}#issuecomment-{comment['id']}"
                issue["comments"].append(comment)
                self._reply(201, comment)
            return True
        m = re.fullmatch(repo + r"/issues/comments/(\d+)", path)
        if m and method == "PATCH":
            for issue in st.issues.values():
                for comment in issue["comments"]:
                    if comment["id"] == int(m[1]):
                        comment["body"] = body["body"]
                        self._reply(200, comment)
                        return True
            return False
        # pull requests (`gh api repos/OWNER/REPO/pulls` in retrain.yml), kept as issues
        if path == repo + "/pulls" and method == "GET":
            owner = st.repo.split("/")[0]
            found = [
                _rest_pull(i, base, st.repo)
                for i in st.issues.values()
                if i.get("is_pr")
                and query.get("head", [f"{owner}:{i['head']}"])[0] == f"{owner}:{i['head']}"
                and query.get("state", ["open"])[0] in ("all", i["state"].lower())
            ]
            self._reply(200, found)
            return True
        m = re.fullmatch(repo + r"/pulls/(\d+)", path)
        if m and method == "PATCH" and st.issues.get(int(m[1]), {}).get("is_pr"):
            pr = st.issues[int(m[1])]
            pr.update({k: body[k] for k in ("title", "body") if k in body})
            self._reply(200, _rest_pull(pr, base, st.repo))
            return True
        if (
            path == repo + "/pulls"
            and method == "POST"
            and not st.actions_may_open_prs
            and self.call.actor == GITHUB_ACTIONS
        ):
            # the repository setting "Allow GitHub Actions to create and approve pull requests"
            # is off
            self._reply(403, {"message": "GitHub Actions is not permitted to create or approve "
                              "pull requests."})  # fmt: skip
            return True
        if path == repo + "/pulls" and method == "POST":
            head, base_ref = body["head"], body["base"]
            if not all(self._has_ref(f"refs/heads/{b}") for b in (head, base_ref)):
                self._reply(422, {"message": "Validation Failed",
                                  "errors": [{"resource": "PullRequest", "field": "head",
                                              "code": "invalid"}]})  # fmt: skip
                return True
            if any(i.get("head") == head and i["state"] == "OPEN" for i in st.issues.values()):
                self._reply(422, {"message": "Validation Failed",
                                  "errors": [{"resource": "PullRequest", "code": "custom",
                                              "message": "A pull request already exists for "
                                              f"{st.repo.split('/')[0]}:{head}."}]})  # fmt: skip
                return True
            number = max(st.issues, default=0) + 1
            pr = _issue(number, body["title"], [], body.get("body") or "")
            st.issues[number] = pr | {"is_pr": True, "head": head, "base": base_ref}
            sha = self.fake.refs().get(f"refs/heads/{head}", "")
            st.events.append(Event("pull_request", str(self.call.actor), head, "", sha, "opened",
                                   number))  # fmt: skip
            self._reply(201, _rest_pull(st.issues[number], base, st.repo))
            return True
        # workflow runs (`gh run list --workflow monitor.yml` in pages.yml): none ran yet
        m = re.fullmatch(repo + r"/actions/workflows/([\w.-]+)", path)
        if m and method == "GET":
            name = m[1]
            wid = st.workflow_ids.setdefault(name, len(st.workflow_ids) + 1)
            self._reply(200, {"id": wid, "node_id": f"W_{wid}", "name": name.removesuffix(".yml"),
                              "path": f".github/workflows/{name}", "state": "active"})  # fmt: skip
            return True
        if re.fullmatch(repo + r"/actions/workflows/\d+/runs", path) and method == "GET":
            self._reply(200, {"total_count": 0, "workflow_runs": []})
            return True
        m = re.fullmatch(repo + r"/actions/workflows/([\w.-]+)/dispatches", path)
        if m and method == "POST":
            ids = {str(v): k for k, v in st.workflow_ids.items()}
            name = ids.get(m[1], m[1])
            st.events.append(Event("workflow_dispatch", str(self.call.actor), body["ref"],
                                   workflow=name))  # fmt: skip
            self._reply(204, raw=b"")
            return True
        # releases
        m = re.fullmatch(repo + r"/releases/tags/(.+)", path)
        if m and method in ("GET", "HEAD"):
            rel = st.releases.get(m[1])
            if rel is None:
                self._reply(404, {"message": "Not Found"})
            else:
                self._reply(200, _public(rel))
            return True
        if path == repo + "/releases" and method == "GET":
            self._reply(200, [_public(r) for r in st.releases.values()])
            return True
        if path == repo + "/releases" and method == "POST":
            tag = body["tag_name"]
            if tag in st.releases:
                self._reply(422, {"message": "Validation Failed",
                                  "errors": [{"resource": "Release", "code": "already_exists",
                                              "field": "tag_name"}]})  # fmt: skip
                return True
            rid = st.new_id()
            rel = {
                "id": rid,
                "tag_name": tag,
                "name": body.get("name") or tag,
                "body": body.get("body") or "",
                "draft": bool(body.get("draft")),
                "prerelease": bool(body.get("prerelease")),
                "html_url": f"{base}/{st.repo}/releases/tag/{tag}",
                "url": f"{base}/api/v3{repo}/releases/{rid}",
                "upload_url": f"{base}/api/uploads{repo}/releases/{rid}/assets{{?name,label}}",
                "assets": [],
                "blobs": {},
            }
            st.releases[tag] = rel
            self._reply(201, _public(rel))
            return True
        m = re.fullmatch(repo + r"/releases/(\d+)", path)
        if m:
            rel = next((r for r in st.releases.values() if r["id"] == int(m[1])), None)
            if rel is None:
                return False
            if method == "PATCH":
                for key in ("draft", "name", "body", "prerelease"):
                    if key in body:
                        rel[key] = body[key]
                if "tag_name" in body and body["tag_name"] != rel["tag_name"]:
                    st.releases[body["tag_name"]] = st.releases.pop(rel["tag_name"])
                    rel["tag_name"] = body["tag_name"]
            self._reply(200, _public(rel))
            return True
        m = re.fullmatch(repo + r"/releases/assets/(\d+)", path)
        if m and method == "GET":
            for rel in st.releases.values():
                if int(m[1]) in rel["blobs"]:
                    self._reply(200, raw=rel["blobs"][int(m[1])])
                    return True
            return False
        # tag refs (gh release create --verify-tag)
        m = re.fullmatch(repo + r"/git/(?:ref|refs)/tags/(.+)", path)
        if m and method == "GET":
            if self._has_tag(m[1]):
                self._reply(200, {"ref": f"refs/tags/{m[1]}", "object": {"sha": "0" * 40}})
            else:
                self._reply(404, {"message": "Not Found"})
            return True
        # issue search (REST)
        if path == "/search/issues" and method == "GET":
            found = self._search(query["q"][0])
            self._reply(200, {"total_count": len(found), "incomplete_results": False,
                              "items": [_rest_issue(i, base, st.repo) for i in found]})  # fmt: skip
            return True
        return False

    def _has_tag(self, tag: str) -> bool:
        return tag in self.fake.state.tags or self._has_ref(f"refs/tags/{tag}")

    def _has_ref(self, ref: str) -> bool:
        """Whether the bare origin (what was pushed) has `ref`."""
        origin = self.fake.origin
        if origin is None:
            return False
        proc = subprocess.run(
            ["git", "--git-dir", str(origin), "rev-parse", "--verify", "-q", ref],
            capture_output=True,
        )
        return proc.returncode == 0

    # ------------------------------------------------------------------ GraphQL
    def _search(self, q: str) -> list[dict[str, Any]]:
        st = self.fake.state
        words = re.findall(r'(\w+):("[^"]*"|\S+)', q)
        found = []
        for issue in st.issues.values():
            ok = not issue.get("is_pr")
            for key, value in words:
                value = value.strip('"')
                if key == "label" and value not in issue["labels"]:
                    ok = False
                if key in ("is", "state") and value in ("open", "closed"):
                    ok = ok and issue["state"] == value.upper()
                if key == "is" and value == "pr":
                    ok = ok and bool(issue.get("is_pr"))
            if ok:
                found.append(issue)
        return sorted(found, key=lambda i: -i["number"])

    def _graphql(self, text: str, var: dict[str, Any]) -> dict[str, Any]:
        """Answer exactly the fields the query selects (gh's decoder refuses extra ones): the
        query is parsed with graphql-core and projected onto the fake's objects."""
        st = self.fake.state
        base = f"https://{self.fake.host}"
        owner, name = st.repo.split("/")
        doc = gql.parse(text)
        frags = {
            d.name.value: d for d in doc.definitions if isinstance(d, gql.FragmentDefinitionNode)
        }
        op = next(d for d in doc.definitions if isinstance(d, gql.OperationDefinitionNode))

        def issue_obj(issue: dict[str, Any] | None) -> dict[str, Any] | None:
            if issue is None:
                return None
            labels = [{"id": st.labels.get(n, {}).get("id", n), "name": n, "color": "D93F0B",
                       "description": ""} for n in issue["labels"]]  # fmt: skip
            return {
                "__typename": "Issue", "id": issue["id"], "number": issue["number"],
                "title": issue["title"], "body": issue["body"], "state": issue["state"],
                "url": _url(base, st.repo, issue["number"]), "closed": False,
                "author": {"login": "fake-bot"}, "isPullRequest": False,
                "labels": {"nodes": labels, "totalCount": len(labels)},
                "comments": {"totalCount": len(issue["comments"]),
                             "nodes": [{"body": c["body"]} for c in issue["comments"]]},
                "assignees": {"nodes": [], "totalCount": 0},
                "projectCards": {"nodes": [], "totalCount": 0},
                "projectItems": {"nodes": [], "totalCount": 0},
                "milestone": None, "createdAt": "2026-01-01T00:00:00Z",
                "updatedAt": "2026-01-01T00:00:00Z",
            }  # fmt: skip

        def release(args: dict[str, Any]) -> dict[str, Any] | None:
            rel = st.releases.get(args.get("tagName", ""))
            return None if rel is None else {"databaseId": rel["id"], "isDraft": rel["draft"]}

        def ref(args: dict[str, Any]) -> dict[str, Any] | None:
            tag = str(args.get("qualifiedName", "")).removeprefix("refs/tags/")
            return {"id": "REF_" + tag, "name": tag} if self._has_tag(tag) else None

        def labels(args: dict[str, Any]) -> dict[str, Any]:
            nodes = [
                {"id": lab["id"], "name": n, "color": lab.get("color", "")}
                for n, lab in st.labels.items()
            ]
            return {"totalCount": len(nodes), "nodes": nodes,
                    "pageInfo": {"hasNextPage": False, "endCursor": ""}}  # fmt: skip

        def one_issue(args: dict[str, Any]) -> dict[str, Any] | None:
            return issue_obj(st.issues.get(int(args.get("number", 0))))

        def search(args: dict[str, Any]) -> dict[str, Any]:
            nodes = [issue_obj(i) for i in self._search(str(args.get("query", "")))]
            return {"issueCount": len(nodes), "nodes": nodes,
                    "edges": [{"node": n} for n in nodes],
                    "pageInfo": {"hasNextPage": False, "endCursor": ""}}  # fmt: skip

        def create_issue(args: dict[str, Any]) -> dict[str, Any]:
            inp = args["input"]
            number = max(st.issues, default=0) + 1
            ids = inp.get("labelIds") or []
            names = [n for n, lab in st.labels.items() if lab["id"] in ids or n in ids]
            st.issues[number] = _issue(number, inp["title"], names, inp.get("body") or "")
            return {"issue": issue_obj(st.issues[number])}

        def add_comment(args: dict[str, Any]) -> dict[str, Any]:
            inp = args["input"]
            issue = next(i for i in st.issues.values() if i["id"] == inp["subjectId"])
            comment = {"id": st.new_id(), "body": inp["body"]}
            issue["comments"].append(comment)
            url = f"{_url(base, st.repo, issue['number'])}#issuecomment-{comment['id']}"
            return {"commentEdge": {"node": {"url": url, "id": str(comment["id"])}}}

        repo_node: dict[str, Any] = {
            "__typename": "Repository", "id": "R_1", "name": name,
            "owner": {"login": owner, "id": "O_1"}, "nameWithOwner": st.repo,
            "hasIssuesEnabled": True, "hasProjectsEnabled": False,
            "hasDiscussionsEnabled": False, "viewerPermission": "WRITE",
            "defaultBranchRef": {"name": "main"}, "isPrivate": False, "isFork": False,
            "isArchived": False, "parent": None, "url": f"{base}/{st.repo}",
            "release": release, "ref": ref, "labels": labels, "issue": one_issue,
            "label": lambda args: (
                {"id": st.labels[args["name"]]["id"], "name": args["name"]}
                if args.get("name") in st.labels else None
            ),
            "issueOrPullRequest": one_issue,
            "milestones": {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": ""}},
            "assignableUsers": {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": ""}},
            "projects": {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": ""}},
            "projectsV2": {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": ""}},
        }  # fmt: skip
        type_fields = {  # gh asks which fields exist before it uses newer ones
            "Issue": ["stateReason", "closedByPullRequestsReferences", "projectItems"],
            "PullRequest": ["projectItems", "autoMergeRequest", "mergeQueueEntry"],
        }
        root: dict[str, Any] = {
            "repository": lambda args: repo_node,
            "viewer": {"login": "fake-bot", "id": "U_1"},
            "search": search,
            "createIssue": create_issue,
            "addComment": add_comment,
            "__type": lambda args: {
                "name": args.get("name"),
                "fields": [{"name": f} for f in type_fields.get(str(args.get("name")), [])],
            },
        }
        known = {"repository", "viewer", "search", "createIssue", "addComment", "__type"}
        asked = {s.name.value for s in op.selection_set.selections if isinstance(s, gql.FieldNode)}
        if asked - known:
            st.unhandled.append(f"graphql: {sorted(asked - known)}")
        return {"data": _project(root, op.selection_set, var, frags)}


def _project(value: Any, selection: Any, var: dict[str, Any], frags: dict[str, Any]) -> Any:
    """The part of `value` a GraphQL selection set asks for (fields, aliases, fragments)."""
    if value is None or selection is None:
        return value
    if isinstance(value, list):
        return [_project(v, selection, var, frags) for v in value]
    out: dict[str, Any] = {}
    for sel in selection.selections:
        if isinstance(sel, gql.FieldNode):
            name = sel.name.value
            got = value.get(name) if name != "__typename" else value.get("__typename", "Query")
            if callable(got):
                args = {a.name.value: gql.value_from_ast_untyped(a.value, var)
                        for a in sel.arguments}  # fmt: skip
                got = got(args)
            out[sel.alias.value if sel.alias else name] = _project(
                got, sel.selection_set, var, frags
            )
        else:  # inline fragment or fragment spread: same object, more fields
            sub = sel if isinstance(sel, gql.InlineFragmentNode) else frags[sel.name.value]
            out |= _project(value, sub.selection_set, var, frags)
    return out


def _url(base: str, repo: str, number: int) -> str:
    return f"{base}/{repo}/issues/{number}"


def _issue(number: int, title: str, labels: list[str], body: str) -> dict[str, Any]:
    return {"id": f"I_{number}", "number": number, "title": title, "body": body,
            "labels": list(labels), "state": "OPEN", "comments": []}  # fmt: skip


def _rest_issue(issue: dict[str, Any], base: str, repo: str) -> dict[str, Any]:
    return {
        "id": issue["number"],
        "node_id": issue["id"],
        "number": issue["number"],
        "title": issue["title"],
        "state": issue["state"].lower(),
        "html_url": _url(base, repo, issue["number"]),
        "labels": [{"name": n} for n in issue["labels"]],
    }


def _rest_pull(pr: dict[str, Any], base: str, repo: str) -> dict[str, Any]:
    return {
        "number": pr["number"],
        "state": pr["state"].lower(),
        "title": pr["title"],
        "body": pr["body"],
        "html_url": f"{base}/{repo}/pull/{pr['number']}",
        "head": {"ref": pr["head"]},
        "base": {"ref": pr["base"]},
    }


def _public(rel: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rel.items() if k != "blobs"}
