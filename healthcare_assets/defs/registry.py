"""Stage 6, the registry: the model card (which makes the validated version the ``challenger``) and the audited
promotion to ``champion``, which only a person starts (``healthcare-assets promote`` or the UI's launchpad)."""
# No `from __future__ import annotations` here: Dagster reads the Config annotations at import.

from datetime import UTC, datetime

from dagster import AssetExecutionContext, Config, Failure, MaterializeResult, MetadataValue, asset
from pydantic import Field

from healthcare_assets.audit.canonical import sha256_bytes
from healthcare_assets.defs.audit import append_audit
from healthcare_assets.defs.mlflow_tracking import DEFAULT_USE_CASE, MlflowTracking
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.modeling import candidate_table, candidates, model_format
from healthcare_assets.modeling.dataset import load_dictionary, load_training_data
from healthcare_assets.modeling.lineage import git_revision
from healthcare_assets.modeling.model_card import build_model_card, render_markdown
from healthcare_assets.modeling.promotion import (
    CARD_JSON,
    CARD_MD,
    PROMOTE_ACTION,
    REPORT_ARTIFACT,
    ROLLBACK_ACTION,
    PromotionRefused,
    champion_history,
    check_promotable,
    rollback_target,
)
from healthcare_assets.modeling.tracking import CHALLENGER, CHAMPION

GROUP = "registry"


class ModelCardConfig(Config):
    use_case: str = Field(default=DEFAULT_USE_CASE, description="Registered model whose validated version to card.")


@asset(
    key="model_card",
    group_name=GROUP,
    deps=["validation_report"],
    code_version="model_card-1",
    kinds={"mlflow"},
    description=(
        "Model card of the validated version (JSON and Markdown, shown here and logged to MLflow as "
        "model_card.json / model_card.md): identity and release, intended and out-of-scope use, cohort and label, "
        "features with windows, training lineage, performance with CIs, fairness, gate results, limitations, "
        "monitoring and retraining. Sets the registry alias `challenger` on the version."
    ),
)
def model_card(
    context: AssetExecutionContext, config: ModelCardConfig, home: DataHome, mlflow: MlflowTracking
) -> MaterializeResult:
    import json

    tracker = mlflow.tracker(home, config.use_case)
    with home.warehouse().connect(read_only=True) as con:
        chosen = candidate_table.chosen_model(con)
        everyone = candidate_table.all_candidates(con)
        dictionary = load_dictionary(con)
        data = load_training_data(con)
    name, version = chosen["registered_model"], chosen["model_version"]
    registered = tracker.version(name, version)
    report = json.loads(tracker.read_artifact(registered.run_id, REPORT_ARTIFACT))
    if not report["gate"]["passed"]:
        raise Failure(f"{name} version {version} failed the clinical gate: no card, no challenger")
    lineage = git_revision()
    card = build_model_card(
        model={
            "name": name,
            "version": version,
            "candidate": chosen["candidate"],
            "description": candidates.describe(chosen["candidate"]),
            "model_uri": f"models:/{name}/{version}",
            "format": f"MLflow sklearn flavor, {model_format.SERIALIZATION_FORMAT} with trusted types "
            f"{', '.join(model_format.TRUSTED_TYPES)}; pyfunc returns {model_format.PREDICT_FN}",
            "runs": {"model": registered.run_id, "training": chosen["training_run_id"]},
        },
        report=report,
        dictionary=dictionary,
        data_summary=data.summary(),
        lineage={
            "git": lineage,
            "batch_ids": data.batch_ids,
            "hashes": data.hashes,
            "dagster_runs": {"training": chosen["dagster_run_id"], "model_card": context.run_id},
        },
        training={
            "cv": f"{len(chosen['cv_folds'])}-fold patient-grouped stratified, seed {chosen['seed']}",
            "candidates": everyone,
        },
    )
    card_json = json.dumps(card, indent=2, sort_keys=True, allow_nan=False).encode("utf-8")
    card_md = render_markdown(card)
    tracker.log_bytes(registered.run_id, CARD_JSON, card_json)
    tracker.log_bytes(registered.run_id, CARD_MD, card_md.encode("utf-8"))
    tracker.set_alias(name, CHALLENGER, version)
    tracker.tag_version(name, version, {"model_card_sha256": sha256_bytes(card_json)})
    record = append_audit(
        context,
        home,
        "card_model",
        inputs={REPORT_ARTIFACT: sha256_bytes(tracker.read_artifact(registered.run_id, REPORT_ARTIFACT))},
        outputs={CARD_JSON: sha256_bytes(card_json), CARD_MD: sha256_bytes(card_md.encode("utf-8"))},
        details={"registered_model": name, "version": version, "alias": CHALLENGER},
    )
    location = tracker.artifact_location(registered.run_id, CARD_MD)
    context.log.info(f"{name} version {version} is the {CHALLENGER}; model card: {location}")
    return MaterializeResult(
        metadata={
            "registered_model": name,
            "model_version": version,
            "alias": CHALLENGER,
            "model_card": MetadataValue.md(card_md),
            "card_location": MetadataValue.path(location) if location.startswith("/") else location,
            "card_sha256": sha256_bytes(card_json),
            "audit_record": record["hash"],
        }
    )


