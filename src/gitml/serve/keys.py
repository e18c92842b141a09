"""API keys of `gitml serve`: the key file, creating and revoking keys, checking a presented key.

The key file (default `.gitml/keys.json`, `--keys FILE` or GITML_KEYS_FILE) holds, per key, its
name, its id, its scopes (`predict`, `feedback`, `admin`), when it was made, a random salt and
the HMAC-SHA256 of the key under that salt. It never holds a key itself: `gitml keys create`
prints the key once, and nobody can read it back.

A key reads `gitml_<id>_<secret>`: `id` (8 hex characters, not secret) says which entry to check,
`secret` is 32 random bytes (`secrets.token_urlsafe`). Why a fast hash, not bcrypt or argon2:
those are slow on purpose so that a stolen hash of a *guessable* password costs years to crack;
a 256-bit random key cannot be guessed, so one salted HMAC-SHA256 (about a microsecond) is as
safe, and a slow hash would cost every request tens of milliseconds. The digests are compared
with `hmac.compare_digest` (constant time), and an unknown id is hashed against a dummy entry so
that both answers take the same time.

`KeyRing` is what a server process holds: it re-reads the file when it changes (checked at most
once a second), so a revoked key stops working in every worker within a second, without a
restart. Stdlib only: the CLI imports this module (for `Scope`) at start-up.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from gitml.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_KEYS_FILE = Path(".gitml/keys.json")
ENV = "GITML_KEYS_FILE"
PREFIX = "gitml"
FORMAT = 1  # the file's "format"; a reader refuses a newer one
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # fits the log's key_name column
RELOAD_SECONDS = 1.0
VERIFIED_MAX = 4096  # keys remembered as verified, per key ring (cleared when full)


class Scope(StrEnum):
    """What a key may do: each scope opens its own endpoints, and no scope implies another."""

    predict = "predict"  # POST /predict
    feedback = "feedback"  # POST /feedback
    admin = "admin"  # GET /metadata, /metrics (unless --open-metrics), any other endpoint


@dataclass(frozen=True)
class ApiKey:
    name: str
    id: str
    scopes: frozenset[str]
    created: str
    salt: str  # hex
    digest: str  # hex HMAC-SHA256(salt, key)

    def matches(self, key: str) -> bool:
        return hmac.compare_digest(_digest(self.salt, key), self.digest)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.id,
            "scopes": sorted(self.scopes),
            "created": self.created,
            "algorithm": "hmac-sha256",
            "salt": self.salt,
            "hash": self.digest,
        }


def _digest(salt: str, key: str) -> str:
    return hmac.new(bytes.fromhex(salt), key.encode(), hashlib.sha256).hexdigest()


# Checked when an id is unknown, so that a wrong id costs the same hash as a wrong secret.
_DUMMY = ApiKey("", "", frozenset(), "", "00" * 16, "00" * 32)


def _entry(path: Path, i: int, raw: Any) -> ApiKey:
    try:
        if raw.get("algorithm", "hmac-sha256") != "hmac-sha256":
            raise ValueError(f"unknown algorithm {raw['algorithm']!r}")
        scopes = frozenset(str(s) for s in raw["scopes"])
        unknown = scopes - set(Scope)
        if unknown:
            raise ValueError(f"unknown scope(s) {sorted(unknown)}; allowed: {list(Scope)}")
        bytes.fromhex(raw["salt"])
        bytes.fromhex(raw["hash"])
        return ApiKey(
            str(raw["name"]), str(raw["id"]), scopes, str(raw["created"]), raw["salt"], raw["hash"]
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: key #{i + 1} is not a key entry ({exc})") from None


def load(path: Path) -> list[ApiKey]:
    """The keys in the file; ConfigError naming the problem (a missing file is one too)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such key file; create a key with `gitml keys create NAME --scope "
            f"predict --file {path}`"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable key file ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ConfigError(f'{path}: not a key file (expected {{"format": 1, "keys": [...]}})')
    if doc.get("format", FORMAT) > FORMAT:
        raise ConfigError(f"{path}: format {doc['format']} is newer than this gitml reads")
    return [_entry(path, i, raw) for i, raw in enumerate(doc["keys"])]


