"""Vega-Lite specs for the site's charts, rendered to inline SVG by vl-convert (offline: the
Vega runtime is inside the wheel). Each builder returns a spec; `svg()` renders and vets it."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gitml.errors import DataError

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"  # an identifier, never fetched
WIDTH, HEIGHT = 340, 220
PROD_COLOUR = "#1a7f37"
CONFIG = {
    "font": "sans-serif",  # one generic family: a font list costs vl-convert a lookup per label
    "view": {"stroke": "#d0d7de"},
    "axis": {"labelFontSize": 11, "titleFontSize": 12},
    "legend": {"labelFontSize": 11, "titleFontSize": 12, "orient": "bottom"},
}
THIS, PREVIOUS = "this version", "previous version"


def _spec(body: dict[str, Any], title: str, width: int = WIDTH) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "title": {"text": title, "anchor": "start", "fontSize": 13},
        "width": width,
        "height": HEIGHT,
        "config": CONFIG,
        "background": "white",
        **body,
    }


WORKERS = 4  # vl-convert renders outside the GIL: threads overlap (measured: 4 ≈ 2.8x of 1)


def _key(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True)


def _render(spec_json: str) -> str:
    import vl_convert

    out: str = vl_convert.vegalite_to_svg(json.loads(spec_json))
    _vet(out, hashlib.sha1(spec_json.encode()).hexdigest()[:8])
    return out


class Renderer:
    """SVG for the specs of one build: `prerender` renders them all on a thread pool, then
    `svg` looks them up; identical specs are rendered once. Refuses SVG that could run code:
    it is inlined into the page."""

    def __init__(self) -> None:
        self._done: dict[str, str] = {}

    def prerender(self, specs: list[dict[str, Any]]) -> None:
        keys = [k for k in dict.fromkeys(map(_key, specs)) if k not in self._done]
        if len(keys) < 2:
            return
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            self._done.update(zip(keys, pool.map(_render, keys), strict=True))

    def svg(self, spec: dict[str, Any]) -> str:
        key = _key(spec)
        if key not in self._done:
            self._done[key] = _render(key)
        return self._done[key]


def svg(spec: dict[str, Any]) -> str:
    """One chart as an SVG string (vetted)."""
    return _render(_key(spec))


def _vet(text: str, which: str) -> None:
    """Inline SVG is markup: no script, no foreignObject, no event handler, no external link.
    vl-convert escapes data values in <text>; this checks it instead of trusting it."""
    root = ET.fromstring(text)
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1].lower()
        bad = tag in ("script", "foreignobject", "iframe", "image") or any(
            a.rsplit("}", 1)[-1].lower().startswith("on")
            or (a.endswith("href") and not str(v).startswith("#"))
            for a, v in el.attrib.items()
        )
        if bad:
            raise DataError(
                f"chart {which}: the SVG renderer produced a <{tag}> with active content"
            )


def line_history(
    rows: list[dict[str, Any]], title: str, y_title: str, color: str | None = None
) -> dict[str, Any]:
    """Metric(s) across versions. rows: {version, value, series?, marker?}; the x axis keeps the
    versions in release order."""
    order = list(dict.fromkeys(r["version"] for r in rows))
    x = {"field": "version", "type": "ordinal", "sort": order, "title": "version",
         "axis": {"labelAngle": -40}}  # fmt: skip
    y = {"field": "value", "type": "quantitative", "title": y_title, "scale": {"zero": False}}
    enc: dict[str, Any] = {"x": x, "y": y}
    if color:
        enc["color"] = {"field": color, "type": "nominal", "title": None}
    layers: list[dict[str, Any]] = [
        {"mark": {"type": "line", "point": {"size": 40}}, "encoding": enc},
    ]
    return _spec(
        {"data": {"values": rows}, "layer": layers}, title, width=max(WIDTH, 34 * len(order))
    )


def small_multiples(rows: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """One small line chart per metric (its own y scale): several metrics on one axis hide
    each other when they are equal and flatten each other's changes."""
    order = list(dict.fromkeys(r["version"] for r in rows))
    return {
        "$schema": SCHEMA,
        "title": {"text": title, "anchor": "start", "fontSize": 13},
        "config": CONFIG,
        "background": "white",
        "data": {"values": rows},
        "facet": {"field": "series", "type": "nominal", "title": None,
                  "sort": list(dict.fromkeys(r["series"] for r in rows))},
        "columns": 3,
        "spec": {
            "width": 170,
            "height": 110,
            "mark": {"type": "line", "point": {"size": 30}},
            "encoding": {
                "x": {"field": "version", "type": "ordinal", "sort": order, "title": None,
                      "axis": {"labelAngle": -40}},
                "y": {"field": "value", "type": "quantitative", "title": None,
                      "scale": {"zero": False}, "axis": {"tickCount": 4, "format": ".3f"}},
            },
        },
        "resolve": {"scale": {"y": "independent"}},
    }  # fmt: skip


