"""Benchmark: the project's observation view vs a hand-written DuckDB query vs DuckDB's bare ``read_json``.

The Synthea Observation file is decompressed and concatenated ``--scale`` times into a temp folder (~12 MB per
copy), then each contender runs in its own process (so peak RSS is its own), best of five, and fully computes
every output value (``count(*)`` and a hash over all columns, so no column is optimized away). The engine's view
also runs on a quarter of the file to show that its memory does not grow with the input.

    python bench/views.py [--scale N] [--data DIR] [--synthetic PATIENTS]

The synthetic cohort's Observation file (``--synthetic``, default 5,000 patients) is run the same way.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "synthea-r4-100"

# The same rows as the observation view, written by hand for this data (relative references, one coding each).
HAND_WRITTEN = """
SELECT id AS observation_id,
       CASE WHEN subject.reference LIKE 'Patient/%' THEN substr(subject.reference, 9) END AS patient_id,
       CASE WHEN encounter.reference LIKE 'Encounter/%' THEN substr(encounter.reference, 11) END AS encounter_id,
       status,
       category[1].coding[1].code AS category_code,
       code.coding[1].code AS code,
       code.coding[1].system AS code_system,
       valueQuantity.value AS value_quantity,
       valueQuantity.code AS value_unit,
       valueCodeableConcept.coding[1].code AS value_code,
       effectiveDateTime AS effective_datetime,
       effectivePeriod.start AS effective_period_start,
       issued
FROM read_json({files}, format='newline_delimited', columns={{
    'resourceType': 'VARCHAR', 'id': 'VARCHAR', 'status': 'VARCHAR',
    'subject': 'STRUCT(reference VARCHAR)', 'encounter': 'STRUCT(reference VARCHAR)',
    'category': 'STRUCT(coding STRUCT(code VARCHAR)[])[]',
    'code': 'STRUCT(coding STRUCT(code VARCHAR, system VARCHAR)[])',
    'valueQuantity': 'STRUCT(value DOUBLE, code VARCHAR)',
    'valueCodeableConcept': 'STRUCT(coding STRUCT(code VARCHAR)[])',
    'effectiveDateTime': 'VARCHAR', 'effectivePeriod': 'STRUCT(start VARCHAR)', 'issued': 'VARCHAR'}})
