"""A fixed-height view of the last lines of a growing text: the live part of an agent pane.

Appending wraps only the new characters (greedy word wrap is prefix-stable), so a frame costs the size of
what arrived since the last frame, not the size of the whole answer. When the view is full it jumps half
a page instead of scrolling line by line: between jumps only the rows that received text are repainted,
so sixteen streaming panes repaint a few rows a frame rather than every row. A resize rewraps once.
"""

from __future__ import annotations

from typing import Protocol

from rich.cells import cell_len, get_character_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

KEEP_LINES = 400
KEEP_CHARS = 64_000


class TextSource(Protocol):
    """A text that only grows within a generation (`tui.feed.PaneText`, `tui.transcript.PaneTranscript`)."""

    @property
    def generation(self) -> int:
        """Changes when the text started over."""
        ...

    @property
    def length(self) -> int:
        """Characters so far."""
        ...

    @property
    def text(self) -> str:
        """All of it."""
        ...


class TailView(Widget):
    """Word-wrapped plain text showing its end. Feed it inert text only."""

    DEFAULT_CSS = """
    TailView { height: 1fr; min-height: 1; }
    """

    def __init__(self, placeholder: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.placeholder = placeholder
        self.generation = -1
        self.shown_chars = 0
        self._source: list[str] = []
        self._source_chars = 0
        self._lines: list[str] = [""]
        self._trimmed = 0
        self._top = 0
        self._cur_width = 0
        self._wrap = 0
        self._style: Style | None = None
        self._strips: dict[str, Strip] = {}
        self.defer_jumps = False
        self.jump_pending = False

    # --- content ---------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """Everything kept (the tail of what was written, up to `KEEP_CHARS`)."""
        return "".join(self._source)

    @property
    def lines(self) -> list[str]:
        """The wrapped lines kept (for tests)."""
        return list(self._lines)

    def follow(self, source: TextSource) -> None:
        """Catch up with a growing text: append what is new, or redraw when it started over."""
        if self.generation != source.generation:
            self.generation = source.generation
            text = source.text
            self.set_text(text)
            self.shown_chars = len(text)
        elif source.length > self.shown_chars:
            self.append(source.text[self.shown_chars :])
            self.shown_chars = source.length

    def set_text(self, text: str) -> None:
        """Replace everything."""
        self._source = [text] if text else []
        self._source_chars = len(text)
        self._rewrap()
        self.refresh()

    def append(self, text: str) -> None:
        """Add text at the end; repaint only the rows it touched (or everything after a jump)."""
        if not text:
            return
        self._source.append(text)
        self._source_chars += len(text)
        if self._source_chars > 2 * KEEP_CHARS:
            kept = "".join(self._source)[-KEEP_CHARS:]
            self._source, self._source_chars = [kept], len(kept)
        if not self._wrap:
            return
        before = self._count()
        self._feed(text)
        after = self._count()
        height = self.size.height
        if before == 0 or height <= 0:
            self.refresh()
            return
        first = max(0, before - 1 - self._top)
        last = min(after, self._top + height) - self._top
        if last > first:
            self.refresh(Region(0, first, self.size.width, last - first))
        if after > self._top + height:
            if self.defer_jumps:
                self.jump_pending = True
            else:
                self.jump()

    def jump(self) -> None:
        """Move the view half a page so the last line shows (a full repaint)."""
        self.jump_pending = False
        height = self.size.height
        after = self._count()
        if height > 0 and after > self._top + height:
            self._top = after - (height + 1) // 2
            self.refresh()

    def _count(self) -> int:
        """Lines that hold text (a trailing empty line does not count), including trimmed ones."""
        lines = self._lines
        return self._trimmed + len(lines) - (1 if len(lines) > 1 and lines[-1] == "" else 0)

    # --- wrapping --------------------------------------------------------------------------------

    def _rewrap(self) -> None:
        self._lines, self._cur_width, self._trimmed = [""], 0, 0
        self._strips.clear()
        if self._wrap:
            self._feed("".join(self._source))
        self._top = max(0, self._count() - max(1, self.size.height))

    def _feed(self, text: str) -> None:
        width = self._wrap
        lines = self._lines
        cur, cw = lines[-1], self._cur_width
        for ch in text.replace("\t", "    "):
            if ch == "\n":
                lines[-1] = cur
                lines.append("")
                cur, cw = "", 0
                continue
            w = 1 if " " <= ch <= "~" else get_character_cell_size(ch)
            if cw + w > width:
                if ch == " ":
                    lines[-1] = cur
                    lines.append("")
                    cur, cw = "", 0
                    continue
                cut = cur.rfind(" ")
                if cut > 0:
                    lines[-1] = cur[:cut]
                    cur = cur[cut + 1 :]
                    cw = cell_len(cur)
                else:
                    lines[-1] = cur
                    cur, cw = "", 0
                lines.append(cur)
            cur += ch
            cw += w
        lines[-1] = cur
        self._cur_width = cw
        if len(lines) > 2 * KEEP_LINES:
            self._trimmed += len(lines) - KEEP_LINES
            del lines[: len(lines) - KEEP_LINES]

    def on_resize(self) -> None:
        width = max(1, self.size.width)
        if width != self._wrap:
            self._wrap = width
            self._rewrap()
        else:
            self._top = max(0, self._count() - max(1, self.size.height))
        self._strips.clear()
        self.refresh()

    # --- rendering -------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style = None
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self._style
        if style is None:
            style = self._style = self.rich_style
        if not self._source and self.placeholder:
            if y == 0:
                text = self.placeholder[:width]
                dim = style + Style(dim=True)
                return Strip([Segment(text, dim), Segment(" " * (width - cell_len(text)), style)], width)
            return Strip.blank(width, style)
        index = self._top + y - self._trimmed
        if index < 0 or self._top + y >= self._count():
            return Strip.blank(width, style)
        line = self._lines[index]
        strip = self._strips.get(line)
        if strip is not None and strip.cell_length == width:
            return strip
        used = cell_len(line)
        if used > width:
            strip = Strip([Segment(line, style)], used).crop(0, width)
        else:
            strip = Strip([Segment(line + " " * (width - used), style)], width)
        if len(self._strips) > 4 * max(self.size.height, 8):
            self._strips.clear()
        self._strips[line] = strip
        return strip
