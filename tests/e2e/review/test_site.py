"""`gitml site` on a repository with three versions (promote, promote, promote, rollback) and a
monitoring report: what it reads, what it escapes, and the pages in a real browser."""

from __future__ import annotations

import io
import json
import re
import subprocess
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from gitml.errors import ConfigError, DataError
from gitml.registry import versions as registry
from gitml.review.site import build, charts, gitobjects, model
from tests.conftest import run, tool_env
from tests.e2e import browser
from tests.e2e.review.site_repo import (
    IMG,
    ROLLBACK_REASON,
    SCRIPT,
    build_repo,
    init_repo,
    monitoring_report,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("promotion")]

PAGES = ["index.html", "history.html", "monitoring.html", "versions/v0.1.0.html",
         "versions/v0.2.0.html", "versions/v0.3.0.html"]  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("site")
    repo = init_repo(root / "repo")
    shas = build_repo(repo)
    result = build(repo, root / "out")
    assert (result.versions, result.prod, result.monitoring) == (3, "v0.2.0", True)
    return repo, result.out, shas


def committed(repo: Path, sha: str, path: str) -> Any:
    return json.loads(run(["git", "show", f"{sha}:{path}"], repo).stdout)


def test_the_registry_is_what_gto_says(built: tuple[Path, Path, dict[str, str]]) -> None:
    repo, _, shas = built
    site = model.load(repo)
    gto = {v.version: (v.commit, v.stages) for v in registry.list_versions(repo)}
    assert {v.version: (v.commit, v.stages) for v in site.versions} == gto
    assert {v.version: v.commit for v in site.versions} == shas
    assert site.prod is not None and site.prod.version == "v0.2.0"
    kinds = {v.version: [e.kind for e in v.events] for v in site.versions}
    assert kinds == {
        "v0.1.0": ["registered", "promoted", "superseded"],
        "v0.2.0": ["registered", "promoted", "superseded", "rolled back to"],
        "v0.3.0": ["registered", "promoted", "rolled back from"],
    }
    v3 = site.versions[-1]
    assert v3.summary.startswith("PROMOTE: roc_auc 0.9150 vs prod v0.2.0")
    names = [r.name for r in v3.rules]
    assert "max_drop:roc_auc" in names and "slice_floor:gender=Female:recall" in names
    assert f"slice_floor:race={IMG}:recall" in names  # a rule name with spaces and colons
    assert all(r.passed for r in v3.rules) and len(v3.rules) == int(v3.summary.split("/")[1][:2])
    # the last promotion's local record adds the numbers; older versions have the tag's text
    record = json.loads((repo / "reports/promotion.json").read_text())
    assert [(r.name, r.value, r.threshold) for r in v3.rules] == [
        (r["name"], r["value"], r["threshold"]) for r in record["rules"]
    ]
    v2 = site.versions[1]
    assert v2.rules and all(r.threshold is None for r in v2.rules)
    rollback = next(e for e in site.events if e.kind == "rolled back to")
    assert ROLLBACK_REASON in rollback.message
    assert [h["generated_at"][:10] for h in site.monitoring_history] == ["2026-11-29", "2026-11-30"]


