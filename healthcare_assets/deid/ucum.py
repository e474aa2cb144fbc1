"""Is a string a syntactically valid UCUM unit built from the atoms clinical results use?

A small recursive-descent reading of the UCUM grammar (https://ucum.org/ucum, section 2.1): terms joined by ``.``
and ``/``, parentheses, exponents, integer factors, ``{annotations}``, metric prefixes on metric atoms. The atom
table holds the SI base and derived units and the customary and clinical atoms labs and vital signs use; a unit
built from another atom is reported invalid (and so not published as is), which is the safe side. Annotations
are limited to short words: free text in braces could carry a name.
"""

from __future__ import annotations

import re

PREFIXES = (
    "Y", "Z", "E", "P", "T", "G", "M", "k", "h", "da", "d", "c", "m", "u", "n", "p", "f", "a", "z", "y",
    "Ki", "Mi", "Gi", "Ti",
)  # fmt: skip
# Atoms that take a metric prefix (mg, mL, kPa, umol, mm[Hg], ...).
METRIC_ATOMS = frozenset(
    {
        "m", "s", "g", "rad", "K", "C", "cd", "mol", "sr", "Hz", "N", "Pa", "J", "W", "A", "V", "F", "Ohm", "S",
        "Wb", "Cel", "T", "H", "lm", "lx", "Bq", "Gy", "Sv", "l", "L", "ar", "t", "bar", "u", "eV", "cal", "eq",
        "osm", "kat", "U", "[iU]", "[IU]", "m[Hg]", "m[H2O]", "g%", "Ci", "R", "RAD", "REM", "b", "mho", "B",
        "bit", "By", "Bd", "Np", "st", "G", "P", "St", "dyn", "erg", "gf", "Gal",
    }
)  # fmt: skip
# Atoms without prefixes (time, percent, customary units, arbitrary and procedure-defined units).
OTHER_ATOMS = frozenset(
    {
        "min", "h", "d", "wk", "mo", "a", "'", "''", "deg", "gon", "circ", "%", "[ppth]", "[ppm]", "[ppb]",
        "[pptr]", "10*", "10^", "[pi]", "[degF]", "[degR]", "[in_i]", "[ft_i]", "[yd_i]", "[mi_i]", "[lb_av]",
        "[oz_av]", "[gr]", "[dr_av]", "[ston_av]", "[pt_us]", "[qt_us]", "[gal_us]", "[foz_us]", "[tbs_us]",
        "[tsp_us]", "[cup_us]", "[drp]", "[pH]", "[arb'U]", "[USP'U]", "[GPL'U]", "[MPL'U]", "[APL'U]",
        "[beth'U]", "[todd'U]", "[dye'U]", "[smgy'U]", "[bdsk'U]", "[ka'U]", "[knk'U]", "[mclg'U]", "[tb'U]",
        "[CCID_50]", "[TCID_50]", "[EID_50]", "[PFU]", "[FFU]", "[CFU]", "[IR]", "[BAU]", "[AU]", "[PNU]",
        "[Lf]", "[D'ag'U]", "[FEU]", "[ELU]", "[EU]", "[HPF]", "[LPF]", "[MET]", "[S]", "[psi]", "atm",
        "[Ch]", "[diop]", "[mesh_i]", "[hp_X]", "[hp_C]", "[kp_X]", "[kp_C]", "[hnsf'U]", "[car_m]",
        "[Btu]", "[lton_av]", "[sft_i]", "[sin_i]", "[cin_i]", "[cft_i]", "[mil_i]", "%[slope]",
    }
)  # fmt: skip
_ANNOTATION = re.compile(r"\{[A-Za-z0-9#'_. -]{0,24}\}")
_EXPONENT = re.compile(r"^(.*?)([+-]?[0-9]+)$")
MAX_LENGTH = 64


def is_ucum(unit: str) -> bool:
    """True when ``unit`` parses as a UCUM term over the known atoms (whole-unit annotations like ``{score}``
    included)."""
    if not unit or len(unit) > MAX_LENGTH or not unit.isascii() or " " in unit:
        return False
    text = unit[1:] if unit.startswith("/") else unit
    return _term(text)


def _split_top(text: str) -> list[str] | None:
    """Components and operators at nesting depth 0: ['mg', '/', 'dL']; None when brackets do not balance."""
    parts, depth, current = [], 0, ""
    closing = {"(": ")", "[": "]", "{": "}"}
    stack: list[str] = []
    for char in text:
        if char in closing:
            stack.append(closing[char])
            depth += 1
        elif char in (")", "]", "}"):
            if not stack or stack.pop() != char:
                return None
            depth -= 1
        if depth == 0 and char in "./":
            parts += [current, char]
            current = ""
        else:
            current += char
    if stack:
        return None
    parts.append(current)
    return parts


def _term(text: str) -> bool:
    parts = _split_top(text)
    if parts is None:
        return False
    return all(_component(part) for part in parts[::2])


def _component(text: str) -> bool:
    if not text:
        return False
    annotation = ""
    if text.endswith("}"):
        start = text.rfind("{")
        annotation, text = text[start:], text[:start]
        if not _ANNOTATION.fullmatch(annotation):
            return False
        if not text:
            return True  # an annotation alone stands for the unity
    if text.startswith("(") and text.endswith(")"):
        return _term(text[1:-1])
    if text.isdigit():
        return True  # an integer factor
    if _simple_unit(text):
        return True
    match = _EXPONENT.match(text)
    return bool(match and match.group(1) and _simple_unit(match.group(1)))


def _simple_unit(text: str) -> bool:
    if text in METRIC_ATOMS or text in OTHER_ATOMS:
        return True
    return any(text.startswith(p) and text[len(p) :] in METRIC_ATOMS for p in PREFIXES)
