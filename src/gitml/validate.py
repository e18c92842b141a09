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

from gitml import schema as schema_mod
from gitml.config import DataConfig, ValidateConfig
from gitml.io import write_json, write_parquet

MAX_EXAMPLES = 5


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "rows": self.rows,
            "columns": self.columns,
            "violations": [v.as_dict() for v in self.violations],
            "n_violations": len(self.violations),
            "quality": self.quality,
        }


def run(
    data_cfg: DataConfig,
    cfg: ValidateConfig,
    ingested: pd.DataFrame,
    report_path: Path,
    out: Path,
) -> ValidationResult:
    result = check(ingested, data_cfg, cfg, schema_mod.load(cfg.schema_file))
    write_json(report_path, result.as_dict())
    if result.passed:
        write_parquet(out, ingested)
    else:
        out.unlink(missing_ok=True)  # never leave a stale "validated" file behind
    return result


def check(
    df: pd.DataFrame, data_cfg: DataConfig, cfg: ValidateConfig, schema: pa.DataFrameSchema
) -> ValidationResult:
    violations = _schema_violations(df, schema)
    quality, more = _quality(df, data_cfg, cfg)
    violations += more
    return ValidationResult(not violations, len(df), df.shape[1], violations, quality)


def _examples(df: pd.DataFrame, rows: list[Any]) -> list[dict[str, Any]]:
    picked = [r for r in rows if r in df.index][:MAX_EXAMPLES]
    out = []
    for r in picked:
        row = df.loc[r]
        out.append({"row": int(r), **{k: _plain(v) for k, v in row.items()}})
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
    out = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=True):
        column = "(table)" if pd.isna(column) else str(column)
        rows = [i for i in group["index"].tolist() if i is not None and not pd.isna(i)]
        examples = _examples(df, [int(i) for i in rows])
        if not examples:  # table-level rule (missing/extra column, dtype): show the failure case
            examples = [{"failure_case": _plain(v)} for v in group["failure_case"][:MAX_EXAMPLES]]
        out.append(Violation(column, f"schema:{check}", len(group), examples))
    return out


def _quality(
    df: pd.DataFrame, data_cfg: DataConfig, cfg: ValidateConfig
) -> tuple[dict[str, Any], list[Violation]]:
    from gitml.ingest import normalise_name

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
    for col, rate in missing.items():
        if rate > cfg.max_missing_rate:
            rows = df.index[df[col].isna()].tolist()
            violations.append(
                Violation(
                    col,
                    f"max_missing_rate: {rate:.4f} > {cfg.max_missing_rate}",
                    int(df[col].isna().sum()),
                    _examples(df, rows),
                )
            )

    for col in df.columns:
        if col == target or pd.api.types.is_numeric_dtype(df[col]):
            continue
        k = int(df[col].nunique())
        if k > cfg.max_categories:
            violations.append(
                Violation(
                    col,
                    f"max_categories: {k} distinct values > {cfg.max_categories} "
                    "(an identifier? add it to data.drop_columns)",
                    k,
                )
            )

    labels = df[target].value_counts(dropna=True) if target in df.columns else pd.Series()
    positive_rate = None
    if target in df.columns:
        classes = sorted(str(c) for c in labels.index)
        if data_cfg.positive_class not in classes or len(classes) != 2:
            bad = df.index[~df[target].isin(classes[:2])].tolist() if len(classes) > 2 else []
            violations.append(
                Violation(
                    target,
                    f"binary_target: classes {classes}, need exactly two, one of "
                    f"them data.positive_class={data_cfg.positive_class!r}",
                    len(classes),
                    _examples(df, bad),
                )
            )
        if n:
            positive_rate = float((df[target] == data_cfg.positive_class).mean())
            minority = min(positive_rate, 1 - positive_rate)
            if minority < cfg.min_minority_rate:
                violations.append(
                    Violation(
                        target, f"min_minority_rate: {minority:.4f} < {cfg.min_minority_rate}", n
                    )
                )

    quality = {
        "duplicate_rate": round(dup_rate, 6),
        "missing_rate": {c: round(r, 6) for c, r in missing.items() if r > 0},
        "positive_rate": None if positive_rate is None else round(positive_rate, 6),
        "label_counts": {str(k): int(v) for k, v in labels.items()},
    }
    return quality, violations
