"""The synthetic generator's known truth, through the de-identification gate: ``synthetic_ground_truth``.

Validation measures models against the oracle (the generator's true readmission probabilities), but the truth
file lies in the PHI zone (``side/ground_truth.parquet``) keyed by ORIGINAL encounter ids. This stage publishes
only what validation needs: per index stay, the pseudonym of its discharge encounter (the same surrogate the
de-identified tables and ``training_set.stay_id`` carry, from the same pseudonymizer) and its true probability.
Nothing else of the file (original ids, times, covariates, outcomes) leaves the PHI zone. The table is staged
with the batch's other tables, scanned by the same residual-PHI scan and published in the same transaction.
Batches without a truth file (every non-synthetic source) stage it empty.

Nothing may use this table as a feature or a label: it exists to report the oracle's AUROC.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from healthcare_assets.audit.canonical import sha256_file
from healthcare_assets.fhir.landing import LandedBatch
from healthcare_assets.warehouse.duckdb_store import sql_literal

GROUND_TRUTH_TABLE = "synthetic_ground_truth"
SIDE_FILE = "ground_truth"  # key of the side file in the batch manifest
ENCOUNTER_NAMESPACE = "Encounter"
COLUMNS = (
    ("batch_id", "VARCHAR", "Export batch (partition) the row came from."),
    ("stay_id", "VARCHAR", "Pseudonym of the stay's discharge encounter (joins training_set.stay_id)."),
    ("true_probability", "DOUBLE", "The generator's true probability of a 30-day readmission (the oracle)."),
)


class GroundTruthError(RuntimeError):
    """The batch's truth file cannot be used (changed since landing, or not the generator's shape)."""


def stage_ground_truth(
    con: duckdb.DuckDBPyConnection, batch: LandedBatch, mapping: str, staging: Path
) -> tuple[object, dict[str, int]]:
    """Write the table's Parquet file into ``staging``; returns its ``StagedTable`` and counts (``pseudonym``:
    stays published, ``dropped_unmatched``: truth rows whose discharge encounter is not among the batch's
    accepted encounters, e.g. quarantined)."""
    from healthcare_assets.deid.engine import StagedTable  # the engine imports this module

    batch_id = batch.manifest["batch_id"]
    target = staging / f"{GROUND_TRUTH_TABLE}.parquet"
    side = (batch.manifest.get("side_files") or {}).get(SIDE_FILE)
    counts = {"pseudonym": 0, "dropped_unmatched": 0}
    if side:
        path = batch.batch_dir / side["path"]
        if not path.exists() or sha256_file(path) != side.get("sha256"):
            raise GroundTruthError(
                f"{GROUND_TRUTH_TABLE}: the batch's truth file ({side['path']}) is missing or changed since landing"
            )
        source = f"read_parquet({sql_literal(str(path))})"
        try:
            total = con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
            query = (
                f"SELECT {sql_literal(batch_id)} AS batch_id, m.surrogate AS stay_id, "
                f"g.true_probability::DOUBLE AS true_probability FROM {source} g "
                f"JOIN {mapping} m ON m.namespace = {sql_literal(ENCOUNTER_NAMESPACE)} "
                "AND m.original = g.discharge_encounter_id"
            )
            con.execute(f"COPY ({query}) TO {sql_literal(str(target))} (FORMAT parquet)")
        except duckdb.Error:
            # DuckDB's message may quote the file's content (PHI): replace it, without the original attached.
            raise GroundTruthError(
                f"{GROUND_TRUTH_TABLE}: {side['path']} is not the generator's ground truth "
                "(needs discharge_encounter_id and true_probability)"
            ) from None
    else:
        empty = ", ".join(f"NULL::{kind} AS {name}" for name, kind, _ in COLUMNS)
        con.execute(f"COPY (SELECT {empty} LIMIT 0) TO {sql_literal(str(target))} (FORMAT parquet)")
        total = 0
    rows = con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(str(target))})").fetchall()[0][0]
    counts["pseudonym"] = int(rows)
    counts["dropped_unmatched"] = int(total - rows)
    staged = StagedTable(GROUND_TRUTH_TABLE, GROUND_TRUTH_TABLE, target, int(rows), [(n, k) for n, k, _ in COLUMNS])
    return staged, counts