def primary_history(rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The primary metric per version; each version's point says what happened to it in the
    registry (promoted, rolled back to, prod now) and the prod version is drawn in green."""
    order = list(dict.fromkeys(r["version"] for r in rows))
    x = {"field": "version", "type": "ordinal", "sort": order, "title": "version",
         "axis": {"labelAngle": -40}}  # fmt: skip
    y = {"field": "value", "type": "quantitative", "title": metric, "scale": {"zero": False}}
    status_scale = {
        "domain": ["in prod now", "was in prod", "never in prod"],
        "range": [PROD_COLOUR, "#0969da", "#8c959f"],
    }
    layers = [
        {"mark": {"type": "line", "color": "#8c959f"}, "encoding": {"x": x, "y": y}},
        {
            "mark": {"type": "rule", "strokeDash": [3, 3], "color": "#bf8700"},
            "transform": [{"filter": "datum.marker != ''"}],
            "encoding": {"x": x},
        },
        {
            "mark": {"type": "point", "filled": True, "size": 110},
            "encoding": {
                "x": x,
                "y": y,
                "color": {
                    "field": "status",
                    "type": "nominal",
                    "title": "stage prod",
                    "scale": status_scale,
                },
                "tooltip": [
                    {"field": "version"},
                    {"field": "value", "format": ".4f"},
                    {"field": "marker"},
                ],
            },
        },
        {
            "mark": {"type": "text", "dy": -12, "fontSize": 10, "color": "#6e5600"},
            "encoding": {"x": x, "y": y, "text": {"field": "marker"}},
        },
    ]
    return _spec(
        {"data": {"values": rows}, "layer": layers},
        f"{metric} by version (dashed: a prod event; label: what happened)",
        width=max(WIDTH + 120, 40 * len(order)),
    )


def curves(
    series: dict[str, list[dict[str, float]]],
    title: str,
    x_title: str,
    y_title: str,
    diagonal: bool,
) -> dict[str, Any]:
    """Curves of this version and the previous one on one [0, 1] x [0, 1] chart."""
    rows = [
        p | {"series": name, "order": i} for name, pts in series.items() for i, p in enumerate(pts)
    ]
    domain = list(series)
    scale = {"domain": domain, "range": ["#0969da", "#bf8700"][: len(domain)]}
    colour = {"field": "series", "type": "nominal", "title": None, "scale": scale}
    unit = {"domain": [0, 1]}
    layers: list[dict[str, Any]] = []
    if diagonal:
        layers.append(
            {
                "data": {"values": [{"x": 0, "y": 0}, {"x": 1, "y": 1}]},
                "mark": {"type": "line", "strokeDash": [4, 4], "color": "#8c959f"},
                "encoding": {
                    "x": {"field": "x", "type": "quantitative"},
                    "y": {"field": "y", "type": "quantitative"},
                },
            }
        )
    layers.append(
        {
            "data": {"values": rows},
            "mark": {"type": "line", "interpolate": "linear"},
            "encoding": {
                "x": {"field": "x", "type": "quantitative", "title": x_title, "scale": unit},
                "y": {"field": "y", "type": "quantitative", "title": y_title, "scale": unit},
                "color": colour,
                "order": {"field": "order", "type": "quantitative"},
                "strokeDash": {
                    "field": "series",
                    "type": "nominal",
                    "title": None,
                    "scale": {"domain": domain, "range": [[1, 0], [5, 3]][: len(domain)]},
                },
            },
        }
    )
    return _spec({"layer": layers}, title, width=HEIGHT + 60)


def side_by_side(specs: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """Several charts as one (hconcat, one legend): one vl-convert call costs about half of
    three separate ones, and a version page has three curves."""
    inner = [
        {k: v for k, v in s.items() if k not in ("$schema", "config", "background")} for s in specs
    ]
    return {
        "$schema": SCHEMA,
        "title": {"text": title, "anchor": "start", "fontSize": 13},
        "config": CONFIG,
        "background": "white",
        "hconcat": inner,
    }


def psi_bars(features: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    rows = [
        {"feature": f["name"], "psi": f.get("psi") or 0.0,
         "state": "alarm" if f.get("alarms") else "no alarm"}
        for f in features
    ]  # fmt: skip
    y = {"field": "feature", "type": "nominal", "sort": "-x", "title": None}
    return _spec(
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


def shares(entry: dict[str, Any], title: str) -> dict[str, Any]:
    """Reference vs current share per bin (the score distribution)."""
    rows = []
    for i, (r, c) in enumerate(
        zip(entry.get("ref_shares") or [], entry.get("cur_shares") or [], strict=False)
    ):
        rows.append({"bin": i + 1, "share": r or 0.0, "window": "training (reference)"})
        rows.append({"bin": i + 1, "share": c or 0.0, "window": "monitoring window"})
    return _spec(
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


def over_time(rows: list[dict[str, Any]], title: str, y_title: str) -> dict[str, Any]:
    """rows: {when (ISO), value, series}: a report's figures over the monitoring runs."""
    return _spec(
        {
            "data": {"values": rows},
            "mark": {"type": "line", "point": {"size": 40}},
            "encoding": {
                "x": {"field": "when", "type": "temporal", "title": "monitoring run"},
                "y": {
                    "field": "value",
                    "type": "quantitative",
                    "title": y_title,
                    "scale": {"zero": False},
                },
                "color": {"field": "series", "type": "nominal", "title": None},
            },
        },
        title,
    )
