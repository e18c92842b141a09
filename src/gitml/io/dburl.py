"""Database URLs, shared by the Optuna storage (tune) and the prediction log (serve, monitor)."""

from __future__ import annotations

import importlib.util
import re

import sqlalchemy as sa


def normalise_url(url: str) -> str:
    """`postgresql://…` with the driver that is installed.

    SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3; our pins install psycopg2
    (psycopg2-binary). Pick psycopg2 when psycopg 3 is absent, so the URL a user copies from
    any PostgreSQL guide works as is. An explicit `postgresql+driver://` is left alone, and so is
    a URL SQLAlchemy cannot parse (the caller reports it).
    """
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return url
    if (
        parsed.drivername == "postgresql"
        and importlib.util.find_spec("psycopg") is None
        and importlib.util.find_spec("psycopg2")
    ):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for every message and log line."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not parseable: mask anything that looks like user:password@
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
