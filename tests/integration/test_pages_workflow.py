"""pages.yml keeps its promises: triggers, SHA-pinned Pages actions, Pages rights on one job, the
decision notes and the monitoring history fetched."""

from __future__ import annotations

import re

import yaml

from tests.helpers import ROOT

WF = ROOT / ".github" / "workflows" / "pages.yml"


def test_pages_workflow() -> None:
    text = WF.read_text()
    wf = yaml.safe_load(text)
    assert set(wf[True]) == {"workflow_call", "push", "schedule", "workflow_dispatch"}
    assert wf["permissions"] == {}
    jobs = wf["jobs"]
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert jobs["deploy"]["environment"]["name"] == "github-pages"
    writers = [j for j, job in jobs.items() if "write" in (job.get("permissions") or {}).values()]
    assert writers == ["on-default-branch", "deploy"]
    # a tag's run only dispatches this workflow on the default branch (github-pages refuses a
    # tag's run): it may start workflows, nothing else
    assert jobs["on-default-branch"]["permissions"] == {"actions": "write"}
    uses = {s["uses"].split("@")[0]: s["uses"] for job in jobs.values() for s in job["steps"]
            if "uses" in s}  # fmt: skip
    for action in ("actions/upload-pages-artifact", "actions/deploy-pages"):
        assert re.fullmatch(rf"{action}@[0-9a-f]{{40}}", uses[action])
        assert re.search(rf"{re.escape(uses[action])}  # v\d+\.\d+\.\d+", text)  # the version
    build = [s.get("run", "") for s in jobs["build"]["steps"]]
    assert any("gitml site --out _site" in r for r in build)
    assert any("refs/notes/gitml/decisions" in r for r in build)  # checkout fetches no notes
    assert any("reports/monitoring/history/" in r for r in build)
    upload = next(s for s in jobs["build"]["steps"] if "upload-pages-artifact" in s.get("uses", ""))
    assert upload["with"]["path"] == "_site/"
