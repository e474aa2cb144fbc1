"""Stage 5, clinical validation: the report on the held-out test split and the blocking clinical gate."""
# No `from __future__ import annotations` here: Dagster reads the Config annotations at import.

import base64

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from healthcare_assets.audit.canonical import canonical_json, sha256_bytes
from healthcare_assets.defs.audit import append_audit
from healthcare_assets.defs.metadata import md_table
from healthcare_assets.defs.mlflow_tracking import DEFAULT_USE_CASE, MlflowTracking
from healthcare_assets.defs.resources import DataHome
from healthcare_assets.modeling import candidate_table
from healthcare_assets.modeling.dataset import load_training_data
from healthcare_assets.modeling.experiment import load_model
from healthcare_assets.modeling.gate import criteria_for
from healthcare_assets.modeling.promotion import REPORT_ARTIFACT, VALIDATE_ACTION
from healthcare_assets.modeling.report import ReportSettings, build_report, headline
from healthcare_assets.modeling.validation import figures, oracle_probabilities, score_test_split

GROUP = "validation"
CODE_VERSION = "validation_report-1"
GATE_CHECK = "clinical_gate"
PLOTS_DIR = "validation_plots"


class ValidationConfig(Config):
    """The report's settings and the gate. A gate threshold left unset takes the use case's default (the seed's
    thresholds for readmission_30d)."""

    use_case: str = Field(default=DEFAULT_USE_CASE, description="Registered model whose latest training to validate.")
    bootstrap_samples: int = Field(default=1000, description="Patient-clustered bootstrap resamples for the CIs.")
    seed: int = Field(default=42, description="Seeds the bootstrap.")
    min_subgroup_events: int = Field(
        default=100,
        description="A subgroup needs this many events AND non-events in the test split to be judged for fairness "
        "(AUROC SE ~0.02); smaller ones are reported, not judged, and a column needs two judged subgroups.",
    )
    min_auroc: float | None = Field(default=None, description="Gate: AUROC at least (default 0.85).")
    min_sensitivity_at_90_specificity: float | None = Field(
        default=None, description="Gate: sensitivity at 90% specificity at least (default 0.70)."
    )
    min_calibration_slope: float | None = Field(default=None, description="Gate: calibration slope from (0.8).")
    max_calibration_slope: float | None = Field(default=None, description="Gate: calibration slope to (1.2).")
    max_subgroup_auroc_disparity: float | None = Field(
        default=None, description="Gate: subgroup AUROC max - min below (0.05)."
    )
    max_cv_auroc_std: float | None = Field(default=None, description="Gate: CV AUROC standard deviation below (0.03).")

    def overrides(self) -> dict[str, float | None]:
        names = (
            "min_auroc",
            "min_sensitivity_at_90_specificity",
            "min_calibration_slope",
            "max_calibration_slope",
            "max_subgroup_auroc_disparity",
            "max_cv_auroc_std",
        )
        return {name: getattr(self, name) for name in names}


def png_markdown(title: str, png: bytes) -> MetadataValue:
    """An inline PNG the UI renders (its Markdown sanitizer allows data: image sources)."""
    return MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})")


