"""The inference service: FastAPI app over a ``ServedModel`` (and an optional shadow challenger).

Endpoints: ``POST /predict`` (one feature record; the request model is generated from the model's signature, so
a 422 names every missing, unknown or non-numeric field), ``POST /predict/fhir`` (one patient's FHIR R4 Bundle,
de-identified in memory and featurized by the training code, ``serving/fhir.py``), ``GET /health`` (liveness),
``GET /ready`` (model loaded and a test prediction succeeds), ``GET /model-card``, ``GET /metrics`` (Prometheus).

Safety: bodies over ``max_body_bytes`` are refused with 413 before they are read whole; with a bearer token
configured every route but ``/health``, ``/ready`` and ``/metrics`` needs it; validation errors never echo the
submitted values (a Bundle's names and dates must not reach a response, a log line or the audit record); an
unexpected failure answers 500 with the prediction id and logs only the exception's type.
"""

# No ``from __future__ import annotations``: FastAPI must see the generated request model itself.
import asyncio
import hmac
import logging
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from healthcare_assets.audit.canonical import sha256_json
from healthcare_assets.audit.predictions import PredictionRecorder
from healthcare_assets.serving.fhir import BundleError, bundle_features, parse_bundle
from healthcare_assets.serving.model import ServedModel

log = logging.getLogger("healthcare_assets.serving")
DEFAULT_MAX_BODY = 5 * 1024 * 1024  # a long-stay patient's Bundle of the resources the features read fits well
TOKEN_ENV = "HEALTHCARE_ASSETS_SERVE_TOKEN"
OPEN_PATHS = ("/health", "/ready", "/metrics")
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 20)) + (1.0,)


@dataclass
class ServiceConfig:
    audit_dir: Path
    max_body_bytes: int = DEFAULT_MAX_BODY
    token: str | None = None
    anchor_every: int = 1000
    # Bundles featurized at once (DuckDB work, CPU-bound): more only thrash the cores; the rest wait their turn.
    fhir_concurrency: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    extra: dict[str, Any] = field(default_factory=dict)


def feature_record_model(features: list[str]) -> type[BaseModel]:
    """A pydantic model with one required, nullable, finite number per feature and nothing else."""
    number = Annotated[float | None, Field(allow_inf_nan=False, strict=True)]
    fields: dict[str, Any] = {name: (number, ...) for name in features}
    return create_model(
        "FeatureRecord", __config__=ConfigDict(extra="forbid", strict=True, protected_namespaces=()), **fields
    )


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "healthcare_requests", "HTTP requests by route and status", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "healthcare_request_seconds", "Request latency by route", ["route"], registry=self.registry
        )
        self.errors = Counter("healthcare_errors", "Failed requests by route and kind", ["route", "kind"],
                              registry=self.registry)  # fmt: skip
        self.scores = Histogram("healthcare_prediction_score", "Served P(readmission)", ["model", "version"],
                                buckets=SCORE_BUCKETS, registry=self.registry)  # fmt: skip
        self.alerts = Counter("healthcare_alerts", "Predictions at or above the threshold", ["model", "version"],
                              registry=self.registry)  # fmt: skip
        self.shadow_scores = Histogram("healthcare_shadow_score", "Shadow (challenger) P(readmission), never returned",
                                       ["model", "version"], buckets=SCORE_BUCKETS, registry=self.registry)  # fmt: skip


class BodyLimit:
    """ASGI middleware: 413 for a declared or streamed body larger than ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(self.limit, send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(limit: int, send: Send) -> None:
    response = JSONResponse({"detail": f"request body larger than {limit} bytes"}, status_code=413)
    await response({"type": "http"}, None, send)  # type: ignore[arg-type]


def _scrubbed(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors without the submitted values (``input``, ``ctx`` may quote them)."""
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors]


