"""The feature SQL: one row per index stay of ``_fx_cohort``, from the ``_fx_src_*`` tables, nothing after discharge.

Every family is one set-based DuckDB statement over all stays at once (no loop per patient). An event enters a
stay's features only when it was *available* by the stay's index time (plus a window's ``end_h``, which the
spec keeps at or before 0 and the leakage gate checks): observations by ``max(effective, issued)``, conditions by
recorded date (else their encounter's start, else onset), medications by ``authoredOn``, encounters and
procedures by their times. The result, ``_fx_matrix``, has exactly the columns of ``dictionary.matrix_columns``.
"""

from __future__ import annotations

import duckdb

from healthcare_assets.features import comorbidities, encounter_codes, measurements, medication_codes
from healthcare_assets.features.dictionary import matrix_columns
from healthcare_assets.features.spec import FeatureSpec
from healthcare_assets.warehouse.duckdb_store import quote_ident, sql_literal, sql_name

LOINC = measurements.LOINC
ADMINISTRATIVE_PROCEDURES = ("430193006",)  # SNOMED CT medication reconciliation: not a HOSPITAL "procedure"
LACE_ED_DAYS = 182  # "ED visits in the previous 6 months"
HOSPITAL_ADMISSION_DAYS = 365  # "hospital admissions in the previous 12 months"
VOID_OBSERVATION = ("entered-in-error", "cancelled")
VOID_MEDICATION = ("entered-in-error", "cancelled", "draft")
VOID_PROCEDURE = ("entered-in-error", "not-done", "preparation")
VOID_CONDITION = ("refuted", "entered-in-error")


def _in(values) -> str:
    return "(" + ", ".join(sql_literal(v) for v in values) + ")"


def _values(rows: list[tuple], alias: str, names: str) -> str:
    """Literal rows as a derived table ``alias(names)`` (codesets are small)."""
    body = ", ".join("(" + ", ".join(sql_literal(v) if isinstance(v, str) else repr(v) for v in r) + ")" for r in rows)
    return f"(VALUES {body}) AS {alias}({names})"


def build_matrix(con: duckdb.DuckDBPyConnection, spec: FeatureSpec) -> dict[str, dict[str, int]]:
    """``_fx_matrix`` for the included stays of ``_fx_cohort``. Returns the observation values not used, per
    measurement and reason (unit not convertible, implausible value, no time, no value)."""
    # sno: a small integer per index stay, so the measurement family groups and joins on integers.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _fx_index AS "
        "SELECT *, (row_number() OVER ())::INTEGER AS sno FROM _fx_cohort WHERE included"
    )
    dropped = _observations(con, spec)
    _measurement_features(con, spec)
    _comorbidity_features(con)
    _utilization_features(con, spec)
    _medication_features(con, spec)
    _procedure_features(con)
    _assemble(con, spec)
    for view in ("_fx_f_meas", "_fx_meas_long"):
        con.execute(f"DROP VIEW {view}")
    con.execute("DROP TABLE IF EXISTS _fx_meas_latest")
    con.execute("DROP TABLE _fx_meas_agg")
    return dropped


DISCHARGE_LABS = ("hemoglobin", "sodium")  # the stay's last values, for the HOSPITAL score


def _reach(spec: FeatureSpec) -> tuple[str, str]:
    """SQL bounds (earliest time, latest availability) over ``_fx_index`` alias ``i`` of every observation a
    stay's windows or discharge labs can use."""
    starts = ["i.admission_h"] + [f"i.index_h + ({float(w.start_h)})" for w in spec.windows if w.start_h is not None]
    latest_end = max([0.0] + [float(w.end_h) for w in spec.windows])
    return f"least({', '.join(starts)})", f"i.index_h + ({latest_end})"


