"""The FastAPI app: /predict, /feedback, /health, /ready, /metadata, /metrics.

`create_app(resolved, log)` builds it around an already verified model (gitml.serve.resolve) and
a prediction log (gitml.serve.logdb.PredictionLog). The request model is generated from the
schema; rows go through the same `gitml.features.apply` as training, then the model's
`predict_proba`. Logging is a non-blocking enqueue; the log's writer thread does the I/O.
"""

# No `from __future__ import annotations`: FastAPI must see the generated request model
# itself in the signature of `predict`, not a string it cannot resolve.
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import yaml
from fastapi import Body, FastAPI, HTTPException, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, Discriminator, Field, Tag
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gitml import __version__
from gitml.core import features
from gitml.serve.logdb import DEFAULT_LOG_URL, PredictionLog
from gitml.serve.requests import request_model, to_frame
from gitml.serve.resolve import ResolvedModel

MAX_ROWS = 10_000


class Prediction(BaseModel):
    prediction_id: str = Field(description="pass it to POST /feedback when the truth is known")
    probability: float = Field(description="P(positive class)")
    label: int = Field(description="1 when probability >= threshold, else 0")
    predicted_class: str | None = Field(description="the positive class name when label is 1")
    threshold: float
    model_version: str
    unseen: list[str] = Field(description="columns whose category the model never saw")


class FeedbackIn(BaseModel):
    prediction_id: str = Field(min_length=1, max_length=36)
    label: int = Field(ge=0, le=1, description="the true outcome, 0 or 1")


def _one_or_many(value: Any) -> str:
    # Route a payload to one branch so a 422 names the field (body.row.age), not both branches.
    return "rows" if isinstance(value, list) else "row"


class Metrics:
    """Prometheus metrics in a registry of this app's own (several apps may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "gitml_http_requests",
            "HTTP requests by path and status",
            ["path", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "gitml_http_request_seconds",
            "request latency",
            ["path"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.scores = Histogram(
            "gitml_prediction_score",
            "predicted probability of the positive class",
            buckets=tuple(i / 10 for i in range(1, 11)),
            registry=r,
        )
        self.predictions = Counter("gitml_predictions", "rows predicted", registry=r)
        self.unseen = Counter(
            "gitml_unseen_categories",
            "values not seen in training, by column",
            ["column"],
            registry=r,
        )
        self.log_written = Counter(
            "gitml_log_written_rows", "rows written to the prediction log", registry=r
        )
        self.log_dropped = Counter(
            "gitml_log_dropped_rows",
            "rows NOT written to the prediction log (database down or too slow)",
            registry=r,
        )


class MetricsMiddleware:
    """Request count by route and status, and latency, for every HTTP request.

    A plain ASGI middleware: Starlette's `@app.middleware("http")` (BaseHTTPMiddleware) costs
    a task and a stream per request, a measurable share of a one-row prediction.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(path, str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)


