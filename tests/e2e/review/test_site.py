"""`gitml site` on a repository built from commands: three versions promoted by CI, a rollback
with a reason, a refused candidate, a hand-made (forged) registration tag, and monitoring
reports: what it reads, what it escapes, what it vouches for, and the pages in a real browser
at a desktop and a phone width, in the light and the dark scheme."""

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
from tests.e2e import browser
from tests.e2e.review.site_repo import (
    HOSTILE_FORGER,
    IMG,
    OPS_NAME,
    REPO,
    ROLLBACK_REASON,
    SCRIPT,
    build_repo,
    init_repo,
    monitoring_report,
)
from tests.e2e.review.site_screenshot import DESKTOP, PHONE, emulate
from tests.helpers import run, tool_env

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("promotion")]

VERSIONS = ["v0.1.0", "v0.2.0", "v0.3.0", "v0.4.0"]
PAGES = ["index.html", "history.html", "monitoring.html",
         *[f"versions/{v}.html" for v in VERSIONS]]  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("site")
    repo = init_repo(root / "repo")
    shas = build_repo(repo, forged=True)
    result = build(repo, root / "out")
    assert (result.versions, result.prod, result.monitoring) == (4, "v0.2.0", True)
    return repo, result.out, shas


def committed(repo: Path, sha: str, path: str) -> Any:
    return json.loads(run(["git", "show", f"{sha}:{path}"], repo).stdout)


def test_the_registry_is_what_gto_says(built: tuple[Path, Path, dict[str, str]]) -> None:
    repo, _, shas = built
    site = model.load(repo)
    gto = {v.version: (v.commit, v.stages) for v in registry.list_versions(repo)}
    assert {v.version: (v.commit, v.stages) for v in site.versions} == gto
    assert {v.version: v.commit for v in site.versions} == {
        **{v: shas[v] for v in VERSIONS[:3]}, "v0.4.0": shas["forged"],
    }  # fmt: skip
    assert site.prod is not None and site.prod.version == "v0.2.0"
    kinds = {v.version: [e.kind for e in v.events] for v in site.versions}
    assert kinds == {
        "v0.1.0": ["registered", "promoted", "superseded"],
        "v0.2.0": ["registered", "promoted", "superseded", "rolled back to"],
        "v0.3.0": ["registered", "promoted", "rolled back from"],
        "v0.4.0": ["registered"],
    }
    v3 = site.versions[2]
    assert v3.summary.startswith("PROMOTE: roc_auc 0.9150 vs prod v0.2.0")
    names = [r.name for r in v3.rules]
    assert "max_drop:roc_auc" in names and "slice_floor:gender=Female:recall" in names
    assert f"slice_floor:race={IMG}:recall" in names  # a rule name with spaces and colons
    assert all(r.passed for r in v3.rules) and len(v3.rules) == int(v3.summary.split("/")[1][:2])
    # every version's numbers come from the record CI kept in git, not only the last one's
    for v in site.versions[:3]:
        assert v.provenance == "ci" and v.record is not None, v.version
        assert all(isinstance(r.threshold, int | float) for r in v.rules), v.version
        assert (
            v.record.run_url
            == f"https://github.com/{REPO}/actions/runs/{101 + VERSIONS.index(v.version)}"
        )
    assert site.github == f"https://github.com/{REPO}"
    rollback = next(e for e in site.events if e.kind == "rolled back to")
    assert ROLLBACK_REASON in rollback.message and rollback.reason == ROLLBACK_REASON
    assert rollback.rollback == ("v0.3.0", "v0.2.0") and rollback.who == OPS_NAME
    assert site.versions[2].rolled_back is not None and site.versions[1].rolled_back is None
    assert [h.generated_at[:10] for h in site.monitoring_history] == ["2026-11-29", "2026-11-30"]


