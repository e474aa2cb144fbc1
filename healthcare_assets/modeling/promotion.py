"""Promotion to ``champion`` and rollback: a person's decision, allowed only for a version that passed the gate.

Before the alias moves, ``check_promotable`` re-reads the version's ``validation_report.json`` from its MLflow
run (not a tag anyone could edit) and requires that (1) the report's gate passed, and (2) the report's SHA-256 is
the one the audit ledger recorded when the validation ran, so a report edited in the artifact store after the
fact is refused. Approver and rationale are required, and both the promotion and the rollback are appended to
the ledger by the caller.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from healthcare_assets.audit.canonical import sha256_bytes
from healthcare_assets.modeling.tracking import CHAMPION, Tracker

REPORT_ARTIFACT = "validation_report.json"
CARD_JSON = "model_card.json"
CARD_MD = "model_card.md"
VALIDATE_ACTION = "validate_model"
PROMOTE_ACTION = "promote_model"
ROLLBACK_ACTION = "rollback_model"


class PromotionRefused(RuntimeError):
    """The version may not become champion; the message says why."""


@dataclass(frozen=True)
class Decision:
    model: str
    version: str
    previous: str | None
    report_sha256: str
    gate: dict[str, Any]
    run_id: str


def _ledger_reports(records: Iterable[Mapping[str, Any]], model: str, version: str) -> set[str]:
    hashes = set()
    for record in records:
        details = record.get("details") or {}
        if (
            record.get("action") == VALIDATE_ACTION
            and details.get("registered_model") == model
            and str(details.get("version")) == version
        ):
            digest = (record.get("outputs") or {}).get(REPORT_ARTIFACT)
            if digest:
                hashes.add(digest)
    return hashes


def check_promotable(
    tracker: Tracker, model: str, version: str, approver: str, reason: str, ledger_records: Iterable[Mapping]
) -> Decision:
    """Raise ``PromotionRefused`` unless ``version`` passed the gate, per its ledger-attested report."""
    from mlflow.exceptions import MlflowException

    if not approver or not approver.strip():
        raise PromotionRefused("an approver's name is required (--approver NAME)")
    if not reason or not reason.strip():
        raise PromotionRefused("a rationale is required (--reason TEXT)")
    version = str(version).strip()
    if not version.isdigit():
        raise PromotionRefused(f"version must be a registered version number, got {version!r}")
    try:
        registered = tracker.version(model, version)
    except MlflowException:
        raise PromotionRefused(f"{model} has no version {version}") from None
    try:
        raw = tracker.read_artifact(registered.run_id, REPORT_ARTIFACT)
    except (MlflowException, OSError):
        raise PromotionRefused(
            f"{model} version {version} has no validation report: materialize validation_report first"
        ) from None
    digest = sha256_bytes(raw)
    if digest not in _ledger_reports(ledger_records, model, version):
        raise PromotionRefused(
            f"the validation report of {model} version {version} does not match any report the audit ledger "
            "recorded for it (edited after validation, or validated outside the pipeline)"
        )
    report = json.loads(raw)
    gate = report.get("gate") or {}
    if gate.get("passed") is not True:
        failed = [name for name, c in gate.items() if isinstance(c, dict) and c.get("passed") is False]
        raise PromotionRefused(
            f"{model} version {version} failed the clinical validation gate ({', '.join(failed) or 'no verdict'}): "
            "it cannot be promoted"
        )
    return Decision(model, version, tracker.alias_version(model, CHAMPION), digest, gate, registered.run_id)


def champion_history(records: Iterable[Mapping[str, Any]], model: str) -> list[str]:
    """The champion stack from the ledger: each promotion pushes its version, each rollback pops back to its
    target. The last element is the current champion, the one below it what a rollback returns to."""
    stack: list[str] = []
    for record in records:
        details = record.get("details") or {}
        if details.get("registered_model") != model:
            continue
        version = str(details.get("version"))
        if record.get("action") == PROMOTE_ACTION:
            stack.append(version)
        elif record.get("action") == ROLLBACK_ACTION:
            while stack and stack[-1] != version:
                stack.pop()
            if not stack:
                stack.append(version)
    return stack


def rollback_target(history: list[str], requested: str | None) -> str:
    """The version ``champion`` goes back to: the previous champion, or ``requested`` if it was champion earlier."""
    if len(history) < 2:
        raise PromotionRefused("no earlier champion to roll back to (the ledger records fewer than two promotions)")
    earlier = history[:-1]
    if requested is None:
        return earlier[-1]
    requested = str(requested).strip()
    if requested not in earlier:
        raise PromotionRefused(
            f"version {requested} was never champion before the current one ({', '.join(earlier)} were): "
            "promote it instead"
        )
    return requested
