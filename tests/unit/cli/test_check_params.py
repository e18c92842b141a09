"""`gitml check-params`: a bad params file exits 2 and names the key; a good one says ok."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli.runner import flat, gitml, write_params


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_valid_file_is_ok(workdir: Path) -> None:
    write_params(workdir, promotion={"max_drop": 0.01})
    res = gitml("check-params")
    assert (res.exit_code, res.stdout, res.stderr) == (0, "params.yaml: ok\n", "")
    (workdir / "other.yaml").write_text((workdir / "params.yaml").read_text())
    assert gitml("check-params", "-p", "other.yaml").stdout == "other.yaml: ok\n"
    assert gitml("check-params", "--params", "other.yaml").exit_code == 0


@pytest.mark.parametrize(
    ("sections", "names"),
    [
        ({"promotion": {"min_gain": 0.1}}, ["promotion.min_gain", "unknown key"]),
        ({"tune": {"n_trials": "many"}}, ["tune.n_trials"]),
        ({"promotion": {"max_drop": 2}}, ["promotion.max_drop"]),
        ({"serve": {"port": 1}}, ["serve", "unknown key"]),  # a section that does not exist
    ],
)
def test_a_bad_value_exits_2_and_names_the_key(
    workdir: Path, sections: dict[str, dict[str, object]], names: list[str]
) -> None:
    write_params(workdir, **sections)
    res = gitml("check-params")
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    message = flat(res.stderr)
    assert message.startswith("error: params.yaml")
    for name in names:
        assert name in message
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "error: params.yaml: file not found (run from the repository root)"),
        ("data: [1, 2\n", "error: params.yaml: not valid YAML"),
        ("- 1\n- 2\n", "error: params.yaml: the top level must be a mapping of sections"),
        (b"data: \xff\n", "error: params.yaml: not UTF-8 text (byte 6); save it as UTF-8"),
    ],
)
def test_an_unreadable_file_exits_2(
    workdir: Path, content: str | bytes | None, message: str
) -> None:
    if isinstance(content, bytes):
        (workdir / "params.yaml").write_bytes(content)
    elif content is not None:
        (workdir / "params.yaml").write_text(content)
    res = gitml("check-params")
    assert res.exit_code == 2
    assert flat(res.stderr).startswith(message)


def test_a_folder_is_not_a_params_file(workdir: Path) -> None:
    (workdir / "conf").mkdir()
    res = gitml("check-params", "-p", "conf")
    assert res.exit_code == 2
    assert res.stderr == "error: conf: is a folder, not a params file\n"