def create_app(
    model: ServedModel,
    config: ServiceConfig,
    shadow: ServedModel | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> FastAPI:
    metrics = _Metrics()
    record_model = feature_record_model(model.features)
    recorder = PredictionRecorder(config.audit_dir, {"run_id": model.run_id}, anchor_every=config.anchor_every)
    state: dict[str, Any] = {"session": None}
    fhir_slots = asyncio.Semaphore(config.fhir_concurrency)

    def start() -> None:
        details = {
            "registered_model": model.name,
            "version": model.version,
            "alias": model.alias,
            "mlflow_run_id": model.run_id,
            "training_run_id": model.training_run_id,
            "threshold": model.threshold,
            "threshold_source": model.threshold_source,
            "features": len(model.features),
            "shadow": None if shadow is None else {"version": shadow.version, "alias": shadow.alias},
        }
        state["session"] = recorder.start(details)["hash"]
        log.info("serving %s version %s (%s), shadow %s", model.name, model.version, model.alias or "pinned",
                 shadow.version if shadow else "none")  # fmt: skip

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if state["session"] is None:
            start()
        yield
        recorder.stop()

    app = FastAPI(
        title="healthcare-assets readmission service",
        description="30-day readmission risk from a feature record or one patient's FHIR R4 Bundle.",
        version=model.version,
        lifespan=lifespan,
    )
    app.state.model, app.state.shadow, app.state.metrics, app.state.recorder = model, shadow, metrics, recorder
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        route = request.url.path
        tick = clock()
        if config.token and route not in OPEN_PATHS:
            given = request.headers.get("authorization", "")
            expected = f"Bearer {config.token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                metrics.requests.labels(route, "401").inc()
                metrics.errors.labels(route, "unauthorized").inc()
                return JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        try:
            response = await call_next(request)
        except Exception as exc:  # noqa: BLE001 - the type only: a message could quote a submitted value
            log.error("%s failed: %s", route, type(exc).__name__)
            response = JSONResponse({"detail": f"internal error ({type(exc).__name__})"}, status_code=500)
        known = (
            route if route in ("/predict", "/predict/fhir", "/health", "/ready", "/model-card", "/metrics") else "other"
        )
        metrics.requests.labels(known, str(response.status_code)).inc()
        log.info("%s %s %d %.1f ms", request.method, route, response.status_code, (clock() - tick) * 1000.0)
        metrics.latency.labels(known).observe(clock() - tick)
        if response.status_code >= 400:
            metrics.errors.labels(known, str(response.status_code)).inc()
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _scrubbed(list(exc.errors()))}, status_code=422)

    def _score(rows: np.ndarray, route: str, input_hash: str, tick: float, extra: dict[str, Any]) -> dict[str, Any]:
        prediction_id = str(uuid.uuid4())
        probability = float(model.probabilities(rows)[0])
        alert = probability >= model.threshold
        band = model.band(probability)
        latency_ms = round((clock() - tick) * 1000.0, 3)
        details: dict[str, Any] = {
            "prediction_id": prediction_id,
            "route": route,
            "registered_model": model.name,
            "version": model.version,
            "probability": round(probability, 6),
            "band": band,
            "alert": alert,
            "threshold": model.threshold,
            "latency_ms": latency_ms,
        }
        if shadow is not None:
            try:  # the shadow's output is logged and audited, never returned; its failure never fails the request
                shadow_p = float(shadow.probabilities(rows)[0])
                details["shadow"] = {"version": shadow.version, "probability": round(shadow_p, 6),
                                     "alert": shadow_p >= shadow.threshold}  # fmt: skip
                metrics.shadow_scores.labels(shadow.name, shadow.version).observe(shadow_p)
                log.info("shadow %s v%s p=%.4f for prediction %s", shadow.name, shadow.version, shadow_p,
                         prediction_id)  # fmt: skip
            except Exception as exc:  # noqa: BLE001
                details["shadow"] = {"version": shadow.version, "error": type(exc).__name__}
                metrics.errors.labels("shadow", type(exc).__name__).inc()
        recorder.record(details, input_hash)
        metrics.scores.labels(model.name, model.version).observe(probability)
        if alert:
            metrics.alerts.labels(model.name, model.version).inc()
        log.info("prediction %s %s v%s p=%.4f band=%s %.1f ms", prediction_id, route, model.version, probability,
                 band, latency_ms)  # fmt: skip
        return {
            "prediction_id": prediction_id,
            "probability": probability,
            "risk_band": band,
            "threshold": model.threshold,
            "alert": alert,
            "model": model.name,
            "model_version": model.version,
            **extra,
        }

    def _row(values: dict[str, float | None]) -> np.ndarray:
        return np.array([[np.nan if values[f] is None else values[f] for f in model.features]], dtype=float)

    @app.post("/predict", summary="Risk for one feature record (every feature of the model, null = missing)")
    def predict(record: record_model) -> dict[str, Any]:  # type: ignore[valid-type]
        tick = clock()
        values = record.model_dump()
        return _score(_row(values), "/predict", sha256_json([values[f] for f in model.features]), tick, {})

    @app.post("/predict/fhir", summary="Risk for one patient's FHIR R4 Bundle (de-identified in memory)")
    async def predict_fhir(request: Request, index_encounter: str | None = None) -> JSONResponse:
        tick = clock()
        body = await request.body()
        try:
            resources = parse_bundle(body)
            from starlette.concurrency import run_in_threadpool

            async with fhir_slots:
                built = await run_in_threadpool(bundle_features, resources, model.features, index_encounter)
        except BundleError as exc:
            metrics.errors.labels("/predict/fhir", "bundle").inc()
            return JSONResponse({"detail": str(exc)}, status_code=422)
        finally:
            del body
        values = built.values
        extra = {"index_stay": built.chosen_by, "eligible_stays": built.index_stays}
        answer = _score(_row(values), "/predict/fhir", sha256_json([values[f] for f in model.features]), tick, extra)
        return JSONResponse(answer)

    @app.get("/health", summary="Liveness: the process answers")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: the model is loaded and scores a test record")
    def ready() -> Response:
        try:
            p = float(model.probabilities(np.full((1, len(model.features)), np.nan))[0])
            if not math.isfinite(p) or state["session"] is None:
                raise ValueError("no finite test score" if state["session"] else "serving session not started")
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure as not ready
            return JSONResponse({"status": "not ready", "reason": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ready", **model.describe(), "shadow": shadow.version if shadow else None})

    @app.get("/model-card", summary="The served version's model card (JSON; ?format=markdown for the text)")
    def model_card(format: str = "json") -> Response:
        if model.card is None:
            return JSONResponse(
                {"detail": f"{model.name} version {model.version} has no model card (a card is written only "
                           "after a passed clinical gate)", "served": model.describe()},
                status_code=404,
            )  # fmt: skip
        if format == "markdown":
            return PlainTextResponse(model.card_md or "", media_type="text/markdown")
        return JSONResponse({"served": model.describe(), "card": model.card})

    @app.get("/metrics", summary="Prometheus metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.state.start = start
    return app
