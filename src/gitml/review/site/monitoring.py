"""The monitoring reports the site shows: the current one and their history over time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gitml import layout
from gitml.errors import DataError
from gitml.review.site import gitobjects

MONITORING = layout.MONITORING_DIR / "monitoring.json"
MONITORING_HISTORY = layout.MONITORING_DIR / "history"  # earlier reports CI downloaded


def load_monitoring(
    repo: Path, committed: bytes | None
) -> tuple[dict[str, Any] | None, str, list[dict[str, Any]]]:
    """The workspace's monitoring.json (what `gitml monitor` just wrote), else the committed
    one; plus the committed history of the file for the over-time charts: (the report, where
    it came from, the history oldest first)."""
    monitoring: dict[str, Any] | None = None
    history: list[dict[str, Any]] = []
    local = repo / MONITORING
    raw, source = None, ""
    if local.is_file():
        raw, source = local.read_bytes(), f"{MONITORING} (workspace)"
    elif committed is not None:
        raw, source = committed, f"{MONITORING} at HEAD"
    if raw is not None:
        try:
            report = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(
                f"{source}: not valid JSON ({exc}); rerun `gitml monitor` or delete it"
            ) from None
        if isinstance(report, dict):
            monitoring = report
    commits = gitobjects.file_history(repo, MONITORING.as_posix())
    if commits:
        blobs = gitobjects.cat_files(repo, [f"{c}:{MONITORING.as_posix()}" for c in commits])
        history = []
        for c in reversed(commits):
            try:
                history.append(json.loads(blobs.get(f"{c}:{MONITORING.as_posix()}") or b""))
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
        history = [h for h in history if isinstance(h, dict)]
    # reports CI keeps outside git (the monitor's artifacts, downloaded by the site workflow)
    seen = {h.get("generated_at") for h in history}
    for path in sorted((repo / MONITORING_HISTORY).glob("**/monitoring.json")):
        try:
            h = json.loads(path.read_bytes())
        except (ValueError, OSError):
            continue
        if isinstance(h, dict) and h.get("generated_at") not in seen:
            seen.add(h.get("generated_at"))
            history.append(h)
    history.sort(key=lambda h: str(h.get("generated_at") or ""))
    if monitoring is not None and (
        not history or history[-1].get("generated_at") != monitoring.get("generated_at")
    ):
        history.append(monitoring)
    return monitoring, (source if monitoring is not None else ""), history
