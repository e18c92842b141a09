"""Vega-Lite specs for the site's charts, rendered to inline SVG by vl-convert (offline: the
Vega runtime is inside the wheel). Each builder returns a spec; `svg()` renders and vets it.

Every spec carries its values as a table in `usermeta.alt` (Vega-Lite ignores usermeta): the
pages print it beside the chart, as the chart's text alternative and for exact numbers. Metric
axes get an explicit domain of at least MIN_SPAN and ticks on a 1-2-5 step with as many decimals
as the step needs: Vega's own "nice" ticks on a 0.001-wide range repeat labels once formatted,
and a tiny change would fill the whole height.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gitml.core.metrics import LOWER_IS_BETTER
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
THIS, PREVIOUS = "this version", "compared with"
MIN_SPAN = 0.02  # the y range of a metric chart: a 0.001 change is 5% of the height, not all


def alt(spec: dict[str, Any], caption: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Attach the chart's values as a table (its text alternative) to the spec."""
    spec["usermeta"] = {"alt": {"caption": caption, "columns": columns, "rows": rows}}


def y_axis(values: list[float], title: str, min_span: float = MIN_SPAN) -> dict[str, Any]:
    """A quantitative y encoding over `values` with an explicit domain and distinct ticks."""
    import math

    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = max(hi - lo, min_span)
    mid = (lo + hi) / 2
    lo, hi = mid - span * 0.6, mid + span * 0.6
    raw = (hi - lo) / 4
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start, end = math.floor(lo / step) * step, math.ceil(hi / step) * step
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    ticks = [round(start + i * step, decimals + 2) for i in range(round((end - start) / step) + 1)]
    return {
        "field": "value", "type": "quantitative", "title": title,
        "scale": {"domain": [ticks[0], ticks[-1]], "zero": False, "nice": False},
        "axis": {"values": ticks, "format": f".{decimals}f"},
    }  # fmt: skip


def base_spec(body: dict[str, Any], title: str, width: int = WIDTH) -> dict[str, Any]:
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
    y = y_axis([r["value"] for r in rows], y_title)
    enc: dict[str, Any] = {"x": x, "y": y}
    if color:
        enc["color"] = {"field": color, "type": "nominal", "title": None}
    layers: list[dict[str, Any]] = [
        {"mark": {"type": "line", "point": {"size": 40}}, "encoding": enc},
    ]
    spec = base_spec(
        {"data": {"values": rows}, "layer": layers}, title, width=max(WIDTH, 34 * len(order))
    )
    alt(spec, title, ["version", color or "series", y_title],
        [[r["version"], r.get(color or "series", ""), r["value"]] for r in rows])  # fmt: skip
    return spec


def small_multiples(rows: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """One small line chart per metric (its own y scale and ticks): several metrics on one
    axis hide each other when they are equal and flatten each other's changes."""
    order = list(dict.fromkeys(r["version"] for r in rows))
    names = list(dict.fromkeys(r["series"] for r in rows))
    panels = []
    for name in names:
        mine = [r for r in rows if r["series"] == name]
        panels.append(
            {
                "title": {"text": name, "fontSize": 12},
                "data": {"values": mine},
                "width": 170,
                "height": 110,
                "mark": {"type": "line", "point": {"size": 30}},
                "encoding": {
                    "x": {
                        "field": "version",
                        "type": "ordinal",
                        "sort": order,
                        "title": None,
                        "axis": {"labelAngle": -40},
                    },
                    "y": y_axis([r["value"] for r in mine], "") | {"title": None},
                },
            }
        )
    spec = {
        "$schema": SCHEMA,
        "title": {"text": title, "anchor": "start", "fontSize": 13},
        "config": CONFIG,
        "background": "white",
        "concat": panels,
        "columns": 3,
    }  # fmt: skip
    alt(spec, title, ["version", *names],
        [[v, *[next((r["value"] for r in rows if r["version"] == v and r["series"] == n), None)
               for n in names]] for v in order])  # fmt: skip
    return spec


def primary_history(rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The primary metric per version; each version's point says what happened to it in the
    registry (promoted, rolled back to, prod now) and the prod version is drawn in green."""
    order = list(dict.fromkeys(r["version"] for r in rows))
    x = {"field": "version", "type": "ordinal", "sort": order, "title": "version",
         "axis": {"labelAngle": -40}}  # fmt: skip
    y = y_axis([r["value"] for r in rows], metric)
    status_scale = {
        "domain": ["in prod now", "was in prod", "rolled back", "never in prod"],
        "range": [PROD_COLOUR, "#0969da", "#cf222e", "#8c959f"],
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
            },
        },
        {
            "mark": {"type": "text", "dy": -12, "fontSize": 10, "color": "#6e5600"},
            "encoding": {"x": x, "y": y, "text": {"field": "marker"}},
        },
    ]
    lower = " (lower is better)" if metric in LOWER_IS_BETTER else ""
    title = f"{metric}{lower} by version (dashed: a prod event; label: what happened)"
    spec = base_spec(
        {"data": {"values": rows}, "layer": layers}, title, width=max(WIDTH + 120, 40 * len(order))
    )
    alt(spec, title, ["version", metric, "stage prod", "what happened"],
        [[r["version"], r["value"], r["status"], r["marker"]] for r in rows])  # fmt: skip
    return spec


def curves(
    series: dict[str, list[dict[str, float]]],
    title: str,
    x_title: str,
    y_title: str,
    diagonal: bool,
    span: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Curves of this version and the previous one on one [0, 1] x [0, 1] chart (`span` x
    `span` for a regression model's predicted-versus-actual curve, in the target's units)."""
    rows = [
        p | {"series": name, "order": i} for name, pts in series.items() for i, p in enumerate(pts)
    ]
    domain = list(series)
    scale = {"domain": domain, "range": ["#0969da", "#bf8700"][: len(domain)]}
    colour = {"field": "series", "type": "nominal", "title": None, "scale": scale}
    lo, hi = span or (0, 1)
    unit = {"domain": [lo, hi]}
    layers: list[dict[str, Any]] = []
    if diagonal:
        layers.append(
            {
                "data": {"values": [{"x": lo, "y": lo}, {"x": hi, "y": hi}]},
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
    spec = base_spec({"layer": layers}, title, width=HEIGHT + 60)
    alt(spec, title, ["series", x_title, y_title],
        [[name, p["x"], p["y"]] for name, pts in series.items() for p in pts[::5]])  # fmt: skip
    return spec
