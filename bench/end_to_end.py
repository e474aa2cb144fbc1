"""End to end against Cumulus ETL: the same NDJSON through `healthcare-assets run` and `cumulus-etl`, side by side.

Cumulus ETL (SMART on FHIR's ETL, https://docs.smarthealthit.org/cumulus/etl) does a comparable job: it reads a
Bulk export's NDJSON and writes de-identified FHIR for analysis. It is installed from PyPI into its own throw-away
virtual environment, cached in ``bench/.cache/`` (git-ignored, never in the project's lock), and run offline with
``--output-format=ndjson`` (no server, no cloud).

Both tools get the same folder of plain NDJSON holding the six resource types both de-identify (Patient,
Encounter, Condition, Observation, MedicationRequest, Procedure): Synthea scaled ``--synthea-copies`` times, and the
synthetic ``--patients`` cohort. Reported per tool: wall time of the whole command, resources/s (input resources of
those types / wall), and peak memory of its whole process tree (summed proportional set size, sampled every 0.2 s).

Cumulus ETL's first stage calls Microsoft's FHIR anonymizer (a .NET program it expects on ``PATH``; its Docker image
ships it). No registry here offers it, so unless it is on ``PATH`` a pass-through copy stands in for it: Cumulus ETL
then does everything but that stage, and its numbers here are better than a real run's. The report says which.

    python bench/end_to_end.py [--synthea-copies 10] [--patients 20000] [--cumulus-version 4.3.6]
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, print_table, save, section  # noqa: E402
from bench.extraction import scaled_synthea  # noqa: E402
from healthcare_assets.synthetic import SyntheticConfig, generate_cohort  # noqa: E402

CACHE = REPO / "bench" / ".cache"
SHARED_TYPES = ("Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "Procedure")
CUMULUS_TASKS = "patient,encounter,condition,observation,medicationrequest,procedure"
MSTOOL = "Microsoft.Health.Fhir.Anonymizer.R4.CommandLineTool"
PASS_THROUGH = f"""#!/bin/sh
# Stand-in for {MSTOOL} (bench/end_to_end.py): copies --inputFolder's NDJSON to --outputFolder unchanged.
for arg in "$@"; do
  case "$arg" in --inputFolder=*) in="${{arg#*=}}" ;; --outputFolder=*) out="${{arg#*=}}" ;; esac
