"""gitml monitor: drift and live quality of the served model, with one alarm rule.

Reference = the training features of the model in stage `prod` (read at its commit: the git
file models/model.json and the DVC output data/features/train.parquet), or the workspace when
nothing is in prod (or `--reference FILE`). Current = the requests logged by `gitml serve` in a
time window (the prediction log, `gitml.serve.logdb`), or a CSV/Parquet file of raw input rows.
Both go through the same `gitml.features.apply` as training before they are compared.

Per model feature: numeric → Kolmogorov-Smirnov + PSI; categorical → chi-squared + PSI; the
missing-rate change; the share of categories never seen in training. Then the score
distribution (prediction drift) and, on rows with ground-truth feedback, ROC-AUC, accuracy and
calibration error against the model's evaluation metrics.

The alarm rule (params.yaml `monitor:`). Many features x tests inflate false alarms: with 30
tests at 5% each, an unchanged world alarms most days. So a distribution test alarms only when
its p-value is below alpha / (number of tests) — Bonferroni, which bounds the chance of any
false alarm by alpha — AND its PSI is at least `psi_threshold`, because with thousands of rows a
test is significant for shifts too small to matter. Missing rates: Bonferroni AND a change of at
least `missing_rate_delta`. tests/integration/test_monitor.py measures the rule on the real
data: the documented shifts alarm in ≥ 99 of 100 trials, unshifted data in ≤ 5 of 100.

Outputs `monitoring.json` and `monitoring.md` (not a DVC stage: it watches production, it does
not build anything). Exit code: 0 no alarm, 1 alarm, 2 error.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gitml import drift, layout
from gitml.config import MonitorConfig
from gitml.errors import GitmlError

SINCE_HELP = "a duration such as 30m, 24h, 7d, 2w, 1d12h, or 'all'"
DEFAULT_OUT = layout.MONITORING_DIR
ALARM_LABEL = "model-drift"
ISSUE_TITLE = "Model drift alarm (gitml monitor)"
SCORE = "score"
# GitHub refuses issue and comment bodies longer than 65,536 characters.
GITHUB_BODY_LIMIT = 65_000


class MonitorError(GitmlError):
    """The monitor could not judge (bad input, missing reference, unreadable log): exit 2,
    so a scheduled job never mistakes an error for an alarm (1) or for all-clear (0)."""

    code = 2


# --------------------------------------------------------------------------- windows


_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])")


def parse_since(text: str) -> timedelta | None:
    """A window length ('7d', '24h', '30m', '2w', '1d12h'); 'all' (no limit) gives None.

    Hand-written (five units): pandas.Timedelta deprecates the lower-case 'd' and 'w' that
    people write, and reads a bare number as nanoseconds.
    """
    compact = text.strip().lower().replace(" ", "")
    if compact == "all":
        return None
    if not compact or _PART.sub("", compact):
        raise ValueError(f"{text!r} is not a duration; use {SINCE_HELP}")
    delta = sum(
        (timedelta(**{_UNITS[unit]: float(n)}) for n, unit in _PART.findall(compact)),
        timedelta(),
    )
    if delta < timedelta(seconds=1):
        raise ValueError(f"{text!r}: the window must be at least one second; use {SINCE_HELP}")
    return delta


# --------------------------------------------------------------------------- reference


@dataclass
class Reference:
    """What the served model was trained and evaluated on."""

    frame: pd.DataFrame  # training features (with the derived ones)
    meta: dict[str, Any]  # models/model.json
    source: str  # human-readable: where it came from
    version: str | None = None  # the prod version, when it came from the registry
    commit: str | None = None
    scores: np.ndarray | None = None  # evaluate's test predictions: the score distribution
    y_true: np.ndarray | None = None
    metrics: dict[str, Any] | None = None  # reports/evaluate/metrics.json
    schema: Any = None  # the data contract (pandera DataFrameSchema) the model was trained under
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> dict[str, drift.Kind]:
        feats = self.meta.get("features", {})
        kinds: dict[str, drift.Kind] = {c: "numeric" for c in feats.get("numeric", [])}
        kinds.update({c: "categorical" for c in feats.get("categorical", [])})
        return kinds


def _read_table(data: bytes | Path, name: str) -> pd.DataFrame:
    """A CSV or Parquet file (by extension) as a frame; MonitorError naming the file."""
    suffixes = "".join(Path(name).suffixes).lower()
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        if suffixes.endswith(".parquet"):
            return pd.read_parquet(src)
        if suffixes.endswith((".csv", ".csv.gz")):
            return pd.read_csv(src)
    except FileNotFoundError:
        raise MonitorError(f"{name}: file not found") from None
    except Exception as exc:  # pandas/pyarrow raise many types for a corrupt file
        raise MonitorError(f"{name}: cannot read it: {exc}") from None
    raise MonitorError(f"{name}: unknown file type; use a .csv, .csv.gz or .parquet file")


def _workspace_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


def load_reference(
    repo: Path, reference_file: Path | None = None, schema_file: Path | None = None
) -> Reference:
    """The prod model's training features, or the workspace's (with a note saying so); with
    the data contract `schema_file` as it was at prod's commit (or in the workspace)."""
    ref = _load_reference(repo, reference_file)
    if schema_file is not None:
        ref.schema = _load_schema(repo, ref, schema_file)
    return ref


