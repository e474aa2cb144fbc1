"""The cohort and feature definitions as data: one readable spec, shown in asset metadata and the model card.

``CohortSpec`` says which hospital stays are index events and how they are labelled; ``FeatureSpec`` says which
measurements are summarised over which windows, and carries the cohort spec. Both are frozen dataclasses whose
``describe()`` is the Markdown a reviewer reads and whose ``version`` (a hash of every field and of the codesets)
goes into every feature row, so a matrix can always be traced to the exact definition that built it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from healthcare_assets.audit.canonical import sha256_json
from healthcare_assets.deid.policy import FOLLOWUP_DAYS
from healthcare_assets.features import comorbidities, encounter_codes, measurements, medication_codes

HOURS_PER_DAY = 24.0


class SpecError(ValueError):
    """A cohort or feature spec that cannot be computed (names the field)."""


@dataclass(frozen=True)
class CohortSpec:
    """The 30-day readmission cohort (see ``describe``)."""

    merge_gap_hours: float = 24.0
    horizon_days: float = 30.0
    min_age_years: int = 18
    exclude_dispositions: tuple[str, ...] = ("expired", "against_advice", "acute_transfer")
    min_outcomes_warning: int = 100

    def __post_init__(self) -> None:
        if not 0.0 <= self.merge_gap_hours <= 72.0:
            raise SpecError(f"merge_gap_hours must be in [0, 72], got {self.merge_gap_hours}")
        if not 1.0 <= self.horizon_days <= FOLLOWUP_DAYS:
            # De-identification publishes follow-up only as "complete to FOLLOWUP_DAYS" (no interval to the end
            # of the data: that would reveal the anchor), so a longer horizon cannot tell negatives from pending.
            raise SpecError(
                f"horizon_days must be in [1, {FOLLOWUP_DAYS}] (the de-identified follow-up flag's reach), "
                f"got {self.horizon_days}"
            )
        if not 0 <= self.min_age_years <= 90:
            raise SpecError(f"min_age_years must be in [0, 90], got {self.min_age_years}")
        unknown = set(self.exclude_dispositions) - set(encounter_codes.DISPOSITION_CATEGORY.values())
        if unknown:
            raise SpecError(f"exclude_dispositions: unknown categories {sorted(unknown)}")

    @property
    def horizon_hours(self) -> float:
        return self.horizon_days * HOURS_PER_DAY

    def describe(self) -> str:
        inpatient = ", ".join(encounter_codes.INPATIENT_CLASSES)
        return "\n".join(
            [
                "### Cohort: 30-day all-cause inpatient readmission",
                "",
                f"1. **Stays.** Encounters of class {inpatient}, EMER or OBSENC of one patient (status not "
                f"{'/'.join(encounter_codes.VOID_STATUSES)}), sorted by start, form one stay while each starts no "
                f"later than {self.merge_gap_hours:g} h after the latest end so far (overlapping, back-to-back and "
                "same/next-day encounters: an ED -> ICU -> ward chain, or a transfer whose receiving hospital is in "
                "the data, is one stay, not a readmission). Calendar days are unknown in relative time, so "
                f"'next day' is taken as {self.merge_gap_hours:g} h.",
                "2. **Index events.** The discharge (latest end) of every stay that contains an inpatient "
                "encounter and is finished (no encounter open or without an end). `stay_id` is the "
                "discharge encounter's pseudonymous id; the index time is its end.",
                f"3. **Exclusions**, in order: age at admission under {self.min_age_years}; death in hospital "
                "(disposition expired, or a death time at or before discharge); disposition in "
                f"{', '.join(self.exclude_dispositions)} (against medical advice; transfer to another acute "
                "hospital, NUBC 02/05/43/66).",
                f"4. **Label** = 1 when the patient's next inpatient stay is admitted (its first encounter starts) "
                f"within {self.horizon_days:g} days after the index discharge (stays merged as in 1, so this is "
                "day 1 to 30); a readmission counts whatever its own exclusions.",
                "5. **Label status.** `observed` when readmitted, or when the batch's data reaches "
                f"{FOLLOWUP_DAYS} days past the discharge (`followup_complete_{FOLLOWUP_DAYS}d`, a flag "
                "de-identification derives inside the PHI zone) without readmission or death (label 0). "
                "`censored` when the patient died within the horizon before any readmission, or is recorded "
                "deceased without a time (a competing event, never a silent negative). Otherwise `pending`: "
                "follow-up not yet complete, never a negative. Only observed labels are trained on.",
                "6. A batch holds the index stays first seen in it (the first batch carrying the discharge "
                "encounter finished); features and labels use each patient's whole history across batches.",
                f"Warning when fewer than {self.min_outcomes_warning} outcomes or non-outcomes are observed.",
            ]
        )


@dataclass(frozen=True)
class WindowSpec:
    """A time window relative to the index time (hours; negative = before). ``start_h`` None: from the index
    stay's admission. Windows must end at or before the index time (``end_h <= 0``): the leakage gate checks it."""

    name: str
    start_h: float | None
    end_h: float = 0.0

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9_]{1,16}", self.name):
            raise SpecError(f"window name {self.name!r} must be 1-16 characters a-z, 0-9 or _")
        if self.start_h is not None and self.start_h >= self.end_h:
            raise SpecError(f"window {self.name}: start_h {self.start_h} must be before end_h {self.end_h}")

    def describe(self) -> str:
        start = "the index stay's admission" if self.start_h is None else f"{-self.start_h:g} h before discharge"
        end = "discharge" if self.end_h == 0 else f"{self.end_h:+g} h from discharge"
        return f"from {start} to {end}"