done
mkdir -p "$out" && cp "$in"/*.ndjson "$out"/
"""


def cumulus_environment(version: str) -> Path:
    """``cumulus-etl`` installed from PyPI into bench/.cache/cumulus-etl-VERSION (created once, then reused)."""
    venv = CACHE / f"cumulus-etl-{version}"
    stamp = venv / ".installed"
    if not stamp.exists():
        print(f"installing cumulus-etl=={version} into {venv} (once; cached)", flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # a venv of its own
        python = str(venv / "bin" / "python")
        # uv, inside the throw-away venv: pip's resolver spent over 15 minutes backtracking through PyAthena
        # releases (boto3 against aiobotocore's narrow botocore pin) without finishing; uv resolves it in seconds.
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "uv"], check=True)
        subprocess.run([python, "-m", "uv", "pip", "install", "--quiet", "--python", python, f"cumulus-etl=={version}"],
                       check=True)  # fmt: skip
        stamp.write_text(version)
    return venv


def anonymizer_path() -> tuple[str, str]:
    """A PATH on which Cumulus ETL finds Microsoft's anonymizer, and which one it is."""
    path = os.environ.get("PATH", "")
    if shutil.which(MSTOOL):
        return path, "Microsoft's anonymizer (real)"
    folder = CACHE / "mstool-pass-through"
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / MSTOOL
    script.write_text(PASS_THROUGH)
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return f"{folder}{os.pathsep}{path}", "pass-through stand-in (the anonymizer stage is NOT done)"


class TreeMemory(threading.Thread):
    """Peak summed PSS of a process and all its descendants, sampled from /proc."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(p) for p in _tree(self.pid)))
            self._done.wait(self.interval)

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak_kb / 1024


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat_line = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat_line.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def measure(command: list[str], env: dict[str, str], log: Path) -> dict:
    """Run ``command`` to completion: wall seconds and peak memory of its process tree; fails loudly."""
    with open(log, "w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeMemory(process.pid)
        sampler.start()
        code = process.wait()
        wall = time.perf_counter() - started
        peak = sampler.stop()
    if code != 0:
        raise SystemExit(f"{command[0]} exited {code}; its output:\n{log.read_text()[-4000:]}")
    return {"wall_s": wall, "peak_mb": peak}


def count_lines(folder: Path, pattern: str = "*.ndjson") -> int:
    total = 0
    for path in folder.rglob(pattern):
        with open(path, "rb") as handle:
            total += sum(1 for _ in handle)
    return total


def keep_shared_types(folder: Path) -> dict[str, int]:
    """Leave only the six shared types in ``folder``; their resource (line) counts."""
    counts = {}
    for path in sorted(folder.glob("*.ndjson")):
        kind = path.name.split(".")[0]
        if kind in SHARED_TYPES:
            counts[kind] = count_lines(folder, path.name)
        else:
            path.unlink()
    return counts


def run_cumulus(data: Path, work: Path, venv: Path, path_env: str) -> dict:
    out, phi = work / "cumulus-output", work / "cumulus-phi"
    command = [
        str(venv / "bin" / "cumulus-etl"),
        str(data),
        str(out),
        str(phi),
        "--output-format=ndjson",
        f"--task={CUMULUS_TASKS}",
        "--export-group=bench",
        "--export-timestamp=2026-06-30T00:00:00+00:00",
    ]
    env = {**os.environ, "PATH": path_env}
    result = measure(command, env, work / "cumulus.log")
    result["written"] = sum(count_lines(out / task) for task in CUMULUS_TASKS.split(","))  # not its etl__ tables
    return result


def run_healthcare_assets(data: Path, work: Path) -> dict:
    home = work / "healthcare-assets-home"
    script = Path(sys.executable).with_name("healthcare-assets")
    command = [str(script), "--home", str(home), "run", "--source", "ndjson", "--path", str(data)]
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    result = measure(command, env, work / "healthcare-assets.log")
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        tables = [t for (t,) in con.execute("SHOW TABLES").fetchall() if t.startswith("deidentified_")]
        result["written"] = sum(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)
    return result


def compare(label: str, data: Path, counts: dict[str, int], venv: Path, path_env: str, work: Path) -> dict:
    resources = sum(counts.values())
    mb = sum(p.stat().st_size for p in data.glob("*.ndjson")) / 1e6
    with section(f"{label}: {resources:,} resources, {mb:,.0f} MB of NDJSON, one run each"):
        for folder in ("cumulus", "ours"):
            (work / folder).mkdir(parents=True)
        cumulus = run_cumulus(data, work / "cumulus", venv, path_env)
        ours = run_healthcare_assets(data, work / "ours")
        rows = []
        for name, r in (("cumulus-etl", cumulus), ("healthcare-assets run", ours)):
            r["resources_per_s"] = resources / r["wall_s"]
            rows.append([name, r["wall_s"], f"{r['resources_per_s']:,.0f}", r["peak_mb"], f"{r['written']:,}"])
        print_table(["tool", "wall s", "resources/s", "peak MB (tree PSS)", "rows/resources written"], rows)
        ratio = ours["resources_per_s"] / cumulus["resources_per_s"]
        print(f"throughput: healthcare-assets = {ratio:.1f} x cumulus-etl")
    return {"data": label, "resources": resources, "mb": mb, "counts": counts, "cumulus": cumulus, "ours": ours,
            "throughput_ratio": ratio}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synthea-copies", type=int, default=10, help="Synthea scaled N times (0: skip)")
    parser.add_argument("--patients", type=int, default=20000, help="synthetic cohort size (0: skip)")
    parser.add_argument("--cumulus-version", default="4.3.6")
    args = parser.parse_args()
    venv = cumulus_environment(args.cumulus_version)
    path_env, anonymizer = anonymizer_path()
    version = subprocess.run([str(venv / "bin" / "cumulus-etl"), "--version"], capture_output=True, text=True)
    print(f"{version.stdout.strip()}; Microsoft anonymizer stage: {anonymizer}")
    work = Path(tempfile.mkdtemp(prefix="bench-end-to-end-"))
    results: dict = {"cumulus_etl": version.stdout.strip(), "anonymizer": anonymizer, "data": []}
    try:
        if args.synthea_copies:
            data = scaled_synthea(work / "synthea", args.synthea_copies)
            counts = keep_shared_types(data)
            results["data"].append(
                compare(f"synthea x{args.synthea_copies}", data, counts, venv, path_env, work / "run-synthea")
            )
            shutil.rmtree(work / "synthea")
            shutil.rmtree(work / "run-synthea")
        if args.patients:
            data = work / "synthetic"
            print(f"\ngenerating {args.patients:,} synthetic patients (not timed)", flush=True)
            generate_cohort(data, SyntheticConfig(patients=args.patients, workers=2), work / "truth.parquet")
            counts = keep_shared_types(data)
            results["data"].append(
                compare(f"synthetic {args.patients:,}", data, counts, venv, path_env, work / "run-synthetic")
            )
        print(f"\nsaved {save('end_to_end', results)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
