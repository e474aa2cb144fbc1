"""Benchmark of the extraction stage: synthetic generation (patients/s) and batch profiling (MB/s).

Profiling is measured against DuckDB's bare ``read_json`` of the same files in the same run (the baseline:
``count(*)`` over ``read_json`` with an auto-detected schema, nothing else), and reported as a ratio. The
byte-level screen the profile runs first (``fhir.screen``: encodings, line lengths) is also timed on its own.

    python bench/extraction.py [--patients 20000] [--synthea-copies 10]
"""

from __future__ import annotations

import argparse
import gzip
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SYNTHEA_DIR, peak_rss_mb, print_table, save, section, timed  # noqa: E402
from healthcare_assets.fhir.landing import LandedBatch, land_batch  # noqa: E402
from healthcare_assets.fhir.profile import profile_batch  # noqa: E402
from healthcare_assets.fhir.screen import screen_file  # noqa: E402
from healthcare_assets.fhir.sources import NdjsonDirSource  # noqa: E402
from healthcare_assets.synthetic import SyntheticConfig, generate_cohort  # noqa: E402


def uncompressed_bytes(batch: LandedBatch) -> int:
    total = 0
    for path in batch.files():
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as handle:
            while chunk := handle.read(1 << 22):
                total += len(chunk)
    return total


def bare_read_json(batch: LandedBatch) -> int:
    """Baseline: DuckDB's bare ``read_json`` of every file (auto-detected schema, every line parsed), counted."""
    con = duckdb.connect()
    con.execute("SET threads = 2")
    rows = 0
    for path in batch.files():
        rows += con.execute(
            "SELECT count(*) FROM read_json(?, format='newline_delimited', ignore_errors=true, "
            "maximum_object_size=67108864)",
            [str(path)],
        ).fetchall()[0][0]
    con.close()
    return rows


def scaled_synthea(target: Path, copies: int) -> Path:
    """Synthea's files concatenated ``copies`` times with ids made unique per copy (references too)."""
    target.mkdir(parents=True)
    for src in sorted(SYNTHEA_DIR.glob("*.ndjson.gz")):
        lines = gzip.open(src, "rt").read().splitlines()
        with open(target / src.name.replace(".gz", ""), "w") as out:
            for copy in range(copies):
                suffix = f"-c{copy}"
                for line in lines:
                    # ids are UUIDs: rewrite every UUID-shaped token so references still resolve within a copy
                    out.write(_suffix_uuids(line, suffix) + "\n")
    return target


_ID_OR_REFERENCE = re.compile(r'("(?:id|reference)":"(?:[A-Za-z]+/)?)([0-9a-f\-]{36})"')


def _suffix_uuids(line: str, suffix: str) -> str:
    return _ID_OR_REFERENCE.sub(lambda m: f'{m.group(1)}{m.group(2)}{suffix}"', line)


def screen_all(batch: LandedBatch) -> int:
    """The byte-level screen the profile runs first on every file (part of the profile's time, shown apart)."""
    return sum(screen_file(path).lines for path in batch.files())


def profile_row(label: str, batch: LandedBatch) -> list:
    size = uncompressed_bytes(batch)
    mb = size / 1e6
    t_profile, result = timed(lambda: profile_batch(batch), repeat=2)
    t_bare, rows = timed(lambda: bare_read_json(batch), repeat=2)
    t_screen, _ = timed(lambda: screen_all(batch), repeat=2)
    return [
        label, round(mb, 1), result.lines, rows, mb / t_profile, mb / t_bare, (mb / t_profile) / (mb / t_bare),
        mb / t_screen,
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=20000)
    parser.add_argument("--synthea-copies", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-extraction-"))
    results: dict = {"patients": args.patients, "synthea_copies": args.synthea_copies}
    try:
        with section(f"synthetic generation, {args.patients:,} patients, 2 workers"):
            out = work / "synthetic"
            out.mkdir()
            start = time.perf_counter()
            summary = generate_cohort(out, SyntheticConfig(patients=args.patients, workers=2), work / "truth.parquet")
            seconds = time.perf_counter() - start
            gen_mb = sum(p.stat().st_size for p in out.glob("*.ndjson")) / 1e6
            print_table(
                ["patients", "seconds", "patients/s", "MB written", "MB/s", "resources"],
                [
                    [
                        args.patients,
                        seconds,
                        args.patients / seconds,
                        gen_mb,
                        gen_mb / seconds,
                        sum(summary.resource_counts.values()),
                    ]
                ],
            )
            results["generation"] = {"seconds": seconds, "patients_per_s": args.patients / seconds, "mb": gen_mb}

        with section("profiling vs DuckDB bare read_json (same files, same run, best of 2)"):
            synthetic = land_batch(work / "phi" / "batches", "synthetic", NdjsonDirSource(out))
            synthea = land_batch(work / "phi" / "batches", "synthea", NdjsonDirSource(SYNTHEA_DIR))
            scaled = land_batch(
                work / "phi" / "batches",
                "synthea-scaled",
                NdjsonDirSource(scaled_synthea(work / "synthea-x", args.synthea_copies)),
            )
            rows = [
                profile_row(f"synthetic {args.patients:,}", synthetic),
                profile_row("synthea-r4-100 (gz)", synthea),
                profile_row(f"synthea x{args.synthea_copies} (plain)", scaled),
            ]
            headers = ["data", "MB", "lines", "read_json rows", "profile MB/s", "read_json MB/s", "ratio"]
            print_table([*headers, "of which screen MB/s"], rows)
            keys = ["data", "mb", "lines", "rows", "profile_mb_s", "read_json_mb_s", "ratio", "screen_mb_s"]
            results["profiling"] = [dict(zip(keys, r, strict=True)) for r in rows]
        results["peak_rss_mb"] = peak_rss_mb()
        print(f"\npeak RSS of this process: {results['peak_rss_mb']:.0f} MB (DuckDB runs in-process)")
        print(f"saved {save('extraction', results)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