def create_app(resolved: ResolvedModel, log: PredictionLog, metrics: Metrics) -> FastAPI:
    Row = request_model(resolved.specs)
    raw_positive = resolved.metadata.get("positive_class")  # may be an int or bool (params)
    positive = None if raw_positive is None else str(raw_positive)
    known = resolved.known_categories
    order = resolved.feature_order
    threshold = resolved.threshold
    version = resolved.version
    example = resolved.example

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        log.close()  # drain the queue: a clean shutdown loses no logged row

    app = FastAPI(
        title="gitml model server",
        version=__version__,
        description=f"Serving {resolved.source}. Request fields follow the data contract.",
        lifespan=lifespan,
    )

    app.add_middleware(MetricsMiddleware, metrics=metrics)

    def predict_rows(rows: list[dict[str, Any]]) -> list[Prediction]:
        frame = features.apply(to_frame(rows, resolved.specs), resolved.derived)
        if list(frame.columns) != order:  # usually already in training order: skip a copy
            frame = frame[order]
        scores = resolved.model.predict_proba(frame)[:, 1]
        now = datetime.now(UTC)
        out, records = [], []
        for row, score in zip(rows, scores, strict=True):
            unseen = [
                c for c, values in known.items() if row.get(c) is not None and row[c] not in values
            ]
            for c in unseen:
                metrics.unseen.labels(c).inc()
            label = int(score >= threshold)
            pid = str(uuid.uuid4())
            metrics.scores.observe(float(score))
            out.append(
                Prediction(
                    prediction_id=pid,
                    probability=float(score),
                    label=label,
                    predicted_class=positive if label else None,
                    threshold=threshold,
                    model_version=version,
                    unseen=unseen,
                )
            )
            records.append(
                {
                    "id": pid,
                    "created_at": now,
                    "model_version": version,
                    "features": row,
                    "score": float(score),
                    "label": label,
                    "threshold": threshold,
                    "unseen": unseen,
                }
            )
        metrics.predictions.inc(len(rows))
        log.log_predictions(records)
        return out

    body_examples = {"one row": {"value": example}, "several rows": {"value": [example, example]}}

    @app.post(
        "/predict",
        response_model=Prediction | list[Prediction],
        summary="Predict one row (an object) or several (a list of objects)",
    )
    def predict(
        payload: Annotated[
            Annotated[Row, Tag("row")]  # type: ignore[valid-type]
            | Annotated[list[Row], Tag("rows")],  # type: ignore[valid-type]
            Discriminator(_one_or_many),
            Body(openapi_examples=body_examples),
        ],
    ) -> Prediction | list[Prediction]:
        single = not isinstance(payload, list)
        items: list[Any] = [payload] if single else payload
        if not items:
            raise HTTPException(422, "the list of rows is empty")
        if len(items) > MAX_ROWS:
            raise HTTPException(413, f"at most {MAX_ROWS} rows per request; use `gitml predict`")
        results = predict_rows([item.model_dump() for item in items])
        return results[0] if single else results

    @app.post("/feedback", status_code=202, summary="Record the true label of a prediction")
    def post_feedback(fb: FeedbackIn) -> dict[str, str]:
        try:
            uuid.UUID(fb.prediction_id)
        except ValueError:
            raise HTTPException(422, "prediction_id is not a prediction id (a UUID)") from None
        log.log_feedback(fb.prediction_id, fb.label)
        return {"status": "accepted", "prediction_id": fb.prediction_id}

    @app.get("/health", summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: the model is loaded and answers")
    async def ready() -> dict[str, Any]:
        return {"status": "ready", "model_version": version}

    @app.get("/metadata", summary="Model version, revision, training metrics, schema, example")
    async def metadata() -> dict[str, Any]:
        return {
            "model_version": version,
            "source": resolved.source,
            "git_revision": resolved.revision,
            "threshold": threshold,
            "target": resolved.metadata.get("target"),
            "positive_class": positive,
            "family": resolved.metadata.get("family"),
            "model_sha256": resolved.metadata.get("model_sha256"),
            "training_metrics": resolved.metrics,
            "schema": yaml.safe_load(resolved.schema_yaml),
            "input_columns": [s.name for s in resolved.specs],
            "derived_features": resolved.derived,
            "example": example,
            "prediction_log": {"written": log.written, "dropped": log.dropped},
        }

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prom() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # Warm up: the first predict_proba pays one-off costs (imports, buffers) before /ready.
    if example:
        resolved.model.predict_proba(
            features.apply(to_frame([example], resolved.specs), resolved.derived)[order]
        )
    return app


def build(
    resolved: ResolvedModel, log_url: str = DEFAULT_LOG_URL
) -> tuple[FastAPI, PredictionLog, Metrics]:
    """The app with a fresh metrics registry and a prediction log writing to `log_url`."""
    import prometheus_client

    prometheus_client.disable_created_metrics()  # `*_created` series only add noise here
    metrics = Metrics()
    log = PredictionLog(log_url, on_write=metrics.log_written.inc, on_drop=metrics.log_dropped.inc)
    return create_app(resolved, log, metrics), log, metrics


def serve(resolved: ResolvedModel, host: str, port: int, log_url: str = DEFAULT_LOG_URL) -> None:
    """Run uvicorn until interrupted; on SIGINT/SIGTERM the lifespan flushes the log."""
    import uvicorn

    app, _, _ = build(resolved, log_url)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