def _load_schema(repo: Path, ref: Reference, schema_file: Path) -> Any:
    from gitml import registry, schema

    try:
        if ref.commit is None:
            return schema.load(repo / schema_file)
        text = registry.read_git_file(repo, ref.commit, schema_file)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / schema_file.name
            path.write_bytes(text)
            return schema.load(path)
    except GitmlError as exc:
        ref.notes.append(f"no data contract ({exc}): rows not checked against the schema")
        return None


def _load_reference(repo: Path, reference_file: Path | None) -> Reference:
    from gitml import registry

    if reference_file is None:
        try:
            prod = registry.find_stage(repo)
        except Exception as exc:  # not a git repo, no GTO config: no registry to ask
            prod = None
            note = f"no model registry here ({type(exc).__name__}: {str(exc)[:120]})"
        else:
            note = "no model is in stage prod yet"
        if prod is not None:
            return _prod_reference(repo, prod.version, prod.commit)
        ref = _workspace_reference(repo, repo / layout.FEATURES_DIR / "train.parquet")
        ref.notes.insert(
            0,
            f"{note}: the reference is the WORKSPACE training data "
            f"({layout.FEATURES_DIR / 'train.parquet'}), not a deployed model's; "
            "promote a model (or pass --reference FILE) to monitor a deployed one",
        )
        return ref
    ref = _workspace_reference(repo, reference_file)
    ref.notes.insert(0, f"reference given on the command line: {reference_file}")
    return ref


def _prod_reference(repo: Path, version: str, commit: str) -> Reference:
    from gitml import registry

    def git_json(path: Path) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(registry.read_git_file(repo, commit, path))
        except json.JSONDecodeError as exc:
            raise MonitorError(f"{path} at {commit[:8]} is not valid JSON: {exc}") from None
        return data

    try:
        meta = git_json(layout.MODEL_META)
        train_path = layout.FEATURES_DIR / "train.parquet"
        frame = _read_table(registry.read_dvc_file(repo, commit, train_path), str(train_path))
    except GitmlError as exc:
        raise MonitorError(f"model {version} in prod (commit {commit[:8]}): {exc}") from None
    ref = Reference(
        frame,
        meta,
        f"model {version} in stage prod (commit {commit[:8]}), {train_path}",
        version,
        commit,
    )
    try:
        ref.metrics = git_json(layout.EVALUATE_DIR / "metrics.json")
    except GitmlError as exc:
        ref.notes.append(f"no evaluation metrics at {commit[:8]} ({exc}): quality not compared")
    try:
        preds = _read_table(
            registry.read_dvc_file(repo, commit, layout.PREDICTIONS), str(layout.PREDICTIONS)
        )
        ref.scores, ref.y_true = _prediction_columns(preds)
    except GitmlError as exc:
        ref.notes.append(f"no test predictions at {commit[:8]} ({exc}): no score reference")
    return ref


def _workspace_reference(repo: Path, path: Path) -> Reference:
    meta = _workspace_json(repo / layout.MODEL_META)
    if meta is None:
        raise MonitorError(
            f"{repo / layout.MODEL_META}: not found or not JSON; the monitor needs the model's "
            "feature list: run `dvc repro` (or `dvc pull`), or promote a model to prod"
        )
    full = path if path.is_absolute() else repo / path
    if not full.exists():
        raise MonitorError(
            f"{full}: reference data not found; run `dvc repro` (or `dvc pull`), "
            "or pass --reference FILE"
        )
    frame = _read_table(full, str(full))
    derived = [f for f in meta.get("derived_features", []) if f not in frame.columns]
    if derived:  # raw training rows (e.g. data/split/train.parquet): add the derived features
        from gitml import features

        try:
            frame = features.apply(frame, derived)
        except GitmlError as exc:
            raise MonitorError(f"{full}: {exc}") from None
    ref = Reference(frame, meta, f"workspace file {path}")
    ref.metrics = _workspace_json(repo / layout.EVALUATE_DIR / "metrics.json")
    if ref.metrics is None:
        ref.notes.append("no reports/evaluate/metrics.json in the workspace: quality not compared")
    preds_path = repo / layout.PREDICTIONS
    if preds_path.exists():
        ref.scores, ref.y_true = _prediction_columns(_read_table(preds_path, str(preds_path)))
    else:
        ref.notes.append(f"no {layout.PREDICTIONS} in the workspace: no score reference")
    return ref