def test_refusals_forgeries_and_what_a_version_was_judged_against(
    built: tuple[Path, Path, dict[str, str]],
) -> None:
    repo, _, shas = built
    site = model.load(repo)
    # every decision, refusals included, from the git notes
    assert [(d.outcome, d.version) for d in site.decisions] == [
        ("promoted", "v0.1.0"), ("promoted", "v0.2.0"), ("promoted", "v0.3.0"),
        ("refused", None),
    ]  # fmt: skip
    refused = site.decisions[-1]
    assert refused.commit == shas["refused"] and refused.prod_version == "v0.2.0"
    assert "max_drop:roc_auc" in [r.name for r in refused.failed]
    assert refused.commit_info is not None and refused.commit_info.subject.endswith(SCRIPT)
    # a hand-made tag that claims PROMOTE is not vouched for
    forged = site.version("v0.4.0")
    assert forged is not None and forged.registered_by == HOSTILE_FORGER[0]
    assert forged.summary.startswith("PROMOTE") and forged.provenance == "unverified"
    assert forged.record is None and "no decision record" in forged.provenance_note
    # version pages compare with the prod the gate judged against, not the previous number
    v = {x.version: x for x in site.versions}
    assert site.baseline(v["v0.3.0"]) is v["v0.2.0"] and site.baseline(v["v0.2.0"]) is v["v0.1.0"]
    assert site.baseline(v["v0.1.0"]) is None


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
    assert len(site.versions) == 4 and all(v.files.get("roc") for v in site.versions)
    # for-each-ref, notes list, cat-file (every file of every version and every decision),
    # git log + cat-file (monitoring)
    # the origin remote's URL (for links), git log + cat-file (monitoring)
    assert [c[1] for c in calls] == [
        "for-each-ref", "notes", "cat-file", "config", "log", "cat-file",
    ]  # fmt: skip


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
        # nothing loads from elsewhere; the only external addresses are links (commit, CI run)
        assert not re.search(r"""(?:src|url)\s*[=(]\s*["']?(?:https?:)?//""", html), page
        assert not re.search(r"""<link[^>]*href\s*=\s*["']?(?:https?:)?//""", html), page
        links = re.findall(r'<a href="((?:https?:)?//[^"]*)"', html)
        assert all(u.startswith(f"https://github.com/{REPO}/") for u in links), page
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
    assert "7 pages, 4 versions, prod v0.2.0, monitoring yes" in proc.stdout
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
        assert chart.get_attribute("aria-label"), f"{page}: a chart without a text alternative"
        assert chart.find_elements(By.CSS_SELECTOR, "details.alt table tr td"), page
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
                assert [r.get_attribute("data-version") for r in rows] == VERSIONS[::-1]
                prod_rows = [r.get_attribute("data-version") for r in rows
                             if "prod" in (r.get_attribute("class") or "").split()]  # fmt: skip
                assert prod_rows == ["v0.2.0"]
                badges = driver.find_elements(By.CSS_SELECTOR, "#versions [data-prod]")
                assert len(badges) == 1 and badges[0].text == "★ PROD"
                gate = {
                    r.get_attribute("data-version"): r.find_element(By.CSS_SELECTOR, "[data-gate]")
                    for r in rows
                }
                assert gate["v0.4.0"].get_attribute("data-gate") == "unverified"
                assert "PROMOTE" not in gate["v0.4.0"].text and "UNVERIFIED" in gate["v0.4.0"].text
                assert all(gate[v].get_attribute("data-gate") == "ci" for v in VERSIONS[:3])
                rolled = driver.find_elements(By.CSS_SELECTOR, "#versions [data-rolled-back]")
                assert len(rolled) == 1 and "rolled back" in rolled[0].text
                for r in rows:
                    version = r.get_attribute("data-version") or ""
                    sha = shas[version if version != "v0.4.0" else "forged"]
                    m = committed(repo, sha, "reports/evaluate/metrics.json")
                    cell = r.find_element(By.CSS_SELECTOR, "[data-metric=roc_auc]").text
                    assert cell == f"{m['roc_auc']:.4f}"
                banner = driver.find_element(By.ID, "prod-banner").text
                assert "In prod: v0.2.0" in banner and "rolled back from v0.3.0" in banner
                assert OPS_NAME in banner and ROLLBACK_REASON in banner  # as text
                latest = driver.find_element(By.ID, "latest-decision").text
                assert "REFUSED" in latest and "max_drop:roc_auc" in latest
                refusals = driver.find_elements(
                    By.CSS_SELECTOR, "#decisions tr[data-outcome=refused]"
                )
                assert len(refusals) == 1 and shas["refused"][:8] in refusals[0].text
                assert "max_drop:roc_auc" in refusals[0].text
                assert "v0.4.0" in driver.find_element(By.ID, "unverified").text
                assert HOSTILE_FORGER[0] in text  # the forger's name, as text
                assert SCRIPT in text and IMG in text  # the rollback reason, as text
            if page.startswith("versions/"):
                version = page.split("/")[1].removesuffix(".html")
                sha = shas[version if version != "v0.4.0" else "forged"]
                m = committed(repo, sha, "reports/evaluate/metrics.json")
                for name in ("roc_auc", "pr_auc", "log_loss", "recall"):
                    cell = driver.find_element(
                        By.CSS_SELECTOR, f"#metrics tr[data-metric={name}] td.value"
                    )
                    assert cell.text == f"{m[name]:.4f}", (page, name)
                assert SCRIPT in text and IMG in text  # slice values and a feature name
                # the three curves: ROC, PR and calibration
                assert len(driver.find_elements(By.CSS_SELECTOR, "div.chart svg")) == 3
                bars = driver.find_elements(By.CSS_SELECTOR, "#importance span.bar")
                assert len(bars) == 4 and bars[0].size["width"] > 50  # the largest, full width
                card = (
                    driver.find_element(By.ID, "model-card")
                    .find_element(By.XPATH, "following-sibling::dl")
                    .text
                )
                assert "hist_gradient_boosting" in card and "learning_rate" in card
                assert "capital_gain" in card and "github.com" not in card  # links, not text
                sha_cell = driver.find_element(By.ID, "sha256").text
                assert (len(sha_cell) == 64) == (version != "v0.4.0") or sha_cell == "0" * 64
                compared = driver.find_elements(By.CSS_SELECTOR, "#metrics tr th.num")
                against = {"v0.1.0": None, "v0.2.0": "v0.1.0", "v0.3.0": "v0.2.0"}
                if version in against:
                    heads = [c.text for c in compared]
                    assert heads == ([version] if against[version] is None
                                     else [version, against[version], "change"]), page  # fmt: skip
                if version == "v0.3.0":
                    assert ROLLBACK_REASON in driver.find_element(By.ID, "rolled-back").text
                    run_link = driver.find_element(
                        By.LINK_TEXT, "the CI run that judged and registered it"
                    )
                    assert run_link.get_attribute("href").endswith("/actions/runs/103")
            if page == "monitoring.html":
                report = monitoring_report()
                cells = driver.find_elements(By.CSS_SELECTOR, "#features tr td:nth-child(6)")
                assert [c.text for c in cells] == [f"{f['psi']:.4f}" for f in
                                                   report["features"]] + ["0.0501"]  # fmt: skip
                assert (
                    "ALARM" in text
                    and len(driver.find_elements(By.CSS_SELECTOR, "div.chart svg")) == 4
                )
                est = driver.find_element(
                    By.CSS_SELECTOR, "#estimate-table tr[data-metric=roc_auc] td.value"
                )
                assert est.text == f"{report['estimate']['estimated']['roc_auc']:.4f}"
                assert "estimated roc_auc" in driver.find_element(By.ID, "estimate-alarms").text
                assert "12 of 900 rows" in text and "not computed" not in text
            if serve == "file":
                png = browser.full_page_png(driver)
                shot = tmp_path / f"{page.replace('/', '_')}.png"
                shot.write_bytes(png)
                assert _not_blank(png) > 0.02, f"{shot} is blank"
        assert charts_seen == 3 + 4 + len(VERSIONS) * 3
        if serve == "file":  # the checks can fail: a page that calls out is caught
            leak = tmp_path / "leak" / "leak.html"
            leak.parent.mkdir()
            leak.write_text('<link rel="stylesheet" href="http://127.0.0.1:9/x.css"><p>x</p>')
            with pytest.raises(AssertionError, match=r"console errors|left the page's origin"):
                _check_page(driver, leak.as_uri(), "leak.html", leak.parent.as_uri() + "/")


