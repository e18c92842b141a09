"""`gitml site`: a static model site built from git alone — registry, metric history, one page
per version, monitoring — for GitHub Pages or any folder. No server, no CDN, no script.

gitobjects.py  two git processes: every GTO tag (for-each-ref), every committed file (cat-file)
model.py       the registry replayed from the tags, each version's files parsed
digest.py      slice gaps, diffs, dvc.lock hashes, thinned curves (pure)
charts.py      Vega-Lite specs rendered to inline SVG by vl-convert (offline)
render.py      Jinja2 templates (autoescaped, CSP: no script, no request) -> HTML files
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from gitml.review.site import model, render

DEFAULT_OUT = Path("_site")  # what actions/upload-pages-artifact uploads by default

__all__ = ["DEFAULT_OUT", "BuildResult", "build"]


@dataclass(frozen=True)
class BuildResult:
    out: Path
    pages: list[Path]
    versions: int
    prod: str | None
    monitoring: bool
    seconds: float

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def build(repo: Path, out: Path = DEFAULT_OUT) -> BuildResult:
    """Read `repo`'s registry and committed evaluations, write the site into `out` (relative
    paths are taken from `repo`); `out` is replaced."""
    start = time.perf_counter()
    repo = Path(repo)
    out = out if Path(out).is_absolute() else repo / out
    site = model.load(repo)
    pages = render.write(site, out)
    return BuildResult(
        out=out,
        pages=pages,
        versions=len(site.versions),
        prod=site.prod.version if site.prod else None,
        monitoring=site.monitoring is not None,
        seconds=time.perf_counter() - start,
    )
