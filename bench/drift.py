"""Benchmark of the drift gate: Evidently's DataDriftPreset against the fast gate on the same data, in one run.

Data: a reference and a batch of ``--rows`` rows (default 100,000 each) x 40 features shaped like the feature
matrix: 25 continuous (normal and log-normal labs, 30% missing in some), 10 binary flags and 5 small counts
(0-4). Drift is planted in 10 of them (mean shifts of 0.1-0.5 SD, a 2-point prevalence change, a count shift);
the rest are drawn from the same distribution on both sides. Seeded (``--seed``).

Both sides judge every column with the same tests (``healthcare_assets.monitoring.drift``: KS, chi-square,
two-proportion z, p < 0.05): the gate computes each once with SciPy; Evidently (``run_preset``, no sampling, no
HTML) computes the metric, the per-column result and its widgets. Reported: both times (best of ``--repeat``),
the ratio, whether the drifted-column sets are identical, and how many planted columns each found. A second
pair compares Evidently's out-of-the-box preset (distances on large references) with the gate's
``evidently_default`` rule.

    python bench/drift.py [--rows 100000] [--features 40] [--repeat 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import peak_rss_mb, print_table, save, section, timed  # noqa: E402


def make_frames(rows: int, features: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    rng = np.random.default_rng(seed)
    n_cont, n_flag = round(features * 25 / 40), round(features * 10 / 40)
    n_count = features - n_cont - n_flag
    reference, current, planted = {}, {}, []
    shifts = [0.1, 0.2, 0.3, 0.5]
    for i in range(n_cont):
        name = f"lab_{i:02d}"
        shift = shifts[i % len(shifts)] if i < 6 else 0.0
        if i % 2:
            ref, cur = rng.lognormal(3, 0.5, rows), rng.lognormal(3 + shift * 0.5, 0.5, rows)
        else:
            ref, cur = rng.normal(100, 15, rows), rng.normal(100 + 15 * shift, 15, rows)
        if i % 3 == 0:  # measured in 70% of stays
            ref[rng.random(rows) < 0.3] = np.nan
            cur[rng.random(rows) < 0.3] = np.nan
        reference[name], current[name] = np.round(ref, 1), np.round(cur, 1)
        if shift:
            planted.append(name)
    for i in range(n_flag):
        name = f"flag_{i:02d}"
        p = 0.05 + 0.03 * i
        bump = 0.02 if i < 3 else 0.0
        reference[name] = (rng.random(rows) < p).astype(float)
        current[name] = (rng.random(rows) < p + bump).astype(float)
        if bump:
            planted.append(name)
    for i in range(n_count):
        name = f"count_{i:02d}"
        lam = 0.5 + 0.3 * i
        reference[name] = np.minimum(rng.poisson(lam, rows), 4).astype(float)
        current[name] = np.minimum(rng.poisson(lam * (1.15 if i == 0 else 1.0), rows), 4).astype(float)
        if i == 0:
            planted.append(name)
    return pd.DataFrame(reference), pd.DataFrame(current), planted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    from healthcare_assets.monitoring.drift import drift_gate
    from healthcare_assets.monitoring.evidently_report import run_preset

    reference, current, planted = make_frames(args.rows, args.features, args.seed)
    columns = list(reference.columns)
    results: dict = {"rows": args.rows, "features": len(columns), "planted_drift": planted, "pairs": {}}
    rows = []
    for rule in ("tests", "evidently_default"):
        with section(f"rule {rule}: {args.rows:,} rows x {len(columns)} features, reference and batch"):
            gate_s, gate = timed(lambda rule=rule: drift_gate(reference, current, columns, rule), args.repeat)
            ev_s, ev = timed(lambda rule=rule: run_preset(reference, current, columns, None, 0, rule), args.repeat)
            agree = sorted(gate.drifted) == sorted(ev.drifted)
            found_gate = len(set(planted) & set(gate.drifted))
            found_ev = len(set(planted) & set(ev.drifted))
            print(f"  gate {gate_s:.2f} s, Evidently {ev_s:.2f} s: {ev_s / gate_s:.1f}x; drifted sets agree: {agree}")
            if not agree:
                print(f"  only gate: {sorted(set(gate.drifted) - set(ev.drifted))}")
                print(f"  only Evidently: {sorted(set(ev.drifted) - set(gate.drifted))}")
            results["pairs"][rule] = {
                "gate_seconds": round(gate_s, 3),
                "evidently_seconds": round(ev_s, 3),
                "ratio": round(ev_s / gate_s, 2),
                "drifted_sets_agree": agree,
                "gate_drifted": sorted(gate.drifted),
                "evidently_drifted": sorted(ev.drifted),
                "planted_found_by_gate": found_gate,
                "planted_found_by_evidently": found_ev,
                "gate_drifted_share": round(gate.drifted_share, 4),
                "evidently_drifted_share": round(ev.drifted_share, 4),
            }
            rows.append([rule, gate_s, ev_s, f"{ev_s / gate_s:.1f}x", agree, len(gate.drifted),
                         f"{found_gate}/{len(planted)}"])  # fmt: skip
    with section("summary (target: the gate at least 5x faster, same drifted columns)"):
        print_table(["rule", "gate s", "Evidently s", "ratio", "sets agree", "drifted", "planted found"], rows)
    results["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(f"\nresults: {save('drift', results)}")


if __name__ == "__main__":
    main()
