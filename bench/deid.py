"""Benchmark of de-identification: this project's stage vs the seed's SafeHarborDeidentifier vs DuckDB's bare
read_json, on the same NDJSON files in one run.

"Our stage" is everything the deidentified_* step does before publishing: the views over the accepted resources,
pseudonyms (codebook), timelines and transforms, Parquet staging, the PHI inventory and the residual-PHI scan.
The seed (``../shared/baselines/seed_pipeline.py``) parses every resource with ``json.loads`` and walks it in
Python. Throughput is uncompressed NDJSON MB per second.

``--baseline-ref REF`` also times the stage as it is at a git ref (``git archive`` into a temporary folder, run in
a subprocess on the same landed batch, alternating with ours), so a change to the stage is measured against its
predecessor in the same run: "ours/ref" is the throughput ratio.

    python bench/deid.py [--patients 20000] [--synthea-copies 0] [--baseline-ref main]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, SHARED, SYNTHEA_DIR, peak_rss_mb, print_table, save, section, timed  # noqa: E402
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
        "replaced": sum(result.validation.replaced(t) for t in result.tables),
    }


_REF_STAGE = """
import json, sys, time
from datetime import UTC, datetime
from pathlib import Path
from healthcare_assets.deid import Codebook, CodebookPseudonymizer, build_policy, deidentify_batch
from healthcare_assets.fhir.landing import load_batch
from healthcare_assets.fhir.views import catalog
batch_dir, counts, phi = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text()), Path(sys.argv[3])
batch = load_batch(batch_dir)
views = catalog.project_views()
codebook = Codebook(phi / "codebook.duckdb")
started = time.perf_counter()
result = deidentify_batch(batch, counts, views, build_policy(views), CodebookPseudonymizer(codebook), codebook,
                          phi / "staging", datetime.now(UTC))
print(json.dumps({"total_s": time.perf_counter() - started, "passed": result.scan.passed}))
"""


def extract_ref(ref: str, work: Path) -> Path:
    """The repository at ``ref`` (its healthcare_assets package) in a folder of its own."""
    target = work / f"ref-{ref.replace('/', '_')}"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "healthcare_assets"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def ref_stage(code: Path, batch: LandedBatch, counts: dict, work: Path) -> dict:
    counts_file = work / "counts.json"
    counts_file.write_text(json.dumps(counts))
    phi = work / f"ref-phi-{time.time_ns()}"
    done = subprocess.run(
        [sys.executable, "-c", _REF_STAGE, str(batch.batch_dir), str(counts_file), str(phi)],
        env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True, text=True, check=True, cwd=code,
    )  # fmt: skip
    shutil.rmtree(phi, ignore_errors=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(label: str, batch: LandedBatch, work: Path, seed, ref_code: Path | None = None) -> list:
    profiled = profile_batch(batch)
    counts = {t.resource_type: {"accepted": t.accepted, "id_checksum": t.id_checksum} for t in profiled.types}
    mb = uncompressed_bytes(batch) / 1e6
    runs, ref_runs = [], []
    for _ in range(2):  # alternate, so both see the same machine load
        runs.append(our_stage(batch, counts, work))
        if ref_code is not None:
            ref_runs.append(ref_stage(ref_code, batch, counts, work))
    ours = min(runs, key=lambda r: r["total_s"])
    ref_s = min(r["total_s"] for r in ref_runs) if ref_runs else None
    t_seed, resources = timed(lambda: seed_deidentify(batch, seed))
    t_bare, _ = timed(lambda: bare_read_json(batch), repeat=2)
    print(f"  {label}: stage timings {', '.join(f'{k} {v:.2f}s' for k, v in ours['timings'].items())}")
    print(f"  {label}: values outside their domain (replaced): {ours['replaced']}")
    return [
        label,
        round(mb, 1),
        resources,
        mb / ours["total_s"],
        mb / t_seed,
        mb / t_bare,
        (mb / ours["total_s"]) / (mb / t_bare),
        (mb / ours["total_s"]) / (mb / t_seed),
        mb / ref_s if ref_s else "-",
        ref_s / ours["total_s"] if ref_s else "-",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=20000)
    parser.add_argument("--synthea-copies", type=int, default=0, help="also run on Synthea scaled N times")
    parser.add_argument("--baseline-ref", default=None, help="also time the stage at this git ref (e.g. main)")
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
            ref_code = extract_ref(args.baseline_ref, work) if args.baseline_ref else None
            rows = [compare(label, batch, work, seed, ref_code) for label, batch in batches]
            print_table(
                ["data", "MB", "resources", "ours MB/s", "seed MB/s", "read_json MB/s", "ours/read_json", "ours/seed",
                 "ref MB/s", "ours/ref"],
                rows,
            )  # fmt: skip
            results["baseline_ref"] = args.baseline_ref
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
                        "ref_mb_s",
                        "ours_vs_ref",
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
