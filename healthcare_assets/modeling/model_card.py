"""The model card (Mitchell et al. 2019, adapted to a clinical risk model): one JSON document and its Markdown
rendering, for the clinical review board, the auditor and whoever serves the model.

Sections: identity and release, intended use and out-of-scope use, cohort and label, features with their
windows (the feature dictionary), training data lineage, performance with confidence intervals, fairness by
subgroup, gate results, limitations, monitoring and retraining plan. Everything in it is an aggregate: no row of
any patient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from healthcare_assets.modeling.report import headline, jsonable

CARD_VERSION = 1


USE_CASES: dict[str, dict[str, Any]] = {
    "readmission_30d": {
        "title": "30-day inpatient readmission risk at discharge",
        "intended_use": [
            "Estimate, at the moment an adult inpatient stay ends, the probability of an inpatient admission "
            "starting within 30 days of discharge.",
            "Rank discharges so that transitional-care teams can prioritise follow-up (a call within 72 hours, an "
            "early clinic visit, medication reconciliation, home-health referral).",
            "Decision support for clinicians and care coordinators, who keep the decision; the score is shown with "
            "its operating threshold and the patient's main risk drivers come from the chart, not the model.",
        ],
        "out_of_scope": [
            "Denying, delaying or rationing care, coverage or payment; any use against the patient's interest.",
            "Diagnosis, triage in the emergency department, or prediction of mortality or of planned admissions.",
            "Populations absent from the training data (children, obstetric stays if not represented) and other "
            "hospitals or EHRs until re-validated on their data.",
            "Stays still in progress, or scoring with data recorded after the discharge (the features are computed "
            "as of the discharge time).",
            "Any claim about real-world performance from a model trained on the synthetic cohort: its numbers "
            "show that the pipeline works, not that the model would work in a hospital.",
        ],
        "index_event": "discharge from an inpatient stay (encounters of the same patient merged into one stay when "
        "each starts within 6 hours of the previous one's end; deaths in hospital excluded)",
        "label": "1 if an inpatient (IMP) encounter of the same patient starts within 30 days after the index "
        "discharge, else 0; stays whose 30-day follow-up is not yet complete in the data are pending and never "
        "used as negatives",
    }
}


def build_model_card(
    *,
    model: Mapping[str, Any],
    report: Mapping[str, Any],
    dictionary: Sequence[Mapping[str, Any]],
    data_summary: Mapping[str, Any],
    lineage: Mapping[str, Any],
    training: Mapping[str, Any],
    monitoring: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The card as a JSON-able dict. ``model``: name, version, candidate, description, run ids, model URI,
    format; ``lineage``: batch ids, table hashes, git revision, Dagster run ids; ``training``: CV settings and
    the candidates' CV results."""
    use_case = USE_CASES.get(str(model["name"]), USE_CASES["readmission_30d"])
    label_rows = [r for r in dictionary if r.get("role") == "label"]
    features = [
        {k: r.get(k) for k in ("name", "definition", "unit", "window", "source_codes", "dtype")}
        for r in dictionary
        if r.get("role") == "feature"
    ]
    gate = report["gate"]
    limitations = _limitations(report, data_summary)
    card = {
        "card_version": CARD_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "identity": {
            "registered_model": model["name"],
            "version": str(model["version"]),
            "title": use_case["title"],
            "algorithm": model.get("candidate"),
            "description": model.get("description"),
            "model_uri": model.get("model_uri"),
            "format": model.get("format"),
            "mlflow_runs": model.get("runs", {}),
            "git_commit": lineage.get("git", {}).get("commit"),
            "git_dirty": lineage.get("git", {}).get("dirty"),
            "package_version": lineage.get("git", {}).get("package_version"),
            "dagster_runs": lineage.get("dagster_runs", {}),
        },
        "intended_use": use_case["intended_use"],
        "out_of_scope_use": use_case["out_of_scope"],
        "cohort_and_label": {
            "index_event": use_case["index_event"],
            "label": label_rows[0].get("definition") if label_rows else use_case["label"],
            "label_window": label_rows[0].get("window") if label_rows else "30 days after discharge",
        },
        "features": features,
        "training_data": {
            "batch_ids": list(lineage.get("batch_ids", [])),
            "hashes": dict(lineage.get("hashes", {})),
            "train": data_summary.get("train"),
            "test": data_summary.get("test"),
            "demographics": {k: data_summary.get(k) for k in ("sex", "age_band")},
            "split": training.get("split", "patient-grouped train/test split from train_test_split"),
            "cross_validation": training.get("cv"),
            "candidates": training.get("candidates"),
        },
        "performance": {
            "test_split": report["test"],
            "headline": [{"metric": k, "value": v} for k, v in headline(report)],
            "auroc": report["auroc"],
            "auroc_ci": report["auroc_ci"],
            "auprc": report["auprc"],
            "auprc_ci": report["auprc_ci"],
            "brier": report["brier"],
            "scaled_brier": report["scaled_brier"],
            "calibration": report["calibration"],
            "sensitivity_at_90_specificity": report["sensitivity_at_90_specificity"],
            "specificity_at_90_sensitivity": report["specificity_at_90_sensitivity"],
            "threshold_table": report["threshold_table"],
            "comparators": report["comparators"],
            "oracle": report["oracle"],
        },
        "fairness": {
            "subgroups": report["subgroups"],
            "disparity": report["subgroup_disparity"],
            "min_subgroup_events": report["min_subgroup_events"],
        },
        "gate": gate,
        "limitations": limitations,
        "monitoring_and_retraining": dict(monitoring or DEFAULT_MONITORING),
    }
    return jsonable(card)


