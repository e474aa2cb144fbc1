"""Where a model came from: the code's git revision (when the package runs from a checkout)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from healthcare_assets import __version__

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def git_revision(directory: Path = PACKAGE_DIR) -> dict[str, object]:
    """``{"commit", "dirty", "package_version"}``; commit ``unknown`` outside a git checkout (an installed wheel)."""
    out: dict[str, object] = {"commit": "unknown", "dirty": None, "package_version": __version__}
    try:
        commit = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return out
        status = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return out
    out["commit"] = commit.stdout.strip()
    out["dirty"] = bool(status.stdout.strip()) if status.returncode == 0 else None
    return out
