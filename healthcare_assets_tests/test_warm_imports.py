"""Modules imported ahead of the steps that need them: in a background thread, without ever raising."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from healthcare_assets.warm_imports import import_in_background
assert "pandera.polars" not in sys.modules
import_in_background().join()
print("pandas" in sys.modules, "pandera.polars" in sys.modules)
import_in_background(("no_such_module_anywhere",)).join()  # left to the step: no traceback from the thread
"""


def test_the_background_thread_imports_pandas_and_pandera_and_never_raises() -> None:
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
    assert done.stderr == ""
