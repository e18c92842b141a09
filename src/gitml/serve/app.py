"""The FastAPI app: /predict, /feedback, /health, /ready, /metadata, /metrics.

`create_app(resolved, log)` builds it around an already verified model (gitml.serve.resolve) and
a prediction log (gitml.logstore.logdb.PredictionLog). The request model is generated from the
schema; rows are scored by `gitml.serve.predictor.Predictor`, which batch predict shares: the
compiled model (gitml.serve.fast, checked equal to the Pipeline at load) or, for a model it
cannot compile, the same `gitml.core.features.apply` as training and the Pipeline's
`predict_proba`. `Answers` turns scores into answers and log records; each answer waits for its
rows' commit to the log (a kill -9 loses no acknowledged prediction), done by the log's writer
thread.
"""

# No `from __future__ import annotations`: FastAPI must see the generated request model
# itself in the signature of `predict`, not a string it cannot resolve.
import asyncio
import contextlib
import gc
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

import yaml
from fastapi import Body, FastAPI, Header, HTTPException, Response
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Discriminator, Tag
from starlette.concurrency import run_in_threadpool

from gitml import __version__
from gitml.logstore.logdb import DEFAULT_LOG_URL, PredictionLog, unknown_ids_message
from gitml.serve import auth
from gitml.serve.answers import (
    NotFiniteError,
    describe,
    feedback_fields,
    feedback_model,
    outcome,
    response_model,
)
from gitml.serve.fast import FastModel
from gitml.serve.follow import FollowConfig, Follower, admin_routes
from gitml.serve.guard import DEFAULT_MAX_BODY_BYTES, BodyGuard, validation_error_handler
from gitml.serve.metrics import Metrics, MetricsMiddleware, exposed_registry
from gitml.serve.predictor import Predictor
from gitml.serve.requests import ServedMetadata, request_model
from gitml.serve.resolve import ResolvedModel
from gitml.serve.routing import Loaded, Routing, ScoringError


def _dumps(value: Any) -> bytes:
    # The stdlib: orjson measured no better on these ~200-byte bodies (bench/README.md).
    return json.dumps(value, separators=(",", ":")).encode()


# Apps started and not yet stopped in this process: the garbage collector's frozen heap is the
# process's, so only the last one to stop unfreezes it.
_RUNNING = [0]
MAX_ROWS = 10_000  # rows per request; more go to `gitml predict`
IN_LOOP_ROWS = 64  # more rows than this are predicted in a worker thread
ACK_TIMEOUT = 2.0  # seconds an answer waits for its rows to be committed to the log


def _one_or_many(value: Any) -> str:
    # Route a payload to one branch so a 422 names the field (body.row.age), not both branches.
    return "rows" if isinstance(value, list) else "row"


@asynccontextmanager
async def _lifespan_of(log: PredictionLog, follower: Follower | None) -> AsyncIterator[None]:
    # The model, pandas, scikit-learn and uvicorn leave a large heap that never becomes
    # garbage. Every full collection walked it: about 140 ms with the whole process
    # stopped, every 0.7 s under load, which was most of the p99 (bench/README.md).
    # Frozen, the collector skips it; cycles made after start-up are still collected.
    gc.collect()
    gc.freeze()
    _RUNNING[0] += 1
    if follower is not None:
        follower.start()
    try:
        yield
    finally:
        if follower is not None:
            follower.stop()
        log.close()  # drain the queue: a clean shutdown loses no logged row
        _RUNNING[0] -= 1
        if _RUNNING[0] == 0:  # the last app of a process that goes on (the tests)
            gc.unfreeze()


