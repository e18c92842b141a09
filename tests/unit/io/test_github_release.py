"""A GitHub release's assets over the REST API (gitml.io.github_release), against httpx's own
MockTransport: the requests sent, the redirect to another host, and every failure's message."""

from __future__ import annotations

import httpx
import pytest

from gitml.errors import ConfigError, UnavailableError
from gitml.io.github_release import download_assets, slug_of_remote

API = "https://ghe.example/api/v3"
TOKEN = "ghp_secret-token-never-shown"
RELEASE = {
    "tag_name": "model@v0.2.0",
    "assets": [
        {"name": "model.skops", "url": f"{API}/repos/acme/churn/releases/assets/1"},
        {"name": "model.json", "url": f"{API}/repos/acme/churn/releases/assets/2"},
    ],
}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_API_URL", API + "/")
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)


def client(handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(transport=handler, follow_redirects=True)


def github(seen: list[httpx.Request], release: dict[str, object] | None = RELEASE) -> httpx.Client:
    """The release endpoint; the assets redirect to a signed URL on another host, as GitHub's do."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if request.url.host == "objects.example":
            return httpx.Response(200, content=f"bytes of {path[1:]}".encode())
        if path == "/api/v3/repos/acme/churn/releases/tags/model@v0.2.0" and release:
            return httpx.Response(200, json=release)
        if path.startswith("/api/v3/repos/acme/churn/releases/assets/"):
            return httpx.Response(302, headers={"location": f"https://objects.example/{path[-1]}"})
        return httpx.Response(404, json={"message": "Not Found"})

    return client(httpx.MockTransport(handle))


def test_assets_are_fetched_with_the_token_which_stays_on_the_api_host() -> None:
    seen: list[httpx.Request] = []
    got = download_assets("acme/churn", "model@v0.2.0", ["model.skops", "model.json"], github(seen))
    assert got == {"model.skops": b"bytes of 1", "model.json": b"bytes of 2"}
    api = [r for r in seen if r.url.host == "ghe.example"]
    signed = [r for r in seen if r.url.host == "objects.example"]
    assert len(api) == 3 and len(signed) == 2
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in api)
    assert all("authorization" not in r.headers for r in signed)  # dropped off the API's host
    assert api[0].headers["accept"] == "application/vnd.github+json"
    assert all(r.headers["accept"] == "application/octet-stream" for r in api[1:])


def test_a_missing_release_or_asset_says_what_to_do_and_never_the_token() -> None:
    with pytest.raises(
        UnavailableError, match=r"no release model@v9\.9\.9 of acme/churn.*404"
    ) as e:
        download_assets("acme/churn", "model@v9.9.9", ["model.skops"], github([]))
    assert "contents: read" in str(e.value) and TOKEN not in str(e.value)
    one = {"tag_name": "model@v0.2.0", "assets": RELEASE["assets"][1:]}  # type: ignore[index]
    with pytest.raises(
        UnavailableError, match=r"has no asset model\.skops \(it has: model\.json\)"
    ):
        download_assets("acme/churn", "model@v0.2.0", ["model.skops"], github([], one))


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (httpx.Response(401, json={"message": "Bad credentials"}), r"refused .*401: Bad cred"),
        (httpx.Response(502, text="bad gateway"), r"answered 502 .*bad gateway"),
        (httpx.ConnectTimeout("timed out"), r"ConnectTimeout: timed out; check the network"),
    ],
)
def test_other_failures_are_unavailable_errors(
    reply: httpx.Response | Exception, expected: str
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if isinstance(reply, Exception):
            raise reply
        return reply

    with pytest.raises(UnavailableError, match=expected) as e:
        download_assets(
            "acme/churn", "model@v0.2.0", ["model.skops"], client(httpx.MockTransport(handle))
        )
    assert TOKEN not in str(e.value)


def test_repository_names() -> None:
    with pytest.raises(ConfigError, match="OWNER/NAME"):
        download_assets("not a repo", "model@v0.2.0", [], github([]))
    assert slug_of_remote("https://github.com/acme/churn.git") == "acme/churn"
    assert slug_of_remote("https://x-access-token:tok@github.com/acme/churn") == "acme/churn"
    assert slug_of_remote("git@github.com:acme/churn.git") == "acme/churn"
    assert slug_of_remote("ssh://git@ghe.example:2222/acme/churn.git/") == "acme/churn"
    assert slug_of_remote("/srv/git/origin.git") is None
    assert slug_of_remote("file:///srv/git/acme/churn.git") is None
    assert slug_of_remote("https://gitlab.example/group/sub/churn.git") is None
