"""The report's curves as charts: Mermaid for the comment, Vega-Lite PNGs for `--images`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gitml.io.files import write_atomic
from gitml.review.compare import GRID, Curve, Report

BLUE, RED = "#1f77b4", "#d62728"


def mermaid(curve: Curve, base_label: str, head_label: str) -> str:
    """One `xychart-beta` block; the x values are GRID (evenly spaced, as Mermaid draws them)."""
    series = [
        (s, c, lbl)
        for s, c, lbl in ((curve.base, BLUE, base_label), (curve.head, RED, head_label))
        if s
    ]
    palette = ", ".join(c for _, c, _ in series)
    legend = ", ".join(f"{'blue' if c == BLUE else 'red'} = {lbl}" for _, c, lbl in series)
    lines = [
        "```mermaid",
        '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "' + palette + '"}}}}%%',
        "xychart-beta",
        f'    title "{curve.title} ({legend})"',
        f'    x-axis "{curve.x_label}" {GRID[0]:g} --> {GRID[-1]:g}',
        f'    y-axis "{curve.y_label}" {curve.y_range[0]:g} --> {curve.y_range[1]:g}',
    ]
    lines += [f"    line [{', '.join(f'{v:g}' for v in s)}]" for s, _, _ in series]
    return "\n".join([*lines, "```"])


def vega_spec(curve: Curve, base_label: str, head_label: str) -> dict[str, Any]:
    values = [
        {"x": float(x), "y": y, "revision": label}
        for series, label in ((curve.base, base_label), (curve.head, head_label))
        if series
        for x, y in zip(GRID, series, strict=True)
    ]
    domain = [lbl for s, lbl in ((curve.base, base_label), (curve.head, head_label)) if s]
    colours = [c for s, c in ((curve.base, BLUE), (curve.head, RED)) if s]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": curve.title,
        "width": 360,
        "height": 300,
        "data": {"values": values},
        "mark": {"type": "line", "interpolate": "linear"},
        "encoding": {
            "x": {
                "field": "x",
                "type": "quantitative",
                "title": curve.x_label,
                "scale": {"domain": [0, 1]},
            },
            "y": {
                "field": "y",
                "type": "quantitative",
                "title": curve.y_label,
                "scale": {"domain": list(curve.y_range)},
            },
            "color": {
                "field": "revision",
                "type": "nominal",
                "scale": {"domain": domain, "range": colours},
            },
        },
    }


def write_images(r: Report, folder: Path) -> dict[str, Path]:
    """PNG of each curve (vl-convert, no browser) for `cml comment create --publish` users."""
    import vl_convert

    written = {}
    for c in r.curves:
        png = vl_convert.vegalite_to_png(vega_spec(c, r.base.label, "this branch"), scale=2)
        path = folder / f"{re.sub(r'[^a-z0-9]+', '_', c.title.lower())}.png"
        write_atomic(path, png)
        written[c.title] = path
    return written