class PromotionConfig(Config):
    """Who approves which version, and why. Required: nothing is promoted without a person's name and reason."""

    version: str | None = Field(
        default=None, description="Registered version to promote; with rollback, the earlier champion (optional)."
    )
    approver: str = Field(description="Name of the person approving (recorded in the audit ledger).")
    reason: str = Field(description="Rationale for the decision (recorded in the audit ledger).")
    rollback: bool = Field(default=False, description="Re-point champion to the previous (or given) champion.")
    use_case: str = Field(default=DEFAULT_USE_CASE, description="Registered model.")


@asset(
    key="champion_model",
    group_name=GROUP,
    deps=["model_card"],
    code_version="champion_model-1",
    kinds={"mlflow"},
    description=(
        "The registry alias `champion`: the version serving and monitoring use. Set only by a person, with an "
        "approver's name and rationale, and only for a version whose ledger-attested validation report passed "
        "the clinical gate (`healthcare-assets promote VERSION --approver NAME --reason TEXT`, or Materialize "
        "with run config here); `rollback: true` re-points it to the previous champion. Never materialized "
        "automatically; every promotion, rollback and refusal goes to the audit ledger."
    ),
)
def champion_model(
    context: AssetExecutionContext, config: PromotionConfig, home: DataHome, mlflow: MlflowTracking
) -> MaterializeResult:
    tracker = mlflow.tracker(home, config.use_case)
    ledger = home.ledger()
    name = config.use_case
    action = ROLLBACK_ACTION if config.rollback else PROMOTE_ACTION
    try:
        if config.rollback:
            history = champion_history(ledger.records(), name)
            version = rollback_target(history, config.version)
        else:
            if not config.version:
                raise PromotionRefused("the version to promote is required")
            version = config.version
        decision = check_promotable(tracker, name, version, config.approver, config.reason, ledger.records())
    except PromotionRefused as refused:
        append_audit(
            context,
            home,
            "promotion_refused",
            details={
                "registered_model": name,
                "version": config.version,
                "rollback": config.rollback,
                "approver": config.approver,
                "reason": config.reason,
                "refusal": str(refused),
            },
        )
        raise Failure(description=f"promotion refused: {refused}") from None
    tracker.set_alias(name, CHAMPION, decision.version)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    tracker.tag_version(
        name,
        decision.version,
        {"approved_by": config.approver, "approval_reason": config.reason[:500], "promoted_at": now},
    )
    record = append_audit(
        context,
        home,
        action,
        inputs={REPORT_ARTIFACT: decision.report_sha256},
        details={
            "registered_model": name,
            "version": decision.version,
            "previous_champion": decision.previous,
            "approver": config.approver,
            "reason": config.reason,
            "alias": CHAMPION,
        },
    )
    verb = "rolled back to" if config.rollback else "promoted"
    context.log.info(f"{name}: {verb} version {decision.version} as {CHAMPION} (approved by {config.approver})")
    return MaterializeResult(
        metadata={
            "registered_model": name,
            "champion_version": decision.version,
            "previous_champion": decision.previous or "none",
            "action": action,
            "approver": config.approver,
            "reason": config.reason,
            "validation_report_sha256": decision.report_sha256,
            "audit_record": record["hash"],
        }
    )