def test_git_is_read_in_a_fixed_number_of_processes(
    built: tuple[Path, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _, _ = built
    calls: list[list[str]] = []
    real = subprocess.run

    def counting(cmd: list[str], *args: Any, **kwargs: Any) -> Any:
        calls.append(list(cmd))
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(gitobjects.subprocess, "run", counting)
    site = model.load(repo)
    assert len(site.versions) == 3 and all(v.files.get("roc") for v in site.versions)
    # for-each-ref, cat-file (every file of every version), git log + cat-file (monitoring)
    assert [c[1] for c in calls] == ["for-each-ref", "cat-file", "log", "cat-file"]


def test_cat_files_reads_blobs_and_missing_paths(built: tuple[Path, Path, dict[str, str]]) -> None:
    repo, _, shas = built
    sha = shas["v0.1.0"]
    got = gitobjects.cat_files(repo, [f"{sha}:reports/evaluate/metrics.json", f"{sha}:nope", sha])
    assert json.loads(got[f"{sha}:reports/evaluate/metrics.json"] or b"")["roc_auc"] == 0.90
    assert got[f"{sha}:nope"] is None
    info = gitobjects.parse_commit(sha, got[sha] or b"")
    assert info.subject == f"first model {SCRIPT}" and info.author == "gitml tests"


def _markup(html: str) -> tuple[set[str], list[str]]:
    """The element names and the event-handler attributes of a page, as a browser parses it."""
    from html.parser import HTMLParser

    tags: set[str] = set()
    handlers: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.add(tag)
            handlers.extend(f"{tag} {name}" for name, _ in attrs if name.startswith("on"))

    Parser().feed(html)
    return tags, handlers


def test_hostile_text_is_escaped_in_every_page(built: tuple[Path, Path, dict[str, str]]) -> None:
    _, out, _ = built
    for page in PAGES:
        html = (out / page).read_text()
        tags, handlers = _markup(html)
        assert not tags & {"script", "img", "iframe", "object", "embed", "foreignobject"}, page
        assert handlers == [], page  # no on...= attribute anywhere
        assert "default-src 'none'" in unescape(html)  # the CSP: no script, no request
        assert not re.search(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//""", html), page
    index = (out / "index.html").read_text()
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in index
    version = (out / "versions/v0.2.0.html").read_text()
    assert "&#34;&gt;&lt;img src=x onerror=&#34;document.title=&#39;pwned&#39;&#34;&gt;" in version


def test_svg_with_active_content_is_refused() -> None:
    ns = 'xmlns="http://www.w3.org/2000/svg"'
    for bad in (f"<svg {ns}><script>alert(1)</script></svg>", f'<svg {ns}><g onload="x()"/></svg>',
                f'<svg {ns}><a href="https://example.com"><text>x</text></a></svg>'):  # fmt: skip
        with pytest.raises(DataError, match="active content"):
            charts._vet(bad, "test")
    charts._vet(f"<svg {ns}><g><text>&lt;script&gt;</text></g></svg>", "test")


def test_no_version_yet_builds_an_empty_site(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    run(["git", "commit", "-q", "--allow-empty", "-m", "start"], repo)
    result = build(repo, tmp_path / "out")
    assert (result.versions, result.prod, result.monitoring) == (0, None, False)
    assert "Nothing is in prod yet" in (result.out / "index.html").read_text()
    assert "No monitoring report yet" in (result.out / "monitoring.html").read_text()


def test_out_must_be_new_empty_or_a_previous_site(built: tuple[Path, Path, dict[str, str]]) -> None:
    repo, out, _ = built
    with pytest.raises(ConfigError, match="is not a site `gitml site` wrote"):
        build(repo, repo)  # would delete the repository
    (out / "stale.html").write_text("old")
    again = build(repo, out)  # a previous site is replaced whole
    assert not (again.out / "stale.html").exists() and again.index.is_file()


def test_the_command(built: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    repo, _, _ = built
    proc = subprocess.run(["gitml", "site", "--out", str(tmp_path / "s")], cwd=repo,
                          env=tool_env(), capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "6 pages, 3 versions, prod v0.2.0, monitoring yes" in proc.stdout
    assert (tmp_path / "s" / "versions" / "v0.3.0.html").is_file()


# --------------------------------------------------------------------------- in a browser


def _not_blank(png: bytes) -> float:
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("L")
    hist = img.histogram()
    return 1 - hist[255] / (img.width * img.height)  # share of pixels that are not white


def _check_page(driver: Any, url: str, page: str, origin: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get_log("browser"), browser.requested_urls(driver)  # drop the previous page's
    driver.get(url)
    assert driver.execute_script("return document.readyState") == "complete"
    assert "pwned" not in driver.title, f"{page}: a payload ran"
    assert driver.find_elements(By.TAG_NAME, "script") == []
    assert driver.find_elements(By.TAG_NAME, "img") == []
    for chart in driver.find_elements(By.CSS_SELECTOR, "div.chart"):
        svg = chart.find_element(By.TAG_NAME, "svg")
        assert svg.size["width"] > 100 and svg.size["height"] > 50, page
        marks = svg.find_elements(By.CSS_SELECTOR, "path, rect, line, circle")
        assert len(marks) > 10, f"{page}: an empty chart"
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], f"{page}: console errors {errors}"
    requested = browser.requested_urls(driver, origin)
    assert url in requested, f"{page}: the DevTools log missed the page itself"
    away = [u for u in requested
            if not (u.startswith(origin) or u.startswith("data:"))]  # fmt: skip
    assert away == [], f"{page}: requests left the page's origin"


@pytest.mark.parametrize("serve", ["file", "http"])
def test_pages_in_chromium(
    built: tuple[Path, Path, dict[str, str]], tmp_path: Path, serve: str
) -> None:
    from selenium.webdriver.common.by import By

    repo, out, shas = built
    with browser.chrome(tmp_path / "profile") as driver, browser.http_server(out) as base:
        origin = out.as_uri() + "/" if serve == "file" else base + "/"
        charts_seen = 0
        for page in PAGES:
            _check_page(driver, origin + page, page, origin)
            charts_seen += len(driver.find_elements(By.CSS_SELECTOR, "div.chart svg"))
            text = driver.find_element(By.TAG_NAME, "body").text
            if page == "index.html":
                rows = driver.find_elements(By.CSS_SELECTOR, "#versions tr.version")
                assert [r.get_attribute("data-version") for r in rows] == [
                    "v0.3.0",
                    "v0.2.0",
                    "v0.1.0",
                ]
                prod_rows = [r.get_attribute("data-version") for r in rows
                             if "prod" in (r.get_attribute("class") or "").split()]  # fmt: skip
                assert prod_rows == ["v0.2.0"]
                badges = driver.find_elements(By.CSS_SELECTOR, "#versions [data-prod]")
                assert len(badges) == 1 and badges[0].text == "★ PROD"
                for r in rows:
                    sha = shas[r.get_attribute("data-version") or ""]
                    m = committed(repo, sha, "reports/evaluate/metrics.json")
                    cell = r.find_element(By.CSS_SELECTOR, "[data-metric=roc_auc]").text
                    assert cell == f"{m['roc_auc']:.4f}"
                assert "In prod: v0.2.0" in text
                assert SCRIPT in text and IMG in text  # the rollback reason, as text
            if page.startswith("versions/"):
                version = page.split("/")[1].removesuffix(".html")
                m = committed(repo, shas[version], "reports/evaluate/metrics.json")
                for name in ("roc_auc", "pr_auc", "log_loss", "recall"):
                    cell = driver.find_element(
                        By.CSS_SELECTOR, f"#metrics tr[data-metric={name}] td.value"
                    )
                    assert cell.text == f"{m[name]:.4f}", (page, name)
                assert SCRIPT in text and IMG in text  # slice values and a feature name
                # the three curves: one chart of ROC, PR and calibration
                assert len(driver.find_elements(By.CSS_SELECTOR, "div.chart svg")) == 1
                bars = driver.find_elements(By.CSS_SELECTOR, "#importance span.bar")
                assert len(bars) == 4 and bars[0].size["width"] > 50  # the largest, full width
            if page == "monitoring.html":
                report = monitoring_report()
                cells = driver.find_elements(By.CSS_SELECTOR, "#features tr td:nth-child(6)")
                assert [c.text for c in cells] == [f"{f['psi']:.4f}" for f in
                                                   report["features"]] + ["0.0501"]  # fmt: skip
                assert (
                    "ALARM" in text
                    and len(driver.find_elements(By.CSS_SELECTOR, "div.chart svg")) == 4
                )
            if serve == "file":
                png = browser.full_page_png(driver)
                shot = tmp_path / f"{page.replace('/', '_')}.png"
                shot.write_bytes(png)
                assert _not_blank(png) > 0.02, f"{shot} is blank"
        assert charts_seen == 3 + 4 + 3 * 1
        if serve == "file":  # the checks can fail: a page that calls out is caught
            leak = tmp_path / "leak" / "leak.html"
            leak.parent.mkdir()
            leak.write_text('<link rel="stylesheet" href="http://127.0.0.1:9/x.css"><p>x</p>')
            with pytest.raises(AssertionError, match=r"console errors|left the page's origin"):
                _check_page(driver, leak.as_uri(), "leak.html", leak.parent.as_uri() + "/")
