"""Render a Report: GitHub-flavoured Markdown (with Mermaid charts), a rich terminal view, PNGs.

Markdown is written by hand: it is a handful of tables and the Mermaid `xychart-beta` text, and
GitHub renders both natively, so a private repository's report needs no image host.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gitml.review.charts import mermaid
from gitml.review.compare import ABSENT, MetricRow, Report
from gitml.review.tables import cell as _cell
from gitml.review.tables import confusion as _confusion
from gitml.review.tables import md_escape as _md_escape
from gitml.review.tables import per_class_md as _per_class_md

BLUE, RED = "#1f77b4", "#d62728"
SLICE_LABELS = {"roc_auc": "ROC-AUC"}  # the other slice metrics show their names


def recent_markdown(section: dict[str, Any] | None, head: str) -> list[str]:
    from gitml.review.recent import markdown as recent_md

    return recent_md(section, head)


def _delta(row: MetricRow) -> str:
    d = row.delta
    if d is None:
        return ""
    if row.change == "unchanged":
        return "="
    sign = "▲" if d > 0 else "▼"
    text = f"{d:+.4f}" if row.name not in ("rows", "validated rows", "test rows") else f"{d:+.0f}"
    return f"{sign} {text}"


def _value(v: Any) -> str:
    if v is ABSENT:
        return "(absent)"
    return f"`{v if isinstance(v, str) else json.dumps(v)}`"


def verdict_line(r: Report) -> str:
    p = r.primary_row
    base = r.base.label
    if r.verdict == "new":
        text = (
            f"**New:** {r.primary} {_cell(p.head)} — `{base}` has no pipeline run yet "
            f"(no dvc.lock or test metrics), so this report shows this branch only."
        )
    elif r.verdict == "other_task":
        text = (
            f"**New task:** {r.primary} {_cell(p.head)} — `{base}` holds a {r.base.task} model, "
            f"whose metrics a {r.head.task} model does not have, so this report shows this "
            "branch only."
        )
    elif r.verdict == "unknown":
        text = f"**No verdict:** {r.primary} is missing from the metrics of one side."
    else:
        word = {"better": "▲ better", "worse": "▼ worse", "unchanged": "= unchanged"}[r.verdict]
        text = (
            f"**{word}** on {r.primary}: {_cell(p.head)} vs {_cell(p.base)} on `{base}` "
            f"({p.delta:+.4f})."
        )
    if r.gate is not None:
        mark = {True: "✅", False: "❌", None: "⚠️"}[r.gate_passed]
        text += f"  \n**Promotion gate** (vs the model in prod): {mark} {r.gate}"
    return text


def _stale_block(r: Report) -> list[str]:
    if not r.stale:
        return []
    lines = [
        "> [!WARNING]",
        f"> **dvc.lock is stale** at `{r.stale_rev}`: it was committed without rerunning "
        f"{len(r.stale)} stage(s) whose code or params changed. The numbers below come from "
        "this run's `dvc repro`, not from what is committed.",
        ">",
    ]
    lines += [f"> - `{s.name}`: {', '.join(s.reasons)}" for s in r.stale]
    lines += [
        ">",
        "> Run `dvc repro`, commit `dvc.lock` and the reports; this check fails until then.",
    ]
    return [*lines, ""]


def _verify_block(r: Report) -> list[str]:
    """`gitml verify`'s answer: what CI rebuilt that the commit does not match."""
    v = r.verify
    if not v:
        return []
    beyond, within, outs = v["beyond_tolerance"], v["within_tolerance"], v["outputs_differ"]
    lines = ["### Outputs CI could not reproduce", ""]
    if not (beyond or within or outs):
        return [*lines, f"None: {v['summary']}.", ""]
    mark = "❌" if beyond else "✅"
    lines += [
        f"{mark} {v['summary']} (`{str(v['commit'])[:12]}`). "
        + (
            "The committed numbers are not what CI reproduced: this check fails."
            if beyond
            else "Differences within the tolerance are the last bits of another machine."
        ),
        "",
    ]
    if beyond or within:
        lines += [
            f"| number | committed | CI | difference | within {v['tolerance']:g} |",
            "|---|---|---|---|---|",
        ]
        for m in (beyond + within)[:20]:
            d = "n/a" if m["difference"] is None else f"{m['difference']:.3g}"
            lines.append(
                f"| `{Path(m['file']).name}:{m['key']}` | {m['committed']} | {m['reproduced']} "
                f"| {d} | {'yes' if m['within'] else '**NO**'} |"
            )
        if len(beyond) + len(within) > 20:
            lines.append(f"| … {len(beyond) + len(within) - 20} more in reports/verify.json |||||")
        lines.append("")
    if outs:
        lines += [
            "Outputs whose md5 differs from the committed `dvc.lock`: "
            + ", ".join(f"`{o['path']}`" for o in outs),
            "",
        ]
    return lines


