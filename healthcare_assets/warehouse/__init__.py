"""The de-identified zone's embedded warehouse: one DuckDB file, safe to share between processes."""

from healthcare_assets.warehouse.duckdb_store import SharedDuckDB, Warehouse, WarehouseLockTimeout

__all__ = ["SharedDuckDB", "Warehouse", "WarehouseLockTimeout"]
