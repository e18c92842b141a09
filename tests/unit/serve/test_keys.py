"""The API key file (gitml.serve.keys) and the bind rule (gitml.serve.auth.check_bind)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from gitml.errors import ConfigError
from gitml.serve import keys
from gitml.serve.auth import Tls, check_bind, is_loopback


def test_a_created_key_is_shown_once_and_the_file_holds_no_key(tmp_path: Path) -> None:
    path = tmp_path / "k" / "keys.json"
    key, entry = keys.create(path, "app", ["predict", "feedback"])
    other, _ = keys.create(path, "ops", [keys.Scope.admin])
    assert key.startswith(f"gitml_{entry.id}_") and len(key) > 40
    text = path.read_text()
    assert key not in text and key.split("_", 2)[2] not in text and other not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # not readable by other users
    doc = json.loads(text)
    assert [k["name"] for k in doc["keys"]] == ["app", "ops"]
    assert doc["keys"][0]["scopes"] == ["feedback", "predict"]
    assert doc["keys"][0]["algorithm"] == "hmac-sha256"
    assert doc["keys"][0]["salt"] != doc["keys"][1]["salt"]  # a salt per key


def test_the_ring_knows_a_key_by_its_secret_not_by_its_shape(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key, entry = keys.create(path, "app", ["predict"])
    ring = keys.KeyRing(path)
    assert ring.check(key) == entry
    prefix, key_id, secret = key.split("_", 2)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for bad in [
        f"{prefix}_{key_id}_{flipped}",  # the right id, a wrong secret
        f"{prefix}_00000000_{secret}",  # an unknown id
        key[:-1],
        "",
        "gitml__",
        "not-a-key",
        key + "x",
    ]:
        assert ring.check(bad) is None, bad


def test_a_valid_key_is_hashed_once_a_wrong_one_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keys.json"
    key, _ = keys.create(path, "app", ["predict"])
    ring = keys.KeyRing(path)
    hashed: list[str] = []
    digest = keys._digest
    monkeypatch.setattr(keys, "_digest", lambda salt, k: hashed.append(k) or digest(salt, k))
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    for _ in range(3):
        assert ring.check(key) is not None
        assert ring.check(wrong) is None
    assert hashed.count(key) == 1 and hashed.count(wrong) == 3


def test_revoking_reaches_a_running_ring_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key, _ = keys.create(path, "app", ["predict"])
    ring = keys.KeyRing(path, reload_seconds=0.0)
    assert ring.check(key) is not None
    added, _ = keys.create(path, "new", ["predict"])
    assert ring.check(added) is not None  # picked up
    assert keys.revoke(path, "app").name == "app"
    assert ring.check(key) is None and ring.check(added) is not None
    path.write_text("{ not json")  # a bad hand edit keeps the keys the ring had
    assert ring.check(added) is not None
    path.unlink()  # no file: nobody gets in
    assert ring.check(added) is None and len(ring) == 0


def test_bad_names_scopes_and_files_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keys.create(path, "app", ["predict"])
    with pytest.raises(ConfigError, match="a key named 'app' exists"):
        keys.create(path, "app", ["admin"])
    with pytest.raises(ConfigError, match="key name 'a b'"):
        keys.create(path, "a b", ["admin"])
    with pytest.raises(ValueError, match="'root'"):
        keys.create(path, "x", ["root"])
    with pytest.raises(ConfigError, match="at least one --scope"):
        keys.create(path, "x", [])
    with pytest.raises(ConfigError, match=r"no key named 'nobody'.*keys: app"):
        keys.revoke(path, "nobody")
    with pytest.raises(ConfigError, match="no such key file"):
        keys.load(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text('{"keys": [{"name": "x", "scopes": ["god"]}]}')
    with pytest.raises(ConfigError, match="key #1 is not a key entry"):
        keys.load(tmp_path / "bad.json")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
     ("example.com", False)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_keys_are_required_off_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default key file, .gitml/keys.json, is absent
    access, said = check_bind("127.0.0.1", None)
    assert access.keys is None and "no API keys" in said
    with pytest.raises(ConfigError, match=r"--host 0\.0\.0\.0: a server reachable from other"):
        check_bind("0.0.0.0", None)
    with pytest.raises(ConfigError, match="no such key file"):  # named, so it must exist
        check_bind("127.0.0.1", tmp_path / "named.json")
    keys.create(keys.DEFAULT_KEYS_FILE, "app", ["predict"])
    keys.revoke(keys.DEFAULT_KEYS_FILE, "app")
    with pytest.raises(ConfigError, match="holds no key"):
        check_bind("0.0.0.0", None)
    keys.create(keys.DEFAULT_KEYS_FILE, "app", ["predict"])
    access, said = check_bind("0.0.0.0", None, open_metrics=True)
    assert access.keys is not None and "API keys required (1 in" in said
    assert access.needs("/metrics") is None and access.needs("/predict") == "predict"
    assert access.needs("/anything/new") == "admin" and access.needs("/health") is None


def test_tls_needs_both_files_and_a_matching_pair(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="go together"):
        Tls.of(tmp_path / "cert.pem", None)
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    with pytest.raises(ConfigError, match="not usable"):
        Tls.of(tmp_path / "cert.pem", tmp_path / "key.pem")
    assert Tls.of(None, None) is None
