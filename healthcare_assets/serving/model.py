"""The model a serving process answers with: a registered version loaded from MLflow with skops' allow-list.

``load_served_model(tracker, "champion" | "challenger" | "7")`` resolves the alias or version in the registry,
downloads the version's artifact and loads ``model.skops`` with ``modeling.model_format.TRUSTED_TYPES`` (this
process's own list: a model file asking for any other type is refused), reads the input schema (feature names,
all doubles) from its MLmodel signature, and reads its card and validation report from the training run.

Operating threshold: the validation report's "sensitivity at 90% specificity" threshold (the one the card
reports), unless the operator gives one; risk bands are ``low`` below half the threshold, ``elevated`` below it,
``high`` at or above it (the alert).
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from healthcare_assets.errors import CleanError
from healthcare_assets.modeling.model_format import TRUSTED_TYPES
from healthcare_assets.modeling.promotion import CARD_JSON, CARD_MD, REPORT_ARTIFACT
from healthcare_assets.modeling.tracking import CHALLENGER, CHAMPION, Tracker

MODEL_NAME = "readmission_30d"
DEFAULT_THRESHOLD = 0.5
# Rows arrive as arrays in the fitted column order (checked at load); scikit-learn's per-call reminder that the
# model was fitted on a DataFrame is noise here.
warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)


class NoServableModel(CleanError, LookupError):
    """The requested alias or version does not exist (the message says what to do)."""


@dataclass
class ServedModel:
    name: str
    version: str
    alias: str | None
    run_id: str
    training_run_id: str | None
    estimator: Any = field(repr=False)
    features: list[str]
    threshold: float
    threshold_source: str
    card: dict[str, Any] | None = field(default=None, repr=False)
    card_md: str | None = field(default=None, repr=False)
    tags: dict[str, str] = field(default_factory=dict)

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """P(readmission) for a 2-D float array in ``features`` order (NaN = missing).

        A plain array, not a DataFrame: building a 283-column frame per request costs three times the prediction
        (the columns are already in the fitted order; ``features`` is the signature's order, checked at load)."""
        return self.estimator.predict_proba(rows)[:, 1]

    def band(self, probability: float) -> str:
        if probability >= self.threshold:
            return "high"
        return "elevated" if probability >= self.threshold / 2 else "low"

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "version": self.version,
            "alias": self.alias,
            "features": len(self.features),
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "mlflow_run_id": self.run_id,
            "training_run_id": self.training_run_id,
        }


def resolve_version(tracker: Tracker, name: str, which: str) -> tuple[str, str | None]:
    """(version, alias) for ``champion``, ``challenger`` or a version number; ``NoServableModel`` if absent."""
    from mlflow.exceptions import MlflowException

    which = str(which).strip()
    if which in (CHAMPION, CHALLENGER):
        version = tracker.alias_version(name, which)
        if version is None:
            hint = (
                "promote a validated version first: healthcare-assets promote VERSION --approver NAME --reason TEXT"
                if which == CHAMPION
                else "train one first: healthcare-assets run (or healthcare-assets train)"
            )
            raise NoServableModel(f"no {which} model: {name} has no version with the alias '{which}'; {hint}")
        return version, which
    if not which.isdigit():
        raise NoServableModel(f"--model must be champion, challenger or a version number, got {which!r}")
    try:
        tracker.version(name, which)
    except MlflowException:
        raise NoServableModel(f"{name} has no registered version {which}") from None
    return which, None


def load_served_model(
    tracker: Tracker, which: str = CHAMPION, name: str = MODEL_NAME, threshold: float | None = None
) -> ServedModel:
    import skops.io
    from mlflow.models import Model

    version, alias = resolve_version(tracker, name, which)
    registered = tracker.version(name, version)
    with tempfile.TemporaryDirectory(prefix="healthcare-assets-serve-") as tmp:
        with tracker.active() as mlflow:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=tmp))
        found = sorted(local.rglob("*.skops"))
        if len(found) != 1:
            raise NoServableModel(f"{name} version {version}: expected one .skops model file, found {len(found)}")
        estimator = skops.io.load(found[0], trusted=list(TRUSTED_TYPES))
        mlmodel = Model.load(str(next(local.rglob("MLmodel")).parent))
    schema = mlmodel.get_input_schema()
    if schema is None:
        raise NoServableModel(f"{name} version {version} has no input signature: it cannot be served safely")
    features = list(schema.input_names())
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None and list(fitted) != features:
        raise NoServableModel(f"{name} version {version}: the model's fitted feature order differs from its signature")
    report = _json_artifact(tracker, registered.run_id, REPORT_ARTIFACT)
    card = _json_artifact(tracker, registered.run_id, CARD_JSON)
    card_md = _text_artifact(tracker, registered.run_id, CARD_MD)
    chosen, source = _threshold(report, threshold)
    tags = dict(registered.tags or {})
    return ServedModel(
        name=name,
        version=str(version),
        alias=alias,
        run_id=registered.run_id,
        training_run_id=tags.get("training_run_id"),
        estimator=estimator,
        features=features,
        threshold=chosen,
        threshold_source=source,
        card=card,
        card_md=card_md,
        tags=tags,
    )


def _threshold(report: dict[str, Any] | None, explicit: float | None) -> tuple[float, str]:
    if explicit is not None:
        if not 0.0 < explicit < 1.0:
            raise ValueError(f"--threshold must be between 0 and 1, got {explicit}")
        return float(explicit), "operator (--threshold)"
    point = (report or {}).get("sensitivity_at_90_specificity") or {}
    value = point.get("threshold")
    if isinstance(value, (int, float)) and math.isfinite(value) and 0.0 < value < 1.0:
        return float(value), "validation report: sensitivity at 90% specificity"
    return DEFAULT_THRESHOLD, "default: the version has no validation report threshold"


def _json_artifact(tracker: Tracker, run_id: str, name: str) -> dict[str, Any] | None:
    text = _text_artifact(tracker, run_id, name)
    return json.loads(text) if text is not None else None


def _text_artifact(tracker: Tracker, run_id: str, name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return tracker.read_artifact(run_id, name).decode("utf-8")
    except (MlflowException, OSError):
        return None
