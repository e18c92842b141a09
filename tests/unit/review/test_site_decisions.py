"""The model site's judgement of registration tags against the decision records, what a
version is compared with, rollback details, and the metric axes (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gitml.review.site import charts
from gitml.review.site.decisions import decision_from
from gitml.review.site.model import Event, Site, Version, use_records

A, B, C = "a" * 40, "b" * 40, "c" * 40


def record(commit: str, outcome: str, version: str | None, prod: str | None,
           email: str = "promote@gitml.invalid", ci: bool = True) -> dict[str, Any]:  # fmt: skip
    return {
        "timestamp": "2026-12-01T10:00:00Z",
        "outcome": outcome,
        "summary": f"{'PROMOTE' if outcome == 'promoted' else 'REFUSE'}: x vs prod {prod}",
        "note": "",
        "candidate": {"ref": "HEAD", "commit": commit, "version": version},
        "prod": {"version": prod, "commit": None},
        "rules": [{"name": "floor:roc_auc", "value": 0.9, "threshold": 0.85,
                   "passed": outcome == "promoted", "detail": "roc_auc is 0.9"}],
        "model": {"path": "models/model.skops", "sha256": "f" * 64},
        "decided_by": {"name": "gitml promote", "email": email},
        "ci": {"run_url": "https://github.com/o/r/actions/runs/7", "workflow": "promote"}
        if ci else None,
    }  # fmt: skip


def version(name: str, commit: str, email: str = "promote@gitml.invalid") -> Version:
    when = datetime(2026, 12, 1, tzinfo=UTC)
    v = Version(name, commit, when, "gitml promote", f"model@{name}: promoted to prod")
    v.registered_email = email
    v.summary = "PROMOTE: roc_auc 0.99; 1/1 rules pass"
    return v


def test_a_tag_is_trusted_only_with_a_record_by_its_tagger() -> None:
    v1, v2, v3 = version("v0.1.0", A), version("v0.2.0", B), version("v0.3.0", C, "m@x")
    v4 = version("v0.4.0", "d" * 40)
    decisions = [
        d
        for d in (
            decision_from(A, record(A, "promoted", "v0.1.0", None)),
            decision_from(B, record(B, "promoted", "v0.2.0", "v0.1.0", ci=False)),
            decision_from(C, record(C, "promoted", "v0.3.0", "v0.2.0")),
            decision_from(C, {"not": "a record"}),
        )
        if d is not None
    ]
    assert len(decisions) == 3
    use_records([v1, v2, v3, v4], decisions)
    assert (v1.provenance, v2.provenance, v3.provenance, v4.provenance) == (
        "ci", "local", "unverified", "unverified",
    )  # fmt: skip
    assert "m@x" in v3.provenance_note and "no decision record" in v4.provenance_note
    assert v1.rules[0].threshold == 0.85  # the record's numbers, not the tag's text
    site = Site(Path(), "roc_auc", 100, [v1, v2, v3, v4], [], decisions=decisions)
    # compared with the prod it was judged against; unverified: the tag's own claim, if any
    assert site.baseline(v2) is v1 and site.baseline(v1) is None
    assert v4.judged_against is None and site.baseline(v4) is v3  # no claim: the one before


def test_a_refusal_is_a_decision_with_its_failed_rules() -> None:
    d = decision_from(B, record(B, "refused", None, "v0.1.0"))
    assert d is not None and d.outcome == "refused" and d.by_ci
    assert [r.name for r in d.failed] == ["floor:roc_auc"] and d.prod_version == "v0.1.0"
    assert d.when == datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_rollback_events_say_from_what_to_what_and_why() -> None:
    message = "rollback: prod model@v0.3.0 -> v0.2.0\n\nreason: canary latency <b>doubled</b>"
    e = Event("rolled back to", "v0.2.0", "prod", "model#prod#7", "Ada", None, B, message)
    assert e.rollback == ("v0.3.0", "v0.2.0") and e.reason == "canary latency <b>doubled</b>"
    plain = Event("promoted", "v0.2.0", "prod", "model#prod#2", "ci", None, B, "x: promoted")
    assert plain.rollback is None and plain.reason == ""


def test_metric_axes_have_distinct_ticks_and_a_minimum_span() -> None:
    for values in ([0.8335, 0.834, 0.8338, 0.8336], [0.9], [0.5, 0.9], [1.2, 1.2001]):
        y = charts.y_axis(values, "m")
        fmt = y["axis"]["format"]
        labels = [format(t, fmt[1:]) for t in y["axis"]["values"]]
        assert len(set(labels)) == len(labels) >= 2, (values, labels)
        lo, hi = y["scale"]["domain"]
        assert lo <= min(values) and hi >= max(values)
        assert hi - lo >= charts.MIN_SPAN  # a 0.001 change does not fill the height


def test_the_github_address_from_the_remote(monkeypatch: Any) -> None:
    from gitml.review.site.decisions import github_url

    monkeypatch.delenv("GITHUB_SERVER_URL", raising=False)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    urls = [
        "git@github.com:acme/income.git",
        "https://github.com/acme/income",
        "https://github.com/acme/income.git",
        "ssh://git@github.com/acme/income.git",
    ]
    for url in urls:
        assert github_url([], url) == "https://github.com/acme/income", url
    assert github_url([], "https://gitlab.com/acme/income.git") is None
    assert github_url([], "") is None
