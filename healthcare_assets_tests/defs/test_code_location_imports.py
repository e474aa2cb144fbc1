"""Loading the code location stays light: every process that loads it (the CLI, the step fork server, the UI's
code server, each spawned step) pays its imports before any work, so the model-side libraries are imported by the
steps that use them, not at load (issue 15: orchestration overhead)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sklearn", "scipy", "matplotlib", "pandera", "pandas", "statsmodels", "mlflow", "evidently")
BULK_ONLY = ("requests", "jwt", "cryptography")
"""Only a FHIR Bulk export needs an HTTP client and JWT signing: a folder or synthetic batch does not load them."""


def _loaded_by_the_code_location(modules: tuple[str, ...]) -> str:
    """Which of ``modules`` a fresh interpreter has imported after loading the definitions and the preload."""
    code = (
        "import sys, healthcare_assets.definitions, healthcare_assets.defs.preload; "
        f"print(','.join(m for m in {modules!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_loading_the_definitions_imports_no_model_side_library() -> None:
    assert _loaded_by_the_code_location(HEAVY) == ""


def test_loading_the_definitions_imports_no_http_or_jwt_library() -> None:
    assert _loaded_by_the_code_location(BULK_ONLY) == ""


def test_the_bulk_package_still_exports_its_names_on_first_use() -> None:
    import healthcare_assets.fhir.bulk as bulk

    for name in bulk.__all__:
        assert getattr(bulk, name) is not None, name
    assert set(bulk.__all__) <= set(dir(bulk))
    assert set(bulk.__all__) == set(bulk._EXPORTS)  # the static list (for type checkers) and the lazy map agree