def _observations(con: duckdb.DuckDBPyConnection, spec: FeatureSpec) -> dict[str, dict[str, int]]:
    """``_fx_obs(patient_id, m, t, avail, value)``: usable values in canonical units, ``m`` the measurement's
    position in ``spec.measurements``. Only values some index stay's windows can reach are kept (the join with
    every stay is the costly step); every value not used is counted, wherever it lies."""
    keys = list(spec.measurements)
    loinc = [(code, keys.index(key)) for code, key in measurements.loinc_rows() if key in keys]
    units = [(keys.index(r[0]), *r[1:]) for r in measurements.unit_rows() if r[0] in keys]
    # The literals are DECIMALs: cast to DOUBLE once here, not for every value (the same cast either way).
    conversions = (
        "(SELECT m, unit, scale::DOUBLE AS scale, shift::DOUBLE AS shift, lo::DOUBLE AS lo, hi::DOUBLE AS hi "
        f"FROM {_values(units, 'v', 'm, unit, scale, shift, lo, hi')}) AS u"
    )
    earliest, latest = _reach(spec)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_obs_reach AS
        SELECT i.patient_id, min({earliest}) AS lo, max({latest}) AS hi FROM _fx_index i GROUP BY i.patient_id"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_obs_all AS
        WITH raw AS (
            SELECT patient_id, code, value_quantity AS v, value_unit AS unit,
                   coalesce(effective_datetime_offset_h, effective_period_start_offset_h) AS t,
                   issued_offset_h AS issued
            FROM _fx_src_observation
            WHERE code_system = {sql_literal(LOINC)} AND coalesce(status, '') NOT IN {_in(VOID_OBSERVATION)}
            UNION ALL
            SELECT patient_id, code, value_quantity, value_unit, effective_datetime_offset_h, NULL
            FROM _fx_src_observation_component WHERE code_system = {sql_literal(LOINC)}
        ), converted AS (
            SELECT r.patient_id, l.m, r.t, greatest(r.t, r.issued) AS avail, r.v * u.scale + u.shift AS value,
                   CASE WHEN r.t IS NULL THEN 'no_time' WHEN r.v IS NULL THEN 'no_value' WHEN u.m IS NULL THEN 'unit'
                        WHEN NOT (r.v * u.scale + u.shift BETWEEN u.lo AND u.hi) THEN 'implausible' END AS problem
            FROM raw r
            JOIN {_values(loinc, "l", "code, m")} ON l.code = r.code
            LEFT JOIN {conversions} ON u.m = l.m AND u.unit = lower(r.unit)
            WHERE r.patient_id IS NOT NULL
        )
        SELECT c.* FROM converted c LEFT JOIN _fx_obs_reach b USING (patient_id)
        WHERE c.problem IS NOT NULL OR (c.t >= b.lo AND c.avail <= b.hi)"""
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW _fx_obs AS SELECT patient_id, m, t, avail, value FROM _fx_obs_all "
        "WHERE problem IS NULL"
    )
    counts = con.execute(
        "SELECT m, problem, count(*) FROM _fx_obs_all WHERE problem IS NOT NULL GROUP BY ALL"
    ).fetchall()
    dropped: dict[str, dict[str, int]] = {}
    for measure, problem, n in sorted((keys[m], problem, n) for m, problem, n in counts):
        dropped.setdefault(measure, {})[problem] = n
    return dropped


def _measurement_features(con: duckdb.DuckDBPyConnection, spec: FeatureSpec) -> None:
    """``_fx_f_meas`` (a view, read once by ``_assemble``): one column per measurement x window x statistic, plus
    missingness, and the stay's last hemoglobin and sodium (``discharge_*``, for the HOSPITAL score)."""
    # Per (stay, measurement): one pass over the stay's observations computes every window (FILTER per window),
    # already rounded; the latest values are looked up after it; then one LEFT JOIN per measurement makes it wide
    # (far faster than PIVOT here). Views where a result is read once: the wide copy is not materialized.
    keys = list(spec.measurements)
    labs = [keys.index(k) for k in DISCHARGE_LABS if k in keys]
    earliest, latest = _reach(spec)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_meas_agg AS
        SELECT sno, m, {", ".join(_window_aggregates(spec, labs))}
        FROM (
            SELECT i.sno, i.index_h, i.admission_h, o.m, o.t, o.avail, o.value,
                   round(o.value * 1e6)::BIGINT AS v, round((o.t - i.index_h) * 60)::BIGINT AS x
            FROM _fx_index i JOIN _fx_obs o ON o.patient_id = i.patient_id
            WHERE o.avail <= {latest} AND o.t >= {earliest})
        GROUP BY sno, m"""
    )
    _latest_values(con, spec, labs)
    _wide_measurements(con, spec)


def _window_aggregates(spec: FeatureSpec, labs: list[int]) -> list[str]:
    """The aggregates of ``_fx_meas_agg``: every statistic but ``latest`` per window, the time of the latest value
    (``<window>_tmax``, ``discharge_tmax``) and missingness. Sums are exact (integers: values in millionths,
    minutes before discharge, summed as HUGEINT), so means and slopes do not depend on the order rows are added
    in: the same data gives the same bits run after run, and the leakage gate can compare exactly. Plausible
    values keep the products within BIGINT."""
    aggregates = []
    for w in spec.windows:
        start = "admission_h" if w.start_h is None else f"index_h + ({float(w.start_h)})"
        inside = f"FILTER (WHERE avail <= index_h + ({float(w.end_h)}) AND t >= {start})"
        n = f"count(*) {inside}"
        stats = {
            "latest": f"max(t) {inside}",
            "min": f"round(min(value) {inside}, 4)",
            "max": f"round(max(value) {inside}, 4)",
            "mean": f"round(sum(v) {inside}::DOUBLE / {n} / 1e6, 4)",
            "trend": f"""round(CASE WHEN {n} >= {int(spec.trend_min_values)} THEN
                ({n} * sum(x * v) {inside}::DOUBLE - sum(x) {inside}::DOUBLE * sum(v) {inside}::DOUBLE)
                / nullif({n} * sum(x * x) {inside}::DOUBLE - sum(x) {inside}::DOUBLE * sum(x) {inside}::DOUBLE, 0)
                * 1440 / 1e6 END, 4)""",
        }
        for stat in spec.stats:
            aggregates.append(
                f"{stats[stat]} AS {sql_name(f'{w.name}_tmax' if stat == 'latest' else f'{w.name}_{stat}')}"
            )
        aggregates.append(f"({n} = 0)::INTEGER AS {sql_name(f'{w.name}_missing')}")
    if labs:
        aggregates.append(
            f"max(t) FILTER (WHERE m IN ({', '.join(map(str, labs))}) AND avail <= index_h AND t >= admission_h) "
            "AS discharge_tmax"
        )
    return aggregates


def _latest_values(con: duckdb.DuckDBPyConnection, spec: FeatureSpec, labs: list[int]) -> None:
    """``_fx_meas_long`` (view): ``_fx_meas_agg`` with each latest value (``<window>_latest``,
    ``discharge_value``, from the table ``_fx_meas_latest``).

    The latest value of a window is its largest value at its latest time (what ``arg_max(value, [t, value])``
    gives, exactly): found by looking up the rows at that time rather than by a list-keyed arg_max over every
    row, which was the costliest aggregate. A row at the latest time is in the window when it was available by
    the window's end (its time is at or after the window's start, being the latest)."""
    targets = []  # (column, its time column in _fx_meas_agg, availability limit)
    if "latest" in spec.stats:
        for w in spec.windows:
            targets.append((f"{w.name}_latest", f"{w.name}_tmax", f"i.index_h + ({float(w.end_h)})"))
    if labs:
        targets.append(("discharge_value", "discharge_tmax", "i.index_h"))
    if not targets:
        con.execute("CREATE OR REPLACE TEMP VIEW _fx_meas_long AS SELECT * FROM _fx_meas_agg")
        return
    wanted = " UNION ALL ".join(
        f"SELECT a.sno, a.m, i.patient_id, {k} AS k, a.{sql_name(tmax)} AS t, {limit} AS limit_h "
        f"FROM _fx_meas_agg a JOIN _fx_index i USING (sno) WHERE a.{sql_name(tmax)} IS NOT NULL"
        for k, (_, tmax, limit) in enumerate(targets)
    )
    found = ", ".join(
        f"max(o.value) FILTER (WHERE w.k = {k}) AS {sql_name(column)}"
        if column == "discharge_value"
        else f"round(max(o.value) FILTER (WHERE w.k = {k}), 4) AS {sql_name(column)}"
        for k, (column, _, _) in enumerate(targets)
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_meas_latest AS
        WITH wanted AS ({wanted})
        SELECT w.sno, w.m, {found}
        FROM wanted w JOIN _fx_obs o ON o.patient_id = w.patient_id AND o.m = w.m AND o.t = w.t
        WHERE o.avail <= w.limit_h
        GROUP BY w.sno, w.m"""
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW _fx_meas_long AS "
        "SELECT * FROM _fx_meas_agg a LEFT JOIN _fx_meas_latest f USING (sno, m)"
    )