def _prediction_columns(preds: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray | None]:
    scores = preds["score"].to_numpy("float64") if "score" in preds else None
    y = preds["y_true"].to_numpy("int64") if "y_true" in preds else None
    return scores, y


# --------------------------------------------------------------------------- current


@dataclass
class Current:
    """The rows the model saw in the window, raw (before featurize)."""

    frame: pd.DataFrame
    source: str
    scores: np.ndarray | None = None
    labels: np.ndarray | None = None  # predicted 0/1 at the model's threshold
    y_true: np.ndarray | None = None  # ground truth from feedback (NaN where none)
    start: datetime | None = None
    end: datetime | None = None
    versions: dict[str, int] = field(default_factory=dict)  # rows per model version, kept ones
    logged_unseen_rows: int | None = None
    other_versions: dict[str, int] = field(default_factory=dict)  # rows left out, per version


def load_log(
    url: str,
    since: timedelta | None,
    now: datetime | None = None,
    version: str | None = None,
) -> Current:
    """Logged requests of the window, joined with their feedback (SQLAlchemy, any backend).

    With `version`, only the predictions that model version made are kept: the score
    distribution and the live quality belong to one model, and are compared with its own
    evaluation. The rows of other versions are counted in `other_versions`.
    """
    import sqlalchemy as sa

    from gitml.serve.logdb import feedback, mask_url, normalise_url, predictions

    now = now or datetime.now(UTC)
    start = now - since if since is not None else None
    shown = mask_url(url)
    try:
        parsed = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise MonitorError(
            f"--log-db {shown!r} is not a database URL; e.g. sqlite:///logs/predictions.db or "
            "postgresql://user@host:5432/db"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database or ""
        if db in ("", ":memory:") or not Path(db).exists():
            raise MonitorError(
                f"prediction log {shown}: no such database file; start `gitml serve` (it "
                "creates it) or pass --log-db URL / --current FILE"
            )
    query = (
        sa.select(
            predictions.c.created_at,
            predictions.c.model_version,
            predictions.c.features,
            predictions.c.score,
            predictions.c.label,
            predictions.c.unseen,
            feedback.c.label.label("y_true"),
        )
        .select_from(predictions.outerjoin(feedback, feedback.c.prediction_id == predictions.c.id))
        .where(predictions.c.created_at <= now)
        .order_by(predictions.c.created_at, predictions.c.id)
    )
    if start is not None:
        query = query.where(predictions.c.created_at >= start)
    try:
        engine = sa.create_engine(normalise_url(url))
    except Exception as exc:  # a missing driver, a bad option
        raise MonitorError(f"prediction log {shown}: {exc}") from None
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(predictions.name):
                raise MonitorError(
                    f"prediction log {shown}: has no '{predictions.name}' table; "
                    "is this the database `gitml serve --log-db` writes to?"
                )
            rows = pd.read_sql(query, conn)
    except sa.exc.SQLAlchemyError as exc:
        # the driver's own message (DBAPIError.orig), without SQLAlchemy's SQL echo
        text = str(getattr(exc, "orig", None) or exc).strip()
        msg = text.splitlines()[0] if text else type(exc).__name__
        raise MonitorError(f"prediction log {shown}: cannot read it: {msg}") from None
    finally:
        engine.dispose()
    other: dict[str, int] = {}
    if version is not None:
        mine = (rows["model_version"] == version).to_numpy()
        other = {str(k): int(v) for k, v in rows.loc[~mine, "model_version"].value_counts().items()}
        rows = rows.loc[mine].reset_index(drop=True)
    frame = pd.DataFrame.from_records(
        [f if isinstance(f, dict) else json.loads(f) for f in rows["features"]],
        index=range(len(rows)),
    )
    unseen = [u if isinstance(u, list) else json.loads(u or "[]") for u in rows["unseen"]]
    return Current(
        frame=frame,
        source=f"prediction log {shown}",
        scores=rows["score"].to_numpy("float64"),
        labels=rows["label"].to_numpy("int64"),
        y_true=pd.to_numeric(rows["y_true"], errors="coerce").to_numpy("float64"),
        start=start,
        end=now,
        versions={str(k): int(v) for k, v in rows["model_version"].value_counts().items()},
        logged_unseen_rows=sum(1 for u in unseen if u),
        other_versions=other,
    )


def load_file(path: Path, meta: dict[str, Any]) -> Current:
    """Raw input rows from a file; a `score` column (and the target) are used when present."""
    frame = _read_table(path, str(path))
    cur = Current(frame=frame, source=f"file {path}")
    if SCORE in frame:
        cur.scores = pd.to_numeric(frame[SCORE], errors="coerce").to_numpy("float64")
        threshold = float(meta.get("threshold", 0.5))
        cur.labels = (cur.scores >= threshold).astype("int64")
    target = meta.get("target")
    if target and target in frame:
        positive = str(meta.get("positive_class", "1"))
        y = frame[target]
        truth = y.astype("str").eq(positive) | y.astype("str").eq("1")
        cur.y_true = truth.astype("float64").where(y.notna()).to_numpy("float64")
    return cur


# --------------------------------------------------------------------------- analysis


def _num(x: float | None, digits: int = 6) -> float | None:
    if x is None or not np.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def featurize(cur: Current, ref: Reference) -> pd.DataFrame:
    """The current rows with the model's derived features, numeric columns as float64."""
    from gitml import features

    kinds = ref.columns
    derived = list(ref.meta.get("derived_features", []))
    inputs = [c for c in kinds if c not in derived]
    missing = [c for c in inputs if c not in cur.frame.columns]
    if missing:
        raise MonitorError(
            f"{cur.source}: lacks the model's input column(s) {missing}; "
            f"expected the raw request columns {inputs}"
        )
    frame = cur.frame.copy()
    for c in inputs:
        if kinds[c] == "numeric":
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    try:
        return features.apply(frame, derived)
    except GitmlError as exc:
        raise MonitorError(f"{cur.source}: {exc}") from None


def analyse(
    ref: Reference,
    cur: Current,
    cfg: MonitorConfig,
    profiles: dict[str, drift.Profile] | None = None,
) -> dict[str, Any]:
    """Compare the window with the reference; return the report (monitoring.json)."""
    kinds = ref.columns
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "reference": {
            "source": ref.source,
            "version": ref.version,
            "commit": ref.commit,
            "rows": len(ref.frame),
        },
        "current": {
            "source": cur.source,
            "rows": len(cur.frame),
            "window_start": cur.start.isoformat(timespec="seconds") if cur.start else None,
            "window_end": cur.end.isoformat(timespec="seconds") if cur.end else None,
            "model_versions": cur.versions,
            "logged_unseen_rows": cur.logged_unseen_rows,
        },
        "rule": {},
        "features": [],
        "prediction": None,
        "quality": None,
        "contract": None,
        "alarms": [],
        "notes": list(ref.notes),
    }
    if cur.other_versions:
        left_out = ", ".join(f"{k}: {v}" for k, v in sorted(cur.other_versions.items()))
        report["current"]["other_versions"] = cur.other_versions
        report["notes"].append(
            f"left out {sum(cur.other_versions.values())} row(s) that other model versions "
            f"predicted ({left_out}); this report is about {ref.version}"
        )
    elif ref.version and cur.versions and set(cur.versions) != {ref.version}:
        report["notes"].append(
            f"the window holds predictions of {sorted(cur.versions)}; prod is {ref.version}"
        )
    if len(cur.frame) < cfg.min_rows:
        report["status"] = "insufficient_data"
        report["alarm"] = False
        report["notes"].append(
            f"only {len(cur.frame)} row(s) in the window (monitor.min_rows = {cfg.min_rows}): "
            "no verdict; widen --since or wait for traffic"
        )
        return report

    current = featurize(cur, ref)
    if profiles is None:
        profiles = reference_profiles(ref, cfg)
    results = {c: drift.compare(profiles[c], current[c], cfg.min_expected) for c in kinds}

    score_drift = None
    if cur.scores is not None and ref.scores is not None:
        score_drift = drift.compare(
            drift.profile(pd.Series(ref.scores, name=SCORE), "numeric", cfg.bins),
            pd.Series(cur.scores, name=SCORE),
        )
    elif cur.scores is not None:
        report["notes"].append("no reference score distribution: prediction drift not tested")

    # Bonferroni over every test that yields a p-value in this run.
    n_tests = sum(r.p_value is not None for r in results.values()) + len(results)
    n_tests += score_drift is not None and score_drift.p_value is not None
    p_floor = cfg.alpha / max(n_tests, 1)
    report["rule"] = {
        "alpha": cfg.alpha,
        "tests": n_tests,
        "p_threshold": _num(p_floor),
        "psi_threshold": cfg.psi_threshold,
        "missing_rate_delta": cfg.missing_rate_delta,
        "max_unseen_share": cfg.max_unseen_share,
        "text": (
            f"a distribution alarms when p < {cfg.alpha} / {n_tests} tests = {p_floor:.2g} "
            f"(Bonferroni) AND PSI ≥ {cfg.psi_threshold}; a missing rate when p < {p_floor:.2g} "
            f"AND it changed by ≥ {cfg.missing_rate_delta}; unseen categories when more than "
            f"{cfg.max_unseen_share:.1%} of rows have one"
        ),
    }
    alarms: list[str] = report["alarms"]
    for name, r in results.items():
        entry = _feature_entry(r, cfg, p_floor)
        alarms += [f"{name}: {a}" for a in entry["alarms"]]
        report["features"].append(entry)
    if score_drift is not None:
        entry = _feature_entry(score_drift, cfg, p_floor)
        entry["alarms"] = [a for a in entry["alarms"] if a.startswith("distribution")]
        alarms += [f"prediction score: {a}" for a in entry["alarms"]]
        report["prediction"] = entry

    if ref.schema is not None:
        report["contract"] = contract_violations(ref.schema, cur.frame, ref.meta.get("target"))
        share = report["contract"]["share"]
        if share > cfg.max_invalid_share:
            worst = ", ".join(
                f"{c} ({v['rows']})" for c, v in report["contract"]["columns"].items()
            )
            alarms.append(
                f"data contract: {share:.1%} of rows break the schema "
                f"(> {cfg.max_invalid_share:.1%}): {worst}"
            )

    report["quality"] = live_quality(ref, cur, cfg)
    if report["quality"]:
        alarms += [f"live quality: {a}" for a in report["quality"]["alarms"]]
        report["notes"] += report["quality"].pop("notes")
    report["alarm"] = bool(alarms)
    report["status"] = "alarm" if alarms else "ok"
    return report


