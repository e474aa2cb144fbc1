"""The one error type of the view engine: every message starts with the place in the ViewDefinition at fault."""

from __future__ import annotations


class ViewDefinitionError(ValueError):
    """A ViewDefinition that cannot be parsed, validated or compiled.

    ``location`` is a JSON-path-like pointer into the view (``select[1].column[0].path``) so that an author can find
    the bad element without reading the compiler; ``str(error)`` is ``"<location>: <message>"``.
    """

    def __init__(self, location: str, message: str):
        self.location = location
        self.message = message
        super().__init__(f"{location}: {message}" if location else message)


class FhirPathSyntaxError(ValueError):
    """A FHIRPath expression that does not parse; the view layer re-raises it with the element's location."""

    def __init__(self, message: str, position: int):
        self.position = position
        super().__init__(f"{message} at position {position}")
