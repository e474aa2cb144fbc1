"""The whole HL7 SQL on FHIR v2 suite runs; every non-excluded case passes."""

from __future__ import annotations

import json
from pathlib import Path

from healthcare_assets.fhir.views import conformance


def test_every_non_excluded_case_passes(suite_dir: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    summary = conformance.run_conformance(suite_dir, report)
    failures = [f"{r.file} / {r.name}: {r.reason}" for r in summary.failures()]
    assert not failures, "\n".join(failures)
    passed, total = summary.counts("shareable")
    assert total >= 123 and passed == total
    # The report follows the suite's test-report schema: {file: {"tests": [{name, result: {passed}}]}}.
    data = json.loads(report.read_text())
    assert "basic.json" in data and "tests.schema.json" not in data
    for suite in data.values():
        for test in suite["tests"]:
            assert isinstance(test["name"], str) and isinstance(test["result"]["passed"], bool)
    assert sum(len(s["tests"]) for s in data.values()) == len(summary.results)


def test_exclusions_are_explained_and_exist(suite_dir: Path) -> None:
    titles = {
        (path.name, test["title"])
        for path in suite_dir.glob("*.json")
        for test in json.loads(path.read_text()).get("tests", [])
    }
    for key, why in conformance.EXCLUDED.items():
        assert key in titles, f"excluded case {key} is not in the suite"
        assert why.strip()


def test_main_prints_summary_and_exit_code(suite_dir: Path, tmp_path: Path, capsys) -> None:
    code = conformance.main([str(suite_dir), "--report", str(tmp_path / "r.json"), "--tag", "experimental"])
    out = capsys.readouterr().out
    assert code == 0  # the failing experimental cases are the excluded ones
    assert "fn_boundary.json" in out and "experimental: " in out and "excluded: " in out
    assert (tmp_path / "r.json").exists()
    assert conformance.main([str(tmp_path / "missing")]) == 2


def test_failing_case_is_reported(tmp_path: Path) -> None:
    suite = {
        "title": "t",
        "resources": [{"resourceType": "Patient", "id": "p1"}],
        "tests": [
            {
                "title": "wrong",
                "tags": ["shareable"],
                "view": {"resource": "Patient", "select": [{"column": [{"name": "id", "path": "id"}]}]},
                "expect": [{"id": "p2"}],
            },
            {
                "title": "error expected",
                "tags": ["shareable"],
                "view": {"resource": "Patient", "select": [{"column": [{"name": "id", "path": "id"}]}]},
                "expectError": True,
            },
        ],
    }
    (tmp_path / "t.json").write_text(json.dumps(suite))
    summary = conformance.run_conformance(tmp_path, tmp_path / "out" / "report.json")
    assert [r.passed for r in summary.results] == [False, False]
    assert "rows differ" in (summary.results[0].reason or "")
    assert conformance.main([str(tmp_path)]) == 1
