"""Run HL7's SQL on FHIR v2 conformance suite against this engine and write the suite's test-report format.

Each suite file holds inline ``resources`` and ``tests`` (``view`` plus ``expect`` rows, ``expectCount`` or
``expectError``). Resources are written to one NDJSON file per resource type (so that, as in a Bulk Data export,
one file never mixes shapes such as Organization.name and Patient.name) and every view runs through the same
``read_json`` path as production. Rows are compared as multisets; column order is compared via ``expectColumns``.

The report is ``{"<file>.json": {"tests": [{"name": title, "result": {"passed": bool, "reason"?: str}}]}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from healthcare_assets.fhir.views.compiler import compile_view
from healthcare_assets.fhir.views.definition import load_view
from healthcare_assets.fhir.views.errors import ViewDefinitionError
from healthcare_assets.fhir.views.sources import NdjsonSource
from healthcare_assets.warehouse.duckdb_store import quiet

DEFAULT_TAGS = ("shareable", "experimental")

# Cases not expected to pass, by (file, title), with why. They are still run and reported; they do not fail a run.
EXCLUDED: dict[tuple[str, str], str] = {
    # Decimals are read as DOUBLE, so the precision written in the source ("1.0" vs "1"), which sets the boundary
    # (0.95..1.05 rather than 0.5..1.5), is gone before FHIRPath sees the value. Reading every decimal as text to
    # serve this experimental function would slow and complicate every numeric column.
    ("fn_boundary.json", "decimal lowBoundary"): "decimal precision is not kept (decimals are read as DOUBLE)",
    ("fn_boundary.json", "decimal highBoundary"): "decimal precision is not kept (decimals are read as DOUBLE)",
}


@dataclass
class CaseResult:
    file: str
    name: str
    tags: tuple[str, ...]
    passed: bool
    reason: str | None = None

    @property
    def excluded(self) -> bool:
        return (self.file, self.name) in EXCLUDED


@dataclass
class Summary:
    results: list[CaseResult] = field(default_factory=list)

    def failures(self, tag: str | None = None, include_excluded: bool = False) -> list[CaseResult]:
        return [
            r
            for r in self.results
            if not r.passed and (tag is None or tag in r.tags) and (include_excluded or not r.excluded)
        ]

    def counts(self, tag: str) -> tuple[int, int]:
        """(passed, total) among cases with ``tag``."""
        cases = [r for r in self.results if tag in r.tags]
        return sum(r.passed for r in cases), len(cases)

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for r in self.results:
            result: dict[str, Any] = {"passed": r.passed}
            if r.reason:
                result["reason"] = r.reason
            out.setdefault(r.file, {"tests": []})["tests"].append({"name": r.name, "result": result})
        return out


def _same_rows(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> bool:
    remaining = list(actual)
    for row in expected:
        for i, candidate in enumerate(remaining):
            if candidate == row:
                del remaining[i]
                break
        else:
            return False
    return not remaining


def _write_resources(resources: list[dict[str, Any]], folder: Path) -> dict[str, Path]:
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for resource in resources:
        by_type[str(resource.get("resourceType"))].append(resource)
    files = {}
    for resource_type, items in by_type.items():
        path = folder / f"{resource_type}.ndjson"
        path.write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
        files[resource_type] = path
    return files


def run_case(
    test: dict[str, Any], files: dict[str, Path], folder: Path, con: duckdb.DuckDBPyConnection
) -> tuple[bool, str | None]:
    """Run one test case on ``con``; returns (passed, reason when it failed)."""
    try:
        view = load_view(test["view"])
        path = files.get(view.resource)
        if path is None:
            path = folder / f"{view.resource}.ndjson"
            path.write_text("", encoding="utf-8")
        relation = con.sql(compile_view(view, NdjsonSource((str(path),))))
        columns = list(relation.columns)
        rows = [dict(zip(columns, values, strict=True)) for values in relation.fetchall()]
    except (ViewDefinitionError, duckdb.Error) as exc:
        if test.get("expectError"):
            return True, None
        return False, f"{type(exc).__name__}: {exc}"
    if test.get("expectError"):
        return False, f"expected an error, got {len(rows)} rows"
    if "expectColumns" in test and columns != test["expectColumns"]:
        return False, f"columns {columns} != expected {test['expectColumns']}"
    if "expectCount" in test:
        ok = len(rows) == test["expectCount"]
        return ok, None if ok else f"{len(rows)} rows, expected {test['expectCount']}"
    if not _same_rows(test.get("expect", []), rows):
        return False, f"rows differ: got {json.dumps(rows, default=str)[:600]}"
    return True, None


def run_conformance(suite_dir: Path, report_path: Path | None = None, tags: Iterable[str] = DEFAULT_TAGS) -> Summary:
    """Run every case of ``suite_dir`` whose tags meet ``tags``; write the test report to ``report_path``."""
    wanted = set(tags)
    summary = Summary()
    con = quiet(duckdb.connect(":memory:"))
    for suite_file in sorted(Path(suite_dir).glob("*.json")):
        suite = json.loads(suite_file.read_text(encoding="utf-8"))
        if "tests" not in suite:
            continue  # tests.schema.json
        with tempfile.TemporaryDirectory(prefix="sof-") as tmp:
            folder = Path(tmp)
            files = _write_resources(suite.get("resources", []), folder)
            for test in suite["tests"]:
                case_tags = tuple(test.get("tags") or suite.get("tags") or ())
                if wanted and not wanted.intersection(case_tags):
                    continue
                passed, reason = run_case(test, files, folder, con)
                summary.results.append(CaseResult(suite_file.name, test["title"], case_tags, passed, reason))
    con.close()
    if report_path is not None:
        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
        Path(report_path).write_text(json.dumps(summary.report(), indent=2) + "\n", encoding="utf-8")
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite_dir", type=Path, help="folder of the suite's *.json test files")
    parser.add_argument("--report", type=Path, default=None, help="where to write the test report (JSON)")
    parser.add_argument("--tag", action="append", dest="tags", help="run cases with this tag (repeatable)")


def main(argv: Sequence[str] | None = None) -> int:
    """``healthcare-assets views conformance DIR --report FILE``: per-file summary; non-zero if a case fails."""
    parser = argparse.ArgumentParser(prog="healthcare-assets views conformance", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


def run_from_args(args: argparse.Namespace) -> int:
    if not args.suite_dir.is_dir():
        print(f"no such suite folder: {args.suite_dir}", file=sys.stderr)
        return 2
    summary = run_conformance(args.suite_dir, args.report, args.tags or DEFAULT_TAGS)
    by_file: dict[str, list[CaseResult]] = defaultdict(list)
    for r in summary.results:
        by_file[r.file].append(r)
    for name, results in by_file.items():
        passed = sum(r.passed for r in results)
        print(f"{name:<26} {passed:>3}/{len(results):<3} {'ok' if passed == len(results) else 'FAILED'}")
        for r in results:
            if not r.passed:
                note = f"excluded: {EXCLUDED[(r.file, r.name)]}" if r.excluded else r.reason
                print(f"    - {r.name} [{', '.join(r.tags)}]: {note}")
    for tag in args.tags or DEFAULT_TAGS:
        passed, total = summary.counts(tag)
        print(f"{tag}: {passed}/{total} passed")
    if args.report:
        print(f"report: {args.report}")
    return 1 if summary.failures() else 0


if __name__ == "__main__":
    raise SystemExit(main())
