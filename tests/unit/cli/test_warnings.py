"""Warnings a stage writes to its reports reach the terminal: the stage prints them, and
`gitml metrics` repeats the ones the last run left open (issue 25)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitml.cli import app

TOO_GOOD = "⚠️ test ROC-AUC 0.9970 > 0.99: too good to be true? Look for a column"


def write(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")


def test_metrics_repeats_the_open_warnings_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "reports/evaluate/metrics.json", {"roc_auc": 0.997, "rows": 10})
    write(tmp_path / "reports/evaluate/checks.json", {"roc_auc": 0.997, "warnings": [TOO_GOOD]})
    flag = {"column": "churn_reason", "kind": "copy", "score": 0.99, "why": "predicts alone"}
    write(tmp_path / "reports/validation.json", {"leakage": {"mode": "warn", "flags": [flag]}})
    result = CliRunner().invoke(app, ["metrics"])
    assert result.exit_code == 0, result.output
    assert "0.9970" in result.stdout and "too good" not in result.stdout
    assert "warning: test ROC-AUC 0.9970 > 0.99: too good to be true?" in result.stderr
    assert "warning: leakage copy: churn_reason: predicts alone" in result.stderr


def test_metrics_is_quiet_without_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "reports/evaluate/metrics.json", {"roc_auc": 0.93})
    write(tmp_path / "reports/evaluate/checks.json", {"warnings": []})
    # error mode: a flag stopped the pipeline; it is not an open warning of a finished run
    flag = {"column": "x", "kind": "copy", "score": 0.99, "why": "w"}
    write(tmp_path / "reports/validation.json", {"leakage": {"mode": "error", "flags": [flag]}})
    result = CliRunner().invoke(app, ["metrics"])
    assert result.exit_code == 0 and result.stderr == ""
