"""A loopback fake of the GitHub REST and GraphQL endpoints that `gh` (2.23) and the `cml`
stand-in call: issues, labels, issue search, issue/PR comments, pull requests (REST create),
releases with asset upload and download, tag refs. HTTPS with a self-signed certificate, so
`gh` talks to it as to a GitHub Enterprise host (GH_HOST=127.0.0.1:PORT, GH_ENTERPRISE_TOKEN,
SSL_CERT_FILE).

Hand-written: no maintained library fakes GitHub's API for the GitHub CLI. It answers only what
the workflows' commands send, with the fields gh reads, and records every call so tests can
assert on them; anything else is answered 404 and recorded as `unhandled`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
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

TOKEN = "fake-token-for-tests"


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


@dataclass
class State:
    repo: str
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)  # PRs are issues too
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)  # by tag
    tags: set[str] = field(default_factory=set)  # what `git ls-remote --tags origin` has
    calls: list[Call] = field(default_factory=list)
    unhandled: list[str] = field(default_factory=list)
    next_id: int = 1000
    actions_may_open_prs: bool = True  # the repository setting of that name

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

    def env(self) -> dict[str, str]:
        """What gh (and the cml stand-in) need to talk to this fake."""
        return {
            "GH_HOST": self.host,
            "GH_ENTERPRISE_TOKEN": TOKEN,
            "SSL_CERT_FILE": str(self.cert),
            "GH_NO_UPDATE_NOTIFIER": "1",
            "GH_PROMPT_DISABLED": "1",
            "FAKE_GITHUB_API": f"https://{self.host}/api/v3",
        }

    def reset(self) -> None:
        with self.lock:
            self.state = State(self.state.repo)

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

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = raw
        if raw and "json" in (self.headers.get("Content-Type") or "json") and method != "UPLOAD":
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        self.call = Call(method, unquote(parts.path), parse_qs(parts.query), body)
        fake = self.fake
        with fake.lock:
            fake.state.calls.append(self.call)
            auth = self.headers.get("Authorization", "")
            if TOKEN not in auth:
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
        if path == repo + "/pulls" and method == "POST" and not st.actions_may_open_prs:
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
            self._reply(201, _rest_pull(st.issues[number], base, st.repo))
            return True
        # workflow runs (`gh run list --workflow monitor.yml` in pages.yml): none ran yet
        m = re.fullmatch(repo + r"/actions/workflows/([\w.-]+)", path)
        if m and method == "GET":
            name = m[1]
            self._reply(200, {"id": 1, "node_id": "W_1", "name": name.removesuffix(".yml"),
                              "path": f".github/workflows/{name}", "state": "active"})  # fmt: skip
            return True
        if re.fullmatch(repo + r"/actions/workflows/1/runs", path) and method == "GET":
            self._reply(200, {"total_count": 0, "workflow_runs": []})
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
