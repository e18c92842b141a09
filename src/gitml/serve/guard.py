"""Bad input over HTTP gets a 4xx, never a 500: the checks that run before FastAPI parses a body.

`BodyGuard` is a plain ASGI middleware in front of every POST:

- `Content-Type` must be JSON (`application/json` or `application/*+json`): else 415;
- `Content-Encoding` must be absent or `identity`: the server does not inflate bodies, so a
  gzip bomb is refused (415) before a byte of it is read;
- the body may be at most `max_body_bytes` (default 10 MB): a `Content-Length` above it is
  refused at once, a chunked body as soon as it grows past it (413);
- the body must be JSON without duplicate keys (`{"age": 30, "age": 99}` would silently keep
  the last one) and not nested so deep that the parser gives up (422).

`validation_error_handler` renders FastAPI's 422 without echoing a whole row or body (an error's
`input` is kept only when it is one value), and with non-finite numbers (NaN, ±Infinity, or
1e999 parsed as infinity) written as strings: FastAPI's own handler puts the offending input in
the body as a float, and JSON cannot hold it, so the 422 itself failed with a 500.

Hand-written: Starlette and uvicorn have no body-size limit nor duplicate-key check.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


class DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise DuplicateKeyError(dup)
    return out


def check_json(body: bytes) -> str | None:
    """None when `body` parses with no duplicate key and no runaway nesting, else the problem.

    Invalid JSON is not reported here: FastAPI's own 422 (`json_invalid`) says where it broke.
    """
    try:
        json.loads(body, object_pairs_hook=_no_duplicates)
    except DuplicateKeyError as exc:
        return f"duplicate key {exc.args[0]!r} in a JSON object; send each field once"
    except RecursionError:
        return "the JSON is nested too deeply; send one object or a list of objects"
    except ValueError:  # not JSON, or not UTF-8: FastAPI's 422 reports it
        return None
    return None


async def json_reply(
    send: Send, status: int, detail: str, header: tuple[bytes, bytes] = (b"connection", b"close")
) -> None:
    """A `{"detail": …}` answer sent straight from an ASGI middleware, with one header more:
    by default `connection: close` (the body guard's: the rest of the body is not read)."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                header,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class BodyGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if not _is_json(content_type):
            await json_reply(
                send,
                415,
                f"Content-Type {content_type or '(none)'!r} is not accepted; "
                "send the body as application/json",
            )
            return
        encoding = headers.get(b"content-encoding", b"identity").decode("latin-1").strip().lower()
        if encoding not in ("", "identity"):
            await json_reply(
                send,
                415,
                f"Content-Encoding {encoding!r} is not accepted; send plain (uncompressed) JSON",
            )
            return
        limit = self.max_body_bytes
        too_big = f"the request body is larger than {limit:,} bytes (the server's --max-body-mb)"
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await json_reply(send, 413, too_big)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await json_reply(send, 413, too_big)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = check_json(body)
        if problem is not None:
            await json_reply(send, 422, problem)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


ECHO_CHARS = 200  # a rejected text value is echoed back at most this long


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str) and len(value) > ECHO_CHARS:
        return f"{value[:ECHO_CHARS]}… ({len(value):,} characters)"
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list | tuple)


async def validation_error_handler(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 body (`detail`: one entry per problem, `loc` names the field), JSON-safe."""
    from fastapi.encoders import jsonable_encoder

    assert isinstance(exc, RequestValidationError)
    # A whole row (or body) as `input` would repeat the request in every error: name, not echo.
    errors = [
        _json_safe({k: v for k, v in e.items() if k != "input" or _scalar(v)}) for e in exc.errors()
    ]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)
