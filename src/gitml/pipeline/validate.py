"""Stage 2 — validate: the reviewed pandera schema plus data-quality thresholds from params.

On failure every violation is reported (column, rule, count, up to 5 example rows), the report
is written, and the validated data is NOT written, so nothing downstream can run on bad data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

from gitml.config import DataConfig, SplitConfig, ValidateConfig
from gitml.core import labels as labels_mod
from gitml.core import schema as schema_mod
from gitml.core.names import normalise_name
from gitml.core.tasks import Task
from gitml.io.files import write_json, write_parquet
from gitml.pipeline import leakage as leakage_mod
from gitml.pipeline import production, target_rules
from gitml.pipeline import split as split_mod

MAX_EXAMPLES = 5
MAX_RULE_CHARS = 100  # `isin([...41 countries...])` is unreadable; the schema file has the list
# Failures of the whole table: pandera names the schema as their column and the column as the
# failure case. These hints say what the rule means.
TABLE_RULES = {
    "column_in_schema": "a column the schema does not declare (strict): add it to the schema, "
    "or to data.drop_columns",
    "column_in_dataframe": "a column the schema requires is missing from the data",
}
RULE_HINTS = {  # by prefix of the pandera check name
    "dtype(": "values that cannot be read as this type",
    "not_nullable": "missing values in a column the schema says is never missing",
    "in_range(": "values outside the reviewed range",
    "isin(": "values not in the reviewed list",
}


@dataclass
class Violation:
    column: str
    rule: str
    count: int
    examples: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "rule": self.rule,
            "count": self.count,
            "examples": self.examples,
        }


@dataclass
class ValidationResult:
    passed: bool
    rows: int
    columns: int
    violations: list[Violation]
    quality: dict[str, Any]
    leakage: leakage_mod.LeakageResult | None = None
    leakage_skipped: str | None = None
    # production rows (data.extra_sources) equal to a test-split row: the split leaves them out
    test_overlap: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        leak: dict[str, Any] = (
            self.leakage.as_dict()
            if self.leakage is not None
            else {"checked": False, "reason": self.leakage_skipped}
        )
        return {
            "passed": self.passed,
            "rows": self.rows,
            "columns": self.columns,
            "violations": [v.as_dict() for v in self.violations],
            "n_violations": len(self.violations),
            "quality": self.quality,
            "leakage": leak,
            "test_overlap": self.test_overlap,
        }


def run(
    data_cfg: DataConfig,
    cfg: ValidateConfig,
    ingested: pd.DataFrame,
    report_path: Path,
    out: Path,
    split_cfg: SplitConfig | None = None,
    folds: tuple[int, int] = (3, 42),
) -> ValidationResult:
    """`folds`: tune's (cv_folds, seed), so the leakage guard scores on tune's folds."""
    result = check(ingested, data_cfg, cfg, schema_mod.load(cfg.schema_file), split_cfg, folds)
    write_json(report_path, result.as_dict())
    if result.passed:
        write_parquet(out, ingested)
    else:
        out.unlink(missing_ok=True)  # never leave a stale "validated" file behind
    return result


def check(
    df: pd.DataFrame,
    data_cfg: DataConfig,
    cfg: ValidateConfig,
    schema: pa.DataFrameSchema,
    split_cfg: SplitConfig | None = None,
    folds: tuple[int, int] = (3, 42),
) -> ValidationResult:
    # A column the params drop is not in the data any more: the schema's entry does not apply
    # (no need to redraft a reviewed schema after adding a column to data.drop_columns).
    dropped = {normalise_name(c) for c in data_cfg.drop_columns} & set(schema.columns)
    if dropped:
        schema = schema.remove_columns(sorted(dropped))
    violations = _schema_violations(df, schema)
    # a time or group column is how rows are split, not a category: many values are expected
    exempt = (
        {c for c in (split_cfg.time_column, split_cfg.group_column) if c} if split_cfg else set()
    )
    quality, more = _quality(df, data_cfg, cfg, exempt)
    violations += more
    result = ValidationResult(not violations, len(df), df.shape[1], violations, quality)
    if violations:  # the guard needs a clean two-class target and a table the split accepts
        result.leakage_skipped = "the data failed the checks above; fix them first"
        return result
    leak = leakage_mod.scan(df, data_cfg, split_cfg or SplitConfig(), cfg.leakage, *folds)
    result.leakage = leak
    result.test_overlap = test_overlap(df, data_cfg, split_cfg or SplitConfig()).as_dict()
    if cfg.leakage.mode == "error":
        for flag in leak.flags:
            result.violations.append(
                Violation(
                    flag.column, f"leakage:{flag.kind}: {leakage_mod.describe(flag)}", len(df)
                )
            )
        result.passed = not result.violations
    return result


def test_overlap(
    df: pd.DataFrame, data_cfg: DataConfig, split_cfg: SplitConfig, root: Path = Path()
) -> production.Overlap:
    """The production rows (data.extra_sources) whose model inputs equal a row of the test
    split the split stage will make: it leaves them out of training and of the recent slice."""
    if not data_cfg.extra_sources:
        return production.Overlap()
    _, test = split_mod.split(df, data_cfg, split_cfg)
    rows = production.load(data_cfg.extra_sources, list(df.columns), root)
    columns = production.inputs(
        test.columns, normalise_name(data_cfg.target), split_mod.split_columns(split_cfg)
    )
    mask = production.equal_to_test(rows, test, columns)
    return production.overlap(rows, mask)


def _examples(df: pd.DataFrame, rows: list[Any], column: str | None = None) -> list[dict[str, Any]]:
    """Up to MAX_EXAMPLES rows: the offending column's value, or the whole row for table rules.

    `row` is the 0-based data row (a CSV's line number is row + 2)."""
    picked = [r for r in rows if r in df.index][:MAX_EXAMPLES]
    out = []
    for r in picked:
        row = df.loc[r, [column]] if column in df.columns else df.loc[r]
        out.append({"row": int(r), **{str(k): _plain(v) for k, v in row.items()}})
    return out


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value if isinstance(value, int | float | bool) else str(value)


def _schema_violations(df: pd.DataFrame, schema: pa.DataFrameSchema) -> list[Violation]:
    try:
        schema.validate(df, lazy=True)
        return []
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    # A value of the wrong type fails both the coercion and the dtype check: one rule, `dtype`.
    cases = cases.assign(
        rule=cases["check"].astype(str).str.replace(r"^coerce_dtype\(", "dtype(", regex=True)
    )
    wrong_type = set(cases.loc[cases["rule"].str.startswith("dtype("), "column"])
    out = []
    for (column, rule), group in cases.groupby(["column", "rule"], dropna=False, sort=True):
        if rule in TABLE_RULES:  # `column` is the schema's name; the failure case is the column
            out += [
                Violation(str(name), f"schema:{rule} ({TABLE_RULES[rule]})", len(df))
                for name in group["failure_case"]
            ]
            continue
        rows = sorted({int(i) for i in group["index"] if i is not None and not pd.isna(i)})
        if column in wrong_type and not rule.startswith("dtype(") and not rows:
            continue  # a value check that crashed on the wrong type: the dtype rule says it all
        # other whole-table rules also carry the schema's name where a column's would be
        table = pd.isna(column) or (column == schema.name and column not in df.columns)
        name = "(table)" if table else str(column)
        examples = _examples(df, rows, name)
        if not examples:  # no row to point at (e.g. a whole-column dtype): show the failure case
            examples = [{"failure_case": _plain(v)} for v in group["failure_case"][:MAX_EXAMPLES]]
        if len(rule) > MAX_RULE_CHARS:
            rule = rule[: rule.find("(")] + "(…)"  # e.g. isin(41 countries): see the schema
        hint = next((h for p, h in RULE_HINTS.items() if rule.startswith(p)), None)
        rule = f"schema:{rule}" + (f" ({hint})" if hint else "")
        out.append(Violation(name, rule, len(rows) or len(group), examples))
    return out


def _quality(
    df: pd.DataFrame, data_cfg: DataConfig, cfg: ValidateConfig, exempt: set[str] | None = None
) -> tuple[dict[str, Any], list[Violation]]:
    skip = {normalise_name(c) for c in exempt or ()}
    target = normalise_name(data_cfg.target)
    violations: list[Violation] = []
    n = len(df)
    if n < cfg.min_rows:
        violations.append(Violation("(table)", f"min_rows: {n} < {cfg.min_rows}", n))
    dup_mask = df.duplicated(keep="first")
    dup_rate = float(dup_mask.mean()) if n else 0.0
    if dup_rate > cfg.max_duplicate_rate:
        rows = df.index[dup_mask].tolist()
        violations.append(
            Violation(
                "(table)",
                f"max_duplicate_rate: {dup_rate:.4f} > {cfg.max_duplicate_rate}",
                int(dup_mask.sum()),
                _examples(df, rows),
            )
        )
    missing = {c: float(df[c].isna().mean()) for c in df.columns}
    violations += _missing(df, missing, cfg.max_missing_rate)
    violations += _categories(df, {target, *skip}, cfg.max_categories)
    quality: dict[str, Any] = {
        "duplicate_rate": round(dup_rate, 6),
        "missing_rate": {c: round(r, 6) for c, r in missing.items() if r > 0},
    }
    if data_cfg.task is not Task.BINARY and target in df.columns:
        if data_cfg.task is Task.MULTICLASS:
            problems, more_quality = target_rules.multiclass(df[target], cfg.min_minority_rate)
        else:
            problems, more_quality = target_rules.regression(df[target])
        violations += [
            Violation(target, p.rule, p.count, _examples(df, p.rows, target)) for p in problems
        ]
        return {**quality, **more_quality}, violations
    labels = df[target].value_counts(dropna=True) if target in df.columns else pd.Series()
    positive_rate = None
    if target in df.columns:
        found, positive_rate = _target(df, target, labels, data_cfg.positive, cfg)
        violations += found
    quality["positive_rate"] = None if positive_rate is None else round(positive_rate, 6)
    quality["label_counts"] = {str(k): int(v) for k, v in labels.items()}
    return quality, violations


def _missing(df: pd.DataFrame, missing: dict[str, float], limit: float) -> list[Violation]:
    out = []
    for col, rate in missing.items():
        if rate > limit:
            rows = df.index[df[col].isna()].tolist()
            out.append(
                Violation(
                    col,
                    f"max_missing_rate: {rate:.4f} > {limit}",
                    int(df[col].isna().sum()),
                    _examples(df, rows, col),
                )
            )
    return out


def _categories(df: pd.DataFrame, skip: set[str], limit: int) -> list[Violation]:
    """Text columns with more distinct values than `limit` (identifiers, free text)."""
    out = []
    for col in df.columns:
        if col in skip or pd.api.types.is_numeric_dtype(df[col]):
            continue
        k = int(df[col].nunique())
        if k > limit:
            filled = df.index[df[col].notna()].tolist()
            out.append(
                Violation(
                    col,
                    f"max_categories: {k} distinct values > {limit} "
                    "(an identifier? add it to data.drop_columns)",
                    len(filled),
                    _examples(df, filled, col),
                )
            )
    return out


def _target(
    df: pd.DataFrame,
    target: str,
    labels: pd.Series,
    positive: labels_mod.PositiveClass,
    cfg: ValidateConfig,
) -> tuple[list[Violation], float | None]:
    """The target's rules (the positive class is a label, exactly two labels, enough of the
    rarer one) and the share of positives."""
    out = []
    classes = [str(c) for c in labels.index]  # most frequent first
    shown = sorted(classes[:10]) + (["…"] if len(classes) > 10 else [])
    labelled = df[target].notna()
    hits = [c for c in classes if labels_mod.matches(c, positive)]
    if not hits:
        out.append(
            Violation(
                target,
                f"positive_class: data.positive_class={positive!r} is not a label in the "
                f"data; {labels_mod.did_you_mean(classes, positive)}",
                int(labelled.sum()),
                _examples(df, df.index[labelled].tolist(), target),
            )
        )
    if len(classes) != 2:
        # Keep the positive class and the most frequent other label; the rest are extra.
        keep = {*hits[:1], *[c for c in classes if c not in hits][:1]}
        extra = labelled & ~df[target].astype(str).isin(keep)
        rows = df.index[extra if len(classes) > 2 else labelled].tolist()
        out.append(
            Violation(
                target,
                f"binary_target: {len(classes)} label(s) {shown}, need exactly two",
                len(rows),
                _examples(df, rows, target),
            )
        )
    n = len(df)
    if not n:
        return out, None
    is_positive = pd.Series(labels_mod.is_positive(df[target], positive), index=df.index)
    positive_rate = float(is_positive.mean())
    minority = min(positive_rate, 1 - positive_rate)
    if hits and minority < cfg.min_minority_rate:
        out.append(
            Violation(
                target,
                f"min_minority_rate: {minority:.4f} < {cfg.min_minority_rate}",
                int(min(is_positive.sum(), n - is_positive.sum())),
            )
        )
    return out, positive_rate
