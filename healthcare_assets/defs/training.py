"""Stage 4, training: the candidate models, cross-validated, tracked in MLflow, the chosen one registered.

Not partitioned: it trains on the whole ``training_set`` (every batch with matured labels, chosen by the
features stage) and runs in the ``training_pipeline`` job after a batch, or alone from the UI or
``healthcare-assets train``.
"""
# No `from __future__ import annotations` here: Dagster reads the Config annotations at import.

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from healthcare_assets.defs.audit import append_audit
from healthcare_assets.defs.metadata import md_table
from healthcare_assets.defs.mlflow_tracking import DEFAULT_USE_CASE, MlflowTracking
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.modeling import candidate_table, candidates
from healthcare_assets.modeling.dataset import NotEnoughData, load_training_data
from healthcare_assets.modeling.experiment import record_training
from healthcare_assets.modeling.lineage import git_revision
from healthcare_assets.modeling.training import TrainingSettings, train_candidates

GROUP = "training"
CODE_VERSION = "candidate_models-1"


class TrainingConfig(Config):
    use_case: str = Field(default=DEFAULT_USE_CASE, description="Registered model (and MLflow experiment) name.")
    seed: int = Field(default=42, description="Seeds the CV folds and every estimator: same data, same model.")
    folds: int = Field(default=5, description="Patient-grouped, label-stratified cross-validation folds.")
    candidates: list[str] = Field(
        default=list(candidates.CANDIDATES), description=f"Candidates to train, among {candidates.CANDIDATES}."
    )
    selection_tolerance: float = Field(
        default=0.005, description="An earlier (simpler) candidate within this of the best mean CV AUROC is chosen."
    )
    lr_c: float = Field(default=1.0, description="Logistic regression: inverse L2 strength.")
    gb_learning_rate: float = Field(default=0.05, description="Gradient boosting: learning rate.")
    gb_max_iter: int = Field(default=500, description="Gradient boosting: maximum trees (early stopping).")
    gb_max_leaf_nodes: int = Field(default=15, description="Gradient boosting: leaves per tree.")
    gb_min_samples_leaf: int = Field(default=40, description="Gradient boosting: stays per leaf at least.")
    gb_l2_regularization: float = Field(default=1.0, description="Gradient boosting: L2 on leaf values.")
    workers: int = Field(
        default=2, description="Processes fitting side by side (1: one fit after the other, in the step's process)."
    )

    def settings(self) -> TrainingSettings:
        return TrainingSettings(
            seed=self.seed,
            folds=self.folds,
            candidates=tuple(self.candidates),
            selection_tolerance=self.selection_tolerance,
            hyperparameters=candidates.Hyperparameters(
                lr_c=self.lr_c,
                gb_learning_rate=self.gb_learning_rate,
                gb_max_iter=self.gb_max_iter,
                gb_max_leaf_nodes=self.gb_max_leaf_nodes,
                gb_min_samples_leaf=self.gb_min_samples_leaf,
                gb_l2_regularization=self.gb_l2_regularization,
            ),
            workers=self.workers,
        )


@asset(
    key="candidate_models",
    group_name=GROUP,
    deps=["training_set", "train_test_split", "feature_dictionary"],
    code_version=CODE_VERSION,
    # Too few labelled events (a first small batch, the Synthea sample) is not a failure: nothing is trained, the
    # validation and the card are skipped, and the step says why.
    output_required=False,
    kinds={"scikit-learn", "mlflow"},
    tags={"zone": "deidentified"},
    description=(
        "Candidate models for the use case (class-weighted logistic regression with imputation and scaling; "
        "histogram gradient boosting with native missing values), each cross-validated with patient-grouped "
        "stratified folds on the training split and fitted on all of it. Every run is tracked in MLflow; the "
        "best mean CV AUROC (the simpler model on a near tie) is registered as a new version. Table "
        "`candidate_models` in the warehouse."
    ),
)
def candidate_models(
    context: AssetExecutionContext, config: TrainingConfig, home: DataHome, mlflow: MlflowTracking
) -> Iterator[MaterializeResult]:
    settings = config.settings()
    warehouse = home.warehouse()
    with warehouse.connect(read_only=True) as con:
        try:
            data = load_training_data(con)
        except NotEnoughData as exc:
            context.log.warning(
                f"not enough labelled data to train yet: {exc}; nothing was trained (land more batches, then "
                "`healthcare-assets train`)"
            )
            append_audit(context, home, "train_models_skipped", details={"reason": str(exc)})
            return
    summary = data.summary()
    context.log.info(
        f"training {len(settings.candidates)} candidate(s) on {summary['train']['stays']} stays "
        f"({summary['train']['events']} events), {len(data.features)} features, {settings.folds}-fold CV"
    )
    tracker = mlflow.tracker(home, config.use_case)
    # The store is opened while the fits run in their worker processes (this process only waits for them).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow-store") as background:
        store = background.submit(tracker.prepare)
        result = train_candidates(data.X("train"), data.y("train"), data.groups("train"), settings)
        store.result()
    lineage = git_revision()
    registered = record_training(
        tracker,
        config.use_case,
        data,
        result,
        lineage,
        tags={"dagster_run_id": context.run_id},
    )
    frame = candidate_table.candidate_frame(data, result, registered, context.run_id)
    with warehouse.connect() as con:
        con.register("_candidates", frame)
        con.execute(f"CREATE OR REPLACE TABLE {candidate_table.TABLE} AS SELECT * FROM _candidates")
    chosen = result.chosen_result
    record = append_audit(
        context,
        home,
        "train_models",
        inputs=dict(data.hashes),
        outputs={"model_uri": registered.model_uri, "mlflow_training_run": registered.parent_run_id},
        counts={
            "train_stays": summary["train"]["stays"],
            "train_events": summary["train"]["events"],
            "features": len(data.features),
            "candidates": len(result.candidates),
        },
        details={
            "registered_model": registered.name,
            "version": registered.version,
            "chosen": result.chosen,
            "cv_auroc_mean": chosen.cv_auroc_mean,
            "cv_auroc_std": chosen.cv_auroc_std,
            "batch_ids": data.batch_ids,
            "git": lineage,
            "seed": settings.seed,
        },
    )
    context.log.info(f"registered {registered.name} version {registered.version} ({result.chosen})")
    yield MaterializeResult(
        metadata={
            "registered_model": registered.name,
            "model_version": registered.version,
            "chosen": result.chosen,
            "candidates": md_table(
                ["candidate", "CV AUROC mean", "CV AUROC SD", "CV AUPRC", "seconds", "chosen"],
                [
                    (
                        c.name,
                        c.cv_auroc_mean,
                        c.cv_auroc_std,
                        c.summary()["cv_auprc_mean"],
                        c.fit_seconds,
                        "yes" if c.name == result.chosen else "",
                    )
                    for c in result.candidates
                ],
            ),
            "folds": md_table(
                ["candidate", "fold", "stays", "events", "AUROC", "AUPRC"],
                [
                    (c.name, f["fold"], f["n"], f["events"], f["auroc"], f["auprc"])
                    for c in result.candidates
                    for f in c.folds
                ],
            ),
            "training_data": MetadataValue.json(summary),
            "features": len(data.features),
            "training_set_sha256": data.hashes["training_set"],
            "batch_ids": ", ".join(data.batch_ids),
            "mlflow_training_run": registered.parent_run_id,
            "mlflow_model_run": registered.run_id,
            "model_uri": registered.model_uri,
            "mlflow": tracker.ui_hint(),
            "git_commit": str(lineage.get("commit")),
            "dagster/row_count": len(result.candidates),
            "audit_record": record["hash"],
        }
    )
