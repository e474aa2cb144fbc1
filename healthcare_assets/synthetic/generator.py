"""``generate_cohort``: write a synthetic FHIR R4 Bulk-export folder and its ground truth.

Output: ``out_dir/<Type>.ndjson`` for Patient, Encounter, Condition, Observation, MedicationRequest, Procedure,
Practitioner and Organization (one resource per line, ``Type/id`` references, ids unique per type apart from the
injected exact duplicates). The ground truth (one row per index stay) goes to ``ground_truth_path``, which must lie
outside ``out_dir`` so that nothing reading the export can pick it up: Parquet unless the name ends in ``.csv``.

Scale and determinism. Patients are cut into fixed-size shards in index order; ``workers`` processes (``spawn``
context) generate shards into per-shard files, which the parent appends to the final files strictly in shard order
as soon as each is ready. Every patient's content is a function of (seed, config, patient index) only, so the bytes
do not depend on the number of workers or on the shard size. Memory stays bounded by a few shards in flight.

Crash safety. Everything is written under a staging directory inside ``out_dir`` and renamed into place only
when complete (the ground truth via a temporary file beside it); on any error the staging directory is removed
and nothing is renamed.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from healthcare_assets.config import ensure_private_dir
from healthcare_assets.synthetic.config import SyntheticConfig
from healthcare_assets.synthetic.fhir_writer import RESOURCE_TYPES
from healthcare_assets.synthetic.ground_truth import GROUND_TRUTH_COLUMNS
from healthcare_assets.synthetic.patient import simulate_patient
from healthcare_assets.synthetic.runtime import Runtime
from healthcare_assets.synthetic.world import build_world

ALL_RESOURCE_TYPES: tuple[str, ...] = RESOURCE_TYPES + ("Practitioner", "Organization")
SHARD_SIZE = 250
_COPY_BUFFER = 1 << 20
_STAGING_PREFIX = ".synthetic-staging-"


@dataclass
class GenerationSummary:
    """What one ``generate_cohort`` call wrote and how the known truth came out."""

    patients: int
    resource_counts: dict[str, int]  # valid resources per type (injected duplicates and malformed lines excluded)
    files: dict[str, Path]  # resource type -> NDJSON file
    bytes_written: dict[str, int]
    ground_truth_path: Path
    index_stays: int  # inpatient discharges (merged stays, deaths and stays open at export excluded)
    index_stays_followup_complete: int  # ... whose 30-day window ends before the simulation's end
    readmission_rate: float  # realized 30-day readmission rate among those
    oracle_auroc: float  # AUROC of the true probabilities vs realized outcomes, among those
    mean_true_probability: float
    deceased_patients: int
    malformed_lines: int
    duplicate_lines: int
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, Any]:
        """JSON-friendly values (paths as text), e.g. for asset metadata."""
        return {
            "patients": self.patients,
            "resource_counts": dict(self.resource_counts),
            "files": {k: str(v) for k, v in self.files.items()},
            "bytes_written": dict(self.bytes_written),
            "ground_truth_path": str(self.ground_truth_path),
            "index_stays": self.index_stays,
            "index_stays_followup_complete": self.index_stays_followup_complete,
            "readmission_rate": self.readmission_rate,
            "oracle_auroc": self.oracle_auroc,
            "mean_true_probability": self.mean_true_probability,
            "deceased_patients": self.deceased_patients,
            "malformed_lines": self.malformed_lines,
            "duplicate_lines": self.duplicate_lines,
            "seconds": self.seconds,
            "config": dict(self.config),
        }


@dataclass
class _ShardResult:
    shard: int
    counts: dict[str, int]
    duplicates: int
    malformed: int
    deceased: int
    gt_rows: list[tuple[Any, ...]]


# ----------------------------------------------------------------------------------------------- workers
_WORKER_RUNTIME: Runtime | None = None


def _runtime_for(config: SyntheticConfig) -> Runtime:
    global _WORKER_RUNTIME
    if _WORKER_RUNTIME is None or _WORKER_RUNTIME.config != config:
        _WORKER_RUNTIME = Runtime(config, build_world(config.seed))
    return _WORKER_RUNTIME


def _shard_paths(chunk_dir: Path, shard: int) -> dict[str, Path]:
    return {t: chunk_dir / f"{shard:07d}.{t}.ndjson" for t in RESOURCE_TYPES}


def _run_shard(task: tuple[SyntheticConfig, str, int, int, int]) -> _ShardResult:
    config, chunk_dir, shard, start, stop = task
    rt = _runtime_for(config)
    paths = _shard_paths(Path(chunk_dir), shard)
    counts = dict.fromkeys(RESOURCE_TYPES, 0)
    dups = bad = deceased = 0
    rows: list[tuple[Any, ...]] = []
    handles = {t: open(p, "wb", buffering=_COPY_BUFFER) for t, p in paths.items()}
    try:
        for index in range(start, stop):
            res = simulate_patient(rt, index)
            for rtype in RESOURCE_TYPES:
                block = res.lines[rtype]
                if block:
                    handles[rtype].write(b"\n".join(block))
                    handles[rtype].write(b"\n")
                counts[rtype] += res.counts[rtype]
            dups += res.duplicates
            bad += res.malformed
            deceased += res.deceased
            rows.extend(res.gt_rows)
    finally:
        for h in handles.values():
            h.close()
    return _ShardResult(shard, counts, dups, bad, deceased, rows)


# ------------------------------------------------------------------------------------------------ driver
def _shards(config: SyntheticConfig) -> list[tuple[int, int, int]]:
    return [
        (i, start, min(start + SHARD_SIZE, config.patients))
        for i, start in enumerate(range(0, config.patients, SHARD_SIZE))
    ]


def _mp_context() -> multiprocessing.context.BaseContext:
    """``spawn`` (no inherited threads or locks), unless the main module cannot be re-imported by a spawned child
    (a script piped on stdin, an interactive session), where ``fork`` is the only option that works on POSIX."""
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    if spec is None and main_file is not None and not os.path.isfile(main_file) and os.name == "posix":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _results(config: SyntheticConfig, chunk_dir: Path) -> Iterator[_ShardResult]:
    tasks = [(config, str(chunk_dir), i, a, b) for i, a, b in _shards(config)]
    workers = min(config.workers, len(tasks))
    if workers <= 1:
        for task in tasks:
            yield _run_shard(task)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context()) as pool:
        # map yields in shard order; each shard's files are appended as soon as it is its turn.
        try:
            yield from pool.map(_run_shard, tasks)
        except BrokenProcessPool as exc:
            raise RuntimeError(f"a synthetic-data worker process died: {exc}") from exc


def _check_paths(out_dir: Path, ground_truth_path: Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    gt = Path(ground_truth_path)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"out_dir exists and is not a directory: {out_dir}")
    out_abs = out_dir.resolve()
    gt_abs = gt.resolve()
    if gt_abs == out_abs or out_abs in gt_abs.parents:
        raise ValueError(
            f"ground_truth_path must lie outside out_dir (nothing downstream may read it): {gt} is inside {out_dir}"
        )
    if gt.exists() and gt.is_dir():
        raise IsADirectoryError(f"ground_truth_path is a directory: {gt}")
    return out_dir, gt


def generate_cohort(out_dir: Path, config: SyntheticConfig, ground_truth_path: Path) -> GenerationSummary:
    """Generate the cohort described by ``config`` into ``out_dir`` and its ground truth into ``ground_truth_path``.

    ``out_dir`` is created with mode 0700 (it holds PHI-shaped data). Existing ``<Type>.ndjson`` files there are
    replaced; other files are left alone.
    """
    if not isinstance(config, SyntheticConfig):
        raise TypeError(f"config must be a SyntheticConfig, got {type(config).__name__}")
    t0 = time.perf_counter()
    out_dir, gt_path = _check_paths(out_dir, ground_truth_path)
    ensure_private_dir(out_dir)
    gt_path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=out_dir))
    gt_tmp = gt_path.with_name(f".{gt_path.name}.{os.getpid()}.tmp")
    try:
        chunk_dir = staging / "shards"
        chunk_dir.mkdir()
        counts = dict.fromkeys(ALL_RESOURCE_TYPES, 0)
        dups = bad = deceased = 0
        rows: list[tuple[Any, ...]] = []
        finals = {t: open(staging / f"{t}.ndjson", "wb") for t in ALL_RESOURCE_TYPES}
        try:
            for res in _results(config, chunk_dir):
                for rtype, path in _shard_paths(chunk_dir, res.shard).items():
                    _append_file(path, finals[rtype])
                    path.unlink()
                for rtype, n in res.counts.items():
                    counts[rtype] += n
                dups += res.duplicates
                bad += res.malformed
                deceased += res.deceased
                rows.extend(res.gt_rows)
            world = build_world(config.seed)
            counts["Practitioner"] = _write_resources(finals["Practitioner"], (p.resource for p in world.practitioners))
            counts["Organization"] = _write_resources(finals["Organization"], (o.resource for o in world.organizations))
        finally:
            for handle in finals.values():
                handle.close()
        write_ground_truth(rows, gt_tmp, csv=gt_path.suffix.lower() == ".csv")

        files: dict[str, Path] = {}
        sizes: dict[str, int] = {}
        for rtype in ALL_RESOURCE_TYPES:
            target = out_dir / f"{rtype}.ndjson"
            os.replace(staging / f"{rtype}.ndjson", target)
            files[rtype] = target
            sizes[rtype] = target.stat().st_size
        os.replace(gt_tmp, gt_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if gt_tmp.exists():
            gt_tmp.unlink()

    stats = _truth_stats(rows)
    return GenerationSummary(
        patients=config.patients,
        resource_counts=counts,
        files=files,
        bytes_written=sizes,
        ground_truth_path=gt_path,
        index_stays=len(rows),
        index_stays_followup_complete=stats["n"],
        readmission_rate=stats["rate"],
        oracle_auroc=stats["auroc"],
        mean_true_probability=stats["mean_p"],
        deceased_patients=deceased,
        malformed_lines=bad,
        duplicate_lines=dups,
        seconds=round(time.perf_counter() - t0, 3),
        config=config.as_dict(),
    )


def _append_file(path: Path, dst: BinaryIO) -> None:
    """Append a shard file to an open output, in the kernel when it can (no copy through this process)."""
    with open(path, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        if size == 0:
            return
        dst.flush()
        origin = dst.seek(0, os.SEEK_END)
        if hasattr(os, "copy_file_range"):
            try:
                done = 0
                while done < size:
                    n = os.copy_file_range(src.fileno(), dst.fileno(), size - done)
                    if n == 0:
                        break
                    done += n
                if done == size:
                    dst.seek(0, os.SEEK_END)  # resynchronise the buffered writer with the descriptor
                    return
            except OSError:
                pass
            dst.seek(origin)  # undo a partial in-kernel copy, then copy the ordinary way
            dst.truncate(origin)
            src.seek(0)
        shutil.copyfileobj(src, dst, _COPY_BUFFER)


def _write_resources(handle: Any, resources: Iterable[dict[str, Any]]) -> int:
    n = 0
    for resource in resources:
        handle.write(orjson.dumps(resource))
        handle.write(b"\n")
        n += 1
    return n


# ------------------------------------------------------------------------------------------ ground truth
_ROW_INDEX = {name: i for i, name in enumerate(GROUND_TRUTH_COLUMNS)}


def write_ground_truth(rows: list[tuple[Any, ...]], path: Path, csv: bool = False) -> None:
    """One row per index stay (columns: ``ground_truth.GROUND_TRUTH_COLUMNS``), as Parquet or CSV.

    In CSV the ``encounter_ids`` list is joined with ``|``.
    """
    import polars as pl

    schema = {
        "stay_id": pl.Utf8,
        "patient_id": pl.Utf8,
        "encounter_ids": pl.List(pl.Utf8),
        "admission_encounter_id": pl.Utf8,
        "discharge_encounter_id": pl.Utf8,
        "admission_time": pl.Utf8,
        "discharge_time": pl.Utf8,
        "discharge_epoch_s": pl.Int64,
        "true_probability": pl.Float64,
        "readmitted_30d": pl.Int8,
        "days_to_readmission": pl.Float64,
        "readmission_encounter_id": pl.Utf8,
        "followup_complete": pl.Boolean,
        "age_years": pl.Float64,
        "charlson": pl.Int16,
        "prior_admissions_12m": pl.Int16,
        "los_days": pl.Float64,
        "ed_admission": pl.Boolean,
        "icu_stay": pl.Boolean,
        "creatinine_mg_dl": pl.Float64,
        "hemoglobin_g_dl": pl.Float64,
        "sodium_mmol_l": pl.Float64,
        "discharge_disposition": pl.Utf8,
        "active_medications": pl.Int16,
        "admission_reason": pl.Utf8,
    }
    assert tuple(schema) == GROUND_TRUTH_COLUMNS
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    if csv:
        frame.with_columns(pl.col("encounter_ids").list.join("|")).write_csv(path)
    else:
        frame.write_parquet(path, compression="zstd", statistics=False)


def _truth_stats(rows: list[tuple[Any, ...]]) -> dict[str, float]:
    import numpy as np

    fc = _ROW_INDEX["followup_complete"]
    done = [r for r in rows if r[fc]]
    if not done:
        return {"n": 0, "rate": float("nan"), "auroc": float("nan"), "mean_p": float("nan")}
    p = np.fromiter((r[_ROW_INDEX["true_probability"]] for r in done), dtype=float, count=len(done))
    y = np.fromiter((r[_ROW_INDEX["readmitted_30d"]] for r in done), dtype=float, count=len(done))
    return {"n": len(done), "rate": float(y.mean()), "auroc": auroc(y, p), "mean_p": float(p.mean())}


def auroc(y_true: Any, scores: Any) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); NaN with a single class."""
    import numpy as np

    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=float)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=float)
    sorted_s = s[order]
    # Average ranks over ties.
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [s.size]))
    avg = (starts + ends + 1) / 2.0  # 1-based average rank of each tie block
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
