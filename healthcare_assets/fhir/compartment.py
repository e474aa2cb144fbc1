"""The FHIR R4 Patient compartment: which resource types a Patient- or Group-level ``$export`` is about.

The Bulk Data IG scopes Patient and Group exports to the patient compartment and lets a server leave out the
resources outside it (Practitioner, Organization, Location, Medication, ...) or send only some of them. A
reference from inside the compartment to a resource outside it may therefore not resolve in such an export
by design; the structural check reports it as ``outside_compartment`` instead of dangling.

The list is the set of resource types with at least one parameter in the R4 CompartmentDefinition
``patient`` (http://hl7.org/fhir/R4/compartmentdefinition-patient.html).
"""

from __future__ import annotations

PATIENT_COMPARTMENT_R4: frozenset[str] = frozenset(
    {
        "Account", "AdverseEvent", "AllergyIntolerance", "Appointment", "AppointmentResponse", "AuditEvent",
        "Basic", "BodyStructure", "CarePlan", "CareTeam", "ChargeItem", "Claim", "ClaimResponse",
        "ClinicalImpression", "Communication", "CommunicationRequest", "Composition", "Condition", "Consent",
        "Coverage", "CoverageEligibilityRequest", "CoverageEligibilityResponse", "DetectedIssue", "DeviceRequest",
        "DeviceUseStatement", "DiagnosticReport", "DocumentManifest", "DocumentReference", "Encounter",
        "EnrollmentRequest", "EpisodeOfCare", "ExplanationOfBenefit", "FamilyMemberHistory", "Flag", "Goal",
        "Group", "ImagingStudy", "Immunization", "ImmunizationEvaluation", "ImmunizationRecommendation",
        "Invoice", "List", "MeasureReport", "Media", "MedicationAdministration", "MedicationDispense",
        "MedicationRequest", "MedicationStatement", "MolecularSequence", "NutritionOrder", "Observation",
        "Patient", "Person", "Procedure", "Provenance", "QuestionnaireResponse", "RelatedPerson", "RequestGroup",
        "ResearchSubject", "RiskAssessment", "Schedule", "ServiceRequest", "Specimen", "SupplyDelivery",
        "SupplyRequest", "VisionPrescription",
    }
)  # fmt: skip

# Export levels whose output is limited to the patient compartment.
COMPARTMENT_LEVELS = frozenset({"patient", "group"})


def in_patient_compartment(resource_type: str) -> bool:
    return resource_type in PATIENT_COMPARTMENT_R4


def export_level(manifest: dict) -> str | None:
    """The Bulk export level a landed batch came from (``system``, ``patient``, ``group``), None for other sources."""
    source = manifest.get("source") or {}
    level = source.get("level") if source.get("kind") == "bulk" else None
    return str(level) if level else None