def markdown(r: Report) -> str:
    b, h = f"`{r.base.label}`", "this branch"
    out = [f"## gitml report: `{r.head_label}` vs `{r.base.label}`", "", verdict_line(r), ""]
    if r.warnings:
        out += ["### ⚠️ Too good to be true?", ""]
        out += [f"- {_md_escape(w)}" for w in r.warnings] + [""]
    out += _stale_block(r)
    out += _verify_block(r)
    out += _params_md(r, b, h)
    out += _metrics_md(r, b, h)
    out += recent_markdown(r.recent, h)
    out += _slices_md(r, b, h)
    out += _data_md(r, b, h)
    out += _plots_md(r)
    out += _footer_md(r)
    return "\n".join(out)


def _params_md(r: Report, b: str, h: str) -> list[str]:
    out = ["### Params changed", ""]
    if r.params:
        out += [f"| param | {b} | {h} |", "|---|---|---|"]
        out += [
            f"| `{k}` | {_md_escape(_value(bv))} | {_md_escape(_value(hv))} |"
            for k, bv, hv in r.params
        ]
    else:
        out.append("No param changed.")
    return [*out, ""]


def _metrics_md(r: Report, b: str, h: str) -> list[str]:
    out = ["### Metrics (test split)", ""]
    bm, hm = r.model
    if bm or hm:
        out += [
            f"Model family: `{bm}` → `{hm}`" if bm and bm != hm else f"Model family: `{hm}`",
            "",
        ]
    out += [f"| metric | {b} | {h} | Δ | |", "|---|---|---|---|---|"]
    for m in r.metrics:
        name = f"**{m.name}**" if m.name == r.primary else m.name
        out.append(f"| {name} | {_cell(m.base)} | {_cell(m.head)} | {_delta(m)} | {m.change} |")
    return [*out, "", *_per_class_md(r, b, h)]


def _slices_md(r: Report, b: str, h: str) -> list[str]:
    if not (r.gaps or r.slices):
        return []
    out = ["### Slices", ""]
    if r.gaps:
        out += [
            f"Largest gap between slices ({_ranked_slices(r)}):",
            "",
            f"| column | metric | {b} | {h} | lowest → highest | |",
            "|---|---|---|---|---|---|",
        ]
        for g in r.gaps:
            flag = "⚠️ widened" if g.widened else ""
            out.append(
                f"| {g.column} | {g.metric} | {_cell(g.base)} | {_cell(g.head)} | "
                f"{_md_escape(g.head_between)} | {flag} |"
            )
        out.append("")
    names = r.slice_metrics
    heads = "".join(f" {SLICE_LABELS.get(n, n)} {side} |" for n in names for side in (b, h))
    out += [
        "<details><summary>Metrics per slice</summary>",
        "",
        f"| column | value | rows |{heads}",
        "|---|---|---" + "|---" * 2 * len(names) + "|",
    ]
    for s in r.slices:
        rows = (
            _cell(s.rows[1])
            if s.rows[0] in (None, s.rows[1])
            else f"{_cell(s.rows[0])} → {_cell(s.rows[1])}"
        )
        cells = "".join(f" {_cell(v)} |" for n in names for v in s.values[n])
        out.append(f"| {s.column} | {_md_escape(s.value)} | {rows} |{cells}")
    return [*out, "", "</details>", ""]


def _ranked_slices(r: Report) -> str:
    """Which slices evaluate ranks (gitml.pipeline.evaluate*), in the task's words."""
    task = r.head.task
    if task == "multiclass":
        return "enough rows, every class"
    return "enough rows" if task == "regression" else "enough rows, both classes"


