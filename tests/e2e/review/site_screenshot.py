"""The README's screenshot of the model site: `make docs` (= `python -m
tests.e2e.review.site_screenshot docs/images/model-site.png`). Builds the demo repository of the
site tests (three versions, a rollback, a refusal; without their hostile strings) in a temp
folder, renders it with `gitml site`, and shoots the registry page in Debian's headless
Chromium; the PNG is reduced to 64 colours to stay small.

`--all DIR` instead shoots every page whole at a desktop (1366 px) and a phone (390 px) width,
and the registry in the dark scheme, into DIR (for reviewing the layout by eye)."""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from gitml.review.site import build
from tests.e2e import browser
from tests.e2e.review.site_repo import build_repo, init_repo

WIDTH, HEIGHT = 1100, 760
DESKTOP, PHONE = 1366, 390


def emulate(driver: Any, width: int, dark: bool = False) -> None:
    """A viewport `width` CSS px wide (a phone: mobile, so the viewport meta applies) and the
    system colour scheme, through DevTools."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 844 if width < 600 else 900, "deviceScaleFactor": 1,
         "mobile": width < 600},
    )  # fmt: skip
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]},
    )


def shoot_all(site: Path, target: Path, profile: Path) -> list[Path]:
    versions = sorted(f"versions/{p.name}" for p in (site / "versions").glob("*.html"))
    pages = ["index.html", "history.html", "monitoring.html", *versions]
    target.mkdir(parents=True, exist_ok=True)
    written = []
    with browser.chrome(profile, DESKTOP, 900) as driver:
        for width, dark in ((DESKTOP, False), (PHONE, False), (DESKTOP, True), (PHONE, True)):
            emulate(driver, width, dark)
            for page in pages if not dark else ["index.html", "versions/v0.2.0.html"]:
                driver.get((site / page).as_uri())
                name = f"{page.replace('/', '_').removesuffix('.html')}-{width}"
                out = target / f"{name}{'-dark' if dark else ''}.png"
                out.write_bytes(browser.full_page_png(driver))
                written.append(out)
    return written


def main(argv: list[str]) -> int:
    from PIL import Image

    every = argv[:1] == ["--all"]
    argv = argv[1:] if every else argv
    target = Path(argv[0] if argv else "docs/images/model-site.png")
    os.environ.setdefault("GIT_AUTHOR_NAME", "gitml demo")
    os.environ.setdefault("GIT_AUTHOR_EMAIL", "demo@gitml.invalid")
    os.environ.setdefault("GIT_COMMITTER_NAME", "gitml promote")
    os.environ.setdefault("GIT_COMMITTER_EMAIL", "promote@gitml.invalid")
    with tempfile.TemporaryDirectory(prefix="gitml-site-demo-") as tmp:
        repo = init_repo(Path(tmp) / "repo")
        build_repo(repo, hostile=False, forged=every)
        site = build(repo, Path(tmp) / "site")
        if every:
            for shot in shoot_all(site.out, target, Path(tmp) / "profile"):
                print(shot)
            return 0
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
