"""What a check reports: a problem at a data path, and the words messages share."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from baton.core.spec.graph import (
    DataPath,
)


@dataclass(frozen=True)
class Finding:
    """A problem at a data path; `at_key` points at the key rather than its value."""

    path: DataPath
    message: str
    severity: str = "error"
    at_key: bool = False


def suggest(name: str, options: Iterable[str]) -> str:
    """` (did you mean 'x'?)` when something close exists."""
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def describe(value: Any) -> str:
    """A value as the person wrote it in YAML, for messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list | dict):
        shown = json.dumps(value, ensure_ascii=False, default=str)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return f"the {'list' if isinstance(value, list) else 'mapping'} {shown}"
    return f"a {type(value).__name__}"


def a_type(type_name: str) -> str:
    """`a str`, `an int`, `a list[str]`: a declared type with its article."""
    return f"{'an' if type_name[:1] in 'aeiou' else 'a'} {type_name}"
