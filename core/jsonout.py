"""JSON text that is safe to print on a terminal: the one encoder every JSON writer uses.

`json.dumps(..., ensure_ascii=False)` escapes only U+0000–U+001F. A model's U+009B (the one-byte CSI of
an escape sequence), a right-to-left override (U+202E) or a line separator would reach the terminal
that reads `baton show --json` raw and act on it there. `dumps` writes each of them as a `\\uXXXX`
escape, which `json.loads` turns back into the very same text, and redacts credentials as every other
writer does. Other non-ASCII text stays readable.
"""

from __future__ import annotations

import json
import re
from typing import Any

from baton.core.secrets import redact

_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""DEL and the C1 controls, bidi marks, embeddings, overrides and isolates, line and paragraph separators,
and lone surrogates (which cannot even be encoded as UTF-8). The C0 controls are escaped by `json`."""


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group(0)):04x}"


def _default(value: object) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    return str(value)


def dumps(value: Any, *, indent: int | None = None) -> str:
    """`value` as JSON with every terminal-unsafe character escaped and credentials redacted.

    The characters escaped can only occur inside JSON strings, so replacing them in the encoded text
    changes no structure: the result decodes to `value` (sets as sorted lists, other types as `str`).
    """
    text = json.dumps(value, ensure_ascii=False, default=_default, indent=indent)
    return redact(_UNSAFE.sub(_escape, text))
