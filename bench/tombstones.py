"""Benchmark of deletions (tombstones): what applying an incremental export's deletions costs.

Two measurements, each against a baseline taken in the same run:
1. de-identifying a Synthea batch whose export also lists deletions (every Encounter and Observation, ~20,000
   DELETE entries) vs the same batch without deletions: the tombstone hook's share of the de-identification
   step (reading the deleted files, pseudonymizing the ids, staging and scanning the tombstones);
2. publishing those tombstones (``apply_tombstones`` inside the warehouse transaction) vs a bare DuckDB
   ``DELETE ... WHERE key IN (...)`` of the same keys from the same tables.

    python bench/tombstones.py [--synthea-copies 0]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SYNTHEA_DIR, peak_rss_mb, print_table, save, section, timed  # noqa: E402
from bench.extraction import scaled_synthea  # noqa: E402
from healthcare_assets.audit.canonical import sha256_file  # noqa: E402
from healthcare_assets.deid import Codebook, CodebookPseudonymizer, build_policy, deidentify_batch  # noqa: E402
from healthcare_assets.deid.tombstones import apply_tombstones, key_columns  # noqa: E402
from healthcare_assets.fhir.landing import land_batch  # noqa: E402
from healthcare_assets.fhir.profile import profile_batch  # noqa: E402
from healthcare_assets.fhir.sources import NdjsonDirSource  # noqa: E402
from healthcare_assets.fhir.views import catalog  # noqa: E402

DELETED_TYPES = ("Encounter", "Observation")


def _deletion_file(batch, types: tuple[str, ...]) -> int:
    """Write ``ndjson/deleted/Bundle.ndjson`` deleting every resource of ``types`` (one DELETE per Bundle)."""
    target = batch.batch_dir / "ndjson" / "deleted" / "Bundle.ndjson"
    target.parent.mkdir(exist_ok=True)
    count = 0
    with open(target, "wb") as out:
        for path in batch.files():
            if path.name.split(".")[0] not in types:
                continue
            con = duckdb.connect()
            ids = con.execute(
                "SELECT DISTINCT id FROM read_json(?, format='newline_delimited', columns={'id': 'VARCHAR'})",
                [str(path)],
            ).fetchall()
            con.close()
            for (resource_id,) in ids:
                entry = {"request": {"method": "DELETE", "url": f"{path.name.split('.')[0]}/{resource_id}"}}
                out.write(orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [entry]}) + b"\n")
                count += 1
    batch.manifest["details"]["deleted_files"] = [
        {"type": "Bundle", "path": "ndjson/deleted/Bundle.ndjson", "lines": count, "sha256": sha256_file(target)}
    ]
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthea-copies", type=int, default=0, help="0: the Synthea sample as is")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-tombstones-"))
    try:
        source = scaled_synthea(work / "src", args.synthea_copies) if args.synthea_copies else SYNTHEA_DIR
        phi = work / "phi"
        views = catalog.project_views()
        policy = build_policy(views)
        results = {}

        def deid(batch_id: str, with_deletions: bool):
            batch = land_batch(phi / "batches", batch_id, NdjsonDirSource(source))
            deleted = _deletion_file(batch, DELETED_TYPES) if with_deletions else 0
            profiled = profile_batch(batch)
            counts = {t.resource_type: {"accepted": t.accepted, "id_checksum": t.id_checksum} for t in profiled.types}
            codebook = Codebook(phi / f"codebook-{batch_id}.duckdb")

            def run():
                return deidentify_batch(
                    batch, counts, views, policy, CodebookPseudonymizer(codebook), codebook,
                    batch.batch_dir / "staging", datetime.now(UTC),
                )  # fmt: skip

            run()  # warm-up: the codebook then holds every key, for both runs alike
            seconds, result = timed(run, repeat=3)
            return seconds, result, deleted

        with section("1. de-identification with and without ~20k deletions (same batch content)"):
            base_s, base, _ = deid("plain", False)
            with_s, result, deleted = deid("deleting", True)
            print_table(
                ["run", "seconds", "tombstones", "ratio"],
                [
                    ["without deletions (baseline)", base_s, 0, 1.0],
                    ["with deletions", with_s, deleted, with_s / base_s],
                ],
            )
            results["deid"] = {"baseline_s": base_s, "with_deletions_s": with_s, "tombstones": deleted}

        with section("2. publishing: apply_tombstones vs a bare DELETE of the same keys"):
            keys = key_columns(views, {t.table: t.view for t in policy.tables})

            # The deleting run's own tables hold the deleted resources (same codebook, same surrogates): load them
            # as an earlier batch and its tombstones as the deleting batch.
            snapshot = work / "warehouse.duckdb"
            con = duckdb.connect(str(snapshot))
            rows = 0
            for name, staged in result.tables.items():
                con.execute(f"CREATE TABLE {name} AS SELECT * REPLACE ('earlier' AS batch_id) FROM read_parquet(?)",
                            [str(staged.path)])  # fmt: skip
                rows += con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
            con.execute(
                "CREATE TABLE deidentified_tombstones AS "
                "SELECT * REPLACE ('deleting' AS batch_id) FROM read_parquet(?)",
                [str(result.tombstones.path)],
            )
            con.close()

            def fresh() -> duckdb.DuckDBPyConnection:
                return duckdb.connect(str(snapshot))

            def ours() -> int:
                con = fresh()
                con.execute("BEGIN")
                removed = apply_tombstones(con, "deleting", [], keys)
                con.execute("ROLLBACK")
                con.close()
                return sum(r["earlier_batches"] for r in removed.values())

            def bare() -> int:
                con = fresh()
                con.execute("BEGIN")
                total = 0
                for table, (resource, column) in keys.items():
                    total += con.execute(
                        f"DELETE FROM {table} WHERE {column} IN (SELECT resource_key FROM deidentified_tombstones "
                        f"WHERE resource_type = '{resource}')"
                    ).fetchall()[0][0]
                con.execute("ROLLBACK")
                con.close()
                return total

            bare_s, bare_rows = timed(bare, repeat=3)
            ours_s, our_rows = timed(ours, repeat=3)
            assert our_rows == bare_rows, (our_rows, bare_rows)
            print_table(
                ["publishing", "seconds", "rows removed", "ratio"],
                [
                    ["bare DELETE (baseline)", bare_s, bare_rows, 1.0],
                    ["apply_tombstones", ours_s, our_rows, ours_s / bare_s],
                ],
            )
            results["publish"] = {"baseline_s": bare_s, "ours_s": ours_s, "rows_removed": our_rows, "rows": rows}
        results["peak_rss_mb"] = peak_rss_mb()
        print(f"\npeak RSS {results['peak_rss_mb']:.0f} MB; results: {save('tombstones', results)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