WHERE resourceType = 'Observation'
"""
REPEATS = 5  # best of, per contender (the machine may be shared)
BARE = "SELECT * FROM read_json({files}, format='newline_delimited')"


def _query(mode: str, path: str) -> str:
    files = f"['{path}']"
    if mode == "view":
        sys.path.insert(0, str(REPO))
        from healthcare_assets.fhir.views import compile_view
        from healthcare_assets.fhir.views.catalog import project_view

        return compile_view(project_view("observation"), [path])
    return (HAND_WRITTEN if mode == "hand" else BARE).format(files=files)


def child(mode: str, path: str) -> None:
    """Run one contender and print JSON (rows, seconds, peak RSS) on stdout."""
    import duckdb

    sql = _query(mode, path)
    con = duckdb.connect()
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        rows, digest = con.sql(f"SELECT count(*), bit_xor(hash(t)) FROM ({sql}) AS t").fetchall()[0]
        timings.append(time.perf_counter() - start)
    print(json.dumps({"rows": rows, "digest": digest, "seconds": min(timings), "peak_mb": _peak_rss_mb()}))


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss it restarts at exec, so the parent's is excluded)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(mode: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _same_rows(path: Path) -> bool:
    """The view and the hand-written query agree row for row on the base file."""
    import duckdb

    con = duckdb.connect()
    view, hand = _query("view", str(path)), _query("hand", str(path))
    diff = (
        f"SELECT count(*) FROM (({view}) EXCEPT ALL ({hand})) "
        f"UNION ALL SELECT count(*) FROM (({hand}) EXCEPT ALL ({view}))"
    )
    return all(n == 0 for (n,) in con.sql(diff).fetchall())


def _bench(label: str, base: Path, copies: int, tmp: Path, saved: dict | None = None) -> int:
    """Every contender on ``copies`` copies of ``base`` (and the view on a quarter of them); prints a table and
    adds the numbers to ``saved`` (written to bench/results/views.json by ``main``)."""
    if not _same_rows(base):
        print(f"{label}: the view and the hand-written query disagree on the base file", file=sys.stderr)
        return 1
    big, quarter = tmp / f"{label}-all.ndjson", tmp / f"{label}-quarter.ndjson"
    chunk = base.read_bytes()
    quarter_copies = max(1, copies // 4)
    if copies == 1:  # one large file: the quarter is its first quarter of lines
        lines = chunk.splitlines(keepends=True)
        big.write_bytes(chunk)
        quarter.write_bytes(b"".join(lines[: len(lines) // 4]))
    else:
        for path, n in ((big, copies), (quarter, quarter_copies)):
            with open(path, "wb") as out:
                for _ in range(n):
                    out.write(chunk)
    runs = [
        ("view (observation)", "view", big),
        ("view, 1/4 of the input", "view", quarter),
        ("hand-written SQL", "hand", big),
        ("bare read_json", "bare", big),
    ]
    results = [(name, path, _run(mode, path)) for name, mode, path in runs]
    sizes = {path: path.stat().st_size / 1e6 for path in (big, quarter)}
    print(f"\n{label}: {sizes[big]:.0f} MB of Observation NDJSON")
    print(f"{'contender':<24} {'rows':>10} {'seconds':>8} {'MB/s':>8} {'vs hand':>8} {'peak RSS MB':>12}")
    rates = {name: sizes[path] / r["seconds"] for name, path, r in results}
    hand = rates["hand-written SQL"]
    for name, _, r in results:
        print(
            f"{name:<24} {r['rows']:>10,} {r['seconds']:>8.2f} {rates[name]:>8.1f} "
            f"{rates[name] / hand:>8.2f} {r['peak_mb']:>12.0f}"
        )
    if saved is not None:
        saved[label] = {
            "mb": round(sizes[big], 1),
            "contenders": [
                {"contender": name, "rows": r["rows"], "seconds": r["seconds"], "mb_per_s": rates[name],
                 "vs_hand": rates[name] / hand, "peak_rss_mb": r["peak_mb"]}
                for name, _, r in results
            ],
        }  # fmt: skip
    return 0


def _synthetic_observations(patients: int, tmp: Path) -> Path:
    """The synthetic cohort's Observation file (without injected malformed lines: neither query skips them)."""
    sys.path.insert(0, str(REPO))
    from healthcare_assets.synthetic import SyntheticConfig, generate_cohort

    out = tmp / "synthetic"
    generate_cohort(out, SyntheticConfig(patients=patients, malformed_rate=0.0), tmp / "truth.parquet")
    return out / "Observation.ndjson"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=30, help="copies of the Observation file (~12 MB each)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with Observation.ndjson.gz")
    parser.add_argument("--synthetic", type=int, default=5000, help="also the synthetic cohort (patients; 0: skip)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="views-bench-") as tmp_name:
        tmp = Path(tmp_name)
        base = tmp / "synthea.ndjson"
        with gzip.open(args.data / "Observation.ndjson.gz", "rb") as src, open(base, "wb") as dst:
            shutil.copyfileobj(src, dst)
        saved: dict = {"scale": args.scale, "synthetic_patients": args.synthetic}
        failed = _bench(f"synthea-x{args.scale}", base, args.scale, tmp, saved)
        if args.synthetic:
            failed |= _bench(f"synthetic-{args.synthetic}", _synthetic_observations(args.synthetic, tmp), 1, tmp, saved)
    sys.path.insert(0, str(REPO))
    from bench.common import save

    print(f"saved {save('views', saved)}")
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
