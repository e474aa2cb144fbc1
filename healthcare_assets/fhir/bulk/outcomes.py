"""What a Bulk export's error files say, as counts: severity, issue code and the resource type concerned.

A server lists OperationOutcome files in the manifest's ``error`` array when part of an export failed (a
partial success), or to pass on warnings. Their text may quote resources (PHI), so nothing of it is kept:
each issue becomes a count by (severity, code, type). Severity and code are kept only when they are values of
the FHIR value sets; the type is a resource type the issue names in ``expression``/``location`` or, failing
that, in its diagnostics, chosen among the types the export asked for or received; otherwise "(unknown)".
Lines that are not an OperationOutcome (malformed JSON, invalid UTF-8, over-long) are counted as unreadable.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

from healthcare_assets.fhir.bulk.lines import bounded_lines

SEVERITIES = frozenset({"fatal", "error", "warning", "information"})
FAILURES = frozenset({"fatal", "error"})
ISSUE_CODES = frozenset(
    {
        "invalid", "structure", "required", "value", "invariant", "security", "login", "unknown", "expired",
        "forbidden", "suppressed", "processing", "not-supported", "duplicate", "multiple-matches", "not-found",
        "deleted", "too-long", "code-invalid", "extension", "too-costly", "business-rule", "conflict", "transient",
        "lock-error", "no-store", "exception", "timeout", "incomplete", "throttled", "informational",
    }
)  # fmt: skip
UNKNOWN_TYPE = "(unknown)"
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


@dataclass(frozen=True)
class IssueCount:
    severity: str
    code: str
    type: str
    count: int


@dataclass(frozen=True)
class ErrorSummary:
    """The issues of a batch's error files as counts (no text), and the lines that could not be read."""

    issues: tuple[IssueCount, ...] = ()
    outcomes: int = 0  # OperationOutcome lines read
    unreadable_lines: int = 0

    @property
    def partial(self) -> bool:
        """Part of the export failed: an error or fatal issue, or an error line nobody can read."""
        return self.unreadable_lines > 0 or any(i.severity in FAILURES for i in self.issues)

    @property
    def failed_types(self) -> frozenset[str]:
        return frozenset(i.type for i in self.issues if i.severity in FAILURES and i.type != UNKNOWN_TYPE)

    @property
    def unattributed_failures(self) -> bool:
        """Failures no resource type can be blamed for: the whole export must count as incomplete."""
        return self.unreadable_lines > 0 or any(i.severity in FAILURES and i.type == UNKNOWN_TYPE for i in self.issues)

    def rows(self) -> list[dict[str, object]]:
        return [{"severity": i.severity, "code": i.code, "type": i.type, "count": i.count} for i in self.issues]

    def describe(self) -> str:
        parts = [f"{i.severity}/{i.code} {i.type}: {i.count}" for i in self.issues]
        if self.unreadable_lines:
            parts.append(f"unreadable lines: {self.unreadable_lines}")
        return "; ".join(parts) or "no issues"


def summarize_error_files(paths: Iterable[Path], known_types: Iterable[str]) -> ErrorSummary:
    """Count the issues of the OperationOutcome files ``paths`` (plain or gzip), streaming."""
    known = sorted({t for t in known_types if _TYPE_NAME.match(t)}, key=lambda t: (-len(t), t))
    mention = re.compile(r"\b(" + "|".join(known) + r")\b") if known else None
    counts: Counter[tuple[str, str, str]] = Counter()
    outcomes = unreadable = 0
    for path in paths:
        try:
            for line in bounded_lines(Path(path)):
                if line is None:
                    unreadable += 1
                    continue
                try:
                    outcome = orjson.loads(line)
                except orjson.JSONDecodeError:
                    unreadable += 1
                    continue
                if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
                    unreadable += 1
                    continue
                outcomes += 1
                issues = outcome.get("issue")
                for issue in issues if isinstance(issues, list) else []:
                    if isinstance(issue, dict):
                        counts[_classify(issue, set(known), mention)] += 1
        except (OSError, EOFError, zlib.error):  # a damaged gzip stream: the rest of the file is unreadable
            unreadable += 1
    issues = tuple(
        IssueCount(severity, code, resource_type, count)
        for (severity, code, resource_type), count in sorted(counts.items())
    )
    return ErrorSummary(issues, outcomes, unreadable)


def _classify(issue: dict, known: set[str], mention: re.Pattern[str] | None) -> tuple[str, str, str]:
    severity = issue.get("severity") if issue.get("severity") in SEVERITIES else "error"
    code = issue.get("code") if issue.get("code") in ISSUE_CODES else "unknown"
    for key in ("expression", "location"):
        for path in issue.get(key) if isinstance(issue.get(key), list) else []:
            head = path.split(".", 1)[0] if isinstance(path, str) else None
            if head in known:
                return severity, code, head
    text = issue.get("diagnostics")
    if mention is not None and isinstance(text, str):
        found = mention.search(text[:10_000])
        if found:
            return severity, code, found.group(1)
    return severity, code, UNKNOWN_TYPE
