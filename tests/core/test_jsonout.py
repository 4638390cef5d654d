"""The one JSON encoder of every JSON writer: nothing a terminal would act on is written raw."""

from __future__ import annotations

import json

from baton.core.jsonout import dumps

C0 = "".join(chr(c) for c in range(0x20))
UNSAFE = (
    "\x7f"
    + "".join(chr(c) for c in range(0x80, 0xA0))
    + "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def test_every_control_bidi_and_separator_is_escaped_and_reads_back() -> None:
    text = f"csi \x9b31m rlo \u202eevil osc \x1b]52;c;aGk=\x07 {C0} {UNSAFE} lone \udcff end"
    value = {"text": text, "nested": [{"k": text}], text: 1}
    for indent in (None, 1):
        out = dumps(value, indent=indent)
        assert not set(out) & set(C0.replace("\n", "") + UNSAFE + "\udcff"), "no raw control reaches the terminal"
        assert "\\u009b" in out and "\\u202e" in out and "\\u001b" in out
        assert json.loads(out) == value, "escaping changes nothing a JSON reader sees"


def test_other_text_stays_readable() -> None:
    out = dumps({"t": "café 日本語 — ok ✓"})
    assert out == '{"t": "café 日本語 — ok ✓"}'


def test_credentials_are_redacted_and_odd_values_written() -> None:
    out = dumps({"key": "sk-proj-abcdefghijklmnopqrstuvwx", "tags": {"b", "a"}, "pair": (1, 2), "obj": object})
    data = json.loads(out)
    assert data["key"] == "[redacted]"
    assert data["tags"] == ["a", "b"] and data["pair"] == [1, 2] and data["obj"] == "<class 'object'>"
