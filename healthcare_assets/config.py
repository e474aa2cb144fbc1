"""Where things live: the data directory and its zones, resolved from the environment.

One place decides every path so that the CLI, the Dagster definitions, the tests and operators agree
(names are fixed in DESIGN.md, "Names others rely on").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "HEALTHCARE_ASSETS_HOME"
DEFAULT_HOME = ".healthcare_assets"
PHI_MODE = 0o700


@dataclass(frozen=True)
class Paths:
    """The data directory and the three zones under it (PHI, de-identified warehouse, artifacts)."""

    home: Path

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None) -> Paths:
        raw = home if home is not None else os.environ.get(HOME_ENV) or DEFAULT_HOME
        return cls(Path(raw).expanduser().resolve())

    # PHI zone: raw exports, export state, codebooks. Mode 0700, never read downstream of de-identification.
    @property
    def phi(self) -> Path:
        return self.home / "phi"

    @property
    def batches(self) -> Path:
        return self.phi / "batches"

    def batch_dir(self, batch_id: str) -> Path:
        return self.batches / batch_id

    # De-identified zone.
    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    # Artifacts.
    @property
    def audit(self) -> Path:
        return self.home / "audit"

    @property
    def mlflow(self) -> Path:
        return self.home / "mlflow"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents with mode 0700 (whatever the umask); refuse a symlink.

    Parents that already exist keep their mode; every directory this call creates is private.
    """
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        directory.mkdir(mode=PHI_MODE, exist_ok=True)
        os.chmod(directory, PHI_MODE)
    if path.is_symlink():
        raise PermissionError(f"refusing to use a symlink as a PHI directory: {path}")
    os.chmod(path, PHI_MODE)
    return path


def private_file(path: Path) -> Path:
    """Restrict a file written in the PHI zone to its owner (0600)."""
    os.chmod(path, 0o600)
    return path
