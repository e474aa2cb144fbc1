"""Selection structures (columns, nested selects, forEach/forEachOrNull/repeat, unionAll) -> one SQL expression.

Each structure compiles to a ``Part``: either exactly one row (a dict of column expressions, the common case, which
costs nothing) or a DuckDB ``LIST(STRUCT(...))`` of rows. Iteration is ``list_transform`` over the collection with
the row index as the lambda's second parameter; sibling structures are cross-joined by nesting transforms; unions
are ``list_concat``. The view's final LIST, if any, is unnested once by the outer query.
"""

from __future__ import annotations

from dataclasses import dataclass

from healthcare_assets.fhir.views.definition import Column, Select
from healthcare_assets.fhir.views.errors import ViewDefinitionError
from healthcare_assets.fhir.views.expressions import ExpressionCompiler, NeedJson, Scope
from healthcare_assets.fhir.views.fhir_model import FhirModel, sql_type
from healthcare_assets.fhir.views.values import Val, Value, ident, literal

# How deep ``repeat`` follows its paths. Deeper data raises an error at run time rather than being cut silently.
REPEAT_DEPTH = 10
_NUMERIC = {"integer", "positiveInt", "unsignedInt", "integer64", "decimal"}


@dataclass(frozen=True)
class Part:
    """Rows of one selection structure: ``single`` (one row, column -> SQL) or ``many`` (SQL LIST of STRUCTs)."""

    names: tuple[str, ...]
    single: dict[str, str] | None = None
    many: str | None = None


@dataclass(frozen=True)
class OutputColumn:
    """A column of the compiled view with its DuckDB type."""

    column: Column
    sql_type: str
    fhir_type: str | None


