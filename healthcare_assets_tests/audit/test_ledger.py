"""The ledger chains records, and the verifier names the first record that was edited, deleted, inserted,
reordered or truncated."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import orjson
import pytest

from healthcare_assets.audit import AuditEvent, AuditLedger, LedgerError, verify_ledger
from healthcare_assets.audit.canonical import GENESIS_HASH
from healthcare_assets.cli import main


def _ledger(tmp_path: Path, records: int = 5) -> AuditLedger:
    ledger = AuditLedger(tmp_path / "audit")
    for i in range(records):
        ledger.append(
            AuditEvent(
                action="test",
                asset_key=f"asset_{i}",
                partition="b1",
                run_id=f"run-{i}",
                inputs={"in": "a" * 64},
                outputs={"out": f"{i:064d}"},
                counts={"rows": i},
            )
        )
    return ledger


def _lines(ledger: AuditLedger) -> list[bytes]:
    return ledger.path.read_bytes().splitlines(keepends=True)


def test_records_chain_and_verify(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    records = list(ledger.records())
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["prev_hash"] == GENESIS_HASH
    for before, after in zip(records, records[1:], strict=False):
        assert after["prev_hash"] == before["hash"]
    for field in ("run_id", "asset_key", "partition", "code_version", "inputs", "outputs", "counts", "actor", "time"):
        assert field in records[0]
    result = verify_ledger(ledger)
    assert result.ok and result.records == 5, result.describe()


def test_empty_ledger_verifies(tmp_path: Path) -> None:
    assert verify_ledger(AuditLedger(tmp_path / "none")).ok


def test_edited_record_is_named(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    lines = _lines(ledger)
    record = orjson.loads(lines[2])
    record["counts"]["rows"] = 999
    lines[2] = orjson.dumps(record) + b"\n"
    ledger.path.write_bytes(b"".join(lines))
    result = verify_ledger(ledger)
    assert not result.ok and result.bad_line == 3 and result.bad_seq == 3
    assert "edited" in result.problem


def test_edit_with_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    from healthcare_assets.audit.ledger import record_hash

    ledger = _ledger(tmp_path)
    lines = _lines(ledger)
    record = orjson.loads(lines[1])
    record["actor"] = "mallory"
    record["hash"] = record_hash(record)
    lines[1] = orjson.dumps(record) + b"\n"
    ledger.path.write_bytes(b"".join(lines))
    result = verify_ledger(ledger)
    assert not result.ok and result.bad_line == 3  # record 3 no longer points at record 2


@pytest.mark.parametrize(
    ("mutation", "bad_line"),
    [
        (lambda lines: lines[:1] + lines[2:], 2),  # delete record 2
        (lambda lines: lines[:2] + [lines[4]] + lines[2:4], 3),  # move record 5 earlier (insert/reorder)
        (lambda lines: [lines[1], lines[0]] + lines[2:], 1),  # swap the first two
        (lambda lines: lines[:2] + [lines[1]] + lines[2:], 3),  # duplicate (insert) a record
    ],
)
def test_deleted_inserted_reordered_records_are_named(tmp_path: Path, mutation, bad_line: int) -> None:
    ledger = _ledger(tmp_path)
    ledger.path.write_bytes(b"".join(mutation(_lines(ledger))))
    result = verify_ledger(ledger)
    assert not result.ok
    assert result.bad_line == bad_line, result.describe()


def test_truncated_tail_is_caught_by_head(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.path.write_bytes(b"".join(_lines(ledger)[:-2]))
    result = verify_ledger(ledger)
    assert not result.ok and "removed" in result.problem


def test_damaged_tail_refuses_append(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, 2)
    with open(ledger.path, "ab") as handle:
        handle.write(b'{"half": ')
    with pytest.raises(LedgerError, match="incomplete"):
        ledger.append(AuditEvent(action="x"))
    assert not verify_ledger(ledger).ok


def _append_many(directory: str, worker: int) -> None:
    ledger = AuditLedger(Path(directory))
    for i in range(25):
        ledger.append(AuditEvent(action="concurrent", details={"worker": worker, "i": i}))


def test_concurrent_appends_from_processes_keep_the_chain(tmp_path: Path) -> None:
    directory = str(tmp_path / "audit")
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_append_many, args=(directory, w)) for w in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    result = verify_ledger(AuditLedger(Path(directory)))
    assert result.ok and result.records == 75, result.describe()


def test_cli_audit_verify_exit_codes(data_home, capsys) -> None:
    ledger = _ledger(data_home.home)  # data_home.audit == home / "audit"
    assert ledger.directory == data_home.audit
    assert main(["audit", "verify"]) == 0
    assert "OK: 5 records" in capsys.readouterr().out
    lines = _lines(ledger)
    ledger.path.write_bytes(b"".join(lines[:3] + lines[4:]))
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "TAMPERED" in out and "line 4" in out
