"""One normal form for dictionary terms and scanned values, so that "12 Elm Street, Springfield", "12-ELM street"
and "springfield" meet word for word: lower case, every run of characters that are not letters or digits one
space, trimmed."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[^\w]+|_+")


def normalized_sql(expr: str) -> str:
    """SQL form of ``normalized``."""
    return f"trim(regexp_replace(lower({expr}), '[^\\pL\\pN]+', ' ', 'g'))"


def normalized(text: str) -> str:
    return _SEPARATORS.sub(" ", text.lower()).strip()