def _wide_measurements(con: duckdb.DuckDBPyConnection, spec: FeatureSpec) -> None:
    """``_fx_f_meas`` from ``_fx_meas_long``: one LEFT JOIN per measurement."""
    keys = list(spec.measurements)
    selects, joins = [], []
    for m, key in enumerate(keys):
        alias = f"m{m}"
        joins.append(f"LEFT JOIN _fx_meas_long {alias} ON {alias}.sno = i.sno AND {alias}.m = {m}")
        for w in spec.windows:
            pair = f"{key}_{w.name}"
            for stat in spec.stats:
                selects.append(f"{alias}.{sql_name(f'{w.name}_{stat}')} AS {sql_name(f'{pair}_{stat}')}")
            selects.append(f"coalesce({alias}.{sql_name(f'{w.name}_missing')}, 1) AS {sql_name(pair + '_missing')}")
    for key in DISCHARGE_LABS:
        value = f"m{keys.index(key)}.discharge_value" if key in keys else "NULL::DOUBLE"
        selects.append(f"{value} AS discharge_{key}")
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _fx_f_meas AS SELECT i.stay_id, {', '.join(selects)} FROM _fx_index i "
        + " ".join(joins)
    )


def _comorbidity_features(con: duckdb.DuckDBPyConnection) -> None:
    """``_fx_f_cm``: cm_<category> flags and the Charlson index."""
    codes = comorbidities.codes_table()
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_cond AS
        SELECT c.patient_id, coalesce(c.recorded_date_offset_h, e.period_start_offset_h, c.onset_datetime_offset_h)
                   AS avail,
               c.snomed_code, upper(replace(trim(c.icd10cm_code), '.', '')) AS icd
        FROM _fx_src_condition c LEFT JOIN _fx_src_encounter e ON e.encounter_id = c.encounter_id
        WHERE coalesce(c.verification_status, '') NOT IN {_in(VOID_CONDITION)} AND c.patient_id IS NOT NULL"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_cm_first AS
        WITH codes AS (SELECT * FROM {_values(codes, "v", "category, system, code, excluded")}),
        icd AS (
            SELECT DISTINCT patient_id, avail, icd, unnest([left(icd, 3), left(icd, 4), left(icd, 5)]) AS prefix
            FROM _fx_cond WHERE icd IS NOT NULL AND icd <> ''
        ),
        icd_hits AS (
            SELECT i.patient_id, i.avail, i.icd, c.category, bool_or(c.excluded) AS excluded
            FROM icd i JOIN codes c ON c.system = 'icd10cm' AND c.code = i.prefix
            GROUP BY ALL
        ),
        hits AS (
            SELECT patient_id, category, avail FROM icd_hits WHERE NOT excluded
            UNION ALL
            SELECT f.patient_id, c.category, f.avail
            FROM _fx_cond f JOIN codes c ON c.system = 'snomed' AND c.code = f.snomed_code
        )
        SELECT patient_id, category, min(avail) AS first_avail FROM hits WHERE avail IS NOT NULL GROUP BY ALL"""
    )
    flags = [
        f"coalesce(max(CASE WHEN f.category = {sql_literal(c.key)} AND f.first_avail <= i.index_h THEN 1 END), 0) "
        f"AS {quote_ident('cm_' + c.key)}"
        for c in comorbidities.COMORBIDITIES
    ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _fx_f_cm AS SELECT i.stay_id, "
        + ", ".join(flags)
        + " FROM _fx_index i LEFT JOIN _fx_cm_first f ON f.patient_id = i.patient_id GROUP BY i.stay_id"
    )
    superseded = {low: high for high, low in comorbidities.CHARLSON_HIERARCHY}
    terms = []
    for c in comorbidities.COMORBIDITIES:
        if not c.charlson_weight:
            continue
        flag = f"cm_{c.key}"
        if c.key in superseded:
            flag = f"({flag} * (1 - cm_{superseded[c.key]}))"
        terms.append(f"{c.charlson_weight} * {flag}")
    con.execute("ALTER TABLE _fx_f_cm ADD COLUMN charlson_index INTEGER")
    con.execute(f"UPDATE _fx_f_cm SET charlson_index = {' + '.join(terms)}")


def _utilization_features(con: duckdb.DuckDBPyConnection, spec: FeatureSpec) -> None:
    """``_fx_f_util``: ED visits and inpatient stays before admission, per window, and the stay's own facts."""
    days = sorted(set(spec.utilization_days) | {LACE_ED_DAYS, HOSPITAL_ADMISSION_DAYS})
    ed = ", ".join(
        f"count(DISTINCT e.encounter_id) FILTER (WHERE e.s >= i.admission_h - {d * 24.0}) AS ed_visits_{d}d"
        for d in days
    )
    ip = ", ".join(
        f"count(*) FILTER (WHERE s.discharge_h >= i.admission_h - {d * 24.0}) AS inpatient_stays_{d}d" for d in days
    )
    emer = _in(encounter_codes.EMERGENCY_CLASSES)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_util_ed AS
        SELECT i.stay_id, {ed}
        FROM _fx_index i JOIN _fx_stay_enc e ON e.patient_id = i.patient_id
        WHERE e.class_code IN {emer} AND e.s < i.admission_h AND e.s >= i.admission_h - {max(days) * 24.0}
        GROUP BY i.stay_id"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_util_ip AS
        SELECT i.stay_id, {ip}
        FROM _fx_index i JOIN _fx_stays s ON s.patient_id = i.patient_id
        WHERE s.inpatient AND s.discharge_h < i.admission_h AND s.discharge_h >= i.admission_h - {max(days) * 24.0}
        GROUP BY i.stay_id"""
    )
    counts = ", ".join(
        f"coalesce(ed.ed_visits_{d}d, 0) AS ed_visits_{d}d, "
        f"coalesce(ip.inpatient_stays_{d}d, 0) AS inpatient_stays_{d}d"
        for d in days
    )
    dispositions = ", ".join(
        f"(i.disposition_category = {sql_literal(c)})::INTEGER AS {quote_ident('disposition_' + c)}"
        for c in encounter_codes.DISPOSITION_FEATURES
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_f_util AS
        SELECT i.stay_id, {counts},
               round(i.los_h / 24.0, 4) AS los_days, i.via_ed::INTEGER AS admitted_via_ed,
               i.emergent::INTEGER AS emergent_admission, i.icu::INTEGER AS icu_stay,
               i.encounters AS encounters_in_stay, {dispositions}
        FROM _fx_index i LEFT JOIN _fx_util_ed ed USING (stay_id) LEFT JOIN _fx_util_ip ip USING (stay_id)"""
    )


