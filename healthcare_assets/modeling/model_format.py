"""How a trained model is stored so that a separate serving process can load it.

Format: MLflow's scikit-learn flavor serialized with **skops** and an explicit allow-list of types
(``TRUSTED_TYPES``). Why not the alternatives:

* skops with no allow-list (MLflow's default) refuses to load these models: the gradient boosting's tree nodes
  (``TreePredictor``), the out-of-fold recalibration's pieces (``_CalibratedClassifier``,
  ``_SigmoidCalibration``) and NumPy dtypes are not on skops' built-in list;
* pickle/cloudpickle would load anything, and unpickling runs whatever code the file names; a registry
  artifact should not be able to do that to the serving process;
* ONNX needs a converter package and a different runtime, and would make the serving output differ from what
  validation measured.

With skops the serving process (issue 14's FastAPI service) can load ``model.skops`` with ``TRUSTED_TYPES`` from
this module, so a model file that asks for any other type is refused; ``mlflow models serve`` and
``mlflow.pyfunc.load_model`` read the same list from the MLmodel file. The pyfunc flavor calls
``predict_proba`` (two columns: P(no readmission), P(readmission)); the signature declares every feature a
``double`` (NULL/NaN = missing), in the dictionary's order.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is imported by the steps that use it, not by the code location
    import pandas as pd

SERIALIZATION_FORMAT = "skops"
# Types outside skops' default trust list that the candidates need (``candidates.CANDIDATES``); a test checks
# that every candidate round-trips with exactly this list.
TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
PREDICT_FN = "predict_proba"
RUNTIME_PACKAGES = ("scikit-learn", "numpy", "scipy", "pandas", "skops", "mlflow")


def pip_requirements() -> list[str]:
    """What a serving environment needs, pinned to the versions that trained the model (no inference: MLflow's
    requirement inference would start a subprocess and guess)."""
    return [f"{name}=={metadata.version(name)}" for name in RUNTIME_PACKAGES]


def input_example(X: pd.DataFrame) -> pd.DataFrame:
    """Two rows that are no one's record: the training medians, and a row with every feature missing.

    A real stay would put an individual's record into the artifact store; medians are aggregates, and the empty
    row shows that missing values are accepted.
    """
    import pandas as pd

    medians = X.median(numeric_only=True).reindex(X.columns)
    return pd.DataFrame([medians.to_numpy(dtype=float), np.full(len(X.columns), np.nan)], columns=list(X.columns))


def signature(X: pd.DataFrame, model: object):
    """Input: every feature as a double column (NaN = missing); output: the two-column probability tensor."""
    from mlflow.models import infer_signature
    from mlflow.types import ColSpec, Schema

    example = input_example(X)
    inferred = infer_signature(example, model.predict_proba(example))
    columns = [ColSpec("double", name) for name in X.columns]
    return type(inferred)(inputs=Schema(columns), outputs=inferred.outputs)
