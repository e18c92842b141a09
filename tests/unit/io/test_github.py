"""Step outputs and the job summary for GitHub Actions (gitml.github_io)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitml.io import github as github_io


def test_outputs_are_appended_and_multiline_values_delimited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "output"
    target.write_text("earlier=1\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(target))
    assert github_io.write_outputs({"promoted": "true", "notes": "a\nb"}) == target
    lines = target.read_text().splitlines()
    assert lines[:2] == ["earlier=1", "promoted=true"]
    assert lines[2].startswith("notes<<ghadelimiter_") and lines[3:5] == ["a", "b"]
    assert lines[5] == lines[2].split("<<", 1)[1]
    with pytest.raises(ValueError, match="not a valid GitHub step output name"):
        github_io.write_outputs({"bad name": "x"})


def test_nothing_is_written_outside_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert github_io.write_outputs({"promoted": "false"}) is None
    assert github_io.append_step_summary("# x") is None
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    github_io.append_step_summary("# one")
    github_io.append_step_summary("# two")
    assert summary.read_text() == "# one\n# two\n"
