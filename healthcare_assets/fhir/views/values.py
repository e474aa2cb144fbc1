"""What a compiled FHIRPath expression is: a DuckDB SQL expression plus what is known about it statically.

FHIRPath values are collections. The compiler keeps a collection either as a scalar SQL value (at most one item;
NULL is the empty collection) or as a DuckDB LIST (``many``), chosen from the FHIR model's cardinalities so that
``birthDate`` stays a plain VARCHAR column and only repeating elements cost list operations. Values read through
the JSON fallback are DuckDB ``JSON`` (``json``) and are converted to SQL types only where a primitive is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from healthcare_assets.fhir.views.fhir_model import Element, FhirModel, sql_type


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@dataclass
class SchemaNode:
    """One element the view reads; the tree of nodes becomes the ``read_json`` column types.

    Only elements some path touches are declared, so DuckDB parses nothing else. A complex element whose fields are
    never read (``name.exists()``) is declared ``JSON``: its presence is all that matters.
    """

    fhir_type: str | None
    many: bool
    json: bool = False
    children: dict[str, SchemaNode] = field(default_factory=dict)

    def child(self, key: str, fhir_type: str | None, many: bool, json: bool = False) -> SchemaNode:
        node = self.children.get(key)
        if node is None:
            node = self.children[key] = SchemaNode(fhir_type, many, json)
        return node

    def sql_type(self, model: FhirModel) -> str:
        if self.json:
            base = "JSON"
        elif model.is_primitive(self.fhir_type):
            base = sql_type(self.fhir_type)
        elif self.children:
            fields = ", ".join(f"{ident(k)} {c.sql_type(model)}" for k, c in self.children.items())
            base = f"STRUCT({fields})"
        else:
            base = "JSON"
        return base + ("[]" if self.many else "")


@dataclass(frozen=True)
class Val:
    """A compiled collection.

    ``sql``: the expression; ``ftype``: FHIR type of the items (None if unknown); ``many``: a LIST rather than a
    scalar; ``json``: items are DuckDB JSON; ``node``: where further member reads are recorded (typed reads only);
    ``origin``: the top-level element the value was read from (to switch that element to JSON when needed).
    """

    sql: str
    ftype: str | None
    many: bool = False
    json: bool = False
    node: SchemaNode | None = None
    origin: str | None = None

    def item(self, sql: str) -> Val:
        """A single item of this collection, named ``sql`` (a lambda parameter)."""
        return Val(sql, self.ftype, False, self.json, self.node, self.origin)

    def with_sql(self, sql: str, many: bool | None = None) -> Val:
        return Val(sql, self.ftype, self.many if many is None else many, self.json, self.node, self.origin)


EMPTY = Val("NULL", None)


@dataclass(frozen=True)
class Root:
    """The resource being viewed; its elements are the source's top-level columns. ``guard`` is a boolean SQL
    condition from ``where()`` applied at the root (the resource is the empty collection when it is false)."""

    resource: str
    node: SchemaNode
    guard: str | None = None


@dataclass(frozen=True)
class Choice:
    """A choice element (``value`` for ``value[x]``) awaiting ``ofType(T)``; ``element`` is None for a member of
    unknown JSON, which resolves to ``nameT`` under ``ofType(T)`` and to ``name`` otherwise."""

    base: Val | Root
    name: str
    element: Element | None


Value = Val | Root | Choice
