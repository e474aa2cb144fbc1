"""The prediction log under concurrent appends (group commit), its anchors and its verifier."""

from __future__ import annotations

import threading
from pathlib import Path

from healthcare_assets.audit import AuditLedger
from healthcare_assets.audit.predictions import PredictionRecorder, prediction_ledger, verify_predictions


def test_concurrent_predictions_chain_and_anchor(tmp_path: Path) -> None:
    recorder = PredictionRecorder(tmp_path, {"run_id": "run"}, anchor_every=50)
    recorder.start({"registered_model": "m", "version": "1"})

    def client(n: int) -> None:
        for i in range(60):
            recorder.record({"prediction_id": f"{n}-{i}", "probability": 0.25}, "ab" * 32)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.stop()
    main, log = AuditLedger(tmp_path), prediction_ledger(tmp_path)
    ids = [r["details"]["prediction_id"] for r in log.records()]
    assert len(ids) == 240 and len(set(ids)) == 240
    checked = verify_predictions(main, log)
    assert checked.ok and checked.unanchored == 0, checked.describe()
    anchors = [r for r in main.records() if r["action"] == "anchor_predictions"]
    # One anchor per 50 predictions (at the head when it is taken: concurrent appends may have moved it on),
    # and the last at shutdown covering everything.
    seqs = [a["counts"]["prediction_log_seq"] for a in anchors]
    assert len(seqs) == 5 and seqs == sorted(seqs) and seqs[-1] == 240 and seqs[0] >= 50
    # Cutting the tail of the prediction log after it was anchored is caught (HEAD rewritten to match).
    lines = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(b"".join(lines[:-1]))
    log._write_head(239, __import__("orjson").loads(lines[-2])["hash"])
    cut = verify_predictions(main, log)
    assert not cut.ok and "predictions were removed" in cut.describe()


def test_a_prediction_from_an_unknown_session_fails(tmp_path: Path) -> None:
    recorder = PredictionRecorder(tmp_path, {"run_id": "run"})
    recorder.start({})
    recorder.session = "f" * 64  # not a serve_model record of the main ledger
    recorder.record({"prediction_id": "x"}, "ab" * 32)
    checked = verify_predictions(AuditLedger(tmp_path), prediction_ledger(tmp_path))
    assert not checked.ok and "serving session that is not in the audit ledger" in checked.describe()
