"""``healthcare-assets serve``: load the model (and shadow), build the app, run uvicorn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from healthcare_assets.config import Paths
from healthcare_assets.modeling.tracking import CHALLENGER, Tracker
from healthcare_assets.serving.model import MODEL_NAME, NoServableModel, ServedModel, load_served_model


@dataclass(frozen=True)
class ServeOptions:
    model: str = "champion"
    shadow: str = "auto"  # challenger | VERSION | none | auto
    host: str = "127.0.0.1"
    port: int = 8080
    threshold: float | None = None
    max_body_bytes: int = 5 * 1024 * 1024
    token: str | None = None
    anchor_every: int = 1000


def load_models(tracker: Tracker, options: ServeOptions) -> tuple[ServedModel, ServedModel | None]:
    served = load_served_model(tracker, options.model, MODEL_NAME, options.threshold)
    which = options.shadow.strip().lower()
    if which == "none":
        return served, None
    if which == "auto":
        challenger = tracker.alias_version(MODEL_NAME, CHALLENGER)
        if challenger is None or challenger == served.version:
            return served, None
        which = CHALLENGER
    try:
        shadow = load_served_model(tracker, which, MODEL_NAME)
    except NoServableModel:
        if options.shadow == "auto":
            return served, None
        raise
    if shadow.features != served.features:
        raise NoServableModel(
            f"shadow version {shadow.version} expects other features than version {served.version}: it cannot "
            "score the same requests"
        )
    return served, (None if shadow.version == served.version else shadow)


def serve(paths: Paths, options: ServeOptions, printer: Callable[[str], None] = print) -> int:
    import logging

    import uvicorn

    # The service's own lines (request, prediction id, score, latency; never a request body) beside uvicorn's.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    service_log = logging.getLogger("healthcare_assets.serving")
    service_log.addHandler(handler)
    service_log.setLevel(logging.INFO)

    from healthcare_assets.serving.app import ServiceConfig, create_app

    tracker = Tracker.embedded(paths.mlflow, MODEL_NAME)
    served, shadow = load_models(tracker, options)
    config = ServiceConfig(
        audit_dir=paths.audit,
        max_body_bytes=options.max_body_bytes,
        token=options.token,
        anchor_every=options.anchor_every,
    )
    app = create_app(served, config, shadow)
    printer(
        f"serving {served.name} version {served.version} ({served.alias or 'pinned version'}), "
        f"{len(served.features)} features, threshold {served.threshold:.4f} ({served.threshold_source})"
    )
    printer(f"shadow: {f'version {shadow.version} (scored, logged, never returned)' if shadow else 'none'}")
    printer(f"auth: {'bearer token required' if options.token else 'none (set a token for anything but localhost)'}")
    printer(f"listening on http://{options.host}:{options.port}  (POST /predict, POST /predict/fhir, GET /health, "
            "/ready, /model-card, /metrics)")  # fmt: skip
    uvicorn.run(app, host=options.host, port=options.port, log_level="info", access_log=False)
    # uvicorn's access log would print query strings (an index encounter's original id): the app logs
    # method, path, status and latency itself.
    return 0