def _data_md(r: Report, b: str, h: str) -> list[str]:
    out = ["### Data", "", f"| | {b} | {h} |", "|---|---|---|"]
    out += [f"| {d.name} | {_cell(d.base)} | {_cell(d.head)} |" for d in r.data]
    out += [f"| validation | {_cell(r.validation[0])} | {_cell(r.validation[1])} |", ""]
    if r.hashes:
        stages = list(dict.fromkeys(c.stage for c in r.hashes))
        out += [
            f"<details><summary>{len(r.hashes)} output(s) changed content in "
            f"{', '.join(stages)} (md5 in dvc.lock)</summary>",
            "",
            f"| stage | output | {b} | {h} |",
            "|---|---|---|---|",
        ]
        out += [
            f"| {c.stage} | `{c.path}` | {(c.base or 'absent')[:8]} | {(c.head or 'absent')[:8]} |"
            for c in r.hashes
        ]
        out += ["", "</details>"]
    else:
        out.append("No output changed (dvc.lock records the same hashes).")
    return [*out, ""]


def _plots_md(r: Report) -> list[str]:
    if not (r.curves or r.confusion[1]):
        return []
    out = ["### Plots", ""]
    for c in r.curves:
        out += [mermaid(c, r.base.label, "this branch"), ""]
        image = r.images.get(c.title)
        if image is not None:
            out += [f"![{c.title}]({image.as_posix()})", ""]
    return out + _confusion(r)


def _footer_md(r: Report) -> list[str]:
    foot = [f"base `{r.base.label}` ({r.base.short})"]
    foot.append(
        f"head `{r.head_label}` ({r.head.short})"
        if r.head.commit
        else f"head `{r.head_label}` (workspace)"
    )
    if r.run_url:
        foot.append(f"[CI run]({r.run_url})")
    foot.append(
        "stages rerun: "
        + (", ".join(f"`{s}`" for s in r.changed_stages) if r.changed_stages else "none")
    )
    if r.stale is not None:
        foot.append("dvc.lock: " + ("stale" if r.stale else "up to date"))
    elif r.stale_error:
        foot.append(f"dvc.lock not checked: {r.stale_error}")
    return ["---", "<sub>" + " · ".join(foot) + " · made by `gitml report`</sub>", ""]


# --------------------------------------------------------------------------- terminal


def terminal(r: Report, console: Any) -> None:
    from rich.markdown import Markdown

    console.print(Markdown(verdict_line(r)))
    for w in r.warnings:
        console.print(f"[bold yellow]{w}[/]", highlight=False)
    if r.stale:
        console.print(f"[bold yellow]dvc.lock is stale at {r.stale_rev}:[/]")
        for s in r.stale:
            console.print(f"  - {s.line()}", markup=False, highlight=False)
    if r.verify:
        console.print(Markdown("\n".join(_verify_block(r))))
    for table in _tables(r):
        console.print(table)
    console.print(
        f"stages rerun: {', '.join(r.changed_stages) or 'none'}  ·  "
        "plots: `gitml report --format markdown`",
        markup=False,
        highlight=False,
    )


def _tables(r: Report) -> list[Any]:
    """The terminal's tables: params changed (if any), test metrics, slice gaps (if any), data."""
    from rich.table import Table

    b, h = r.base.label, r.head_label
    tables = []
    if r.params:
        t = Table(title="params changed")
        for col in ("param", b, h):
            t.add_column(col)
        for k, bv, hv in r.params:
            t.add_row(k, _value(bv).strip("`"), _value(hv).strip("`"))
        tables.append(t)
    t = Table(title="test metrics")
    for col in ("metric", b, h, "Δ", ""):
        t.add_column(col, justify="left" if col in ("metric", "") else "right")
    for m in r.metrics:
        style = {"better": "green", "worse": "red"}.get(m.change, "")
        t.add_row(m.name, _cell(m.base), _cell(m.head), _delta(m), m.change, style=style)
    tables.append(t)
    if r.gaps:
        t = Table(title="largest slice gaps")
        for col in ("column", "metric", b, h, "lowest → highest", ""):
            t.add_column(col)
        for g in r.gaps:
            t.add_row(
                g.column, g.metric, _cell(g.base), _cell(g.head), g.head_between,
                "widened" if g.widened else "",
            )  # fmt: skip
        tables.append(t)
    t = Table(title="data")
    for col in ("", b, h):
        t.add_column(col)
    for d in r.data:
        t.add_row(d.name, _cell(d.base), _cell(d.head))
    t.add_row("validation", _cell(r.validation[0]), _cell(r.validation[1]))
    for c in r.hashes:
        t.add_row(f"{c.stage}: {c.path}", (c.base or "absent")[:8], (c.head or "absent")[:8])
    tables.append(t)
    return tables


# --------------------------------------------------------------------------- images
