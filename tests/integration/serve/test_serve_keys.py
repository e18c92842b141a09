"""API keys on every endpoint of the app `gitml serve` runs, in process (gitml.serve.auth).

A model fitted on the sample (tests/served_model); the app built with a key file of one key per
scope. Every route the app has is tried with no key, a bad key, a key without its scope and a
key with it; a route added later without a rule of its own falls under `admin`, and is tried
like the others.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from gitml.serve import keys
from gitml.serve.app import build
from gitml.serve.auth import OPEN, Access
from gitml.serve.resolve import resolve
from tests.served_model import model_repo

pytestmark = pytest.mark.xdist_group("serving")

SCOPED = {"/predict": "predict", "/feedback": "feedback"}  # every other route needs admin


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, adult_sample: pd.DataFrame) -> Path:
    return model_repo(tmp_path_factory.mktemp("keys") / "repo", adult_sample)


@pytest.fixture(scope="module")
def issued(repo: Path) -> dict[str, str]:
    """One key per scope, and one with all three."""
    path = repo / "keys.json"
    made = {s: keys.create(path, s, [s])[0] for s in keys.Scope}
    made["all"] = keys.create(path, "all", list(keys.Scope))[0]
    return made


def _client(repo: Path, name: str, access: Access | None) -> Iterator[tuple[TestClient, Path]]:
    db = repo / f"{name}.db"
    app, _, _ = build(resolve(repo), f"sqlite:///{db}", access=access)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, db


@pytest.fixture(scope="module")
def keyed(repo: Path, issued: dict[str, str]) -> Iterator[tuple[TestClient, Path]]:
    yield from _client(repo, "keyed", Access(keys.KeyRing(repo / "keys.json")))


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _call(client: TestClient, method: str, path: str, key: str | None, body: Any) -> Any:
    headers = _bearer(key) if key is not None else {}
    if method == "GET":
        return client.get(path, headers=headers)
    return client.request(method, path, json=body.get(path), headers=headers)


def _routes(client: TestClient) -> list[tuple[str, str]]:
    app: Any = client.app
    return sorted(
        (route.path, method)
        for route in app.routes
        for method in getattr(route, "methods", None) or []
        if method != "HEAD"
    )


def test_every_endpoint_refuses_no_key_a_bad_key_and_the_wrong_scope(
    keyed: tuple[TestClient, Path], issued: dict[str, str], repo: Path
) -> None:
    client, _ = keyed
    example = resolve(repo).example
    made = client.post("/predict", json=example, headers=_bearer(issued["all"])).json()
    body = {"/predict": example, "/feedback": {"prediction_id": made["prediction_id"], "label": 1}}
    routes = _routes(client)
    assert {p for p, _ in routes} >= {"/predict", "/feedback", "/metadata", "/metrics", "/health"}
    tried = 0
    for path, method in routes:
        if path in OPEN:
            resp = _call(client, method, path, None, body)
            assert resp.status_code == 200, (path, resp.text)
            continue
        need = SCOPED.get(path, "admin")
        wrong = next(s for s in keys.Scope if s != need)
        no_key = _call(client, method, path, None, body)
        assert no_key.status_code == 401, (path, no_key.text)
        assert no_key.headers["www-authenticate"] == 'Bearer realm="gitml"'
        bad = _call(client, method, path, issued[need][:-2] + "xx", body)
        assert bad.status_code == 401
        assert 'error="invalid_token"' in bad.headers["www-authenticate"]
        for scheme in ("Basic", "Token"):  # the key itself, in another scheme
            other = client.request(
                method, path, headers={"Authorization": f"{scheme} {issued[need]}"}
            )
            assert other.status_code == 401
        forbidden = _call(client, method, path, issued[wrong], body)
        assert forbidden.status_code == 403, (path, forbidden.text)
        assert f'scope="{need}"' in forbidden.headers["www-authenticate"]
        assert f"lacks the '{need}' scope" in forbidden.json()["detail"]
        for key in (issued[need], issued["all"]):
            ok = _call(client, method, path, key, body)
            assert ok.status_code not in (401, 403), (path, ok.text)
            if path in ("/predict", "/feedback", "/metadata", "/metrics"):
                assert ok.status_code in (200, 202), (path, ok.text)
        tried += 1
    assert tried >= 4


def test_a_refused_caller_is_not_read_nor_logged(
    keyed: tuple[TestClient, Path], issued: dict[str, str]
) -> None:
    client, _ = keyed
    metric = "gitml_predictions_total "

    def predicted() -> str:
        text = client.get("/metrics", headers=_bearer(issued["admin"])).text
        return next(line for line in text.splitlines() if line.startswith(metric))

    before = predicted()
    # 11 MB without a key: 401, not the body guard's 413 (the body is never read)
    big = b'{"age": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    resp = client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert resp.status_code == 401
    assert client.post("/predict", content=b"{}", headers=_bearer("gitml_x_y")).status_code == 401
    assert predicted() == before


def test_each_row_names_the_key_that_sent_it(
    keyed: tuple[TestClient, Path], issued: dict[str, str], repo: Path
) -> None:
    client, db = keyed
    example = resolve(repo).example
    resp = client.post("/predict", json=[example, example], headers=_bearer(issued["predict"]))
    assert resp.status_code == 200, resp.text
    first, second = (p["prediction_id"] for p in resp.json())
    fb = {"prediction_id": first, "label": 1}
    assert client.post("/feedback", json=fb, headers=_bearer(issued["feedback"])).status_code == 202
    fb = {"prediction_id": second, "label": 0}
    assert client.post("/feedback", json=fb, headers=_bearer(issued["all"])).status_code == 202
    with sqlite3.connect(db) as conn:
        preds = dict(conn.execute("SELECT id, key_name FROM predictions").fetchall())
        labels = dict(conn.execute("SELECT prediction_id, key_name FROM feedback").fetchall())
    assert preds[first] == preds[second] == "predict"
    assert labels[first] == "feedback" and labels[second] == "all"


def test_the_openapi_document_declares_the_bearer_scheme(
    keyed: tuple[TestClient, Path], repo: Path
) -> None:
    client, _ = keyed
    doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearerKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key from `gitml keys create NAME --scope SCOPE`",
    }
    for path, operations in doc["paths"].items():
        for op in operations.values():
            if path in OPEN:
                assert "security" not in op
                continue
            need = SCOPED.get(path, "admin")
            assert op["security"] == [{"bearerKey": []}], path
            assert f"Needs a key with scope `{need}`" in op["description"]
            assert {"401", "403"} <= set(op["responses"])


def test_open_metrics_opens_metrics_and_metadata_only(repo: Path, issued: dict[str, str]) -> None:
    access = Access(keys.KeyRing(repo / "keys.json"), open_metrics=True)
    for client, _ in _client(repo, "scraped", access):  # the generator's one server
        assert client.get("/metrics").status_code == 200
        assert client.get("/metadata").status_code == 200
        assert client.post("/predict", json=resolve(repo).example).status_code == 401
        assert "security" not in client.get("/openapi.json").json()["paths"]["/metrics"]["get"]


def test_an_open_server_lets_everyone_in_and_logs_no_key(repo: Path) -> None:
    db = repo / "open.db"
    for client, _ in _client(repo, "open", None):
        resp = client.post("/predict", json=resolve(repo).example)
        assert resp.status_code == 200
        assert client.get("/metadata").status_code == 200
        assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT key_name FROM predictions").fetchall() == [(None,)]


def test_a_following_servers_admin_check_needs_the_admin_key(
    repo: Path, issued: dict[str, str], tmp_path: Path
) -> None:
    """POST /admin/check (gitml serve --follow) is behind the key middleware's admin rule; the
    loopback-only rule is for open servers."""
    from gitml.serve.follow import FollowConfig
    from tests.helpers import run

    registry = tmp_path / "registry"  # a git repository with no version registered yet
    registry.mkdir()
    run(["git", "init", "-q", "-b", "main"], registry)
    follow = FollowConfig(repo=str(registry), stage="prod", interval=3600, remote=None)
    app, _, _ = build(
        resolve(repo),
        f"sqlite:///{repo / 'follow.db'}",
        access=Access(keys.KeyRing(repo / "keys.json")),
        follow=follow,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        check = "/admin/check?wait=5"
        assert client.post(check, json={}).status_code == 401
        assert client.post(check, json={}, headers=_bearer(issued["predict"])).status_code == 403
        answer = client.post(check, json={}, headers=_bearer(issued["admin"]))
        assert answer.status_code == 200, answer.text
        assert answer.json()["follow"]["stage"] == "prod"
