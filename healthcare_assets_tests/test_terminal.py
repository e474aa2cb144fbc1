"""Progress lines go to the command's stdout even while a run in the process has descriptor 1 redirected."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from healthcare_assets.terminal import progress_printer

CAPTURE_LIKE_DAGSTER = """
import os, sys
from healthcare_assets.terminal import progress_printer
printer = progress_printer()
print("before", flush=True)
capture = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)
saved = os.dup(1)
os.dup2(capture, 1)  # what an in-process Dagster run does to the process's stdout
print("a step printed this", flush=True)
printer("✔ progress")
os.dup2(saved, 1)
printer("after")
"""


def test_lines_bypass_a_redirected_stdout_and_keep_their_order(tmp_path: Path) -> None:
    capture = tmp_path / "compute.out"
    done = subprocess.run(
        [sys.executable, "-c", CAPTURE_LIKE_DAGSTER, str(capture)], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines() == ["before", "✔ progress", "after"]
    assert capture.read_text() == "a step printed this\n"


def test_a_stdout_without_a_descriptor_is_written_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    printer = progress_printer()
    printer("one")
    printer("two")
    assert out.getvalue() == "one\ntwo\n"