def _sideways(driver: Any) -> int:
    """How far the page scrolls sideways (0: it fits the viewport)."""
    return int(driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    ))  # fmt: skip


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_a_phone_never_scrolls_sideways(
    built: tuple[Path, Path, dict[str, str]], tmp_path: Path, dark: bool
) -> None:
    """At 390 px every page fits: tables scroll in their own box, charts scale, bars show; in
    the dark scheme (the system setting) the page is dark."""
    from selenium.webdriver.common.by import By

    _, out, _ = built
    with browser.chrome(tmp_path / "profile", DESKTOP, 900) as driver:
        for width in (DESKTOP, PHONE):
            emulate(driver, width, dark)
            for page in PAGES:
                driver.get((out / page).as_uri())
                assert driver.execute_script("return window.innerWidth") == width
                assert _sideways(driver) == 0, f"{page} at {width} px scrolls sideways"
                for table in driver.find_elements(By.CSS_SELECTOR, "main table"):
                    box = table.find_element(By.XPATH, "..")
                    assert "scroll" in (box.get_attribute("class") or ""), f"{page}: a bare table"
                for svg in driver.find_elements(By.CSS_SELECTOR, "div.chart svg"):
                    assert 100 < svg.size["width"] <= width - 24, (page, width)
                for bar in driver.find_elements(By.CSS_SELECTOR, "#importance span.bar")[:1]:
                    assert bar.size["width"] > 20, f"{page}: the importance bars vanished"
                bg = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
                rgb = [int(x) for x in re.findall(r"\d+", bg)[:3]]
                assert (sum(rgb) < 150) == dark, f"{page}: background {bg} (dark={dark})"
            if width == PHONE and not dark:
                shot = browser.full_page_png(driver)
                assert _not_blank(shot) > 0.02


