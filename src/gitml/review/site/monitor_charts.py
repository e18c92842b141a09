"""The monitoring page's charts (Vega-Lite specs, rendered like every chart of the site by
gitml.review.site.charts): PSI per feature, the score distribution, figures over the runs."""

from __future__ import annotations

from typing import Any

from gitml.review.site.charts import alt, base_spec, y_axis


def psi_bars(features: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    rows = [
        {"feature": f["name"], "psi": f.get("psi") or 0.0,
         "state": "alarm" if f.get("alarms") else "no alarm"}
        for f in features
    ]  # fmt: skip
    y = {"field": "feature", "type": "nominal", "sort": "-x", "title": None}
    spec = base_spec(
        {
            "data": {"values": rows},
            "height": max(80, 18 * len(rows)),
            "layer": [
                {
                    "mark": "bar",
                    "encoding": {
                        "y": y,
                        "x": {
                            "field": "psi",
                            "type": "quantitative",
                            "title": "PSI",
                            "axis": {"tickCount": 5},
                        },
                        "color": {
                            "field": "state",
                            "type": "nominal",
                            "title": None,
                            "scale": {
                                "domain": ["alarm", "no alarm"],
                                "range": ["#cf222e", "#0969da"],
                            },
                        },
                    },
                },
                {
                    "data": {"values": [{"t": threshold}]},
                    "mark": {"type": "rule", "strokeDash": [4, 4], "color": "#cf222e"},
                    "encoding": {"x": {"field": "t", "type": "quantitative"}},
                },
            ],
        },
        f"PSI per feature (dashed: the alarm threshold {threshold:g})",
    )
    alt(spec, f"PSI per feature (alarm threshold {threshold:g})", ["feature", "PSI", "alarm"],
        [[r["feature"], r["psi"], r["state"]] for r in rows])  # fmt: skip
    return spec


def shares(entry: dict[str, Any], title: str) -> dict[str, Any]:
    """Reference vs current share per bin (the score distribution)."""
    rows = []
    for i, (r, c) in enumerate(
        zip(entry.get("ref_shares") or [], entry.get("cur_shares") or [], strict=False)
    ):
        rows.append({"bin": i + 1, "share": r or 0.0, "window": "training (reference)"})
        rows.append({"bin": i + 1, "share": c or 0.0, "window": "monitoring window"})
    spec = base_spec(
        {
            "data": {"values": rows},
            "mark": "bar",
            "encoding": {
                "x": {"field": "bin", "type": "ordinal", "title": "score bin (low → high)"},
                "xOffset": {"field": "window"},
                "y": {"field": "share", "type": "quantitative", "title": "share of rows"},
                "color": {
                    "field": "window",
                    "type": "nominal",
                    "title": None,
                    "scale": {
                        "domain": ["training (reference)", "monitoring window"],
                        "range": ["#8c959f", "#0969da"],
                    },
                },
            },
        },
        title,
    )
    ref = {r["bin"]: r["share"] for r in rows if str(r["window"]).startswith("training")}
    cur = {r["bin"]: r["share"] for r in rows if not str(r["window"]).startswith("training")}
    alt(spec, title, ["score bin", "training share", "window share"],
        [[b, ref[b], cur.get(b)] for b in ref])  # fmt: skip
    return spec


def over_time(rows: list[dict[str, Any]], title: str, y_title: str) -> dict[str, Any]:
    """rows: {when (ISO), value, series}: a report's figures over the monitoring runs.

    The x axis is the runs in order, labelled with their 24-hour UTC time: Vega's time axis
    labels hours as "06 AM"/"12 PM" in the renderer's locale, whatever format it is given."""
    rows = [r | {"run": utc(r["when"]).removesuffix(" UTC")} for r in rows]
    runs = sorted(dict.fromkeys(r["run"] for r in rows))
    spec = base_spec(
        {
            "data": {"values": rows},
            "mark": {"type": "line", "point": {"size": 40}},
            "encoding": {
                "x": {"field": "run", "type": "ordinal", "title": "monitoring run (UTC)",
                      "sort": runs, "axis": {"labelAngle": -30, "labelOverlap": "greedy"}},
                "y": y_axis([r["value"] for r in rows], y_title),
                "color": {"field": "series", "type": "nominal", "title": None},
            },
        },
        title,
    )  # fmt: skip
    alt(spec, title, ["monitoring run (UTC)", "series", y_title],
        [[utc(r["when"]), r["series"], r["value"]] for r in rows])  # fmt: skip
    return spec


def utc(when: str) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM UTC' (24-hour), as the pages print times."""
    from datetime import UTC, datetime

    try:
        return datetime.fromisoformat(when).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError):
        return str(when)