def reference_profiles(ref: Reference, cfg: MonitorConfig) -> dict[str, drift.Profile]:
    missing = [c for c in ref.columns if c not in ref.frame.columns]
    if missing:
        raise MonitorError(
            f"{ref.source}: lacks the model feature column(s) {missing}; is it the training "
            "features file (data/features/train.parquet) of this model?"
        )
    return {c: drift.profile(ref.frame[c], k, cfg.bins) for c, k in ref.columns.items()}


def _feature_entry(r: drift.ColumnDrift, cfg: MonitorConfig, p_floor: float) -> dict[str, Any]:
    flags = []
    if r.p_value is not None and r.p_value < p_floor and (r.psi or 0.0) >= cfg.psi_threshold:
        flags.append(
            f"distribution ({r.test} p = {r.p_value:.2g} < {p_floor:.2g}, "
            f"PSI {r.psi:.3f} ≥ {cfg.psi_threshold})"
        )
    delta = r.cur_missing_rate - r.ref_missing_rate
    if (
        r.missing_p_value is not None
        and r.missing_p_value < p_floor
        and abs(delta) >= cfg.missing_rate_delta
    ):
        flags.append(
            f"missing rate {r.ref_missing_rate:.1%} → {r.cur_missing_rate:.1%} "
            f"(p = {r.missing_p_value:.2g})"
        )
    if r.unseen_share > cfg.max_unseen_share:
        flags.append(
            f"{r.unseen_share:.1%} of rows have a category unseen in training "
            f"({', '.join(r.unseen_values[:5])}{', …' if len(r.unseen_values) > 5 else ''})"
        )
    return {
        "name": r.name,
        "kind": r.kind,
        "test": r.test,
        "statistic": _num(r.statistic),
        "p_value": _num(r.p_value),
        "psi": _num(r.psi),
        "ref_missing_rate": _num(r.ref_missing_rate),
        "cur_missing_rate": _num(r.cur_missing_rate),
        "missing_p_value": _num(r.missing_p_value),
        "unseen_share": _num(r.unseen_share),
        "unseen_values": r.unseen_values,
        "rows": r.rows,
        "bins": r.bins,
        "ref_shares": [_num(x, 4) for x in r.ref_shares],
        "cur_shares": [_num(x, 4) for x in r.cur_shares],
        "alarms": flags,
    }


