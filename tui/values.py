"""Values shown and edited as text: a string is its own text (prose keeps its line breaks, never `\\n`
escapes); anything else is YAML, parsed back with the error's line and column.

Several values in one file (line mode's `$EDITOR`, `baton decide --edited`) use one section per key:

    === draft ===
    The brief, as plain text.

    === tags (YAML) ===
    - grid
    - storage

Lines before the first section are ignored; a section left out keeps its value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

SECTION_RE = re.compile(r"^=== (?P<key>.+?)(?P<yaml> \(YAML\))? ===$")
PREAMBLE = "# One section per value: plain text under '=== key ===', YAML under '=== key (YAML) ==='.\n"


class ValueInvalid(ValueError):
    """Text that does not parse back into a value; the message says where and why."""


@dataclass(frozen=True)
class ValueField:
    """One value to edit: a string is edited as text, anything else as YAML."""

    key: str
    value: Any
    text_kind: bool

    @property
    def text(self) -> str:
        """The text a person edits."""
        if self.text_kind:
            return "" if self.value is None else as_text(self.value)
        return yaml_text(self.value)

    @property
    def label(self) -> str:
        """`draft`, or `tags (YAML)`."""
        return self.key if self.text_kind else f"{self.key} (YAML)"

    @property
    def hint(self) -> str:
        """Said beside the field's name in an editor: how its text is read."""
        return "" if self.text_kind else "  — YAML (JSON works too)"

    @property
    def language(self) -> str | None:
        """The editor's syntax highlighting for it (None: plain text)."""
        return None if self.text_kind else "yaml"

    def parse(self, text: str) -> Any:
        """The value a person's text stands for (`ValueInvalid` when YAML does not parse)."""
        if self.text_kind:
            return text
        return parse_yaml(text, self.key)

    def changed(self, text: str) -> bool:
        """Whether `text` differs from the value (trailing newlines do not count)."""
        return text.rstrip("\n") != self.text.rstrip("\n")


class _Dumper(yaml.SafeDumper):
    """Block style, and multi-line strings as `|` blocks (readable, editable)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def yaml_text(value: Any) -> str:
    """A value as YAML a person edits (a scalar on one line; lists and mappings in block style)."""
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    text = yaml.dump(value, Dumper=_Dumper, allow_unicode=True, sort_keys=False, default_flow_style=False, width=100)
    return text.removesuffix("...\n").rstrip("\n")


def as_text(value: Any) -> str:
    """A string as itself; anything else as YAML."""
    return value if isinstance(value, str) else yaml_text(value)


def parse_yaml(text: str, key: str = "") -> Any:
    """YAML text → a value, or `ValueInvalid` with `line L, column C` (empty text is null)."""
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        prefix = f"{key}: " if key else ""
        raise ValueInvalid(f"{prefix}{where}{problem} (YAML)") from None


def declared_types(workflow_text: str) -> dict[str, str]:
    """State key → declared type, read from a session's workflow text (empty when unreadable)."""
    try:
        data = yaml.safe_load(workflow_text) if workflow_text else None
    except yaml.YAMLError:
        return {}
    state = data.get("state") if isinstance(data, dict) else None
    out: dict[str, str] = {}
    for key, decl in state.items() if isinstance(state, dict) else ():
        kind = decl.get("type") if isinstance(decl, dict) else decl
        if isinstance(key, str) and isinstance(kind, str):
            out[key] = kind.strip()
    return out


def fields_for(values: Mapping[str, Any], types: Mapping[str, str] | None = None) -> list[ValueField]:
    """One field per key: text for strings (and keys declared `str`), YAML for the rest."""
    out = []
    for key, value in values.items():
        declared = (types or {}).get(key, "")
        text_kind = declared == "str" or (declared in ("", "any") and isinstance(value, str))
        out.append(ValueField(str(key), value, text_kind))
    return out


def document(fields: list[ValueField]) -> str:
    """The text of several values for one editor file (one value alone is just its text)."""
    if len(fields) == 1:
        return fields[0].text
    sections = [f"=== {f.label} ===\n{f.text}\n" for f in fields]
    return PREAMBLE + "\n" + "\n".join(sections)


def parse_document(fields: list[ValueField], text: str) -> dict[str, str]:
    """The text of each field in an editor file (`ValueInvalid` for an unknown or repeated section)."""
    if len(fields) == 1:
        return {fields[0].key: text}
    known = {f.key: f for f in fields}
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = SECTION_RE.match(line)
        if match is None:
            if current is not None:
                current.append(line)
            continue
        key = match.group("key")
        if key not in known:
            raise ValueInvalid(f"line {number}: unknown section '{key}' (sections: {', '.join(known)})")
        if key in out:
            raise ValueInvalid(f"line {number}: section '{key}' appears twice")
        current = out[key] = []
    return {key: "\n".join(lines).rstrip("\n") for key, lines in out.items()}
