"""Who may call `gitml serve`: bearer keys with scopes, checked before anything else runs.

`Access` is the server's policy: the key ring (gitml.serve.keys), or None for an open server
(allowed on loopback only, `check_bind`), and whether `/metrics` and `/metadata` are open to a
scraper (`--open-metrics`). `protect(app, access)` installs it:

- `KeyGuard`, a plain ASGI middleware, in front of the routes and of the body guard: a request
  without a valid key gets 401 before its body is read or parsed, so an anonymous caller cannot
  make the server read 10 MB; a key without the path's scope gets 403. Which scope a path needs
  is one table (`needs`): `/health`, `/ready` and the API docs are open, `/predict` needs
  `predict`, `/feedback` `feedback`, and every other path, one added later included, `admin`.
- the OpenAPI document declares the bearer scheme, and on each protected operation its scope
  and its 401/403 answers (from the same table).

The key's name reaches the route through `caller()` (a context variable the middleware sets for
the request), and the prediction log records it. A key is never logged: only its name is.
"""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from gitml.errors import ConfigError
from gitml.serve.guard import json_reply
from gitml.serve.keys import DEFAULT_KEYS_FILE, KeyRing

OPEN = frozenset({"/health", "/ready", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
SCOPED = {"/predict": "predict", "/feedback": "feedback"}
SCRAPED = frozenset({"/metrics", "/metadata"})  # admin, or open with --open-metrics
SCHEME = "bearerKey"

_CALLER: contextvars.ContextVar[str | None] = contextvars.ContextVar("gitml_caller", default=None)


def caller() -> str | None:
    """The name of the key that sent the current request (None on an open server)."""
    return _CALLER.get()


@dataclass(frozen=True)
class Access:
    keys: KeyRing | None  # None: open, every caller gets in
    open_metrics: bool = False

    def needs(self, path: str) -> str | None:
        """The scope a path needs; None when it is open."""
        if self.keys is None or path in OPEN or (self.open_metrics and path in SCRAPED):
            return None
        return SCOPED.get(path, "admin")

    def settings(self) -> dict[str, Any]:
        """What a worker process needs to build the same policy (`from_settings`)."""
        return {"keys": str(self.keys.path) if self.keys else None, "open": self.open_metrics}

    @staticmethod
    def from_settings(settings: dict[str, Any]) -> Access:
        keys = settings["keys"]
        return Access(KeyRing(Path(keys)) if keys else None, settings["open"])


@dataclass(frozen=True)
class Tls:
    """HTTPS: the PEM certificate (chain) and its unencrypted key, as uvicorn reads them."""

    certfile: str
    keyfile: str

    @staticmethod
    def of(cert: Path | None, key: Path | None) -> Tls | None:
        """Both files or neither; checked now, so a bad pair is a clear error (exit 2)."""
        if cert is None and key is None:
            return None
        if cert is None or key is None:
            raise ConfigError("--tls-cert and --tls-key go together: pass both, or neither")
        import ssl

        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"--tls-cert {cert} / --tls-key {key}: not usable ({exc})") from None
        return Tls(str(cert), str(key))


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_bind(host: str, keys_file: Path | None, open_metrics: bool = False) -> tuple[Access, str]:
    """The access policy for a server on `host`, and the line to print about it.

    Keys are required off loopback: a missing or empty key file is a ConfigError (exit 2). On
    loopback a missing default key file means an open server; a key file named by --keys or
    GITML_KEYS_FILE must exist.
    """
    path = keys_file or DEFAULT_KEYS_FILE
    if keys_file is None and not path.exists():
        if not is_loopback(host):
            raise ConfigError(
                f"--host {host}: a server reachable from other machines needs API keys, and "
                f"there is no key file ({path}); create one with `gitml keys create NAME "
                "--scope predict`, or pass --keys FILE; only a loopback server (127.0.0.1, "
                "::1, localhost) may run without keys"
            )
        return Access(None, open_metrics), (
            f"no API keys ({path} does not exist): every caller on this machine gets in; "
            "create keys with `gitml keys create` to require them"
        )
    ring = KeyRing(path)
    if len(ring) == 0 and not is_loopback(host):
        raise ConfigError(
            f"--host {host}: {path} holds no key, so nobody could call this server; create "
            "one with `gitml keys create NAME --scope predict`"
        )
    opened = "; /metrics and /metadata are open (--open-metrics)" if open_metrics else ""
    return Access(ring, open_metrics), (
        f"API keys required ({len(ring)} in {path}; /health and /ready are open){opened}"
    )


class KeyGuard:
    """401 without a valid `Authorization: Bearer KEY`, 403 without the path's scope."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        need = self.access.needs(scope["path"]) if scope["type"] == "http" else None
        if need is None:
            await self.app(scope, receive, send)
            return
        assert self.access.keys is not None  # needs() says None on an open server
        header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        scheme, _, token = header.decode("latin-1").partition(" ")
        entry = self.access.keys.check(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None:
            what = "invalid_token" if header else None
            await _refuse(send, 401, "a valid API key is required: Authorization: Bearer KEY", what)
            return
        if need not in entry.scopes:
            await _refuse(
                send,
                403,
                f"key {entry.name!r} lacks the {need!r} scope",
                "insufficient_scope",
                need,
            )
            return
        token_ = _CALLER.set(entry.name)
        try:
            await self.app(scope, receive, send)
        finally:
            _CALLER.reset(token_)


async def _refuse(
    send: Send, status: int, detail: str, error: str | None, scope: str | None = None
) -> None:
    # RFC 6750 §3: the challenge names the error (none when no key was sent) and the scope
    challenge = 'Bearer realm="gitml"'
    if error:
        challenge += f', error="{error}"'
    if scope:
        challenge += f', scope="{scope}"'
    await json_reply(send, status, detail, (b"www-authenticate", challenge.encode()))


def protect(app: Any, access: Access | None) -> None:
    """Install the key check and its OpenAPI declaration on a FastAPI app (no-op when open)."""
    if access is None or access.keys is None:
        return
    app.add_middleware(KeyGuard, access=access)
    base: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            declare(base(), access)
        schema: dict[str, Any] = app.openapi_schema
        return schema

    app.openapi = openapi


def declare(schema: dict[str, Any], access: Access) -> None:
    """The bearer scheme, and per protected operation its scope and its 401/403 answers."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key from `gitml keys create NAME --scope SCOPE`",
    }
    for path, operations in schema.get("paths", {}).items():
        need = access.needs(path)
        if need is None:
            continue
        for op in operations.values():
            op["security"] = [{SCHEME: []}]
            op["description"] = (
                op.get("description", "") + f"\n\nNeeds a key with scope `{need}`."
            ).strip()
            responses = op.setdefault("responses", {})
            responses["401"] = {"description": "no valid API key (Authorization: Bearer KEY)"}
            responses["403"] = {"description": f"the key lacks the `{need}` scope"}


async def checked_by_middleware() -> None:
    """A route's guard when keys are on: the key middleware already required its scope (every
    path outside OPEN and SCOPED needs admin), so there is nothing left to check here."""
