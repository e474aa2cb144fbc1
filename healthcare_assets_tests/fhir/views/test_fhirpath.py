"""The FHIRPath parser: precedence, literals, and syntax errors with positions."""

from __future__ import annotations

import pytest

from healthcare_assets.fhir.views import fhirpath as fp
from healthcare_assets.fhir.views.errors import FhirPathSyntaxError


def test_precedence_and_invocations() -> None:
    tree = fp.parse("a.b + 2 * c > 3 and d implies e")
    assert isinstance(tree, fp.Binary) and tree.op == "implies"
    left = tree.left
    assert isinstance(left, fp.Binary) and left.op == "and"
    comparison = left.left
    assert isinstance(comparison, fp.Binary) and comparison.op == ">"
    plus = comparison.left
    assert isinstance(plus, fp.Binary) and plus.op == "+" and isinstance(plus.right, fp.Binary)
    assert fp.parse("name[%i].given.first()") == fp.Call(
        fp.Member(fp.Index(fp.Member(None, "name"), fp.Constant("i")), "given"), "first", ()
    )


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("'it''s'", None, None),
        ("'a\\'b'", "a'b", "string"),
        ("12", 12, "integer"),
        ("1.50", 1.5, "decimal"),
        ("true", True, "boolean"),
        ("@2019-03", "2019-03", "date"),
        ("@2019-03-01T10:00Z", "2019-03-01T10:00Z", "dateTime"),
        ("@T10:30", "10:30", "time"),
        ("{}", None, "empty"),
    ],
)
def test_literals(text: str, value: object, kind: str | None) -> None:
    if kind is None:
        with pytest.raises(FhirPathSyntaxError):
            fp.parse(text)
        return
    assert fp.parse(text) == fp.Literal(value, kind)


def test_type_operators_and_delimited_names() -> None:
    assert fp.parse("value is Quantity") == fp.TypeOp("is", fp.Member(None, "value"), "Quantity")
    assert fp.parse("`div`.x") == fp.Member(fp.Member(None, "div"), "x")
    assert fp.parse("-x.y") == fp.Unary("-", fp.Member(fp.Member(None, "x"), "y"))


@pytest.mark.parametrize(("text", "position"), [("@@", 0), ("a.", 2), ("a b", 2), ("f(", 2), ("", 0)])
def test_syntax_errors_have_positions(text: str, position: int) -> None:
    with pytest.raises(FhirPathSyntaxError) as caught:
        fp.parse(text)
    assert caught.value.position == position
