"""Text a person typed on the command line, as baton stores and shows it.

Arguments arrive decoded with undecodable bytes kept as lone surrogates (Python's `surrogateescape`), which
no store can hold and no terminal should get back raw: such text is refused with the name of what was
typed, and shown in messages with the bytes escaped.
"""

from __future__ import annotations

import os


def is_text(value: str) -> bool:
    """Is `value` valid UTF-8 text (no undecodable bytes)?"""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(value: str | os.PathLike[str]) -> str:
    """`value` in single quotes for a message, undecodable bytes as `\\xNN`."""
    text = os.fspath(value)
    return "'" + text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") + "'"


def escaped(value: str | os.PathLike[str]) -> str:
    """`value` with undecodable bytes as `\\xNN` (a path as it can be stored and shown)."""
    return os.fspath(value).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
