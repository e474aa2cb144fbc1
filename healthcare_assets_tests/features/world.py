"""Hand-made de-identified rows: tables shaped like ``deidentified_*`` in an in-memory DuckDB, so each cohort and
feature rule can be tested on a few stays whose answers are worked out by hand. Times are hours since the
patient's anchor, as in the warehouse."""

from __future__ import annotations

import itertools

import duckdb

from healthcare_assets.features.current import FOLLOWUP_COLUMN, SOURCES

LOINC = "http://loinc.org"


class World:
    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = {table: [] for table in SOURCES}
        self._ids = itertools.count(1)

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def _add(self, table: str, batch: str, **values) -> str:
        columns = SOURCES[table][1]
        unknown = set(values) - set(columns)
        assert not unknown, unknown
        self.rows[table].append({**{c: None for c in columns}, **values, "batch_id": batch})
        return values[SOURCES[table][0]]

    def patient(self, pid: str, gender: str = "female", batch: str = "b1", **kw) -> str:
        kw.setdefault("deceased", False)
        return self._add("patient", batch, patient_id=pid, gender=gender, **kw)

    def encounter(self, pid: str, cls: str, start: float, end: float | None, batch: str = "b1",
                  followup: bool = True, **kw) -> str:  # fmt: skip
        """``followup``: the batch's data reaches 30 days past the end (de-identification's flag)."""
        eid = kw.pop("encounter_id", None) or self._id("e")
        kw[FOLLOWUP_COLUMN] = followup if end is not None else None
        kw.setdefault("status", "finished" if end is not None else "in-progress")
        kw.setdefault("age_years", 70)
        return self._add("encounter", batch, encounter_id=eid, patient_id=pid, class_code=cls,
                         period_start_offset_h=start, period_end_offset_h=end, **kw)  # fmt: skip

    def stay(self, pid: str, start: float, hours: float, ed: bool = True, batch: str = "b1", **kw) -> str:
        """An ED encounter (4 h, when ``ed``) then an inpatient one; returns the stay id (the inpatient encounter)."""
        if ed:
            self.encounter(pid, "EMER", start, start + 4, batch, age_years=kw.get("age_years", 70))
            start += 4
            hours -= 4
        return self.encounter(pid, "IMP", start, start + hours, batch, **kw)

    def condition(self, pid: str, recorded: float, snomed: str | None = None, icd: str | None = None,
                  batch: str = "b1", **kw) -> str:  # fmt: skip
        return self._add("condition", batch, condition_id=self._id("c"), patient_id=pid, snomed_code=snomed,
                         icd10cm_code=icd, recorded_date_offset_h=recorded, **kw)  # fmt: skip

    def lab(self, pid: str, code: str, value: float, unit: str, t: float, issued: float | None = None,
            batch: str = "b1", **kw) -> str:  # fmt: skip
        kw.setdefault("status", "final")
        return self._add("observation", batch, observation_id=self._id("o"), patient_id=pid, code=code,
                         code_system=LOINC, value_quantity=value, value_unit=unit, effective_datetime_offset_h=t,
                         issued_offset_h=issued, **kw)  # fmt: skip

    def medication(self, pid: str, code: str, authored: float, batch: str = "b1", **kw) -> str:
        kw.setdefault("status", "active")
        return self._add("medication_request", batch, medication_request_id=self._id("m"), patient_id=pid,
                         medication_code=code, authored_on_offset_h=authored, **kw)  # fmt: skip

    def procedure(self, pid: str, code: str, start: float, batch: str = "b1", **kw) -> str:
        kw.setdefault("status", "completed")
        return self._add("procedure", batch, procedure_id=self._id("p"), patient_id=pid, code=code,
                         performed_start_offset_h=start, **kw)  # fmt: skip

    def connection(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB holding one ``deidentified_<table>`` per table (empty ones too)."""
        con = duckdb.connect(":memory:")
        for table, (_, columns) in SOURCES.items():
            defs = ", ".join(f'"{c}" {kind}' for c, kind in columns.items())
            con.execute(f"CREATE TABLE deidentified_{table} ({defs}, batch_id VARCHAR)")
            names = [*columns, "batch_id"]
            rows = [[r[c] for c in names] for r in self.rows[table]]
            if rows:
                con.executemany(f"INSERT INTO deidentified_{table} VALUES ({', '.join('?' for _ in names)})", rows)
        return con
