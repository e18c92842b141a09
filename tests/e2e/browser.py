"""Debian's Chromium driven by Selenium, for the model-site tests: no downloaded browser.

`ensure_chromium()` installs the `chromium` and `chromium-driver` packages with apt-get when
they are missing (root only), else fails with the command to run. `chrome()` starts a headless,
offline-quiet Chromium with a fresh profile and console + network logging on.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PACKAGES = ("chromium", "chromium-driver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")  # fmt: skip


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(
        ["apt-get", *args], capture_output=True, text=True, env=env, timeout=900, check=False
    )


@functools.cache
def ensure_chromium() -> tuple[str, str]:
    """Paths of chromium and chromedriver, installed from Debian when missing."""
    if Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file():
        return CHROMIUM, CHROMEDRIVER
    how = f"apt-get update && apt-get install -y {' '.join(PACKAGES)}"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            f"the browser tests need Debian's {' and '.join(PACKAGES)} ({CHROMIUM}, "
            f"{CHROMEDRIVER}); this user cannot install them: run `sudo sh -c '{how}'`",
            pytrace=False,
        )
    lock = "-o", "DPkg::Lock::Timeout=600"  # another apt-get may hold the lock for a while
    for args in (("update", *lock), ("install", "-y", "-q", *lock, *PACKAGES)):
        proc = _apt(*args)
        if proc.returncode != 0:
            pytest.fail(
                f"`apt-get {' '.join(args)}` failed (exit {proc.returncode}): "
                f"{proc.stderr.strip()[-1500:]}\ninstall them by hand: {how}",
                pytrace=False,
            )
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.fail(f"apt-get installed {PACKAGES} but {CHROMIUM} or {CHROMEDRIVER} is missing")
    return CHROMIUM, CHROMEDRIVER


@contextlib.contextmanager
def chrome(profile: Path, width: int = 1280, height: int = 900) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = ensure_chromium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={width},{height}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # Selenium Manager would look for (and download) a driver: both paths are given instead
    os.environ["SE_OFFLINE"] = "true"
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def requested_urls(driver: Any, document: str = "") -> list[str]:
    """Every URL that a document whose URL starts with `document` asked the network stack for
    since the last call (DevTools log; the browser's own chrome:// pages are left out)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            params = msg["params"]
            if str(params.get("documentURL", "")).startswith(document):
                urls.append(params["request"]["url"])
    return urls


def full_page_png(driver: Any) -> bytes:
    """A screenshot of the whole page, not only the window (DevTools captureBeyondViewport)."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": size["height"],
                "scale": 1,
            },
        },
    )
    return base64.b64decode(shot["data"])


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[str]:
    """`python -m http.server` for `root` on 127.0.0.1 in a thread; yields its base URL."""
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
