"""Dagster resources: the data directory and what lives in it (zones, warehouse, audit ledger)."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from healthcare_assets.audit import AuditLedger
from healthcare_assets.config import Paths, ensure_private_dir
from healthcare_assets.warehouse import Warehouse


class DataHome(ConfigurableResource):
    """The data directory. Unset means ``$HEALTHCARE_ASSETS_HOME`` or ``.healthcare_assets``."""

    path: str | None = Field(default=None, description="Data directory; default from HEALTHCARE_ASSETS_HOME.")
    warehouse_lock_timeout_s: float = Field(
        default=600.0, description="How long a step waits for another process's warehouse connection."
    )

    def paths(self) -> Paths:
        return Paths.from_env(self.path)

    def phi(self) -> Paths:
        """Paths, with the PHI zone created private (0700) if it is not there yet."""
        paths = self.paths()
        ensure_private_dir(paths.phi)
        ensure_private_dir(paths.batches)
        return paths

    def ledger(self) -> AuditLedger:
        return AuditLedger(self.paths().audit)

    def warehouse(self) -> Warehouse:
        return Warehouse(self.paths().warehouse, lock_timeout_s=self.warehouse_lock_timeout_s)