def _medication_features(con: duckdb.DuckDBPyConnection, spec: FeatureSpec) -> None:
    """``_fx_f_med``: distinct long-term medications ordered by discharge, polypharmacy flags."""
    lookback = (
        ""
        if spec.medication_lookback_days is None
        else f"AND m.t >= i.index_h - {spec.medication_lookback_days * 24.0}"
    )
    flags = ", ".join(
        f"(coalesce(n, 0) >= {int(t)})::INTEGER AS polypharmacy_{int(t)}" for t in spec.polypharmacy_thresholds
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_f_med AS
        WITH m AS (
            SELECT patient_id, medication_code AS code, authored_on_offset_h AS t FROM _fx_src_medication_request
            WHERE coalesce(status, '') NOT IN {_in(VOID_MEDICATION)} AND authored_on_offset_h IS NOT NULL
              AND medication_code IS NOT NULL AND medication_code NOT IN {_in(medication_codes.SHORT_COURSE_RXNORM)}
        ), c AS (
            SELECT i.stay_id, count(DISTINCT m.code) AS n
            FROM _fx_index i JOIN m ON m.patient_id = i.patient_id
            WHERE m.t <= i.index_h {lookback} GROUP BY i.stay_id
        )
        SELECT i.stay_id, coalesce(n, 0) AS long_term_medications, {flags}
        FROM _fx_index i LEFT JOIN c USING (stay_id)"""
    )


def _procedure_features(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_f_proc AS
        WITH p AS (
            SELECT patient_id, coalesce(performed_start_offset_h, performed_datetime_offset_h) AS t
            FROM _fx_src_procedure
            WHERE coalesce(status, '') NOT IN {_in(VOID_PROCEDURE)} AND coalesce(code, '') NOT IN
                  {_in(ADMINISTRATIVE_PROCEDURES)}
        )
        SELECT i.stay_id, count(p.t) AS procedures_in_stay
        FROM _fx_index i LEFT JOIN p ON p.patient_id = i.patient_id AND p.t >= i.admission_h AND p.t <= i.index_h
        GROUP BY i.stay_id"""
    )


