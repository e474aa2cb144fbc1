"""ViewDefinition -> one DuckDB SQL query.

The query reads only the elements the view's paths use (schema derived from the FHIR model), filters on
``resourceType`` and the view's ``where``, and computes every row as expressions over one resource row; views that
produce several rows per resource build a LIST of row structs which the outer query unnests once. Elements outside
the model (unknown properties, abstract ``Resource`` content, ``repeat`` trees) are read as JSON and navigated with
DuckDB's JSON functions; the compiler discovers them on the fly and recompiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthcare_assets.fhir.views.definition import ViewDefinition, load_view
from healthcare_assets.fhir.views.errors import ViewDefinitionError
from healthcare_assets.fhir.views.expressions import ExpressionCompiler, NeedJson, Scope
from healthcare_assets.fhir.views.fhir_model import FhirModel, r4_model
from healthcare_assets.fhir.views.selects import OutputColumn, SelectCompiler, top_level
from healthcare_assets.fhir.views.sources import NdjsonSource, Source, as_source
from healthcare_assets.fhir.views.values import Root, SchemaNode, Val, ident, literal


@dataclass(frozen=True)
class CompiledView:
    """The parts of a compiled view: ``read_columns`` is the top-level read schema (element -> DuckDB type)."""

    view: ViewDefinition
    read_columns: dict[str, str]
    outputs: tuple[OutputColumn, ...]
    select_list: str
    filters: tuple[str, ...]
    rows: str | None  # LIST of row structs to unnest, or None when every resource gives exactly one row

    def sql(self, source: Source) -> str:
        relation = source.relation(self.read_columns)
        where = " AND ".join(self.filters)
        if self.rows is None:
            return f"SELECT {self.select_list} FROM {relation} AS _src WHERE {where}"
        inner = f"SELECT unnest({self.rows}) AS _row FROM {relation} AS _src WHERE {where}"
        return f"SELECT {self.select_list} FROM ({inner}) AS _rows"


def _compile_once(view: ViewDefinition, model: FhirModel, json_elements: set[str]) -> CompiledView:
    node = SchemaNode(view.resource, False)
    node.child("resourceType", "code", False)
    root = Root(view.resource, node)
    expressions = ExpressionCompiler(model, root, view.constant, json_elements)
    selects = SelectCompiler(model, expressions)
    part = selects.body(top_level(view.select), root, Scope("0", ""))
    filters = [f"{ident('resourceType')} = {literal(view.resource)}"]
    for where in view.where:
        scope = Scope("0", where.location)
        result = expressions.compile(where.expression, root, scope)
        if isinstance(result, Val) and result.ftype not in (None, "boolean"):
            raise ViewDefinitionError(where.location, f"where path {where.path!r} must be boolean, not {result.ftype}")
        filters.append(f"coalesce({expressions.boolean(result, scope)}, FALSE)")
    if part.single is not None:
        select_list = ", ".join(f"{part.single[n]} AS {ident(n)}" for n in part.names)
    else:
        select_list = ", ".join(f"_row.{ident(n)} AS {ident(n)}" for n in part.names)
    read_columns = {k: child.sql_type(model) for k, child in node.children.items()}
    outputs = tuple(selects.outputs[n] for n in part.names)
    return CompiledView(view, read_columns, outputs, select_list, tuple(filters), part.many)


def plan_view(view: ViewDefinition, model: FhirModel | None = None) -> CompiledView:
    """Compile ``view``, switching top-level elements to JSON reads until every path compiles."""
    model = model or r4_model()
    json_elements: set[str] = set()
    while True:
        try:
            return _compile_once(view, model, json_elements)
        except NeedJson as need:
            if need.element in json_elements:  # pragma: no cover - a compiler bug, not a user error
                raise ViewDefinitionError("", f"cannot compile element {need.element!r} even as JSON") from None
            json_elements.add(need.element)


def compile_view(
    view: ViewDefinition | dict[str, Any] | str | Path, source: Source | str | Path | Sequence[str | Path]
) -> str:
    """One DuckDB query producing the view's rows from ``source``: NDJSON file(s), globs or a Bulk Data folder, a
    table name (one resource per row in a JSON column ``resource``), or an explicit NdjsonSource / TableSource."""
    if not isinstance(view, ViewDefinition):
        view = load_view(view)
    return plan_view(view).sql(as_source(source, view.resource))


def check_view(view: ViewDefinition) -> None:
    """Raise ViewDefinitionError if ``view`` does not compile (used by ``load_view``)."""
    plan_view(view).sql(NdjsonSource(("check.ndjson",)))
