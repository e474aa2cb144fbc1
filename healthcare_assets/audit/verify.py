"""Verify the ledger's hash chain and name the first record that breaks it."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from healthcare_assets.audit.canonical import GENESIS_HASH
from healthcare_assets.audit.ledger import AuditLedger, record_hash


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    head_hash: str
    problem: str | None = None
    bad_line: int | None = None
    bad_seq: int | None = None

    def describe(self) -> str:
        if self.ok:
            return f"OK: {self.records} records, chain intact, head {self.head_hash}"
        where = f"line {self.bad_line}" + (f" (record seq {self.bad_seq})" if self.bad_seq else "")
        return f"TAMPERED: first bad record at {where}: {self.problem}"


def verify_ledger(ledger: AuditLedger) -> VerifyResult:
    """Walk the whole ledger; any edit, deletion, insertion, reordering or truncation fails."""
    prev_hash, expected_seq, count = GENESIS_HASH, 1, 0
    if ledger.path.exists():
        with open(ledger.path, "rb") as handle:
            for line_no, raw in enumerate(handle, start=1):
                fail = _check_line(raw, line_no, prev_hash, expected_seq)
                if isinstance(fail, VerifyResult):
                    return fail
                prev_hash, expected_seq, count = fail, expected_seq + 1, count + 1
    head = ledger.head()
    if head is None and count:
        return VerifyResult(False, count, prev_hash, "HEAD file is missing", count, count)
    if head is not None and (head.get("seq") != count or head.get("hash") != prev_hash):
        return VerifyResult(
            False,
            count,
            prev_hash,
            f"HEAD records seq {head.get('seq')} but the ledger ends at seq {count}: "
            "records were removed from, or added to, the end",
            count + 1 if head.get("seq", 0) > count else count,
            head.get("seq"),
        )
    return VerifyResult(True, count, prev_hash)


def _check_line(raw: bytes, line_no: int, prev_hash: str, expected_seq: int) -> str | VerifyResult:
    """The record's hash if it links correctly, else a failed result naming it."""

    def bad(problem: str, seq: int | None = None) -> VerifyResult:
        return VerifyResult(False, expected_seq - 1, prev_hash, problem, line_no, seq)

    if not raw.endswith(b"\n"):
        return bad("incomplete record (no trailing newline)")
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return bad(f"not valid JSON ({exc})")
    if not isinstance(record, dict):
        return bad("not a JSON object")
    seq = record.get("seq")
    if record.get("hash") != record_hash(record):
        return bad("content does not match its hash (record edited)", seq)
    if record.get("prev_hash") != prev_hash:
        return bad("prev_hash does not match the previous record (deleted, inserted or reordered)", seq)
    if seq != expected_seq:
        return bad(f"sequence number {seq}, expected {expected_seq}", seq)
    return str(record["hash"])