def contract_violations(schema: Any, frame: pd.DataFrame, target: str | None) -> dict[str, Any]:
    """Rows of the window that break the data contract (types, ranges, nullability).

    The allowed-categories (`isin`) checks are left out: serving accepts an unseen category
    (the model's encoder handles it) and the monitor reports those separately.
    """
    import pandera.pandas as pa

    names = [c for c in schema.columns if c != target and c in frame.columns]
    checked = pa.DataFrameSchema(
        {
            n: schema.columns[n].set_checks(
                [c for c in schema.columns[n].checks if c.name != "isin"]
            )
            for n in names
        },
        coerce=schema.coerce,
    )
    out: dict[str, Any] = {"rows": len(frame), "invalid_rows": 0, "share": 0.0, "columns": {}}
    try:
        checked.validate(frame[names].reset_index(drop=True), lazy=True)
        return out
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    bad: set[int] = set()
    for column, group in cases.groupby("column", sort=True):
        rows = {int(i) for i in group["index"] if i is not None and not pd.isna(i)}
        bad |= rows or set(range(len(frame)))  # no row index: the whole column failed
        rule = group["check"].astype("str").str.replace(r"^coerce_dtype", "dtype", regex=True)
        typed = rule.str.startswith("dtype(")
        if typed.any():  # a value of the wrong type also crashes the range check: say it once
            group, rule = group[typed], rule[typed]
        rules = sorted(set(rule))
        examples = [str(v) for v in group["failure_case"].drop_duplicates()[:3]]
        out["columns"][str(column)] = {
            "rows": len(rows) or len(frame),
            "rules": rules,
            "examples": examples,
        }
    out["invalid_rows"] = len(bad)
    out["share"] = _num(len(bad) / len(frame)) if len(frame) else 0.0
    return out


