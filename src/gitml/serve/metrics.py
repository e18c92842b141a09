"""Prometheus metrics of `gitml serve`: the registry, the request middleware, /metrics' source."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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


def exposed_registry(metrics: Metrics) -> CollectorRegistry:
    """This process's metrics, or, under `gitml serve --workers N`, every worker's, summed.

    With several workers, prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set
    by gitml.serve.workers before the workers start) keeps each worker's values in files, and
    whichever worker answers /metrics reports the sum over all of them.
    """
    import os

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return metrics.registry
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


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