class SelectCompiler:
    def __init__(self, model: FhirModel, expressions: ExpressionCompiler):
        self.model = model
        self.x = expressions
        self.outputs: dict[str, OutputColumn] = {}

    # ---------------------------------------------------------------------------------------- columns
    def column(self, col: Column, focus: Value, scope: Scope) -> str:
        """SQL for one column value, converted to the column's (declared or inferred) type and cardinality."""
        scope = Scope(scope.row_index, f"{col.location}.path")
        assert col.expression is not None
        val = self.x.value(self.x.compile(col.expression, focus, scope), scope)
        target = col.type or val.ftype
        primitive = target is None or self.model.is_primitive(target) or target in _NUMERIC
        if primitive:
            val = self.x.prim(val, target)
            kind = sql_type(target)
        else:
            kind = "JSON"
            if not val.json:
                val = self._to_json(val)
        if col.collection:
            if val.many:
                sql = f"coalesce({val.sql}, [])"
            else:
                sql = f"CASE WHEN {val.sql} IS NULL THEN [] ELSE [{val.sql}] END"
            kind += "[]"
        elif val.many:
            message = literal(f"{scope.location}: several values found for a column without collection: true")
            sql = f"CASE WHEN len({val.sql}) > 1 THEN error({message}) ELSE {val.sql}[1] END"
        else:
            sql = val.sql
        # The first definition of a name fixes its type; other union branches are cast to it.
        output = self.outputs.setdefault(col.name, OutputColumn(col, kind, target))
        return f"CAST({sql} AS {output.sql_type})"

    def _to_json(self, val: Val) -> Val:
        if not val.many:
            return Val(f"to_json({val.sql})", val.ftype, False, True)
        v = self.x.fresh()
        return Val(f"list_transform({val.sql}, lambda {v}: to_json({v}))", val.ftype, True, True)

    # ---------------------------------------------------------------------------------------- structures
    def body(self, sel: Select, focus: Value, scope: Scope) -> Part:
        """Rows of ``sel`` for one focus: its columns x each nested select x its union."""
        parts: list[Part] = []
        if sel.column:
            values = {c.name: self.column(c, focus, scope) for c in sel.column}
            parts.append(Part(tuple(values), single=values))
        parts.extend(self.select(child, focus, scope) for child in sel.select)
        if sel.union_all:
            branches = [self.select(branch, focus, scope) for branch in sel.union_all]
            lists = ", ".join(self.as_list(b) for b in branches)
            parts.append(Part(branches[0].names, many=f"list_concat({lists})"))
        return self.product(parts)

    def select(self, sel: Select, focus: Value, scope: Scope) -> Part:
        """Rows of ``sel``, iterating its forEach / forEachOrNull / repeat collection when it has one."""
        if sel.repeat:
            items = self._repeat(sel, focus, scope)
        elif sel.for_each is not None or sel.for_each_or_null is not None:
            node = sel.for_each if sel.for_each is not None else sel.for_each_or_null
            where = f"{sel.location}.{'forEach' if sel.for_each is not None else 'forEachOrNull'}"
            items = self.x.value(self.x.compile(node, focus, Scope(scope.row_index, where)), Scope("", where))
        else:
            return self.body(sel, focus, scope)
        collection = items.sql if items.many else f"CASE WHEN {items.sql} IS NULL THEN [] ELSE [{items.sql}] END"
        if sel.for_each_or_null is not None:  # one row evaluated on an empty focus (%rowIndex 0) when empty
            collection = f"CASE WHEN coalesce(len({collection}), 0) = 0 THEN [NULL] ELSE {collection} END"
        v, i = self.x.fresh(), self.x.fresh()
        inner = self.body(sel, items.item(v), Scope(f"({i} - 1)", sel.location))
        if inner.single is not None:
            return Part(inner.names, many=f"list_transform({collection}, lambda {v}, {i}: {self.struct(inner)})")
        return Part(inner.names, many=f"flatten(list_transform({collection}, lambda {v}, {i}: {inner.many}))")

    def _repeat(self, sel: Select, focus: Value, scope: Scope) -> Val:
        """All nodes reachable by the repeat paths, depth first, as one JSON list (uniform type at every depth)."""
        where = f"{sel.location}.repeat"

        def children(item: Value) -> Val:
            lists = []
            for path in sel.repeat:
                val = self.x.value(self.x.compile(path, item, Scope(scope.row_index, where)), Scope("", where))
                if not val.json:
                    if val.origin is None:
                        raise ViewDefinitionError(where, "repeat paths must select elements of the resource")
                    raise NeedJson(val.origin)
                lists.append(val.sql if val.many else f"CASE WHEN {val.sql} IS NULL THEN [] ELSE [{val.sql}] END")
            return Val(f"list_concat({', '.join(lists)})", val.ftype, True, True)

        def expand(item: Val, depth: int) -> str:
            kids = children(item)
            if depth == 0:
                message = literal(f"{where}: nesting deeper than {REPEAT_DEPTH} levels")
                return f"CASE WHEN len({kids.sql}) > 0 THEN error({message}) ELSE [{item.sql}] END"
            v = self.x.fresh()
            below = f"flatten(list_transform({kids.sql}, lambda {v}: {expand(kids.item(v), depth - 1)}))"
            return f"list_concat([{item.sql}], {below})"

        top = children(focus)
        v = self.x.fresh()
        return Val(
            f"flatten(list_transform({top.sql}, lambda {v}: {expand(top.item(v), REPEAT_DEPTH)}))",
            top.ftype,
            True,
            True,
        )

    # ---------------------------------------------------------------------------------------- row algebra
    def struct(self, part: Part) -> str:
        assert part.single is not None
        return "struct_pack(" + ", ".join(f"{ident(n)} := {part.single[n]}" for n in part.names) + ")"

    def as_list(self, part: Part) -> str:
        return f"[{self.struct(part)}]" if part.single is not None else str(part.many)

    def product(self, parts: list[Part]) -> Part:
        """Cross join of sibling parts; column order follows the parts."""
        names = tuple(n for p in parts for n in p.names)
        singles = {n: sql for p in parts if p.single is not None for n, sql in p.single.items()}
        lists = [p for p in parts if p.single is None]
        if not lists:
            return Part(names, single=singles)
        if len(lists) == 1 and not singles:
            return lists[0]
        params = [self.x.fresh() for _ in lists]
        owner = {n: param for p, param in zip(lists, params, strict=True) for n in p.names}
        fields = ", ".join(f"{ident(n)} := {singles[n] if n in singles else f'{owner[n]}.{ident(n)}'}" for n in names)
        expr = f"struct_pack({fields})"
        for k in reversed(range(len(lists))):
            expr = f"list_transform({lists[k].many}, lambda {params[k]}: {expr})"
            if k < len(lists) - 1:
                expr = f"flatten({expr})"
        return Part(names, many=expr)


def top_level(view_select: tuple[Select, ...]) -> Select:
    """The view's own select list as one selection structure (siblings, cross-joined)."""
    return Select(location="", select=view_select)
