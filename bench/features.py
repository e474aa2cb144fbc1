"""Benchmark of the feature stage: cohort + feature matrix from the warehouse vs the seed's ClinicalFeatureEngineer
on the same synthetic cohort in one run, and the peak memory of the stage on a large cohort.

"Our stage" is ``healthcare_assets.features.build_features`` as the ``feature_matrix`` asset runs it: copy the
current de-identified rows out of the warehouse (attached read-only), merge stays, label, and compute every
feature for every index stay (DuckDB, 2 threads, 4 GB memory limit, as the asset's defaults). It runs in a child
process so its peak RSS is its own. The gates (pandera, leakage) are timed separately.
The seed (``../shared/baselines/seed_pipeline.py``) gets each patient's resources already parsed and grouped in
memory, and only ``build_features`` is timed, best of as many runs as ours (its most favourable case: one
vector per patient, against a reference date, no stays, windows or codesets); the JSON parsing it would also
need is reported beside it. A second run of our stage summarises only the seed's 16 labs and vitals over all
history with its statistics.

    python bench/features.py [--patients 20000] [--rss-patients 100000]

The 100,000-patient cohort needs ~10 GB of disk for its NDJSON while it is de-identified (deleted right after)
and ~15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, peak_rss_mb, print_table, save, section  # noqa: E402


def load_seed():
    spec = importlib.util.spec_from_file_location("seed_pipeline", SHARED / "baselines" / "seed_pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_warehouse(work: Path, patients: int, keep_ndjson: bool) -> tuple[Path, Path | None]:
    """Generate, land, profile and de-identify a synthetic cohort into ``work/warehouse.duckdb`` exactly as the
    pipeline does (without Dagster). Returns the warehouse and the landed batch folder (None once deleted)."""
    from healthcare_assets.deid import Codebook, CodebookPseudonymizer, build_policy, deidentify_batch
    from healthcare_assets.fhir.landing import land_batch
    from healthcare_assets.fhir.profile import profile_batch
    from healthcare_assets.fhir.sources import SyntheticSource
    from healthcare_assets.fhir.views import catalog
    from healthcare_assets.synthetic import SyntheticConfig
    from healthcare_assets.warehouse import Warehouse

    config = SyntheticConfig(patients=patients, workers=2)
    tick = time.perf_counter()
    batch = land_batch(work / "phi" / "batches", "bench", SyntheticSource(config))
    print(f"  generated {patients:,} patients in {time.perf_counter() - tick:.0f} s", flush=True)
    tick = time.perf_counter()
    profiled = profile_batch(batch)
    counts = {t.resource_type: {"accepted": t.accepted, "id_checksum": t.id_checksum} for t in profiled.types}
    views = catalog.project_views()
    policy = build_policy(views)
    codebook = Codebook(work / "phi" / "codebook.duckdb")
    end = datetime.fromisoformat(config.end_date.isoformat()).replace(tzinfo=UTC) + timedelta(days=1)
    result = deidentify_batch(
        batch, counts, views, policy, CodebookPseudonymizer(codebook), codebook, work / "phi" / "staging",
        datetime.now(UTC), data_end=end,
    )  # fmt: skip
    if not result.scan.passed:
        raise SystemExit(f"residual PHI in benchmark output: {result.scan.summary()}")
    warehouse = Warehouse(work / "warehouse.duckdb")
    warehouse.replace_partitions(
        {name: f"SELECT * FROM read_parquet('{t.path}')" for name, t in result.tables.items()}, "batch_id", "bench"
    )
    shutil.rmtree(work / "phi" / "staging", ignore_errors=True)
    print(f"  profiled and de-identified in {time.perf_counter() - tick:.0f} s", flush=True)
    if not keep_ndjson:
        shutil.rmtree(batch.batch_dir, ignore_errors=True)
        return warehouse.path, None
    return warehouse.path, batch.batch_dir


# The seed's measurements (its 10 labs, platelets by the right code, and 6 vitals), summarised over all history
# with its statistics: the same stage with about the seed's amount of lab work per row.
SEED_SIZED = {
    "measurements": ("creatinine", "potassium", "sodium", "wbc", "hemoglobin", "hba1c", "glucose", "alt", "ast",
                     "platelets", "heart_rate", "systolic_bp", "diastolic_bp", "temperature", "respiratory_rate",
                     "spo2"),
    "stats": ("latest", "mean", "trend"),
}  # fmt: skip


def child(warehouse: str, repeat: int, gates: bool, seed_sized: bool = False) -> None:
    """Runs in its own process: our stage (best of ``repeat``), optionally the gates; prints JSON."""
    import duckdb

    from healthcare_assets.features import (
        FeatureSpec,
        WindowSpec,
        build_features,
        check_leakage,
        matrix_columns,
        validate,
    )
    from healthcare_assets.warehouse import Warehouse

    spec = FeatureSpec()
    if seed_sized:
        spec = FeatureSpec(windows=(WindowSpec("all", -1e6),), **SEED_SIZED)
    best, out = float("inf"), {}
    for _ in range(repeat):
        con = duckdb.connect(":memory:")
        con.execute("SET threads = 2")
        con.execute("SET memory_limit = '4GB'")
        con.execute("SET preserve_insertion_order = false")
        tick = time.perf_counter()
        with Warehouse(Path(warehouse)).attached(con, "wh", read_only=True):
            build = build_features(con, spec, source="wh")
        took = time.perf_counter() - tick
        if took < best:
            best = took
            out = {
                "seconds": took,
                "timings": build.timings,
                "stays": con.execute("SELECT count(*) FROM _fx_matrix").fetchall()[0][0],
                "cohort_stays": con.execute("SELECT count(*) FROM _fx_cohort").fetchall()[0][0],
                "patients": build.source_rows["patient"],
                "observations": build.source_rows["observation"] + build.source_rows["observation_component"],
            }
        if gates:
            tick = time.perf_counter()
            frame = con.sql("SELECT * FROM _fx_matrix").pl()
            gate = validate(frame, matrix_columns(spec))
            out["gate_seconds"] = time.perf_counter() - tick
            out["gate_passed"] = gate.passed
            tick = time.perf_counter()
            leakage = check_leakage(con, spec, 2000)
            out["leakage_seconds"] = time.perf_counter() - tick
            out["leakage_passed"] = leakage.passed
        con.close()
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def run_child(warehouse: Path, repeat: int, gates: bool, seed_sized: bool = False) -> dict:
    flags = (["--gates"] if gates else []) + (["--seed-sized"] if seed_sized else [])
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(warehouse), "--repeat", str(repeat), *flags],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _groups(path: Path):
    """(patient reference, [resources]) runs of consecutive lines with the same subject: the generator writes each
    patient's resources of a type together, in patient order. Unparseable lines are skipped (the seed has no
    quarantine)."""
    current, items = None, []
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        for line in handle:
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(resource, dict):
                continue
            ref = (resource.get("subject") or {}).get("reference")
            if ref != current and items:
                yield current, items
                items = []
            current = ref
            items.append(resource)
    if items:
        yield current, items


def seed_stage(batch_dir: Path, seed) -> dict:
    """The seed's ClinicalFeatureEngineer once per patient, fed pre-parsed, pre-grouped resources."""
    ndjson = batch_dir / "ndjson"
    kinds = {"Condition": "conditions", "Observation": "observations", "MedicationRequest": "medications",
             "Encounter": "encounters"}  # fmt: skip
    streams = {k: _groups(ndjson / f"{k}.ndjson") for k in kinds}
    pending = {k: next(s, (None, [])) for k, s in streams.items()}
    engineer = seed.ClinicalFeatureEngineer(reference_date="2026-07-01")
    build_s = parse_s = 0.0
    patients = resources = 0
    seen: set[str] = set()
    tick = time.perf_counter()
    with open(ndjson / "Patient.ndjson", "rb") as handle:
        for line in handle:
            try:
                patient = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if patient.get("id") in seen:  # an injected duplicate line
                continue
            seen.add(patient.get("id"))
            ref = f"Patient/{patient.get('id')}"
            inputs = {}
            for kind, name in kinds.items():
                got = []
                while pending[kind][0] == ref:
                    got += pending[kind][1]
                    pending[kind] = next(streams[kind], (None, []))
                inputs[name] = got
                resources += len(got)
            parse_s += time.perf_counter() - tick
            tick = time.perf_counter()
            engineer.build_features(patient, **inputs)
            build_s += time.perf_counter() - tick
            tick = time.perf_counter()
            patients += 1
    return {"build_seconds": build_s, "parse_seconds": parse_s, "patients": patients, "resources": resources}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=20000, help="cohort for the comparison with the seed")
    parser.add_argument("--rss-patients", type=int, default=100000, help="cohort for peak memory (0: skip)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--gates", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed-sized", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.repeat, args.gates, args.seed_sized)
        return
    results: dict = {"patients": args.patients, "rss_patients": args.rss_patients}
    work = Path(tempfile.mkdtemp(prefix="bench-features-"))
    try:
        with section(f"cohort + features vs the seed's ClinicalFeatureEngineer ({args.patients:,} patients)"):
            warehouse, batch_dir = build_warehouse(work / "a", args.patients, keep_ndjson=True)
            ours = run_child(warehouse, args.repeat, gates=True)
            small = run_child(warehouse, args.repeat, gates=False, seed_sized=True)
            module = load_seed()
            # Best of the same number of runs on both sides (the seed's time alone has moved 4-17 s between days).
            seed = min((seed_stage(batch_dir, module) for _ in range(args.repeat)), key=lambda r: r["build_seconds"])
            shutil.rmtree(work / "a", ignore_errors=True)
            ratio = seed["build_seconds"] / ours["seconds"]
            ratio_parse = (seed["build_seconds"] + seed["parse_seconds"]) / ours["seconds"]
            print_table(
                ["stage", "rows", "seconds", "rows/s", "peak RSS MB"],
                [
                    ["ours: load + cohort + features", ours["stays"], ours["seconds"], ours["stays"] / ours["seconds"],
                     ours["peak_rss_mb"]],
                    ["ours, seed-sized lab summaries", small["stays"], small["seconds"],
                     small["stays"] / small["seconds"], small["peak_rss_mb"]],
                    ["seed: build_features only", seed["patients"], seed["build_seconds"],
                     seed["patients"] / seed["build_seconds"], "-"],
                    ["seed: + JSON parsing", seed["patients"], seed["build_seconds"] + seed["parse_seconds"],
                     seed["patients"] / (seed["build_seconds"] + seed["parse_seconds"]), "-"],
                ],
            )  # fmt: skip
            steps = ", ".join(f"{k} {v:.2f}s" for k, v in ours["timings"].items())
            gates = f"gate {ours['gate_seconds']:.2f}s, leakage (2,000 stays) {ours['leakage_seconds']:.2f}s"
            print(f"  ours: {steps}; {gates}")
            print(f"  speed-up vs the seed: {ratio:.1f}x (build only), {ratio_parse:.1f}x (with its JSON parsing)")
            print(f"  seed-sized lab summaries: {seed['build_seconds'] / small['seconds']:.1f}x (build only)")
            results["comparison"] = {
                "ours": ours, "seed_sized": small, "seed": seed, "speedup": ratio, "speedup_with_parse": ratio_parse,
                "speedup_seed_sized": seed["build_seconds"] / small["seconds"],
            }  # fmt: skip
        if args.rss_patients:
            with section(f"peak memory of the stage at {args.rss_patients:,} patients"):
                warehouse, _ = build_warehouse(work / "b", args.rss_patients, keep_ndjson=False)
                big = run_child(warehouse, 1, gates=True)
                print_table(
                    ["patients", "index stays", "observations", "seconds", "peak RSS MB", "gate s", "leakage s"],
                    [[big["patients"], big["stays"], big["observations"], big["seconds"], big["peak_rss_mb"],
                      big["gate_seconds"], big["leakage_seconds"]]],
                )  # fmt: skip
                results["large"] = big
        print(f"\nsaved {save('features', results)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