@asset(
    key="validation_report",
    group_name=GROUP,
    deps=["candidate_models", "synthetic_ground_truth"],
    code_version=CODE_VERSION,
    kinds={"mlflow"},
    tags={"zone": "deidentified"},
    description=(
        "Clinical validation of the latest registered model on the held-out test split: AUROC and AUPRC with "
        "patient-clustered bootstrap 95% CIs, Brier, calibration (in-the-large, intercept, slope, ICI, ECE), "
        "threshold table, sensitivity at 90% specificity and specificity at 90% sensitivity, subgroup AUROC by "
        "sex and age band, CV stability, decision curve, LACE and (synthetic data) the oracle's AUROC. Plots "
        "here and in MLflow with `validation_report.json`. The blocking clinical gate stops the model card."
    ),
    check_specs=[
        AssetCheckSpec(
            GATE_CHECK,
            asset="validation_report",
            blocking=True,
            description=(
                "The seed's clinical thresholds (per-use-case overrides in config): AUROC >= 0.85, sensitivity at "
                "90% specificity >= 0.70, calibration slope 0.8-1.2, subgroup AUROC disparity < 0.05, CV AUROC SD "
                "< 0.03. A failed model keeps its report but gets no card and cannot be promoted."
            ),
        )
    ],
)
def validation_report(
    context: AssetExecutionContext, config: ValidationConfig, home: DataHome, mlflow: MlflowTracking
) -> MaterializeResult:
    tracker = mlflow.tracker(home, config.use_case)
    warehouse = home.warehouse()
    with warehouse.connect(read_only=True) as con:
        chosen = candidate_table.chosen_model(con)
        data = load_training_data(con)
        oracle = oracle_probabilities(con, data.part("test")["stay_id"].tolist())
    name, version = chosen["registered_model"], chosen["model_version"]
    model = load_model(tracker, name, version)
    predictions = score_test_split(data, model, oracle, chosen["training_set_sha256"])
    cv = {
        "candidate": chosen["candidate"],
        "auroc_mean": chosen["cv_auroc_mean"],
        "auroc_std": chosen["cv_auroc_std"],
        "folds": chosen["cv_folds"],
    }
    criteria = criteria_for(name, config.overrides())
    settings = ReportSettings(
        bootstrap_samples=config.bootstrap_samples, seed=config.seed, min_subgroup_events=config.min_subgroup_events
    )
    report = build_report(predictions, cv, criteria, settings)
    report["model"] = {"registered_model": name, "version": version, "candidate": chosen["candidate"]}
    report["data"] = {"training_set_sha256": data.hashes["training_set"], "batch_ids": data.batch_ids}
    raw = canonical_json(report)
    digest = sha256_bytes(raw)
    run_id = tracker.version(name, version).run_id
    tracker.log_bytes(run_id, REPORT_ARTIFACT, raw)
    figs = figures(predictions, report)
    for filename, png in figs.items():
        tracker.log_bytes(run_id, filename, png, PLOTS_DIR)
    client = tracker.client()
    for key in ("auroc", "auprc", "brier", "scaled_brier", "calibration_slope", "calibration_intercept"):
        if report[key] is not None:
            client.log_metric(run_id, f"test_{key}", report[key])
    for key in ("lace_auroc", "oracle_auroc"):
        if report[key] is not None:
            client.log_metric(run_id, f"test_{key}", report[key])
    gate = report["gate"]
    failed = [k for k, v in gate.items() if isinstance(v, dict) and v.get("passed") is False]
    tracker.tag_version(
        name,
        version,
        {"validation": "passed" if gate["passed"] else "failed", "validation_report_sha256": digest},
    )
    record = append_audit(
        context,
        home,
        VALIDATE_ACTION,
        inputs={"training_set": data.hashes["training_set"], "model_run": run_id},
        outputs={REPORT_ARTIFACT: digest},
        counts={"test_stays": report["test"]["stays"], "test_events": report["test"]["events"]},
        details={
            "registered_model": name,
            "version": version,
            "gate_passed": gate["passed"],
            "failed_criteria": failed,
            "auroc": report["auroc"],
            "thresholds": gate["thresholds"],
        },
    )
    location = tracker.artifact_location(run_id, REPORT_ARTIFACT)
    summary = "; ".join(
        f"{k} {_fmt(v['value'])}" for k, v in gate.items() if isinstance(v, dict) and "requirement" in v
    )
    context.log.info(f"{name} version {version}: gate {'passed' if gate['passed'] else 'FAILED'} ({summary})")
    criteria_rows = [
        (k, v["value"], v["requirement"], "pass" if v["passed"] else "FAIL", v["note"])
        for k, v in gate.items()
        if isinstance(v, dict) and "requirement" in v
    ]
    check = AssetCheckResult(
        check_name=GATE_CHECK,
        passed=bool(gate["passed"]),
        severity=AssetCheckSeverity.ERROR,
        description=(
            "all criteria met"
            if gate["passed"]
            else "failed: "
            + "; ".join(
                f"{r[0]} {_fmt(r[1])} (needs {r[2]})" + (f": {r[4]}" if r[4] else "")
                for r in criteria_rows
                if r[3] == "FAIL"
            )
        ),
        metadata={
            "criteria": md_table(["criterion", "value", "requirement", "result", "note"], criteria_rows),
            "registered_model": name,
            "model_version": version,
        },
    )
    metadata = {
        "registered_model": name,
        "model_version": version,
        "gate_passed": bool(gate["passed"]),
        "gate": md_table(["criterion", "value", "requirement", "result", "note"], criteria_rows),
        "headline": md_table(["metric", "value"], headline(report)),
        "threshold_table": md_table(
            ["threshold", "sensitivity", "specificity", "PPV", "NPV", "flagged", "TP", "FP"],
            [
                (
                    r["threshold"],
                    r["sensitivity"],
                    r["specificity"],
                    r["ppv"],
                    r["npv"],
                    r["flagged_rate"],
                    r["tp"],
                    r["fp"],
                )
                for r in report["threshold_table"]
            ],
        ),  # fmt: skip
        "subgroups": md_table(
            ["subgroup", "stays", "events", "AUROC", "95% CI", "assessed"],
            [
                (
                    f"{r['attribute']}={r['group']}",
                    r["n"],
                    r["events"],
                    r["auroc"],
                    "" if r["ci_low"] is None else f"{r['ci_low']:.3f}-{r['ci_high']:.3f}",
                    "yes" if r["assessed"] else "too few events",
                )
                for r in report["subgroups"]
            ],
        ),
        "plot_roc": png_markdown("ROC", figs.roc),
        "plot_calibration": png_markdown("calibration", figs.calibration),
        "plot_subgroups": png_markdown("subgroups", figs.subgroups),
        "plot_decision_curve": png_markdown("decision curve", figs.decision_curve),
        "auroc": report["auroc"],
        "lace_auroc": report["lace_auroc"] if report["lace_auroc"] is not None else "n/a",
        "oracle_auroc": report["oracle_auroc"] if report["oracle_auroc"] is not None else "n/a",
        "report_sha256": digest,
        "report_location": MetadataValue.path(location) if location.startswith("/") else location,
        "mlflow_run": run_id,
        "audit_record": record["hash"],
    }
    return MaterializeResult(metadata=metadata, check_results=[check])


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