DEFAULT_MONITORING: dict[str, Any] = {
    "inputs": "every scoring batch is compared with this model's training data (per-feature drift, missingness, "
    "case mix) in the drift report; the champion's reference is its training set hash",
    "outputs": "share flagged at the operating threshold, score distribution, and calibration (observed vs "
    "predicted) once 30-day labels mature",
    "performance": "AUROC, calibration slope and sensitivity at the operating point recomputed on each batch with "
    "matured labels; the same gate thresholds apply",
    "retraining": "drift beyond the report's limits, a calibration slope outside 0.8-1.2 on matured labels, or a "
    "change in coding (for example a code system dropped) triggers retraining, which registers a new challenger; "
    "promotion to champion always needs a person's approval",
    "review": "the clinical owner reviews this card and the monitoring results at least every 6 months",
    "rollback": "`healthcare-assets promote --rollback` re-points `champion` to the previous approved version "
    "(recorded in the audit ledger)",
}


def _limitations(report: Mapping[str, Any], data_summary: Mapping[str, Any]) -> list[str]:
    out = []
    if report.get("oracle_auroc") is not None:
        out.append(
            "Trained and validated on the synthetic cohort (a known true risk exists): performance here is not "
            "evidence of performance on real patients."
        )
    unassessed = [
        f"{attribute}: {', '.join(d['unassessed_groups'])}"
        for attribute, d in report["subgroup_disparity"].items()
        if d["unassessed_groups"]
    ]
    if unassessed:
        out.append(
            f"Subgroups with fewer than {report['min_subgroup_events']} events or non-events in the test split "
            f"were not assessed for fairness ({'; '.join(unassessed)})."
        )
    test = data_summary.get("test") or {}
    if test.get("events", 0) < 100:
        out.append(
            f"The test split holds {test.get('events', 0)} events: confidence intervals are wide (see performance)."
        )
    out += [
        "Validated on a held-out split of the same source and period (internal validation); external and "
        "temporal validation are still needed before clinical use.",
        "Readmissions to other hospitals are invisible unless the data source includes them: the label may "
        "undercount events.",
        "Features depend on coding practice (ICD-10-CM and SNOMED CT, LOINC with UCUM units); a change in coding "
        "or lab assays shifts the inputs (watch the drift report).",
        "Probabilities are calibrated to the training population's readmission rate; a different rate needs "
        "recalibration before the thresholds keep their meaning.",
    ]
    if not report["gate"]["passed"]:
        out.insert(0, "This version FAILED the clinical validation gate and must not be promoted.")
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def render_markdown(card: Mapping[str, Any]) -> str:
    ident = card["identity"]
    gate = card["gate"]
    perf = card["performance"]
    data = card["training_data"]
    lines = [
        f"# Model card: {ident['registered_model']} version {ident['version']}",
        "",
        f"**{ident['title']}**. Gate: **{'PASSED' if gate['passed'] else 'FAILED'}**. Created {card['created_at']}.",
        "",
        "## Identity and release",
        "",
    ]
    lines += _table(
        ["field", "value"],
        [
            ("registered model", ident["registered_model"]),
            ("version", ident["version"]),
            ("algorithm", f"{ident['algorithm']}: {ident['description']}"),
            ("model URI", ident["model_uri"]),
            ("format", ident["format"]),
            ("git commit", f"{ident['git_commit']}" + (" (uncommitted changes)" if ident["git_dirty"] else "")),
            ("package version", ident["package_version"]),
            *((f"MLflow run ({k})", v) for k, v in ident["mlflow_runs"].items()),
            *((f"Dagster run ({k})", v) for k, v in ident["dagster_runs"].items()),
        ],
    )
    lines += ["", "## Intended use", ""] + [f"- {x}" for x in card["intended_use"]]
    lines += ["", "## Out-of-scope use", ""] + [f"- {x}" for x in card["out_of_scope_use"]]
    cohort = card["cohort_and_label"]
    lines += [
        "",
        "## Cohort and label",
        "",
        f"- Index event: {cohort['index_event']}",
        f"- Label: {cohort['label']} (window: {cohort['label_window']})",
        "",
        f"## Features ({len(card['features'])})",
        "",
    ]
    lines += _table(
        ["name", "definition", "unit", "window", "source codes"],
        [(f["name"], f["definition"], f["unit"], f["window"], f["source_codes"]) for f in card["features"]],
    )
    lines += ["", "## Training data", ""]
    split_rows = [
        (name, part["stays"], part["patients"], part["events"], part["event_rate"])
        for name, part in (("train", data["train"]), ("test", data["test"]))
        if part
    ]
    lines += _table(["split", "stays", "patients", "events", "event rate"], split_rows)
    lines += [
        "",
        f"- Batches ({len(data['batch_ids'])}): {', '.join(data['batch_ids'])}",
        *(f"- SHA-256 of `{table}`: `{digest}`" for table, digest in data["hashes"].items()),
        f"- Split: {data['split']}",
        f"- Cross-validation: {_cell(data['cross_validation'])}",
    ]
    for attribute, counts in data["demographics"].items():
        if counts:
            lines.append(f"- {attribute}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if data.get("candidates"):
        lines += ["", "Candidates (cross-validation on the training split):", ""]
        lines += _table(
            ["candidate", "CV AUROC mean", "CV AUROC SD", "chosen"],
            [
                (c["name"], c["cv_auroc_mean"], c["cv_auroc_std"], "yes" if c["chosen"] else "")
                for c in data["candidates"]
            ],
        )
    lines += ["", "## Performance (held-out test split)", ""]
    lines += _table(["metric", "value"], [(r["metric"], r["value"]) for r in perf["headline"]])
    lines += ["", "Operating points:", ""]
    lines += _table(
        ["threshold", "sensitivity", "specificity", "PPV", "NPV", "flagged"],
        [
            (r["threshold"], r["sensitivity"], r["specificity"], r["ppv"], r["npv"], r["flagged_rate"])
            for r in perf["threshold_table"]
        ],
    )
    lines += ["", "## Fairness by subgroup", ""]
    lines += _table(
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
            for r in card["fairness"]["subgroups"]
        ],
    )
    lines += [""] + [
        f"- Disparity by {k}: {_cell(d['value'])} (highest {d['highest']}, lowest {d['lowest']})"
        for k, d in card["fairness"]["disparity"].items()
    ]
    lines += ["", "## Clinical validation gate", ""]
    criteria = [(k, v) for k, v in gate.items() if isinstance(v, dict) and "requirement" in v]
    lines += _table(
        ["criterion", "value", "requirement", "result", "note"],
        [(k, v["value"], v["requirement"], "pass" if v["passed"] else "FAIL", v["note"]) for k, v in criteria],
    )
    lines += ["", "## Limitations", ""] + [f"- {x}" for x in card["limitations"]]
    lines += ["", "## Monitoring and retraining", ""]
    lines += [f"- **{k}**: {v}" for k, v in card["monitoring_and_retraining"].items()]
    return "\n".join(lines) + "\n"
