"""FHIRPath AST -> DuckDB SQL expression, typed against the FHIR R4 model.

Collections map to scalars or LISTs (see ``values``); iteration (``where``, member access over a list) becomes
DuckDB list lambdas (``list_filter(x, lambda v: ...)``), so a whole view compiles to expressions over one row.
Functions supported: the SQL on FHIR shareable subset (first, exists, empty, where, ofType, extension, join,
getResourceKey, getReferenceKey, not, lowBoundary, highBoundary) plus last, single, count.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from healthcare_assets.fhir.views import boundaries
from healthcare_assets.fhir.views import fhirpath as fp
from healthcare_assets.fhir.views.definition import Constant
from healthcare_assets.fhir.views.errors import ViewDefinitionError
from healthcare_assets.fhir.views.fhir_model import SYSTEM_TYPES, Element, FhirModel, sql_type
from healthcare_assets.fhir.views.values import EMPTY, Choice, Root, SchemaNode, Val, Value, ident, literal

_NUMERIC = {"integer", "positiveInt", "unsignedInt", "integer64", "decimal"}
_ROOT_VARIABLES = ("resource", "rootResource", "context")
_LAMBDA_VAR = re.compile(r"_v\d+")
# A reference's type and id: relative (Patient/1), absolute (http://x/fhir/Patient/1), versioned (.../_history/2).
_REF_PATTERN = r"(?:^|/)({type})/([A-Za-z0-9\-\.]{{1,64}})(?:/_history/[A-Za-z0-9\-\.]{{1,64}})?$"


class NeedJson(Exception):
    """Raised when a top-level element must be read as JSON (not in the model, or needed by ``repeat``)."""

    def __init__(self, element: str):
        super().__init__(element)
        self.element = element


@dataclass(frozen=True)
class Scope:
    """Evaluation context: ``row_index`` is the SQL for ``%rowIndex``; ``location`` names the view element."""

    row_index: str
    location: str


class ExpressionCompiler:
    def __init__(self, model: FhirModel, root: Root, constants: tuple[Constant, ...], json_elements: set[str]):
        self.model = model
        self.root = root
        self.constants = {c.name: c for c in constants}
        self.json_elements = json_elements
        self._lambdas = 0
        self._functions: dict[str, Callable[[Value, tuple[fp.Node, ...], Scope], Value]] = {
            "first": self._first,
            "last": self._last,
            "single": self._single,
            "count": self._count,
            "exists": self._exists,
            "empty": self._empty,
            "where": self._where,
            "ofType": self._of_type,
            "extension": self._extension,
            "join": self._join,
            "getResourceKey": self._resource_key,
            "getReferenceKey": self._reference_key,
            "not": self._not,
            "lowBoundary": lambda b, a, s: self._boundary(b, a, s, low=True),
            "highBoundary": lambda b, a, s: self._boundary(b, a, s, low=False),
        }

    # ----------------------------------------------------------------------------------------------- plumbing
    def fresh(self) -> str:
        """A new lambda parameter name (unique within the query, never a FHIR element name)."""
        self._lambdas += 1
        return f"_v{self._lambdas}"

    def error(self, scope: Scope, message: str) -> ViewDefinitionError:
        return ViewDefinitionError(scope.location, message)

    def compile(self, node: fp.Node, focus: Value, scope: Scope) -> Value:
        """Compile ``node`` evaluated with ``focus`` as its input collection."""
        if isinstance(node, fp.Literal):
            return self._literal(node)
        if isinstance(node, fp.Constant):
            return self._constant(node.name, scope)
        if isinstance(node, fp.This):
            return focus
        if isinstance(node, fp.Member):
            if node.base is None and isinstance(focus, Root) and node.name == focus.resource:
                return focus  # "Patient.name": a path may start with the resource type
            base = focus if node.base is None else self.compile(node.base, focus, scope)
            return self.member(base, node.name, scope)
        if isinstance(node, fp.Call):
            base = focus if node.base is None else self.compile(node.base, focus, scope)
            handler = self._functions.get(node.name)
            if handler is None:
                raise self.error(scope, f"unknown function '{node.name}()'")
            return handler(base, node.args, scope)
        if isinstance(node, fp.Index):
            return self._index(self.compile(node.base, focus, scope), node.index, focus, scope)
        if isinstance(node, fp.Unary):
            operand = self.scalar(self.compile(node.operand, focus, scope), scope)
            if node.op == "+":
                return operand
            if operand.ftype not in _NUMERIC and operand.ftype is not None:
                raise self.error(scope, f"unary minus needs a number, not {operand.ftype}")
            return Val(f"(-{self.prim(operand).sql})", operand.ftype or "decimal")
        if isinstance(node, fp.TypeOp):
            typed = self._of_type_name(self.compile(node.base, focus, scope), node.type_name, scope)
            return typed if node.op == "as" else self._exists(typed, (), scope)
        if isinstance(node, fp.Binary):
            return self._binary(node, focus, scope)
        raise self.error(scope, f"unsupported expression {node!r}")

    def value(self, value: Value, scope: Scope) -> Val:
        """``value`` as a Val: a pending choice is resolved, the resource itself is refused."""
        if isinstance(value, Choice):
            if value.element is not None:
                raise self.error(
                    scope, f"choice element '{value.name}' needs .ofType(T) (one of {', '.join(value.element.types)})"
                )
            return self._json_member(value.base, value.name, None, scope)
        if isinstance(value, Root):
            raise self.error(scope, "the resource itself cannot be used as a value here")
        return value

    def scalar(self, value: Value, scope: Scope) -> Val:
        """At most one item (FHIRPath singleton evaluation): more than one raises at run time."""
        val = self.value(value, scope)
        if not val.many:
            return val
        message = literal(f"{scope.location}: expected a single value but found several")
        return Val(
            f"CASE WHEN len({val.sql}) > 1 THEN error({message}) ELSE {val.sql}[1] END",
            val.ftype, False, val.json, val.node, val.origin,
        )  # fmt: skip

    def prim(self, val: Val, ftype: str | None = None) -> Val:
        """A JSON value converted to the SQL type of ``ftype`` (default: its own FHIR type, else VARCHAR)."""
        if not val.json:
            return val
        target = ftype or val.ftype
        if target is not None and not (self.model.is_primitive(target) or target in _NUMERIC):
            return val  # complex JSON stays JSON
        kind = sql_type(target)

        def convert(sql: str) -> str:
            return f"({sql} ->> '$')" if kind == "VARCHAR" else f"CAST({sql} AS {kind})"

        if val.many:
            v = self.fresh()
            return Val(f"list_transform({val.sql}, lambda {v}: {convert(v)})", target or "string", True)
        return Val(convert(val.sql), target or "string")

    def boolean(self, value: Value, scope: Scope) -> str:
        """SQL boolean for a condition; a non-boolean single item counts as true (FHIRPath singleton rule)."""
        if isinstance(value, Root):
            return value.guard or "TRUE"
        val = self.scalar(value, scope)
        if val.ftype == "boolean" or val.ftype is None:
            return self.prim(val, "boolean").sql
        return f"({val.sql} IS NOT NULL)"

    # -------------------------------------------------------------------------------------------- terms
    def _literal(self, node: fp.Literal) -> Val:
        if node.type == "empty":
            return EMPTY
        if node.type == "boolean":
            return Val("TRUE" if node.value else "FALSE", "boolean")
        if node.type == "integer":
            return Val(str(node.value), "integer")
        if node.type == "decimal":
            return Val(f"CAST({node.value!r} AS DOUBLE)", "decimal")
        return Val(literal(str(node.value)), node.type)

    def _constant(self, name: str, scope: Scope) -> Value:
        if name == "rowIndex":
            return Val(scope.row_index, "integer")
        if name in _ROOT_VARIABLES:
            return self.root
        constant = self.constants.get(name)
        if constant is None:
            raise self.error(scope, f"undefined constant '%{name}'")
        if constant.type == "boolean":
            return Val("TRUE" if constant.value else "FALSE", "boolean")
        if constant.type in _NUMERIC:
            return Val(f"CAST({constant.value!r} AS {sql_type(constant.type)})", constant.type)
        return Val(literal(str(constant.value)), constant.type)

    # ------------------------------------------------------------------------------------ member access
    def member(self, base: Value, name: str, scope: Scope) -> Value:
        """``base.name``: a column at the root, a struct field, or a JSON property."""
        if isinstance(base, Choice):
            base = self.value(base, scope)
        if isinstance(base, Root):
            return self._root_member(base, name)
        if base.json:
            element = self.model.element(base.ftype, name) if base.ftype else None
            if element is not None and element.is_choice:
                return Choice(base, name, element)
            if element is None:
                return Choice(base, name, None)  # unknown JSON: may still be a choice (resolved by ofType)
            return self._json_member(base, element.key, element, scope)
        element = self.model.element(base.ftype, name)
        if element is None or not (element.is_choice or self.model.kind(element.type)):
            if base.origin is not None:
                raise NeedJson(base.origin)
            raise self.error(scope, f"unknown element '{name}' on {base.ftype}")
        if element.is_choice:
            return Choice(base, name, element)
        node = base.node.child(element.key, element.type, element.many) if base.node else None
        return self._field(base, element.key, element.type, element.many, node)

    def _root_member(self, root: Root, name: str) -> Value:
        element = self.model.element(root.resource, name)
        if element is not None and element.is_choice:
            return Choice(root, name, element)
        key = element.key if element else name
        known = element is not None and self.model.kind(element.type) is not None
        json = key in self.json_elements or not known
        many = element.many if element else True  # unknown shape: read as one JSON value, used as a list
        node = root.node.child(key, element.type if element else None, many and element is not None, json)
        sql = ident(key) if root.guard is None else f"CASE WHEN {root.guard} THEN {ident(key)} END"
        if element is None:
            sql = self._json_list(sql)
        ftype = element.type if element else None
        return Val(sql, ftype, many, json, None if json else node, key)

    def _field(self, base: Val, key: str, ftype: str | None, many: bool, node: SchemaNode | None) -> Val:
        def get(sql: str) -> str:
            return f"{sql}.{ident(key)}" if _LAMBDA_VAR.fullmatch(sql) else f"struct_extract({sql}, {literal(key)})"

        if not base.many:
            return Val(get(base.sql), ftype, many, False, node, base.origin)
        v = self.fresh()
        if many:
            sql = f"flatten(list_transform({base.sql}, lambda {v}: {get(v)}))"
        else:
            sql = f"list_filter(list_transform({base.sql}, lambda {v}: {get(v)}), lambda {v}: {v} IS NOT NULL)"
        return Val(sql, ftype, True, False, node, base.origin)

    def _json_list(self, sql: str) -> str:
        """A JSON value of unknown shape as a JSON[] list (arrays unpacked, a single value wrapped)."""
        array = f"CAST({sql} AS JSON[])"
        return f"CASE WHEN {sql} IS NULL THEN NULL WHEN json_type({sql}) = 'ARRAY' THEN {array} ELSE [{sql}] END"

    def _json_member(self, base: Val | Root, key: str, element: Element | None, scope: Scope) -> Val:
        if isinstance(base, Root):
            val = self._root_member(base, key)
            return self.value(val, scope)
        many = element.many if element else True
        ftype = element.type if element else None

        def get(sql: str) -> str:
            raw = f"json_extract({sql}, {literal('$.' + ident(key))})"
            if element is None:
                return self._json_list(raw)
            return f"CAST({raw} AS JSON[])" if many else raw

        if not base.many:
            return Val(get(base.sql), ftype, many, True, None, base.origin)
        v = self.fresh()
        if many:
            sql = f"flatten(list_transform({base.sql}, lambda {v}: {get(v)}))"
        else:
            sql = f"list_filter(list_transform({base.sql}, lambda {v}: {get(v)}), lambda {v}: {v} IS NOT NULL)"
        return Val(sql, ftype, True, True, None, base.origin)

    # ---------------------------------------------------------------------------------------- functions
    def _args(self, name: str, args: tuple[fp.Node, ...], allowed: tuple[int, ...], scope: Scope) -> None:
        if len(args) not in allowed:
            expected = " or ".join(str(n) for n in allowed)
            raise self.error(scope, f"{name}() takes {expected} argument(s), got {len(args)}")

    def _first(self, base: Value, args, scope: Scope) -> Value:
        self._args("first", args, (0,), scope)
        if isinstance(base, Root):
            return base
        val = self.value(base, scope)
        return val.with_sql(f"{val.sql}[1]", many=False) if val.many else val

    def _last(self, base: Value, args, scope: Scope) -> Value:
        self._args("last", args, (0,), scope)
        val = self.value(base, scope)
        return val.with_sql(f"{val.sql}[-1]", many=False) if val.many else val

    def _single(self, base: Value, args, scope: Scope) -> Value:
        self._args("single", args, (0,), scope)
        return self.scalar(base, scope)

    def _count(self, base: Value, args, scope: Scope) -> Value:
        self._args("count", args, (0,), scope)
        if isinstance(base, Root):
            return Val(f"CASE WHEN {base.guard or 'TRUE'} THEN 1 ELSE 0 END", "integer")
        val = self.value(base, scope)
        sql = f"coalesce(len({val.sql}), 0)" if val.many else f"CASE WHEN {val.sql} IS NULL THEN 0 ELSE 1 END"
        return Val(sql, "integer")

    def _exists(self, base: Value, args, scope: Scope) -> Value:
        self._args("exists", args, (0, 1), scope)
        if args:
            base = self._where(base, args, scope)
        if isinstance(base, Root):
            return Val(f"coalesce({base.guard}, FALSE)" if base.guard else "TRUE", "boolean")
        val = self.value(base, scope)
        sql = f"coalesce(len({val.sql}) > 0, FALSE)" if val.many else f"({val.sql} IS NOT NULL)"
        return Val(sql, "boolean")

    def _empty(self, base: Value, args, scope: Scope) -> Value:
        self._args("empty", args, (0,), scope)
        return Val(f"(NOT {self._exists(base, (), scope).sql})", "boolean")

    def _condition(self, base: Val | Root, criteria: fp.Node, scope: Scope) -> str:
        result = self.compile(criteria, base, scope)
        if isinstance(result, Val) and result.ftype not in (None, "boolean"):
            raise self.error(scope, f"where() criteria must be boolean, not {result.ftype}")
        return self.boolean(result, scope)

    def _where(self, base: Value, args, scope: Scope) -> Value:
        self._args("where", args, (1,), scope)
        if isinstance(base, Root):
            condition = self._condition(base, args[0], scope)
            guard = condition if base.guard is None else f"({base.guard} AND {condition})"
            return Root(base.resource, base.node, guard)
        val = self.value(base, scope)
        if not val.many:
            return val.with_sql(f"CASE WHEN {self._condition(val, args[0], scope)} THEN {val.sql} END")
        v = self.fresh()
        condition = self._condition(val.item(v), args[0], scope)
        return val.with_sql(f"list_filter({val.sql}, lambda {v}: coalesce({condition}, FALSE))")

    def _type_name(self, node: fp.Node, scope: Scope) -> str:
        if isinstance(node, fp.Literal) and node.type == "string":
            return str(node.value)
        parts: list[str] = []
        while isinstance(node, fp.Member):
            parts.insert(0, node.name)
            if node.base is None:
                name = ".".join(parts)
                name = SYSTEM_TYPES.get(name, name)
                return name[5:] if name.startswith("FHIR.") else name
            node = node.base
        raise self.error(scope, "expected a type name")

    def _of_type(self, base: Value, args, scope: Scope) -> Value:
        self._args("ofType", args, (1,), scope)
        return self._of_type_name(base, self._type_name(args[0], scope), scope)

    def _of_type_name(self, base: Value, type_name: str, scope: Scope) -> Value:
        type_name = SYSTEM_TYPES.get(type_name, type_name).removeprefix("FHIR.")
        if isinstance(base, Choice):
            if base.element is None:  # unknown JSON: the FHIR JSON convention names the property valueType
                return self._json_member(base.base, base.name + type_name[0].upper() + type_name[1:], None, scope)
            if type_name not in base.element.types:
                return EMPTY
            return self.member(base.base, base.element.choice_key(type_name), scope)
        if isinstance(base, Root):
            return base if self.model.is_subtype(base.resource, type_name) else Root(base.resource, base.node, "FALSE")
        if base.ftype is None:
            return Val(base.sql, type_name, base.many, base.json, base.node, base.origin)
        return base if self.model.is_subtype(base.ftype, type_name) else EMPTY

    def _extension(self, base: Value, args, scope: Scope) -> Value:
        self._args("extension", args, (1,), scope)
        url = self.compile(args[0], self.root, scope)
        if not isinstance(url, Val) or url.ftype not in ("string", "uri", "url", "canonical"):
            raise self.error(scope, "extension() needs a string url")
        matches = fp.Binary("=", fp.Member(None, "url"), args[0])
        return self._where(self.member(base, "extension", scope), (matches,), scope)

    def _join(self, base: Value, args, scope: Scope) -> Value:
        self._args("join", args, (0, 1), scope)
        separator = self.compile(args[0], self.root, scope) if args else Val("''", "string")
        if not isinstance(separator, Val) or separator.ftype != "string":
            raise self.error(scope, "join() needs a string separator")
        val = self.prim(self.value(base, scope), "string")
        if not val.many:
            return Val(f"coalesce(CAST({val.sql} AS VARCHAR), '')", "string")
        return Val(f"coalesce(array_to_string({val.sql}, {separator.sql}), '')", "string")

    def _resource_key(self, base: Value, args, scope: Scope) -> Value:
        self._args("getResourceKey", args, (0,), scope)
        if not isinstance(base, Root):
            raise self.error(scope, "getResourceKey() can only be called on the resource")
        return self.member(base, "id", scope)

    def _reference_key(self, base: Value, args, scope: Scope) -> Value:
        self._args("getReferenceKey", args, (0, 1), scope)
        type_name = self._type_name(args[0], scope) if args else None
        reference = self.prim(self.value(self.member(base, "reference", scope), scope), "string")
        pattern = literal(_REF_PATTERN.format(type=type_name or "[A-Z][A-Za-z]+"))

        def key(sql: str) -> str:
            relative = f"nullif(regexp_extract({sql}, {pattern}, 2), '')"
            if type_name:  # fast path for the common "Type/id" form; the regex handles the rest
                prefix, rest = literal(type_name + "/"), f"substr({sql}, {len(type_name) + 2})"
                return (
                    f"CASE WHEN starts_with({sql}, {prefix}) AND NOT contains({rest}, '/') "
                    f"THEN nullif({rest}, '') ELSE {relative} END"
                )
            return f"coalesce({relative}, CASE WHEN {sql} LIKE 'urn:uuid:%' THEN substr({sql}, 10) END)"

        if not reference.many:
            return Val(key(reference.sql), "string")
        v = self.fresh()
        mapped = f"list_transform({reference.sql}, lambda {v}: {key(v)})"
        return Val(f"list_filter({mapped}, lambda {v}: {v} IS NOT NULL)", "string", True)

    def _not(self, base: Value, args, scope: Scope) -> Value:
        self._args("not", args, (0,), scope)
        return Val(f"(NOT {self.boolean(base, scope)})", "boolean")

    def _boundary(self, base: Value, args, scope: Scope, low: bool) -> Value:
        self._args("lowBoundary" if low else "highBoundary", args, (0,), scope)
        val = self.scalar(base, scope)
        sql = boundaries.boundary_sql(self.prim(val).sql, val.ftype, low)
        if sql is None:
            raise self.error(scope, f"{'low' if low else 'high'}Boundary() is not supported for {val.ftype}")
        return Val(sql, val.ftype)

    def _index(self, base: Value, index: fp.Node, focus: Value, scope: Scope) -> Value:
        position = self.scalar(self.compile(index, focus, scope), scope)
        if position.ftype not in ("integer", "positiveInt", "unsignedInt", None):
            raise self.error(scope, f"an index must be an integer, not {position.ftype}")
        if isinstance(base, Root):
            return base if position.sql == "0" else Root(base.resource, base.node, "FALSE")
        val = self.value(base, scope)
        if val.many:
            return val.with_sql(f"{val.sql}[({position.sql}) + 1]", many=False)
        return val.with_sql(f"CASE WHEN ({position.sql}) = 0 THEN {val.sql} END")

    # ---------------------------------------------------------------------------------------- operators
    def _binary(self, node: fp.Binary, focus: Value, scope: Scope) -> Val:
        left = self.compile(node.left, focus, scope)
        right = self.compile(node.right, focus, scope)
        op = node.op
        if op in ("and", "or", "xor", "implies"):
            a, b = self.boolean(left, scope), self.boolean(right, scope)
            sql = {"and": f"({a} AND {b})", "or": f"({a} OR {b})", "xor": f"({a} <> {b})"}.get(op)
            return Val(sql or f"((NOT {a}) OR {b})", "boolean")
        if op in ("=", "!=", "~", "!~"):
            equal = self._equals(self.value(left, scope), self.value(right, scope), op in ("~", "!~"))
            return Val(f"(NOT {equal})" if op.startswith("!") else equal, "boolean")
        if op == "|":
            a, b = self._as_list(self.value(left, scope)), self._as_list(self.value(right, scope))
            return Val(f"list_distinct(list_concat({a.sql}, {b.sql}))", a.ftype or b.ftype, True)
        if op in ("in", "contains"):
            item, collection = (left, right) if op == "in" else (right, left)
            item_val = self.scalar(item, scope)
            coll = self._as_list(self.value(collection, scope))
            a, b = self._pair(item_val, coll)
            return Val(
                f"CASE WHEN {a.sql} IS NOT NULL THEN coalesce(list_contains({b.sql}, {a.sql}), FALSE) END", "boolean"
            )
        a, b = self._pair(self.scalar(left, scope), self.scalar(right, scope))
        if op in ("<", ">", "<=", ">="):
            return Val(f"({a.sql} {op} {b.sql})", "boolean")
        if op == "&":
            return Val(f"(coalesce(CAST({a.sql} AS VARCHAR), '') || coalesce(CAST({b.sql} AS VARCHAR), ''))", "string")
        numeric = a.ftype in _NUMERIC and b.ftype in _NUMERIC
        if op == "+" and not numeric and a.ftype not in _NUMERIC and b.ftype not in _NUMERIC:
            return Val(f"({a.sql} || {b.sql})", "string")
        if not numeric and not (a.ftype is None or b.ftype is None):
            raise self.error(scope, f"operator {op} needs numbers, not {a.ftype} and {b.ftype}")
        decimal = "decimal" in (a.ftype, b.ftype) or None in (a.ftype, b.ftype)
        if op == "/":
            return Val(f"(CAST({a.sql} AS DOUBLE) / {b.sql})", "decimal")
        sql_op = {"div": "//", "mod": "%"}.get(op, op)
        return Val(f"({a.sql} {sql_op} {b.sql})", "decimal" if decimal else "integer")

    def _pair(self, a: Val, b: Val) -> tuple[Val, Val]:
        """Two operands as comparable SQL: JSON converted to the other side's type."""
        return self.prim(a, b.ftype if a.json else None), self.prim(b, a.ftype if b.json else None)

    def _as_list(self, val: Val) -> Val:
        if val.many:
            return val
        return val.with_sql(f"CASE WHEN {val.sql} IS NULL THEN [] ELSE [{val.sql}] END", many=True)

    def _equals(self, left: Val, right: Val, equivalent: bool) -> str:
        a, b = self._pair(left, right)
        if equivalent and (a.ftype or "string") not in _NUMERIC | {"boolean"}:
            lower = "lower"
        else:
            lower = ""
        if not a.many and not b.many:
            if equivalent:
                return f"coalesce({lower}({a.sql}) = {lower}({b.sql}), {a.sql} IS NULL AND {b.sql} IS NULL)"
            return f"({a.sql} = {b.sql})"
        if a.many and b.many:
            return f"CASE WHEN len({a.sql}) = 0 OR len({b.sql}) = 0 THEN NULL ELSE {a.sql} = {b.sql} END"
        items, single = (a, b) if a.many else (b, a)
        return (
            f"CASE WHEN {single.sql} IS NULL THEN NULL WHEN len({items.sql}) = 1 "
            f"THEN {lower}({items.sql}[1]) = {lower}({single.sql}) WHEN len({items.sql}) > 1 THEN FALSE END"
        )
