"""The monitoring reports the site shows: the current one and their history over time."""

from __future__ import annotations

import contextlib
from pathlib import Path

from gitml import layout
from gitml.contracts.monitoring import MonitoringReport
from gitml.errors import DataError
from gitml.review.site import gitobjects

MONITORING = layout.MONITORING_DIR / "monitoring.json"
MONITORING_HISTORY = layout.MONITORING_DIR / "history"  # earlier reports CI downloaded


def load_monitoring(
    repo: Path, committed: bytes | None
) -> tuple[MonitoringReport | None, str, list[MonitoringReport]]:
    """The workspace's monitoring.json (what `gitml monitor` just wrote), else the committed
    one; plus the committed history of the file for the over-time charts: (the report, where
    it came from, the history oldest first). All read through the typed contract: the current
    report must fit it (else a DataError naming the key); an earlier one that does not (an
    older gitml's) is left out of the history charts rather than stopping the site."""
    monitoring: MonitoringReport | None = None
    local = repo / MONITORING
    raw, source = None, ""
    if local.is_file():
        raw, source = local.read_bytes(), f"{MONITORING} (workspace)"
    elif committed is not None:
        raw, source = committed, f"{MONITORING} at HEAD"
    if raw is not None:
        monitoring = MonitoringReport.parse(raw, source)
    blobs: list[bytes] = []
    commits = gitobjects.file_history(repo, MONITORING.as_posix())
    if commits:
        found = gitobjects.cat_files(repo, [f"{c}:{MONITORING.as_posix()}" for c in commits])
        blobs = [found.get(f"{c}:{MONITORING.as_posix()}") or b"" for c in reversed(commits)]
    # reports CI keeps outside git (the monitor's artifacts, downloaded by the site workflow)
    for path in sorted((repo / MONITORING_HISTORY).glob("**/monitoring.json")):
        with contextlib.suppress(OSError):
            blobs.append(path.read_bytes())
    by_time: dict[str, MonitoringReport] = {}
    for blob in blobs:
        with contextlib.suppress(DataError):
            report = MonitoringReport.parse(blob, "history")
            by_time.setdefault(report.generated_at, report)
    if monitoring is not None:
        by_time.setdefault(monitoring.generated_at, monitoring)
    history = [by_time[when] for when in sorted(by_time)]
    return monitoring, (source if monitoring is not None else ""), history
