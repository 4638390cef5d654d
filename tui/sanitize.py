"""Untrusted text made inert before it reaches a terminal.

Model, tool and file text may carry escape sequences (clear the screen, set the title or the
clipboard via OSC 52), C0/C1 control characters, or bidirectional overrides that reorder what a
reader sees. All of them become visible placeholders; newlines and tabs stay. The result is always
rendered as plain text, never parsed as markup.
"""

from __future__ import annotations

import re

_BIDI = {
    "\u202a": "LRE",
    "\u202b": "RLE",
    "\u202c": "PDF",
    "\u202d": "LRO",
    "\u202e": "RLO",
    "\u2066": "LRI",
    "\u2067": "RLI",
    "\u2068": "FSI",
    "\u2069": "PDI",
    "\u200e": "LRM",
    "\u200f": "RLM",
    "\u061c": "ALM",
}
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + "".join(_BIDI) + "]")


def _visible(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if ch in _BIDI:
        return f"⟨{_BIDI[ch]}⟩"
    if ch == "\x1b":
        return "␛"
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "␡"
    return f"⟨{code:#04x}⟩"


def inert(text: object) -> str:
    """`text` with every control, escape and bidi override made visible (newline and tab kept)."""
    value = text if isinstance(text, str) else str(text)
    value = value.replace("\r\n", "\n")
    if not _UNSAFE.search(value):
        return value
    return _UNSAFE.sub(_visible, value)


def one_line(text: object, width: int = 80) -> str:
    """Inert, on one line, cut to `width` with an ellipsis."""
    value = inert(text).replace("\n", " ⏎ ").replace("\t", " ")
    return value if len(value) <= width else value[: max(0, width - 1)] + "…"
