"""Time the synthetic cohort generator.

    python bench/synthetic_generation.py --patients 2000 --workers 2 [--out DIR] [--keep]

Prints patients/s, peak resident memory of the parent and of the worker processes, file sizes, resource counts,
the realized readmission rate and the oracle AUROC, as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import save  # noqa: E402
from healthcare_assets.synthetic import SyntheticConfig, generate_cohort  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=None, help="parent directory for the output (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="synthetic-bench-", dir=args.out))
    try:
        config = SyntheticConfig(patients=args.patients, workers=args.workers, seed=args.seed)
        summary = generate_cohort(base / "export", config, base / "ground_truth.parquet")
        self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        total_bytes = sum(summary.bytes_written.values())
        report = {
            "patients": args.patients,
            "workers": args.workers,
            "seconds": summary.seconds,
            "patients_per_second": round(args.patients / summary.seconds, 1),
            "peak_rss_parent_mb": round(self_kb / 1024, 1),
            "peak_rss_largest_worker_mb": round(children_kb / 1024, 1),
            "total_mb": round(total_bytes / 2**20, 1),
            "kb_per_patient": round(total_bytes / 1024 / args.patients, 1),
            "bytes_written": summary.bytes_written,
            "resource_counts": summary.resource_counts,
            "index_stays": summary.index_stays,
            "index_stays_followup_complete": summary.index_stays_followup_complete,
            "readmission_rate": round(summary.readmission_rate, 4),
            "oracle_auroc": round(summary.oracle_auroc, 4),
            "mean_true_probability": round(summary.mean_true_probability, 4),
            "deceased_patients": summary.deceased_patients,
            "malformed_lines": summary.malformed_lines,
            "duplicate_lines": summary.duplicate_lines,
            "output": str(base) if args.keep else None,
        }
        json.dump(report, sys.stdout, indent=2)
        print()
        print(f"saved {save('synthetic_generation', report)}", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
