"""The README's screenshot of the model site: `make docs` (= `python -m
tests.e2e.review.site_screenshot docs/images/model-site.png`). Builds the three-version demo
repository of the site tests (without their hostile strings) in a temp folder, renders it with
`gitml site`, and shoots the
registry page in Debian's headless Chromium; the PNG is reduced to 64 colours to stay small."""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

from gitml.review.site import build
from tests.e2e import browser
from tests.e2e.review.site_repo import build_repo, init_repo

WIDTH, HEIGHT = 1100, 760


def main(argv: list[str]) -> int:
    from PIL import Image

    target = Path(argv[0] if argv else "docs/images/model-site.png")
    os.environ.setdefault("GIT_AUTHOR_NAME", "gitml demo")
    os.environ.setdefault("GIT_AUTHOR_EMAIL", "demo@gitml.invalid")
    os.environ.setdefault("GIT_COMMITTER_NAME", "gitml promote")
    os.environ.setdefault("GIT_COMMITTER_EMAIL", "promote@gitml.invalid")
    with tempfile.TemporaryDirectory(prefix="gitml-site-demo-") as tmp:
        repo = init_repo(Path(tmp) / "repo")
        build_repo(repo, hostile=False)
        site = build(repo, Path(tmp) / "site")
        with browser.chrome(Path(tmp) / "profile", WIDTH, HEIGHT) as driver:
            driver.get(site.index.as_uri())
            png = driver.get_screenshot_as_png()
    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=64)
    target.parent.mkdir(parents=True, exist_ok=True)
    img.save(target, optimize=True)
    print(f"{target}: {img.width}x{img.height}, {target.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
