"""Reading what a Textual app shows, through its public screenshot export (SVG → lines of text)."""

from __future__ import annotations

import html
import re
from collections import defaultdict

from textual.app import App

_TEXT = re.compile(r"<text ([^>]*)>(.*?)</text>", re.S)
_ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')


def svg_text(svg: str) -> str:
    """The characters of an exported screenshot, one line per terminal row, placed by column."""
    rows: dict[float, list[tuple[float, str]]] = defaultdict(list)
    cell = 0.0
    for match in _TEXT.finditer(svg):
        attrs = dict(_ATTR.findall(match.group(1)))
        if "textLength" not in attrs or "clip-path" not in attrs:
            continue
        body = html.unescape(re.sub(r"<[^>]+>", "", match.group(2))).replace("\xa0", " ")
        if body and not cell:
            cell = float(attrs["textLength"]) / len(body)
        rows[float(attrs["y"])].append((float(attrs["x"]), body))
    lines = []
    for y in sorted(rows):
        line = ""
        for x, body in sorted(rows[y]):
            column = round(x / cell) if cell else len(line)
            line = line.ljust(column) + body
        lines.append(line.rstrip())
    return "\n".join(lines)


def screen_text(app: App[object]) -> str:
    """What the app's screen shows now, as text."""
    return svg_text(app.export_screenshot())
