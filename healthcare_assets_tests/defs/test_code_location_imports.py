"""Loading the code location stays light: every process that loads it (the CLI, the step fork server, the UI's
code server, each spawned step) pays its imports before any work, so the model-side libraries are imported by the
steps that use them, not at load (issue 15: orchestration overhead)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sklearn", "scipy", "matplotlib", "pandera", "pandas", "statsmodels", "mlflow", "evidently")


def test_loading_the_definitions_imports_no_model_side_library() -> None:
    code = (
        "import sys, healthcare_assets.definitions, healthcare_assets.defs.preload; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