def test_a_clone_without_the_notes_says_so_instead_of_crying_forgery(
    built: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, _, _ = built
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)  # tags, but no notes
    site = model.load(clone)
    assert site.decisions == [] and {v.provenance for v in site.versions} == {"no-records"}
    html = (build(clone, tmp_path / "out").out / "index.html").read_text()
    assert 'id="no-records"' in html and 'data-gate="unverified"' not in html
    assert 'data-gate="ci"' not in html  # nothing is vouched for either


def test_monitoring_json_is_read_through_its_contract(tmp_path: Path) -> None:
    """The site reads monitoring.json as gitml.contracts.monitoring.MonitoringReport: an
    earlier report that does not fit (an older gitml's) is left out of the history charts; the
    current one that does not fit is an error naming the key."""
    from gitml.contracts.monitoring import MonitoringReport
    from gitml.errors import DataError
    from gitml.review.site.monitoring import MONITORING, load_monitoring
    from tests.unit.registry.gitrepo import commit, init_repo

    repo = init_repo(tmp_path / "repo")
    old = {k: v for k, v in monitoring_report(day=28).items() if k != "reference"}
    commit(repo, {MONITORING.as_posix(): old})
    commit(repo, {MONITORING.as_posix(): monitoring_report(day=29)})
    (repo / MONITORING).write_text(json.dumps(monitoring_report(day=30)))
    report, source, history = load_monitoring(repo, None)
    assert isinstance(report, MonitoringReport) and source.endswith("(workspace)")
    assert [h.generated_at[:10] for h in history] == ["2026-11-29", "2026-11-30"]
    (repo / MONITORING).write_text(json.dumps(old))
    with pytest.raises(DataError, match=r"monitoring\.json \(workspace\): .*\(reference: field"):
        load_monitoring(repo, None)