def live_quality(ref: Reference, cur: Current, cfg: MonitorConfig) -> dict[str, Any] | None:
    """ROC-AUC, accuracy and calibration error on the rows with ground truth, against the
    model's evaluation on the test split."""
    from sklearn import metrics as skm

    if cur.y_true is None or cur.scores is None:
        return None
    has = ~np.isnan(cur.y_true)
    n = int(has.sum())
    out: dict[str, Any] = {"rows": n, "live": {}, "evaluation": {}, "alarms": [], "notes": []}
    if n < cfg.min_feedback_rows:
        out["notes"].append(
            f"{n} row(s) with feedback (monitor.min_feedback_rows = {cfg.min_feedback_rows}): "
            "live quality not judged"
        )
        return out
    y = cur.y_true[has].astype("int64")
    s = cur.scores[has]
    labels = cur.labels[has] if cur.labels is not None else (s >= 0.5).astype("int64")
    live: dict[str, float | None] = {
        "accuracy": _num(float(skm.accuracy_score(y, labels))),
        "calibration_error": _num(drift.expected_calibration_error(y, s, cfg.calibration_bins)),
        "roc_auc": _num(float(skm.roc_auc_score(y, s))) if 0 < y.sum() < len(y) else None,
    }
    if live["roc_auc"] is None:
        out["notes"].append("feedback has one class only: live ROC-AUC undefined")
    evaluation: dict[str, float | None] = {
        "roc_auc": (ref.metrics or {}).get("roc_auc"),
        "accuracy": (ref.metrics or {}).get("accuracy"),
        "calibration_error": None,
    }
    if ref.scores is not None and ref.y_true is not None and len(ref.y_true):
        evaluation["calibration_error"] = _num(
            drift.expected_calibration_error(ref.y_true, ref.scores, cfg.calibration_bins)
        )
    out["live"], out["evaluation"] = live, evaluation
    limits = {
        "roc_auc": cfg.max_roc_auc_drop,
        "accuracy": cfg.max_accuracy_drop,
    }
    for metric, limit in limits.items():
        lv, ev = live[metric], evaluation[metric]
        if lv is not None and ev is not None and ev - lv > limit:
            out["alarms"].append(f"{metric} {lv:.4f} vs {ev:.4f} at evaluation (drop > {limit})")
    lv, ev = live["calibration_error"], evaluation["calibration_error"]
    if lv is not None and lv - (ev or 0.0) > cfg.max_calibration_error_increase:
        out["alarms"].append(
            f"calibration error {lv:.4f} vs {ev or 0.0:.4f} at evaluation "
            f"(increase > {cfg.max_calibration_error_increase})"
        )
    return out


# --------------------------------------------------------------------------- report


