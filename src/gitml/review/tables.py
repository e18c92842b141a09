"""Table cells and the tables of the PR report that differ by task: the confusion matrix
(binary 2 x 2, multiclass K x K) and a multiclass model's precision and recall per class."""

from __future__ import annotations

from typing import Any

from gitml.review.compare import Report


def cell(x: Any, digits: int = 4) -> str:
    """A table cell: a fraction to `digits` places, a count as a whole number (with thousands
    separators from 1,000), '-' when missing. Plain metrics use core.metrics.fmt."""
    if x is None:
        return "-"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:.{digits}f}"
    if isinstance(x, float | int) and not isinstance(x, bool):
        return f"{int(x):,}" if abs(x) >= 1000 else str(int(x))
    return str(x)


def confusion(r: Report) -> list[str]:
    base, head = r.confusion
    if head is None:
        return []
    if "matrix" in head:
        return _confusion_classes(r.base.label, base, head)

    def pair(key: str) -> str:
        h = head.get(key)
        if base is None:
            return cell(h)
        b = base.get(key)
        return cell(h) if b == h else f"{cell(b)} → {cell(h)}"

    return [
        f"Confusion matrix on the test split (`{r.base.label}` → this branch):",
        "",
        "| actual \\ predicted | negative | positive |",
        "|---|---|---|",
        f"| **negative** | {pair('tn')} | {pair('fp')} |",
        f"| **positive** | {pair('fn')} | {pair('tp')} |",
        "",
    ]


def _confusion_classes(label: str, base: dict[str, Any] | None, head: dict[str, Any]) -> list[str]:
    """A multiclass confusion matrix: counts, `base → head` where they differ (same classes)."""
    classes, matrix = head["classes"], head["matrix"]
    same = base is not None and base.get("classes") == classes
    out = [
        f"Confusion matrix on the test split (`{label}` → this branch):",
        "",
        "| actual \\ predicted | " + " | ".join(md_escape(c) for c in classes) + " |",
        "|---" * (len(classes) + 1) + "|",
    ]
    for i, name in enumerate(classes):
        cells = []
        for j, h in enumerate(matrix[i]):
            b = base["matrix"][i][j] if same and base is not None else h
            cells.append(cell(h) if b == h else f"{cell(b)} → {cell(h)}")
        out.append(f"| **{md_escape(name)}** | " + " | ".join(cells) + " |")
    return [*out, ""]


def per_class_md(r: Report, b: str, h: str) -> list[str]:
    if not r.per_class:
        return []
    out = [
        "<details><summary>Precision and recall per class</summary>",
        "",
        f"| class | precision {b} | precision {h} | recall {b} | recall {h} |",
        "|---|---|---|---|---|",
    ]
    for c in r.per_class:
        out.append(
            f"| {md_escape(c.name)} | {cell(c.precision[0])} | {cell(c.precision[1])} | "
            f"{cell(c.recall[0])} | {cell(c.recall[1])} |"
        )
    return [*out, "", "</details>", ""]


def md_escape(text: str) -> str:
    return text.replace("|", "\\|")
