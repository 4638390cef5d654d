"""A tool function's docstring, split into what the tool does and what each parameter means.

Authors document parameters in one of three common styles, and a model should see each description on its
parameter rather than in a block of prose: Google (`Args:` with `name (type): text` entries), Sphinx
(`:param name: text`, `:type name:` beside it) and NumPy (`Parameters` underlined with dashes, `name : type`
then indented text). Everything else in the docstring is the tool's description.
"""

from __future__ import annotations

import re

_GOOGLE_HEADER = re.compile(r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments):\s*$")
_GOOGLE_ENTRY = re.compile(r"^\*{0,2}([A-Za-z_]\w*)\s*(?:\([^)]*\))?\s*:(.*)$")
_NUMPY_HEADER = re.compile(r"^(Parameters|Other Parameters|Keyword Arguments)\s*$")
_NUMPY_RULE = re.compile(r"^-{3,}\s*$")
_NUMPY_ENTRY = re.compile(r"^\*{0,2}([A-Za-z_]\w*(?:\s*,\s*\*{0,2}[A-Za-z_]\w*)*)\s*(?::.*)?$")
_SPHINX_PARAM = re.compile(
    r"^:(?:param|parameter|arg|argument|key|keyword)\s+(?:[^:]*\s)?\*{0,2}([A-Za-z_]\w*)\s*:(.*)$"
)
_SPHINX_TYPE = re.compile(r"^:type\s+[A-Za-z_]\w*\s*:")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(the description without the parameter sections, parameter name → its description)."""
    lines = doc.expandtabs().splitlines()
    kept: list[str] = []
    params: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        text, indent = line.strip(), _indent(line)
        if _GOOGLE_HEADER.match(text):
            i = _google(lines, i + 1, indent, params)
        elif _NUMPY_HEADER.match(text) and i + 1 < len(lines) and _NUMPY_RULE.match(lines[i + 1].strip()):
            i = _numpy(lines, i + 2, indent, params)
        elif _SPHINX_PARAM.match(text) or _SPHINX_TYPE.match(text):
            i = _sphinx(lines, i, indent, params)
        else:
            kept.append(line)
            i += 1
    return _tidy(kept), params


def _google(lines: list[str], i: int, header: int, params: dict[str, str]) -> int:
    """Entries of an `Args:` section, which ends at the first line not indented past its header."""
    entry: int | None = None
    name = ""
    while i < len(lines):
        line = lines[i]
        if line.strip():
            indent = _indent(line)
            if indent <= header:
                break
            found = _GOOGLE_ENTRY.match(line.strip())
            if found and (entry is None or indent <= entry):
                entry, name = indent, found.group(1)
                _add(params, name, found.group(2))
            elif name:
                _add(params, name, line)
        i += 1
    return i


def _numpy(lines: list[str], i: int, header: int, params: dict[str, str]) -> int:
    """Entries of a NumPy `Parameters` section, which ends where the next underlined section starts."""
    names: list[str] = []
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and _NUMPY_RULE.match(lines[i + 1].strip()):
            break
        if line.strip():
            found = _NUMPY_ENTRY.match(line.strip())
            if _indent(line) <= header and found:
                names = [n.strip().lstrip("*") for n in found.group(1).split(",")]
            elif _indent(line) <= header:
                break
            else:
                for name in names:
                    _add(params, name, line)
        i += 1
    return i


def _sphinx(lines: list[str], i: int, field: int, params: dict[str, str]) -> int:
    """One `:param x:` (or `:type x:`) field with its continuation lines."""
    found = _SPHINX_PARAM.match(lines[i].strip())
    if found:
        _add(params, found.group(1), found.group(2))
    i += 1
    while i < len(lines) and lines[i].strip() and _indent(lines[i]) > field:
        if found:
            _add(params, found.group(1), lines[i])
        i += 1
    return i


def _add(params: dict[str, str], name: str, text: str) -> None:
    words = text.strip()
    if not words:
        params.setdefault(name, "")
        return
    params[name] = f"{params[name]} {words}" if params.get(name) else words


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _tidy(lines: list[str]) -> str:
    """Lines joined, without blank lines at the ends or runs of blank lines."""
    out: list[str] = []
    for line in lines:
        if line.strip() or (out and out[-1].strip()):
            out.append(line.rstrip())
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)
