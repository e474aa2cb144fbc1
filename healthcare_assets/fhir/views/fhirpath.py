"""A parser for the FHIRPath grammar (N1), producing a small AST that the SQL compiler walks.

The whole grammar is parsed (so that errors are about meaning, not syntax); which functions are supported is the
compiler's business. Operator precedence follows the FHIRPath specification, highest first: ``.``/``[]``, unary
``+ -``, ``* / div mod``, ``+ - &``, ``is as``, ``|``, ``< > <= >=``, ``= ~ != !~``, ``in contains``, ``and``,
``or xor``, ``implies``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from healthcare_assets.fhir.views.errors import FhirPathSyntaxError


@dataclass(frozen=True)
class Literal:
    """``value`` is the Python value; ``type`` one of string, integer, decimal, boolean, date, dateTime, time, empty."""

    value: object
    type: str


@dataclass(frozen=True)
class Constant:
    """``%name``: a ViewDefinition constant or an environment variable such as ``%rowIndex``."""

    name: str


@dataclass(frozen=True)
class This:
    """``$this``: the current focus."""


@dataclass(frozen=True)
class Member:
    """``base.name``; ``base`` is None for a name evaluated on the current focus."""

    base: Node | None
    name: str


@dataclass(frozen=True)
class Call:
    """``base.name(args)``; ``base`` is None for a function evaluated on the current focus."""

    base: Node | None
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Index:
    base: Node
    index: Node


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class TypeOp:
    """``base is T`` / ``base as T``."""

    op: str
    base: Node
    type_name: str


Node = Literal | Constant | This | Member | Call | Index | Unary | Binary | TypeOp

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<datetime>@\d{4}(?:-\d{2}(?:-\d{2})?)?(?:T(?:\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<time>@T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<delimited>`(?:[^`\\]|\\.)*`)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<special>\$(?:this|index|total))
  | (?P<op><=|>=|!=|!~|[-+*/&|<>=~.,()\[\]{}%])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

# Binary operators by precedence (higher binds tighter); 'is'/'as' are handled with type specifiers.
_BINARY = {
    "implies": 1,
    "or": 2,
    "xor": 2,
    "and": 3,
    "in": 4,
    "contains": 4,
    "=": 5,
    "~": 5,
    "!=": 5,
    "!~": 5,
    "<": 6,
    ">": 6,
    "<=": 6,
    ">=": 6,
    "|": 7,
    "is": 8,
    "as": 8,
    "+": 9,
    "-": 9,
    "&": 9,
    "*": 10,
    "/": 10,
    "div": 10,
    "mod": 10,
}
_UNARY_PRECEDENCE = 11


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _unescape(body: str, pos: int) -> str:
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            raise FhirPathSyntaxError(f"unknown escape '\\{nxt}'", pos + i)
    return "".join(out)


def _tokenize(text: str) -> list[_Tok]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FhirPathSyntaxError(f"unexpected character {text[pos]!r}", pos)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Tok("eof", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> _Tok:
        tok = self.take()
        if tok.text != text or tok.kind not in ("op", "ident"):
            raise FhirPathSyntaxError(f"expected {text!r} but found {tok.text or 'end of expression'!r}", tok.pos)
        return tok

    def parse(self) -> Node:
        if self.peek().kind == "eof":
            raise FhirPathSyntaxError("empty expression", 0)
        node = self.expression(0)
        tok = self.peek()
        if tok.kind != "eof":
            raise FhirPathSyntaxError(f"unexpected {tok.text!r}", tok.pos)
        return node

    def _binary_op(self) -> str | None:
        tok = self.peek()
        if tok.kind in ("op", "ident") and tok.text in _BINARY:
            return tok.text
        return None

    def expression(self, min_precedence: int) -> Node:
        left = self.unary()
        while (op := self._binary_op()) is not None and _BINARY[op] > min_precedence:
            self.take()
            if op in ("is", "as"):
                left = TypeOp(op, left, self.type_specifier())
            else:
                left = Binary(op, left, self.expression(_BINARY[op]))
        return left

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind == "op" and tok.text in "+-":
            self.take()
            operand = self.postfix(self.term())
            return Unary(tok.text, operand)
        return self.postfix(self.term())

    def type_specifier(self) -> str:
        parts = [self.identifier()]
        while self.peek().text == ".":
            self.take()
            parts.append(self.identifier())
        return ".".join(parts)

    def identifier(self) -> str:
        tok = self.take()
        if tok.kind == "ident":
            return tok.text
        if tok.kind == "delimited":
            return _unescape(tok.text[1:-1], tok.pos + 1)
        raise FhirPathSyntaxError(f"expected an identifier but found {tok.text or 'end of expression'!r}", tok.pos)

    def postfix(self, node: Node) -> Node:
        while True:
            tok = self.peek()
            if tok.text == "." and tok.kind == "op":
                self.take()
                node = self.invocation(node)
            elif tok.text == "[" and tok.kind == "op":
                self.take()
                index = self.expression(0)
                self.expect("]")
                node = Index(node, index)
            else:
                return node

    def invocation(self, base: Node | None) -> Node:
        tok = self.peek()
        if tok.kind == "special":
            self.take()
            if tok.text != "$this":
                raise FhirPathSyntaxError(f"{tok.text} is not supported", tok.pos)
            return This()
        name = self.identifier()
        if self.peek().text == "(" and self.peek().kind == "op":
            self.take()
            args: list[Node] = []
            if self.peek().text != ")":
                args.append(self.expression(0))
                while self.peek().text == ",":
                    self.take()
                    args.append(self.expression(0))
            self.expect(")")
            return Call(base, name, tuple(args))
        return Member(base, name)

    def term(self) -> Node:
        tok = self.peek()
        if tok.kind == "number":
            self.take()
            if "." in tok.text:
                return Literal(float(tok.text), "decimal")
            return Literal(int(tok.text), "integer")
        if tok.kind == "string":
            self.take()
            return Literal(_unescape(tok.text[1:-1], tok.pos + 1), "string")
        if tok.kind == "datetime":
            self.take()
            value = tok.text[1:]
            return Literal(value.rstrip("T"), "dateTime" if "T" in value else "date")
        if tok.kind == "time":
            self.take()
            return Literal(tok.text[2:], "time")
        if tok.kind == "ident" and tok.text in ("true", "false"):
            self.take()
            return Literal(tok.text == "true", "boolean")
        if tok.kind == "op" and tok.text == "{":
            self.take()
            self.expect("}")
            return Literal(None, "empty")
        if tok.kind == "op" and tok.text == "(":
            self.take()
            node = self.expression(0)
            self.expect(")")
            return node
        if tok.kind == "op" and tok.text == "%":
            self.take()
            nxt = self.take()
            if nxt.kind == "ident":
                return Constant(nxt.text)
            if nxt.kind in ("string", "delimited"):
                return Constant(_unescape(nxt.text[1:-1], nxt.pos + 1))
            raise FhirPathSyntaxError("expected a constant name after '%'", nxt.pos)
        if tok.kind in ("ident", "delimited", "special"):
            return self.invocation(None)
        raise FhirPathSyntaxError(f"unexpected {tok.text or 'end of expression'!r}", tok.pos)


def parse(text: str) -> Node:
    """Parse one FHIRPath expression; raises FhirPathSyntaxError with the character position."""
    if not isinstance(text, str):
        raise FhirPathSyntaxError(f"expected a FHIRPath string, got {type(text).__name__}", 0)
    return _Parser(text).parse()