def _assemble(con: duckdb.DuckDBPyConnection, spec: FeatureSpec) -> None:
    """``_fx_matrix`` with the dictionary's columns, in its order, and the LACE and HOSPITAL scores."""
    los_whole = "floor(i.los_h / 24.0)"
    lace = f"""(CASE WHEN {los_whole} < 1 THEN 0 WHEN {los_whole} <= 3 THEN {los_whole} WHEN {los_whole} <= 6 THEN 4
                    WHEN {los_whole} <= 13 THEN 5 ELSE 7 END
               + 3 * i.emergent::INTEGER
               + CASE WHEN cm.charlson_index >= 4 THEN 5 ELSE cm.charlson_index END
               + least(u.ed_visits_{LACE_ED_DAYS}d, 4))::DOUBLE"""
    admissions = f"u.inpatient_stays_{HOSPITAL_ADMISSION_DAYS}d"
    hospital = f"""((coalesce(dl.discharge_hemoglobin < 12, false))::INTEGER
               + 2 * greatest(cm.cm_malignancy, cm.cm_metastatic)
               + (coalesce(dl.discharge_sodium < 135, false))::INTEGER
               + (pr.procedures_in_stay > 0)::INTEGER
               + i.emergent::INTEGER
               + CASE WHEN {admissions} > 5 THEN 5 WHEN {admissions} >= 2 THEN 2 ELSE 0 END
               + 2 * (i.los_h >= 120)::INTEGER)::DOUBLE"""
    computed = {
        "stay_id": "i.stay_id",
        "patient_id": "px.patient_id",
        "batch_id": "i.batch_id",
        "index_offset_h": "i.index_h",
        "label_status": "i.label_status",
        "label": "i.label",
        "sex": "CASE WHEN i.gender IN ('female', 'male', 'other') THEN i.gender ELSE 'unknown' END",
        "age_band": """CASE WHEN i.age_at_admission IS NULL THEN 'unknown' WHEN i.age_at_admission < 18 THEN '<18'
                            WHEN i.age_at_admission < 45 THEN '18-44' WHEN i.age_at_admission < 65 THEN '45-64'
                            WHEN i.age_at_admission < 75 THEN '65-74' WHEN i.age_at_admission < 85 THEN '75-84'
                            ELSE '85+' END""",
        "lace_score": lace,
        "hospital_score": hospital,
        "age_at_admission": "i.age_at_admission::DOUBLE",
        "sex_male": "CASE i.gender WHEN 'male' THEN 1 WHEN 'female' THEN 0 END",
        "feature_spec": sql_literal(spec.version),
    }
    selects = []
    for col in matrix_columns(spec):
        expr = computed.get(col.name, quote_ident(col.name))
        selects.append(f"({expr})::{col.dtype} AS {quote_ident(col.name)}")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fx_matrix AS
        SELECT {", ".join(selects)}
        FROM _fx_index i
        JOIN _fx_f_meas dl USING (stay_id) JOIN _fx_f_cm cm USING (stay_id) JOIN _fx_f_util u USING (stay_id)
        JOIN _fx_f_med USING (stay_id) JOIN _fx_f_proc pr USING (stay_id)
        JOIN _fx_pid px ON px.pid = i.patient_id
        ORDER BY px.patient_id, i.index_h, i.stay_id"""
    )
