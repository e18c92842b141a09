"""io: atomic writes (old file or new file, never half of one), stable JSON, readers' errors."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitml.errors import DataError
from gitml.io import files as io


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_write_atomic_writes_bytes_and_text_and_creates_parents(tmp_path: Path) -> None:
    a = io.write_atomic(tmp_path / "deep" / "er" / "a.bin", b"\x00\x01")
    b = io.write_atomic(tmp_path / "b.txt", "héllo")
    assert a.read_bytes() == b"\x00\x01"
    assert b.read_bytes() == "héllo".encode()
    assert leftovers(tmp_path, {"deep", "b.txt"}) == []
    assert leftovers(tmp_path / "deep" / "er", {"a.bin"}) == []


def test_write_atomic_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("old and longer than the new content")
    io.write_atomic(path, "new")
    assert path.read_text() == "new"


def test_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    io.write_json(path, {"a": 1})
    before = path.read_bytes()
    with pytest.raises(ValueError):
        io.write_json(path, {"a": math.nan})  # allow_nan=False: refused, not written
    assert path.read_bytes() == before
    assert leftovers(tmp_path, {"x.json"}) == []


def test_a_writer_that_dies_half_way_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    io.write_parquet(path, pd.DataFrame({"a": [1.0]}))
    before = path.read_bytes()

    class BoomError(Exception):
        pass

    def half(tmp: Path) -> None:
        tmp.write_bytes(b"PAR1 half a file")
        raise BoomError

    with pytest.raises(BoomError):
        io._atomic(path, half)
    assert path.read_bytes() == before
    assert leftovers(tmp_path, {"data.parquet"}) == []


def test_write_json_is_stable_and_diff_friendly(tmp_path: Path) -> None:
    a = io.write_json(tmp_path / "a.json", {"b": 1, "a": {"z": [1, 2], "y": None}})
    b = io.write_json(tmp_path / "b.json", {"a": {"y": None, "z": [1, 2]}, "b": 1})
    text = a.read_text()
    assert a.read_bytes() == b.read_bytes()  # key order does not matter
    assert text.endswith("}\n")
    assert text.index('"a"') < text.index('"b"')
    assert json.loads(text) == {"a": {"y": None, "z": [1, 2]}, "b": 1}


def test_write_parquet_is_byte_reproducible_and_drops_the_index(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {"x": [1.5, np.nan, 3.0], "s": pd.Series(["a", None, "c"], dtype="str")},
        index=[10, 20, 30],
    )
    a = io.write_parquet(tmp_path / "a.parquet", df)
    b = io.write_parquet(tmp_path / "b.parquet", df.copy())
    assert a.read_bytes() == b.read_bytes()
    back = io.read_parquet(a)
    assert list(back.index) == [0, 1, 2]
    pd.testing.assert_frame_equal(back, df.reset_index(drop=True))


def test_write_csv_has_no_index_and_unix_newlines(tmp_path: Path) -> None:
    path = io.write_csv(tmp_path / "t.csv", pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    assert path.read_bytes() == b"a,b\n1,x\n2,y\n"


def test_atomic_dir_swaps_in_the_new_folder(tmp_path: Path) -> None:
    target = tmp_path / "report"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with io.atomic_dir(target) as tmp:
        assert tmp != target
        (tmp / "new.txt").write_text("new")
        assert (target / "old.txt").exists()  # nothing visible until the block succeeds
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert leftovers(tmp_path, {"report"}) == []


def test_atomic_dir_keeps_the_old_folder_when_the_block_fails(tmp_path: Path) -> None:
    target = tmp_path / "report"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), io.atomic_dir(target) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("killed")
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    assert leftovers(tmp_path, {"report"}) == []


def test_atomic_dir_creates_a_new_folder(tmp_path: Path) -> None:
    with io.atomic_dir(tmp_path / "a" / "out") as tmp:
        (tmp / "f").write_text("1")
    assert (tmp_path / "a" / "out" / "f").read_text() == "1"


def test_read_parquet_errors_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.parquet"
    with pytest.raises(DataError, match=r"missing\.parquet"):
        io.read_parquet(missing)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"corrupt\.parquet"):
        io.read_parquet(corrupt)


def test_read_json_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.json"):
        io.read_json(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match=r"bad\.json.*not valid JSON"):
        io.read_json(bad)


def test_file_sha256_known_vector(tmp_path: Path) -> None:
    path = tmp_path / "abc"
    path.write_bytes(b"abc")
    # FIPS 180-2 test vector for "abc"
    assert io.file_sha256(path) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 << 20])
def test_file_sha256_matches_hashlib_across_block_boundaries(tmp_path: Path, size: int) -> None:
    data = np.random.default_rng(size).bytes(size)
    path = io.write_atomic(tmp_path / "f", data)
    assert io.file_sha256(path) == hashlib.sha256(data).hexdigest()
