"""Benchmark of de-identification: this project's stage vs the seed's SafeHarborDeidentifier vs DuckDB's bare
read_json, on the same NDJSON files in one run.

"Our stage" is everything the deidentified_* step does before publishing: the views over the accepted resources,
pseudonyms (codebook), timelines and transforms, Parquet staging, the PHI inventory and the residual-PHI scan.
The seed (``../shared/baselines/seed_pipeline.py``) parses every resource with ``json.loads`` and walks it in
Python. Throughput is uncompressed NDJSON MB per second.

    python bench/deid.py [--patients 20000] [--synthea-copies 0]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, SYNTHEA_DIR, peak_rss_mb, print_table, save, section, timed  # noqa: E402
from bench.extraction import bare_read_json, scaled_synthea, uncompressed_bytes  # noqa: E402
from healthcare_assets.deid import (  # noqa: E402
    Codebook,
    CodebookPseudonymizer,
    build_policy,
    deidentify_batch,
)
from healthcare_assets.fhir.landing import LandedBatch, land_batch  # noqa: E402
from healthcare_assets.fhir.profile import profile_batch  # noqa: E402
from healthcare_assets.fhir.sources import NdjsonDirSource  # noqa: E402
from healthcare_assets.fhir.views import catalog  # noqa: E402


def load_seed():
    spec = importlib.util.spec_from_file_location("seed_pipeline", SHARED / "baselines" / "seed_pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed_deidentify(batch: LandedBatch, seed) -> int:
    """The seed's de-identifier over every resource of the batch (Patient through deidentify_patient)."""
    deidentifier = seed.SafeHarborDeidentifier(salt="bench")
    done = 0
    for path in batch.files():
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt") as handle:
            for line in handle:
                try:
                    resource = json.loads(line)
                except ValueError:
                    continue  # the seed has no quarantine; skip what it cannot parse
                if not isinstance(resource, dict):
                    continue
                if resource.get("resourceType") == "Patient":
                    deidentifier.deidentify_patient(resource)
                else:
                    deidentifier.deidentify_resource(resource)
                done += 1
    return done


def our_stage(batch: LandedBatch, type_counts: dict, work: Path) -> dict:
    views = catalog.project_views()
    policy = build_policy(views)
    phi = work / f"phi-{time.time_ns()}"
    codebook = Codebook(phi / "codebook.duckdb")
    started = time.perf_counter()
    result = deidentify_batch(
        batch,
        type_counts,
        views,
        policy,
        CodebookPseudonymizer(codebook),
        codebook,
        phi / "staging",
        datetime.now(UTC),
    )
    total = time.perf_counter() - started
    scan = result.scan
    shutil.rmtree(phi, ignore_errors=True)
    if not scan.passed:
        raise SystemExit(f"residual PHI found in benchmark output: {scan.summary()}")
    return {
        "total_s": total,
        "timings": result.timings,
        "rows": sum(t.rows for t in result.tables.values()),
    }


def compare(label: str, batch: LandedBatch, work: Path, seed) -> list:
    profiled = profile_batch(batch)
    counts = {t.resource_type: {"accepted": t.accepted, "id_checksum": t.id_checksum} for t in profiled.types}
    mb = uncompressed_bytes(batch) / 1e6
    ours = min((our_stage(batch, counts, work) for _ in range(2)), key=lambda r: r["total_s"])
    t_seed, resources = timed(lambda: seed_deidentify(batch, seed))
    t_bare, _ = timed(lambda: bare_read_json(batch), repeat=2)
    print(f"  {label}: stage timings {', '.join(f'{k} {v:.2f}s' for k, v in ours['timings'].items())}")
    return [
        label,
        round(mb, 1),
        resources,
        mb / ours["total_s"],
        mb / t_seed,
        mb / t_bare,
        (mb / ours["total_s"]) / (mb / t_bare),
        (mb / ours["total_s"]) / (mb / t_seed),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=20000)
    parser.add_argument("--synthea-copies", type=int, default=0, help="also run on Synthea scaled N times")
    args = parser.parse_args()
    seed = load_seed()
    work = Path(tempfile.mkdtemp(prefix="bench-deid-"))
    results: dict = {"patients": args.patients}
    try:
        batches = []
        if args.patients:
            from healthcare_assets.synthetic import SyntheticConfig, generate_cohort

            out = work / "synthetic"
            out.mkdir()
            generate_cohort(out, SyntheticConfig(patients=args.patients, workers=2), work / "truth.parquet")
            batches.append(
                (f"synthetic {args.patients:,}", land_batch(work / "phi" / "b", "syn", NdjsonDirSource(out)))
            )
        batches.append(("synthea-r4-100", land_batch(work / "phi" / "b", "synthea", NdjsonDirSource(SYNTHEA_DIR))))
        if args.synthea_copies:
            scaled = scaled_synthea(work / "synthea-x", args.synthea_copies)
            batches.append(
                (f"synthea x{args.synthea_copies}", land_batch(work / "phi" / "b", "sx", NdjsonDirSource(scaled)))
            )
        with section("de-identification throughput (uncompressed MB/s; same files, same run)"):
            rows = [compare(label, batch, work, seed) for label, batch in batches]
            print_table(
                ["data", "MB", "resources", "ours MB/s", "seed MB/s", "read_json MB/s", "ours/read_json", "ours/seed"],
                rows,
            )
        results["rows"] = [
            dict(
                zip(
                    [
                        "data",
                        "mb",
                        "resources",
                        "ours_mb_s",
                        "seed_mb_s",
                        "read_json_mb_s",
                        "ours_vs_read_json",
                        "ours_vs_seed",
                    ],
                    r,
                    strict=True,
                )
            )
            for r in rows
        ]
        results["peak_rss_mb"] = peak_rss_mb()
        print(f"\npeak RSS: {results['peak_rss_mb']:.0f} MB; saved {save('deid', results)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