def _save(path: Path, keys: Iterable[ApiKey]) -> None:
    from gitml.io.files import write_json

    # write_json writes a temp file (mode 0600, mkstemp's) and renames it over the old one:
    # a server re-reading the file sees the old keys or the new ones, never half a file.
    write_json(path, {"format": FORMAT, "keys": [k.as_json() for k in keys]})


def create(path: Path, name: str, scopes: Iterable[Scope | str]) -> tuple[str, ApiKey]:
    """Add a key; returns (the key itself, to show once; its entry)."""
    if not NAME.match(name):
        raise ConfigError(
            f"key name {name!r}: use 1-64 letters, digits, '.', '_' or '-' (it is written to "
            "every log row the key sends)"
        )
    wanted = frozenset(str(Scope(s)) for s in scopes)
    if not wanted:
        raise ConfigError(f"key {name!r}: give at least one --scope ({', '.join(Scope)})")
    keys = load(path) if path.exists() else []
    if any(k.name == name for k in keys):
        raise ConfigError(
            f"{path}: a key named {name!r} exists; revoke it first (`gitml keys revoke {name}`) "
            "or choose another name"
        )
    ids = {k.id for k in keys}
    key_id = secrets.token_hex(4)
    while key_id in ids:  # 1 in 4 billion per key; cheap to rule out
        key_id = secrets.token_hex(4)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    salt = secrets.token_hex(16)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    entry = ApiKey(name, key_id, wanted, created, salt, _digest(salt, key))
    _save(path, [*keys, entry])
    return key, entry


def revoke(path: Path, name: str) -> ApiKey:
    keys = load(path)
    gone = next((k for k in keys if k.name == name), None)
    if gone is None:
        names = ", ".join(k.name for k in keys) or "none"
        raise ConfigError(f"{path}: no key named {name!r} (keys: {names})")
    _save(path, [k for k in keys if k.name != name])
    return gone


def key_id(key: str) -> str | None:
    """The id part of a presented key, None when it is not shaped like one."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[2]:
        return None
    return parts[1]


class _Keys:
    """One reading of the file: the entries by id, and the presented keys found valid in it."""

    def __init__(self, entries: list[ApiKey]) -> None:
        self.by_id = {k.id: k for k in entries}
        # A valid key, once its HMAC matched, is looked up here: inside a server the HMAC took
        # 0.05 to 0.1 ms a request (6 µs in a tight loop; bench/serving_keys.py), a lookup
        # nothing.
        # Only valid keys enter, so a caller guessing keys cannot fill it; a new reading of the
        # file (a revocation) starts an empty one.
        self.verified: dict[str, ApiKey] = {}


class KeyRing:
    """The keys a server checks requests against, kept in step with the file."""

    def __init__(self, path: Path, reload_seconds: float = RELOAD_SECONDS) -> None:
        self.path = path
        self.reload_seconds = reload_seconds
        self._keys = _Keys(load(path))
        self._stamp = self._stat()
        self._next_check = time.monotonic() + reload_seconds
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._keys.by_id)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self) -> None:
        now = time.monotonic()
        if now < self._next_check or not self._lock.acquire(blocking=False):
            return
        try:
            self._next_check = now + self.reload_seconds
            stamp = self._stat()
            if stamp == self._stamp:
                return
            self._stamp = stamp
            if stamp is None:  # the file was deleted: nobody gets in
                self._keys = _Keys([])
                log.warning("API keys: %s is gone; every keyed request is refused", self.path)
                return
            try:
                self._keys = _Keys(load(self.path))
            except ConfigError as exc:  # a bad edit: keep the keys we had, say so
                log.error("API keys: %s; keeping the %d keys read before", exc, len(self))
                return
            log.info("API keys: %s re-read, %d keys", self.path, len(self))
        finally:
            self._lock.release()

    def check(self, key: str) -> ApiKey | None:
        """The entry of a presented key, None when it is not a valid key."""
        self._refresh()
        keys = self._keys  # one reading throughout, whatever a reload does meanwhile
        known = keys.verified.get(key)
        if known is not None:
            return known
        wanted = key_id(key)
        entry = keys.by_id.get(wanted) if wanted is not None else None
        if entry is None:
            _DUMMY.matches(key)  # the same work as for a known id
            return None
        if not entry.matches(key):
            return None
        if len(keys.verified) >= VERIFIED_MAX:
            keys.verified.clear()
        keys.verified[key] = entry
        return entry