STATS = ("latest", "min", "max", "mean", "trend")


@dataclass(frozen=True)
class FeatureSpec:
    """What the feature matrix holds, beyond the fixed families (demographics, comorbidities, utilization,
    stay, disposition, medications, scores)."""

    cohort: CohortSpec = field(default_factory=CohortSpec)
    measurements: tuple[str, ...] = tuple(m.key for m in measurements.MEASUREMENTS)
    windows: tuple[WindowSpec, ...] = (WindowSpec("stay", None), WindowSpec("365d", -365 * HOURS_PER_DAY))
    stats: tuple[str, ...] = STATS
    trend_min_values: int = 3
    utilization_days: tuple[int, ...] = (182, 365)
    polypharmacy_thresholds: tuple[int, ...] = (5, 10)
    medication_lookback_days: float | None = None  # None: every order on record before discharge

    def __post_init__(self) -> None:
        unknown = set(self.measurements) - set(measurements.BY_KEY)
        if unknown:
            raise SpecError(f"measurements: unknown {sorted(unknown)}; known: {sorted(measurements.BY_KEY)}")
        bad = set(self.stats) - set(STATS)
        if bad:
            raise SpecError(f"stats: unknown {sorted(bad)}; known: {list(STATS)}")
        names = [w.name for w in self.windows]
        if len(names) != len(set(names)) or not names:
            raise SpecError(f"windows need unique names, got {names}")
        if self.trend_min_values < 2:
            raise SpecError("trend_min_values must be at least 2")
        if not self.utilization_days or any(d <= 0 for d in self.utilization_days):
            raise SpecError(f"utilization_days must be positive, got {self.utilization_days}")

    @property
    def version(self) -> str:
        """``features-<12 hex>``: every field and every codeset the definitions read."""
        payload = {
            "spec": asdict(self),
            "comorbidities": [asdict(c) for c in comorbidities.COMORBIDITIES],
            "measurements": [
                [m.key, m.unit, list(m.loinc), dict(m.units), list(m.plausible)] for m in measurements.MEASUREMENTS
            ],
            "dispositions": dict(encounter_codes.DISPOSITION_CATEGORY),
            "short_course": list(medication_codes.SHORT_COURSE_RXNORM),
            "classes": [encounter_codes.INPATIENT_CLASSES, encounter_codes.ICU_TYPES],
        }
        return "features-" + sha256_json(payload)[:12]

    def describe(self) -> str:
        windows = "; ".join(f"`{w.name}` {w.describe()}" for w in self.windows)
        return "\n".join(
            [
                f"## Readmission features {self.version}",
                "",
                self.cohort.describe(),
                "",
                "### Features (one row per index stay, only data available at or before the index time)",
                "",
                "Every event is used only when it was available at discharge: observations by effective time and "
                "`issued` (a result issued after discharge is not used), conditions by recorded date (else the "
                "encounter's start, else onset), medications by authoredOn, encounters by start/end.",
                "",
                f"- Labs and vitals ({', '.join(self.measurements)}) in one canonical UCUM unit each: "
                f"{', '.join(self.stats)} over windows {windows}; trend = least-squares slope per day "
                f"(at least {self.trend_min_values} values); `_missing` = 1 when the window has none.",
                "- Demographics: age at admission (capped at 90), sex; subgroups `sex`, `age_band`.",
                "- Comorbidities `cm_*` from ICD-10-CM and SNOMED CT codesets; Charlson index (1987 weights, "
                "Quan 2005 ICD-10, hierarchies applied).",
                f"- Utilization: ED visits and inpatient stays in the {', '.join(map(str, self.utilization_days))} "
                "days before admission; length of stay; admission via ED; ICU during the stay; disposition.",
                "- Medications: distinct long-term medications ordered at or before discharge (short courses and "
                f"in-hospital drugs excluded), polypharmacy at {', '.join(map(str, self.polypharmacy_thresholds))}.",
                "- Comparators (not model inputs): LACE (van Walraven 2010) and HOSPITAL (Donzé 2013) scores.",
            ]
        )