def render_markdown(report: dict[str, Any]) -> str:
    status = {"alarm": "🔴 ALARM", "ok": "🟢 no alarm", "insufficient_data": "⚪ no verdict"}
    ref, cur = report["reference"], report["current"]
    lines = [
        "# Model monitoring",
        "",
        f"**{status[report['status']]}** · generated {report['generated_at']}",
        "",
        f"- reference: {ref['source']} ({ref['rows']} rows)",
        f"- current: {cur['source']} ({cur['rows']} rows"
        + (f", {cur['window_start']} → {cur['window_end']}" if cur["window_end"] else "")
        + ")",
    ]
    if cur["model_versions"]:
        versions = ", ".join(f"{k}: {v}" for k, v in sorted(cur["model_versions"].items()))
        lines.append(f"- model versions in the window: {versions}")
    if report["rule"]:
        lines.append(f"- rule: {report['rule']['text']}")
    if report["alarms"]:
        lines += ["", "## Alarms", ""] + [f"- {a}" for a in report["alarms"]]
    if report["features"]:
        lines += [
            "",
            "## Features",
            "",
            "| feature | type | test | statistic | p-value | PSI | missing (train → now) "
            "| unseen | status |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        rows = report["features"] + ([report["prediction"]] if report["prediction"] else [])
        for f in rows:
            lines.append(
                f"| {f['name']} | {f['kind']} | {f['test']} | {_f(f['statistic'], '.3f')} | "
                f"{_f(f['p_value'], '.2g')} | {_f(f['psi'], '.3f')} | "
                f"{_f(f['ref_missing_rate'], '.1%')} → {_f(f['cur_missing_rate'], '.1%')} | "
                f"{_f(f['unseen_share'], '.1%')} | {'**drift**' if f['alarms'] else 'ok'} |"
            )
        lines += ["", *_psi_chart(report)]
    if report["prediction"]:
        lines += ["", *_score_chart(report["prediction"])]
    q = report["quality"]
    if q and q["live"]:
        lines += [
            "",
            f"## Live quality ({q['rows']} rows with feedback)",
            "",
            "| metric | live | evaluation |",
            "|---|---|---|",
        ]
        for metric in ("roc_auc", "accuracy", "calibration_error"):
            lines.append(
                f"| {metric} | {_f(q['live'].get(metric), '.4f')} | "
                f"{_f(q['evaluation'].get(metric), '.4f')} |"
            )
    contract = report.get("contract")
    if contract and contract["columns"]:
        lines += [
            "",
            f"## Data contract ({contract['invalid_rows']} of {contract['rows']} rows break it)",
            "",
            "| column | rows | rules | examples |",
            "|---|---|---|---|",
        ]
        for col, v in contract["columns"].items():
            lines.append(
                f"| {col} | {v['rows']} | {', '.join(v['rules'])} | {', '.join(v['examples'])} |"
            )
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"


def _f(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


# Mermaid xychart-beta: the first default line colour is nearly invisible, so set the palette;
# GitHub may draw no legend, so the title names the colours.
_PALETTE = '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#1f77b4, #d62728"}}}}%%'


def _psi_chart(report: dict[str, Any]) -> list[str]:
    feats = [f for f in report["features"] if f["psi"] is not None]
    if not feats:
        return []
    floor = report["rule"]["psi_threshold"]
    psis = [f["psi"] for f in feats]
    top = max([*psis, floor]) * 1.1
    return [
        "```mermaid",
        _PALETTE,
        "xychart-beta horizontal",  # horizontal: long feature names stay readable
        f'    title "PSI per feature (blue bars) vs the alarm floor {floor} (red line)"',
        "    x-axis [" + ", ".join(f'"{f["name"]}"' for f in feats) + "]",
        f'    y-axis "PSI" 0 --> {top:.3g}',
        "    bar [" + ", ".join(f"{p:.4f}" for p in psis) + "]",
        "    line [" + ", ".join(str(floor) for _ in feats) + "]",
        "```",
    ]


def _score_chart(pred: dict[str, Any]) -> list[str]:
    top = max([*pred["ref_shares"], *pred["cur_shares"]]) * 1.2  # from 0: honest proportions
    return [
        "```mermaid",
        _PALETTE,
        "xychart-beta",
        '    title "Share of scores per bin: reference (blue) vs now (red)"',
        # bin numbers keep the axis readable; the bounds are in the table of monitoring.json
        '    x-axis "score bin (deciles of the reference scores)" ['
        + ", ".join(f'"{i + 1}"' for i in range(len(pred["bins"])))
        + "]",
        f'    y-axis "share of rows" 0 --> {top:.2g}',
        "    line [" + ", ".join(f"{x:.4f}" for x in pred["ref_shares"]) + "]",
        "    line [" + ", ".join(f"{x:.4f}" for x in pred["cur_shares"]) + "]",
        "```",
    ]


# --------------------------------------------------------------------------- run


@dataclass(frozen=True)
class MonitorResult:
    report: dict[str, Any]
    json_path: Path
    md_path: Path

    @property
    def alarm(self) -> bool:
        return bool(self.report["alarm"])


def run(
    cfg: MonitorConfig,
    out_dir: Path = DEFAULT_OUT,
    log_url: str | None = None,
    current_file: Path | None = None,
    since: str | None = None,
    reference_file: Path | None = None,
    repo: Path = Path(),
    schema_file: Path | None = None,
) -> MonitorResult:
    """Load, compare, write monitoring.json and monitoring.md; the caller exits 0/1."""
    from gitml.io import write_atomic, write_json

    if log_url and current_file:
        raise MonitorError("pass --log-db URL or --current FILE, not both")
    try:
        window = parse_since(since or cfg.since)
    except ValueError as exc:
        raise MonitorError(f"--since: {exc}") from None
    ref = load_reference(repo, reference_file, schema_file)
    if current_file is not None:
        cur = load_file(current_file, ref.meta)
    else:
        from gitml.serve.logdb import DEFAULT_LOG_URL

        # Judge the prod model on its own predictions (a rollout or rollback leaves older
        # versions' rows in the window); the workspace reference (no version) takes them all.
        cur = load_log(log_url or DEFAULT_LOG_URL, window, version=ref.version)
    report = analyse(ref, cur, cfg)
    json_path = write_json(out_dir / "monitoring.json", report)
    md_path = write_atomic(out_dir / "monitoring.md", render_markdown(report))
    # In GitHub Actions: the verdict as a step output (the workflow branches on it) and the
    # report as the job summary, so the workflow needs no shell logic of its own.
    if os.environ.get("GITHUB_OUTPUT"):
        with Path(os.environ["GITHUB_OUTPUT"]).open("a", encoding="utf-8") as fh:
            fh.write(f"alarm={'true' if report['alarm'] else 'false'}\n")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with Path(os.environ["GITHUB_STEP_SUMMARY"]).open("a", encoding="utf-8") as fh:
            fh.write(md_path.read_text(encoding="utf-8"))
    return MonitorResult(report, json_path, md_path)


# --------------------------------------------------------------------------- alert


@dataclass(frozen=True)
class AlertResult:
    action: str  # "created", "commented" or "skipped"
    issue: int | None
    url: str | None


def alert(
    report_md: Path,
    label: str = ALARM_LABEL,
    title: str = ISSUE_TITLE,
    repo: str | None = None,
    force: bool = False,
) -> AlertResult:
    """Open ONE issue labelled `label`, or comment on the open one (deduplicated), with the gh
    CLI. Skipped when monitoring.json next to the report says there is no alarm (unless force).
    """
    if not report_md.is_file():
        raise MonitorError(f"{report_md}: report not found; run `gitml monitor` first")
    verdict = report_md.with_name("monitoring.json")
    if not force and verdict.is_file():
        try:
            alarm = bool(json.loads(verdict.read_text(encoding="utf-8")).get("alarm"))
        except json.JSONDecodeError as exc:
            raise MonitorError(f"{verdict}: not valid JSON: {exc}") from None
        if not alarm:
            return AlertResult("skipped", None, None)
    gh = shutil.which("gh")
    if gh is None:
        raise MonitorError(
            "the GitHub CLI `gh` is not on PATH; install it (https://cli.github.com) "
            "and authenticate with GH_TOKEN"
        )
    target = ["--repo", repo] if repo else []
    body = report_md.read_text(encoding="utf-8")
    if len(body) > GITHUB_BODY_LIMIT:
        body = body[:GITHUB_BODY_LIMIT] + "\n\n… (truncated; the full report is an artifact)\n"
    _gh(
        gh,
        "label",
        "create",
        label,
        "--color",
        "D93F0B",
        "--description",
        "gitml monitor raised a drift or live-quality alarm",
        "--force",
        *target,
    )
    listed = _gh(
        gh,
        "issue",
        "list",
        "--label",
        label,
        "--state",
        "open",
        "--json",
        "number,url",
        "--limit",
        "100",
        *target,
    )
    try:
        open_issues = sorted(json.loads(listed or "[]"), key=lambda i: int(i["number"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MonitorError(f"gh issue list: unexpected output {listed[:200]!r} ({exc})") from None
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "body.md"
        body_file.write_text(body, encoding="utf-8")
        if open_issues:
            number = int(open_issues[0]["number"])
            url = _gh(gh, "issue", "comment", str(number), "--body-file", str(body_file), *target)
            return AlertResult("commented", number, url.strip() or open_issues[0].get("url"))
        url = _gh(
            gh,
            "issue",
            "create",
            "--title",
            title,
            "--label",
            label,
            "--body-file",
            str(body_file),
            *target,
        ).strip()
    match = re.search(r"/issues/(\d+)", url)
    return AlertResult("created", int(match[1]) if match else None, url or None)


def _gh(gh: str, *args: str) -> str:
    proc = subprocess.run([gh, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise MonitorError(
            f"gh {' '.join(args[:2])} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[:500]}"
        )
    return proc.stdout
