"""Tamper-evident audit trail: an append-only, hash-chained ledger and its verifier."""

from healthcare_assets.audit.ledger import AuditEvent, AuditLedger, LedgerError
from healthcare_assets.audit.verify import VerifyResult, verify_ledger

__all__ = ["AuditEvent", "AuditLedger", "LedgerError", "VerifyResult", "verify_ledger"]
