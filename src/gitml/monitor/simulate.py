"""Simulated traffic: `gitml simulate --url URL --rows N [--shift SPEC]… [--feedback]`.

Draws N rows (seeded) from the test split, optionally shifts them (gitml.monitor.shift), sends
them to a running `gitml serve` in batches, and optionally sends each row's true label back through
POST /feedback — so a user sees `gitml monitor` react end to end. Numeric shifts are clipped to
the schema's ranges so shifted rows are still accepted.

Test-split rows are the right default for the monitor: the model never trained on them, so the
live quality it shows is honest (train rows would flatter it). With --feedback they can reach
`gitml harvest`, but never training: the split stage drops every production row whose model
inputs equal a test-split row (gitml.pipeline.production), and harvest counts them. To try the
retrain loop with rows that can join training, pass `--data` a file of other rows.

On a server with API keys it sends `Authorization: Bearer KEY` (`--api-key`, GITML_API_KEY):
scope predict, and feedback with --feedback. The served columns come from /metadata when the
key may read it (admin), else from the OpenAPI document (open), with the target, positive
class and task from params.yaml. The true label sent is the task's (`_truth`): 0/1, the
target's number (regression) or its class name (multiclass); the mean score is of the answers'
`probability`, `prediction` or top class probability.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from gitml.core import labels
from gitml.errors import DataError
from gitml.io.files import read_parquet
from gitml.monitor.shift import Shift, apply_shift
from gitml.serve.requests import ServedMetadata


@dataclass
class SimulateResult:
    sent: int = 0
    predicted: int = 0
    rejected: int = 0  # rows in batches the server refused (422 etc.)
    feedback: int = 0
    scores: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def mean_score(self) -> float | None:
        return float(np.mean(self.scores)) if self.scores else None


def draw(
    data: pd.DataFrame,
    rows: int,
    shifts: list[Shift],
    seed: int,
    bounds: dict[str, tuple[float | None, float | None]] | None = None,
) -> pd.DataFrame:
    """`rows` rows drawn from `data` (with replacement only when asking for more than it has)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(data), size=rows, replace=rows > len(data))
    out = data.iloc[idx].reset_index(drop=True)
    for shift in shifts:
        out = apply_shift(out, shift, rng, bounds)
    return out


def _json_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    import json

    records: list[dict[str, Any]] = json.loads(df.to_json(orient="records"))
    return records


def _described(client: httpx.Client, data: dict[str, Any]) -> ServedMetadata:
    """What simulate needs of the server: /metadata, or (without the admin scope) the columns
    and ranges of the request model in /openapi.json, the target from `data` (params.yaml)."""
    resp = client.get("/metadata")
    if resp.status_code not in (401, 403):
        return ServedMetadata.model_validate(resp.raise_for_status().json())
    if resp.status_code == 401:  # no key or a bad one: /predict would refuse it too
        raise DataError(f"{client.base_url}: {resp.json().get('detail')}; pass --api-key")
    doc = client.get("/openapi.json").raise_for_status().json()
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    ref = body["schema"]["oneOf"][0]["$ref"].rsplit("/", 1)[-1]
    props: dict[str, Any] = doc["components"]["schemas"][ref]["properties"]
    columns = {
        name: {"in_range": {"min_value": p.get("minimum"), "max_value": p.get("maximum")}}
        for name, p in props.items()
        if "minimum" in p or "maximum" in p
    }
    return ServedMetadata.model_validate(
        {"input_columns": list(props), "schema": {"columns": columns}, **data}
    )


def run(
    url: str,
    rows: int,
    shifts: list[Shift],
    data_path: Path,
    *,
    feedback: bool = False,
    seed: int = 0,
    batch_size: int = 100,
    timeout: float = 30.0,
    progress: Callable[[int], None] | None = None,
    api_key: str | None = None,
    data_config: dict[str, Any] | None = None,
) -> SimulateResult:
    """`data_config`: the target and positive_class when /metadata is not readable."""
    base = url.rstrip("/")
    result = SimulateResult()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=base, timeout=timeout, headers=headers) as client:
        try:
            meta = _described(client, data_config or {})
        except httpx.HTTPError as exc:
            raise DataError(
                f"cannot reach a gitml server at {base} ({type(exc).__name__}: {exc}); "
                "start one with `gitml serve`"
            ) from None
        columns = meta.input_columns
        target, positive = meta.target, meta.positive_class
        schema_cols = (meta.schema_ or {}).get("columns", {})
        bounds = {
            name: (
                (spec.get("in_range") or {}).get("min_value"),
                (spec.get("in_range") or {}).get("max_value"),
            )
            for name, spec in schema_cols.items()
            if isinstance(spec, dict) and spec.get("in_range")
        }
        data = read_parquet(data_path)
        missing = [c for c in columns if c not in data.columns]
        if missing:
            raise DataError(f"{data_path}: lacks the model's input columns {missing}")
        task = meta.task
        if feedback and (target not in data.columns or (positive is None and task == "binary")):
            raise DataError(f"{data_path}: no target column {target!r}; cannot send --feedback")
        sample = draw(data, rows, shifts, seed, bounds)
        truth = _truth(sample[target], task, positive) if feedback else []
        body = _json_rows(sample[columns])
        for start in range(0, len(body), batch_size):
            batch = body[start : start + batch_size]
            result.sent += len(batch)
            resp = client.post("/predict", json=batch)
            if resp.status_code != 200:
                result.rejected += len(batch)
                if len(result.errors) < 5:
                    result.errors.append(
                        f"rows {start + 1}-{start + len(batch)}: "
                        f"HTTP {resp.status_code} {resp.text[:300]}"
                    )
            else:
                preds = resp.json()
                result.predicted += len(preds)
                result.scores.extend(_score(p) for p in preds)
                if feedback:
                    for pred, label in zip(preds, truth[start : start + len(batch)], strict=True):
                        if label is None:  # no truth for this row (a missing target)
                            continue
                        fb = client.post(
                            "/feedback",
                            json={"prediction_id": pred["prediction_id"], "label": label},
                        )
                        result.feedback += fb.status_code == 202
            if progress is not None:
                progress(len(batch))
    return result


def _truth(values: pd.Series, task: str, positive: Any) -> list[Any]:
    """Each row's true label as POST /feedback takes it for the task (gitml.serve.answers):
    0/1 (binary), the number (regression), the class name (multiclass); None where missing."""
    if task == "binary":
        return list(labels.is_positive(values, positive).tolist())
    if task == "regression":
        return [None if pd.isna(v) else float(v) for v in values]
    return [None if pd.isna(v) else str(v).strip() for v in values]


def _score(answer: dict[str, Any]) -> float:
    """The answer's score as the log keeps it: P(positive), the prediction, the top probability."""
    if "probability" in answer:
        return float(answer["probability"])
    if "prediction" in answer:
        return float(answer["prediction"])
    return max(float(p) for p in answer["probabilities"].values())