class Answers:
    """What the routes do: score rows into answers and log records, and wait for the log.

    `routing` (gitml.serve.routing) is replaced whole when the server follows the registry
    (gitml.serve.follow); a request reads it once, so it finishes on the model it started with.
    """

    def __init__(
        self, predictor: Predictor, log: PredictionLog, metrics: Metrics, ack_timeout: float
    ) -> None:
        self.log, self.metrics = log, metrics
        self.ack_timeout = ack_timeout
        self.routing = Routing(Loaded.of(predictor))
        self.extra_metadata: dict[str, Callable[[], Any]] = {}  # e.g. "follow": its state

    @property
    def predictor(self) -> Predictor:
        return self.routing.prod.predictor

    @property
    def version(self) -> str:
        return self.routing.prod.version

    def predict_rows(
        self, rows: list[dict[str, Any]], key_name: str | None = None, route: str | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(the answers, in the task's response model's field order (gitml.serve.answers); the
        prediction log's records, naming the version that scored each row, the time its call
        took and the API key that sent them). ScoringError (gitml.serve.routing) when the model
        raises; NotFiniteError when its output for a row is not a finite number.

        `route` (X-Request-Key) routes the whole request when a canary is served."""
        metrics = self.metrics
        now = datetime.now(UTC)
        out, records = [], []
        scored = self.routing.score(rows, route)
        for row, (pid, loaded, score, took) in zip(rows, scored, strict=True):
            predictor, version = loaded.predictor, loaded.version
            unseen = predictor.unseen_in_row(row)
            for c in unseen:
                metrics.unseen.labels(c).inc()
            answer, record = outcome(
                predictor.task, predictor.classes, predictor.threshold, loaded.positive, score
            )
            metrics.scores.observe(record["score"])
            out.append({"prediction_id": pid, **answer, "model_version": version, "unseen": unseen})
            records.append(
                {"id": pid, "created_at": now, "model_version": version, "features": row,
                 **record, "unseen": unseen, "key_name": key_name, "latency_ms": took * 1000.0}
            )  # fmt: skip
        metrics.predictions.inc(len(rows))
        return out, records

    async def committed(self, write: Callable[[Callable[[bool], None]], None]) -> None:
        """Hand rows to the log's writer thread; wait (without blocking the loop) for the commit.

        The answer goes out once its rows are in the database, so a kill -9 of the server loses
        no acknowledged prediction. A log that is down or slower than `ack_timeout` does not
        hold the answer back: the rows are counted as dropped, or committed a little later.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()

        def settle(ok: bool) -> None:
            if not future.done():
                future.set_result(ok)

        def done(ok: bool) -> None:  # runs in the writer thread
            loop.call_soon_threadsafe(settle, ok)

        write(done)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(future, self.ack_timeout)

    def metadata(self) -> ServedMetadata:
        prod = self.routing.prod
        resolved = prod.predictor.resolved
        return ServedMetadata(
            model_version=self.version,
            source=resolved.source,
            git_revision=resolved.revision,
            **describe(prod.predictor.task, prod.predictor.classes, prod.predictor.threshold),
            target=resolved.metadata.target,
            positive_class=prod.positive,
            family=resolved.metadata.family,
            model_sha256=resolved.metadata.model_sha256,
            training_metrics=resolved.metrics,
            schema=yaml.safe_load(resolved.schema_yaml),
            input_columns=[s.name for s in resolved.specs],
            input_names=resolved.own_names,
            derived_features=resolved.derived,
            example=resolved.own_example,
            prediction_log={"written": self.log.written, "dropped": self.log.dropped},
            **{name: state() for name, state in self.extra_metadata.items()},
        )


def create_app(
    resolved: ResolvedModel,
    log: PredictionLog,
    metrics: Metrics,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    fast: FastModel | None = None,
    ack_timeout: float = ACK_TIMEOUT,
    access: auth.Access | None = None,
    follow: FollowConfig | None = None,
) -> FastAPI:
    predictor = Predictor(resolved, fast)
    answers = Answers(predictor, log, metrics, ack_timeout)
    follower = Follower(follow, answers, metrics.registry) if follow else None
    app = FastAPI(
        title="gitml model server",
        version=__version__,
        description=f"Serving {resolved.source}. Request fields follow the data contract.",
        lifespan=lambda _: _lifespan_of(log, follower),
    )
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    # Added first, so it runs inside the metrics middleware: its 413/415/422 are counted too.
    app.add_middleware(BodyGuard, max_body_bytes=max_body_bytes)
    # API keys (None: an open server). Added after the body guard, so it runs before it: a
    # caller without a valid key gets 401 before the body is read.
    auth.protect(app, access)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    task, classes = predictor.task, predictor.classes
    Answer = response_model(task, classes)
    _add_predict(app, request_model(resolved.specs), Answer, resolved.own_example, answers)
    _add_feedback(app, feedback_model(task, classes, resolved.class_labels), answers)
    _add_the_rest(app, answers)
    if follower is not None:
        # with keys, the key middleware already asks /admin/* for the admin scope; an open
        # server (loopback only) lets only loopback clients in
        guard = auth.checked_by_middleware if access is not None else None
        app.include_router(admin_routes(follower, guard))
        answers.extra_metadata["follow"] = follower.state
        app.state.follower = follower
    app.state.answers = answers
    predictor.warm_up()
    return app


def _add_predict(
    app: FastAPI,
    Row: type[BaseModel],
    Answer: type[BaseModel],
    example: dict[str, Any],
    answers: Answers,
) -> None:
    """POST /predict, whose body model is generated from the data contract (`Row`) and whose
    answer model from the task (`Answer`, gitml.serve.answers)."""
    body_examples = {"one row": {"value": example}, "several rows": {"value": [example, example]}}

    @app.post(
        "/predict",
        response_model=Answer | list[Answer],  # type: ignore[valid-type]
        summary="Predict one row (an object) or several (a list of objects)",
    )
    async def predict(
        payload: Annotated[
            Annotated[Row, Tag("row")]  # type: ignore[valid-type]
            | Annotated[list[Row], Tag("rows")],  # type: ignore[valid-type]
            Discriminator(_one_or_many),
            Body(openapi_examples=body_examples),
        ],
        x_request_key: Annotated[
            str | None,
            Header(max_length=256, description="routes the request (canary split); sticky"),
        ] = None,
    ) -> Response:
        single = not isinstance(payload, list)
        items: list[Any] = [payload] if single else payload
        if not items:
            raise HTTPException(422, "the list of rows is empty")
        if len(items) > MAX_ROWS:
            raise HTTPException(413, f"at most {MAX_ROWS} rows per request; use `gitml predict`")
        rows = [item.model_dump() for item in items]
        key = auth.caller()
        try:
            if len(rows) > IN_LOOP_ROWS:  # a big batch: off the event loop, others go on
                results, records = await run_in_threadpool(
                    answers.predict_rows, rows, key, x_request_key
                )
            else:  # a few rows take well under a millisecond: a thread hop would cost more
                results, records = answers.predict_rows(rows, key, x_request_key)
        except ScoringError as exc:  # the version's failure, logged for `gitml canary`
            error = type(exc.__cause__).__name__
            logging.getLogger(__name__).exception("%s (%s)", exc, error)  # with the traceback
            fail = partial(answers.log.log_failure, exc.version, exc.rows, error, key)
            await answers.committed(fail)
            raise HTTPException(500, f"{exc} ({error}); the failure is logged") from None
        except NotFiniteError as exc:
            raise HTTPException(422, str(exc)) from None
        await answers.committed(lambda done: answers.log.log_predictions(records, done))
        # Built here, not validated again against `Answer` by FastAPI: the fields are ours
        # (tests/integration/serve/test_serve_fast.py checks the body against the model).
        return Response(_dumps(results[0] if single else results), media_type="application/json")


def _add_feedback(app: FastAPI, Feedback: type[BaseModel], answers: Answers) -> None:
    """POST /feedback, whose `label` is the task's truth (gitml.serve.answers.feedback_model)."""
    task, classes = answers.predictor.task, answers.predictor.classes

    @app.post("/feedback", status_code=202, summary="Record the true label of a prediction")
    async def post_feedback(fb: Feedback) -> dict[str, str]:  # type: ignore[valid-type]
        pid: str = fb.prediction_id  # type: ignore[attr-defined]
        try:
            uuid.UUID(pid)
        except ValueError:
            raise HTTPException(422, "prediction_id is not a prediction id (a UUID)") from None
        key = auth.caller()
        unknown = await run_in_threadpool(answers.log.unknown_ids, [pid])
        if unknown:  # None: the log cannot be read now; take the label as before
            raise HTTPException(404, unknown_ids_message(unknown))
        truth = feedback_fields(task, classes, fb.label)  # type: ignore[attr-defined]
        await answers.committed(
            lambda done: answers.log.log_feedback(pid, done=done, key_name=key, **truth)
        )
        return {"status": "accepted", "prediction_id": pid}


def _add_the_rest(app: FastAPI, answers: Answers) -> None:
    """/health, /ready, /metadata and /metrics."""

    @app.get("/health", summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: the model is loaded and answers")
    async def ready() -> dict[str, Any]:
        return {"status": "ready", "model_version": answers.version}

    @app.get("/metadata", summary="Model version, revision, training metrics, schema, example")
    async def metadata() -> ServedMetadata:
        return answers.metadata()

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prom() -> Response:
        registry = exposed_registry(answers.metrics)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def build(
    resolved: ResolvedModel,
    log_url: str = DEFAULT_LOG_URL,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    fast_path: bool = True,
    access: auth.Access | None = None,
    follow: FollowConfig | None = None,
) -> tuple[FastAPI, PredictionLog, Metrics]:
    """The app with a fresh metrics registry and a prediction log writing to `log_url`.

    `fast_path`: compile the model (gitml.serve.fast) and check it against the Pipeline; a
    mismatch raises DataError (the server does not start), a model it cannot compile is served
    through the Pipeline. `follow`: follow the registry (gitml.serve.follow).
    """
    import prometheus_client

    predictor = Predictor.prepare(resolved, fast_path)
    if fast_path:
        logging.getLogger("uvicorn.error").info(predictor.message)  # uvicorn prints this logger

    prometheus_client.disable_created_metrics()  # `*_created` series only add noise here
    metrics = Metrics()
    log = PredictionLog(log_url, on_write=metrics.log_written.inc, on_drop=metrics.log_dropped.inc)
    app = create_app(
        resolved, log, metrics, max_body_bytes, predictor.fast, access=access, follow=follow
    )
    app.state.fast_path = predictor.message
    return app, log, metrics


def serve(
    resolved: ResolvedModel,
    host: str,
    port: int,
    log_url: str = DEFAULT_LOG_URL,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    fast_path: bool = True,
    access: auth.Access | None = None,
    tls: auth.Tls | None = None,
    follow: FollowConfig | None = None,
) -> None:
    """Run uvicorn until interrupted; on SIGINT/SIGTERM the lifespan flushes the log.

    `tls`: serve HTTPS with this certificate and key; `access`: the API keys."""
    import sys

    import uvicorn

    app, _, _ = build(resolved, log_url, max_body_bytes, fast_path, access, follow)
    print(app.state.fast_path, file=sys.stderr, flush=True)  # uvicorn's logging is not set up yet
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        ssl_certfile=tls.certfile if tls else None,
        ssl_keyfile=tls.keyfile if tls else None,
    )
