"""Labs and vital signs: their LOINC codes, one canonical UCUM unit each, unit conversions and plausible ranges.

Sources:

* LOINC (https://loinc.org): the codes per analyte, including the alternatives real feeds use (blood vs
  serum/plasma, mass vs molar concentration: Synthea reports creatinine as 38483-4, glucose as 2339-0, sodium as
  2947-0; molar glucose is 15074-8/14749-6, molar creatinine 14682-9/59826-8). The seed's platelet code
  32623-1 is *mean platelet volume* (fL); the platelet count is 777-3.
* UCUM (https://ucum.org/ucum): unit codes. Conversions between mass and molar units use the molar masses
  creatinine 113.12 g/mol (1 mg/dL = 88.42 umol/L), glucose 180.16 g/mol (1 mmol/L = 18.016 mg/dL), urea
  nitrogen 28.014 g/mol per urea (urea 1 mmol/L = BUN 2.8014 mg/dL), haemoglobin monomer 16,114.5 g/mol
  (1 mmol/L = 1.6114 g/dL); Fahrenheit to Celsius is (F - 32) * 5/9; 1 [lb_av] = 0.45359237 kg.

A value is converted to its measurement's canonical unit by ``value * scale + shift`` of its unit (matched
case-insensitively); values in any other unit, or outside the plausible range after conversion (what a body
can show, much wider than a reference range), are not used and are counted in the feature matrix's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

LOINC = "http://loinc.org"


@dataclass(frozen=True)
class Measurement:
    key: str
    label: str
    kind: str  # "lab" or "vital"
    unit: str  # canonical UCUM unit
    loinc: tuple[str, ...]
    units: MappingProxyType  # UCUM unit -> (scale, shift) into the canonical unit
    plausible: tuple[float, float]


def _units(**pairs: tuple[float, float]) -> MappingProxyType:
    return MappingProxyType(pairs)


_SAME = (1.0, 0.0)

MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement("creatinine", "Creatinine", "lab", "mg/dL", ("2160-0", "38483-4", "14682-9", "59826-8"),
                MappingProxyType({"mg/dL": _SAME, "umol/L": (1 / 88.42, 0.0), "mmol/L": (1000 / 88.42, 0.0),
                                  "mg/L": (0.1, 0.0)}), (0.05, 30.0)),
    Measurement("bun", "Urea nitrogen", "lab", "mg/dL", ("3094-0", "6299-2"),
                MappingProxyType({"mg/dL": _SAME, "mmol/L": (2.8014, 0.0)}), (1.0, 300.0)),
    Measurement("sodium", "Sodium", "lab", "mmol/L", ("2951-2", "2947-0"),
                MappingProxyType({"mmol/L": _SAME, "meq/L": _SAME}), (90.0, 200.0)),
    Measurement("potassium", "Potassium", "lab", "mmol/L", ("2823-3", "6298-4"),
                MappingProxyType({"mmol/L": _SAME, "meq/L": _SAME}), (1.0, 12.0)),
    Measurement("glucose", "Glucose", "lab", "mg/dL", ("2345-7", "2339-0", "15074-8", "14749-6"),
                MappingProxyType({"mg/dL": _SAME, "mmol/L": (18.016, 0.0)}), (10.0, 2500.0)),
    Measurement("wbc", "Leukocytes", "lab", "10*3/uL", ("6690-2", "26464-8"),
                MappingProxyType({"10*3/uL": _SAME, "10*9/L": _SAME, "/uL": (0.001, 0.0), "k/uL": _SAME}),
                (0.05, 500.0)),
    Measurement("hemoglobin", "Hemoglobin", "lab", "g/dL", ("718-7",),
                MappingProxyType({"g/dL": _SAME, "g/L": (0.1, 0.0), "mmol/L": (1.6114, 0.0)}), (1.0, 26.0)),
    Measurement("platelets", "Platelets", "lab", "10*3/uL", ("777-3", "26515-7"),
                MappingProxyType({"10*3/uL": _SAME, "10*9/L": _SAME, "k/uL": _SAME}), (1.0, 3000.0)),
    Measurement("alt", "Alanine aminotransferase", "lab", "U/L", ("1742-6", "1743-4"),
                MappingProxyType({"U/L": _SAME, "[IU]/L": _SAME}), (1.0, 20000.0)),
    Measurement("ast", "Aspartate aminotransferase", "lab", "U/L", ("1920-8", "30239-8"),
                MappingProxyType({"U/L": _SAME, "[IU]/L": _SAME}), (1.0, 20000.0)),
    Measurement("hba1c", "Hemoglobin A1c", "lab", "%", ("4548-4", "17856-6", "4549-2"),
                MappingProxyType({"%": _SAME}), (2.0, 25.0)),
    Measurement("heart_rate", "Heart rate", "vital", "/min", ("8867-4",),
                MappingProxyType({"/min": _SAME, "{beats}/min": _SAME}), (15.0, 300.0)),
    Measurement("respiratory_rate", "Respiratory rate", "vital", "/min", ("9279-1",),
                MappingProxyType({"/min": _SAME, "{breaths}/min": _SAME}), (2.0, 90.0)),
    Measurement("temperature", "Body temperature", "vital", "Cel", ("8310-5", "8331-1"),
                MappingProxyType({"Cel": _SAME, "[degF]": (5 / 9, -32 * 5 / 9)}), (25.0, 45.0)),
    Measurement("systolic_bp", "Systolic blood pressure", "vital", "mm[Hg]", ("8480-6",),
                MappingProxyType({"mm[Hg]": _SAME}), (40.0, 300.0)),
    Measurement("diastolic_bp", "Diastolic blood pressure", "vital", "mm[Hg]", ("8462-4",),
                MappingProxyType({"mm[Hg]": _SAME}), (15.0, 200.0)),
    Measurement("spo2", "Oxygen saturation", "vital", "%", ("2708-6", "59408-5"),
                MappingProxyType({"%": _SAME}), (40.0, 100.0)),
    Measurement("weight", "Body weight", "vital", "kg", ("29463-7", "3141-9"),
                MappingProxyType({"kg": _SAME, "[lb_av]": (0.45359237, 0.0), "g": (0.001, 0.0)}), (0.3, 500.0)),
    Measurement("bmi", "Body mass index", "vital", "kg/m2", ("39156-5",),
                MappingProxyType({"kg/m2": _SAME}), (8.0, 150.0)),
)  # fmt: skip

BY_KEY = MappingProxyType({m.key: m for m in MEASUREMENTS})


def loinc_rows() -> list[tuple[str, str]]:
    """(code, measurement) for the feature SQL."""
    return [(code, m.key) for m in MEASUREMENTS for code in m.loinc]


def unit_rows() -> list[tuple[str, str, float, float, float, float]]:
    """(measurement, lower-cased unit, scale, shift, plausible low, plausible high) for the feature SQL."""
    return [
        (m.key, unit.lower(), scale, shift, m.plausible[0], m.plausible[1])
        for m in MEASUREMENTS
        for unit, (scale, shift) in m.units.items()
    ]
