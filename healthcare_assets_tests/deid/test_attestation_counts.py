"""What an auditor reads in each table's Safe Harbor counts: present and transformed count the same things
(value occurrences), and the column descriptions read as sentences."""

from __future__ import annotations

from healthcare_assets.deid import build_policy
from healthcare_assets.deid.attestation import batch_totals, category_report, primary_tables, profile_counts
from healthcare_assets.fhir.profile import load_profile
from healthcare_assets.fhir.views import catalog
from healthcare_assets_tests.deid.conftest import Run


def test_present_and_transformed_count_the_same_values(synthea_run: Run) -> None:
    raw = profile_counts(load_profile(synthea_run.batch.batch_dir))
    report = category_report(synthea_run.policy, synthea_run.result, synthea_run.inventory, raw)
    encounter = report["deidentified_encounter"]
    # Every encounter time is in a selected column: all present dates are transformed, none dropped.
    assert encounter["dates"]["present"] == encounter["dates"]["transformed"] == 7394
    assert encounter["dates"]["removed"] == 0
    # Ids and references: more are present than the view keeps (e.g. participant and location references).
    ids = encounter["other_unique_identifiers"]
    assert ids["present"] > ids["transformed"] > 0 and ids["removed"] == ids["present"] - ids["transformed"]
    procedure = report["deidentified_procedure"]
    assert procedure["dates"]["present"] == procedure["dates"]["transformed"]  # period start and end
    patient = report["deidentified_patient"]
    assert patient["dates"]["present"] >= patient["dates"]["transformed"] == 100  # birth dates
    assert report["deidentified_observation_component"]["dates"]["present"] == 0  # counted on observation
    totals = batch_totals(report, synthea_run.inventory, raw, primary_tables(synthea_run.policy))
    assert [c for c, t in totals.items() if t["present"] < t["transformed"]] == []


def test_column_descriptions_read_as_sentences() -> None:
    for profile in ("safe_harbor", "date_shift"):
        for table in build_policy(catalog.project_views(), profile).tables:
            for rule in table.rules:
                for column in rule.outputs:
                    text = column.description
                    assert ".:" not in text and ".," not in text and ". (" not in text, (table.table, text)
                    assert text.endswith("."), (table.table, column.name, text)
