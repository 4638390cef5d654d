"""A finished output rendered as Markdown: once per text and width, drawn a line at a time, and only as far
as it is looked at.

Rendering a 10,000-token answer whole takes ~100 ms (more on a busy machine): too long for the frame that
answers a key. So the text is split into top-level blocks (at blank lines outside fenced code and indented
continuations) and a block is rendered when a line of it first comes into view; the rest renders a few
blocks at a time between frames (the scroll area grows once, at the end: each change of its size costs a
layout of the whole screen). Renders are kept by text, width and style (`MarkdownCache`): going back to
an agent, or zooming in and out, reuses them.

The text is inert already (`tui.sanitize`); Rich's Markdown never reads console markup, and links show
their address rather than becoming terminal hyperlinks.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token
from rich.console import Console
from rich.markdown import Markdown
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

SLICE_S = 0.006
"""Rendering done at once, beyond what is in view."""
BETWEEN_S = 0.03
"""Pause between two slices of background rendering (the frames and keys go in between)."""
CACHE_ENTRIES = 24
FENCES = ("```", "~~~")
PARSER = MarkdownIt().enable("strikethrough").enable("table")
"""One parser for every block (Rich's `Markdown` builds a new one per text, which costs more than a
paragraph's parse)."""


class _Block(Markdown):
    """Rich's Markdown over source parsed by the shared parser; links show their address."""

    def __init__(self, markup: str, parsed: list[Token]) -> None:
        self.markup = markup
        self.parsed = parsed
        self.code_theme = self.inline_code_theme = "monokai"
        self.justify = None
        self.style = "none"
        self.hyperlinks = False
        self.inline_code_lexer = None


def markdown_blocks(text: str) -> list[str]:
    """Top-level blocks of Markdown source: split at blank lines, except inside fenced code or before an
    indented line (a list item's continuation, indented code)."""
    blocks: list[str] = []
    current: list[str] = []
    fence = ""
    for line in text.split("\n"):
        stripped = line.lstrip()
        if fence:
            current.append(line)
            if stripped.startswith(fence):
                fence = ""
            continue
        if line.strip() and current and not current[-1].strip() and not line[:1].isspace():
            blocks.append("\n".join(current).strip("\n"))
            current = []
        if stripped.startswith(FENCES):
            fence = stripped[:3]
        if line.strip() or current:
            current.append(line)
    if current:
        blocks.append("\n".join(current).strip("\n"))
    return [b for b in blocks if b.strip()]


@dataclass(eq=False)
class Blocks:
    """A text's top-level blocks, each parsed when first rendered (at any width)."""

    texts: list[str]
    parsed: list[list[Token] | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def tokens(self, index: int) -> list[Token]:
        """Block `index`, parsed."""
        if not self.parsed:
            self.parsed = [None] * len(self.texts)
        found = self.parsed[index]
        if found is None:
            found = self.parsed[index] = PARSER.parse(self.texts[index])
        return found


@dataclass(eq=False)
class Rendered:
    """One text at one width and style: its blocks, and the lines of those rendered so far."""

    blocks: Blocks
    width: int
    style: Style
    strips: list[Strip] = field(default_factory=list)
    done: int = 0
    """Blocks rendered."""

    @property
    def complete(self) -> bool:
        """Every block is rendered."""
        return self.done >= len(self.blocks)

    def render(self, console: Console, lines: int = 0, budget_s: float = 0.0) -> bool:
        """Render blocks until there are `lines` lines, then for `budget_s` more; True if any were added."""
        deadline = None
        added = False
        while not self.complete:
            if len(self.strips) >= lines:
                if deadline is None:
                    deadline = time.perf_counter() + budget_s
                if time.perf_counter() >= deadline:
                    break
            self._render_block(console)
            added = True
        return added

    def _render_block(self, console: Console) -> None:
        index = self.done
        self.done += 1
        options = console.options.update(width=self.width, height=None, highlight=False)
        block = _Block(self.blocks.texts[index], self.blocks.tokens(index))
        lines = console.render_lines(block, options, style=self.style, pad=True)
        while lines and _blank(lines[-1]):
            lines.pop()
        if self.strips:
            self.strips.append(Strip.blank(self.width, self.style))
        self.strips.extend(Strip(line, self.width) for line in lines)


def _blank(line: list[Segment]) -> bool:
    return not "".join(segment.text for segment in line).strip()


class MarkdownCache:
    """The last few renders, by text, width and style: the same arguments give the same `Rendered`."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self.entries = entries
        self._renders: OrderedDict[tuple[str, int, Style], Rendered] = OrderedDict()
        self._blocks: OrderedDict[str, Blocks] = OrderedDict()

    def get(self, text: str, width: int, style: Style) -> Rendered:
        """The render of `text` at `width` in `style` (started if new; possibly not complete)."""
        key = (text, width, style)
        found = self._renders.get(key)
        if found is not None:
            self._renders.move_to_end(key)
            return found
        blocks = self._blocks.get(text)
        if blocks is None:
            blocks = self._blocks[text] = Blocks(markdown_blocks(text))
            while len(self._blocks) > self.entries:
                self._blocks.popitem(last=False)
        rendered = self._renders[key] = Rendered(blocks, width, style)
        while len(self._renders) > self.entries:
            self._renders.popitem(last=False)
        return rendered


SHARED = MarkdownCache()


class MarkdownView(ScrollView):
    """Scrollable Markdown (inert source), rendered lazily and cached."""

    DEFAULT_CSS = """
    MarkdownView { height: 1fr; overflow-x: hidden; overflow-y: auto; scrollbar-gutter: stable; }
    """

    def __init__(self, cache: MarkdownCache | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cache = cache if cache is not None else SHARED
        self.source = ""
        self.rendered: Rendered | None = None
        self._base: Style | None = None
        self._timer: Timer | None = None

    def update(self, markdown: str) -> None:
        """Show `markdown` from its top."""
        if markdown == self.source:
            return
        self.source = markdown
        self.rendered = None
        self.scroll_to(0, 0, animate=False, immediate=True)
        self._sync()

    def _current(self) -> Rendered | None:
        width = self.size.width
        if width <= 0 or not self.source:
            return None
        if self._base is None:
            self._base = self.rich_style
        found = self.rendered
        if found is None or found.width != width or found.style != self._base:
            found = self.rendered = self.cache.get(self.source, width, self._base)
        return found

    def _sync(self) -> None:
        """Render what is in view (and a little more), size the scroll area, keep rendering the rest
        between frames."""
        if not self.is_mounted:
            return
        found = self._current()
        if found is None:
            self.virtual_size = Size(0, 0)
            self.refresh()
            return
        found.render(self.app.console, self.scroll_offset.y + self.size.height + 1, SLICE_S)
        self.virtual_size = Size(found.width, len(found.strips))
        self.refresh()
        self._later(found)

    def _later(self, found: Rendered) -> None:
        if not found.complete and self._timer is None:
            self._timer = self.set_timer(BETWEEN_S, self._more)

    def _more(self) -> None:
        self._timer = None
        found = self._current()
        if found is None:
            return
        found.render(self.app.console, 0, SLICE_S)
        # A new scroll extent costs a layout of the whole screen: once at the end, or sooner when the
        # reader scrolled near the end of what is rendered.
        top = self.scroll_offset.y
        near_end = top > 0 and top + 2 * self.size.height >= self.virtual_size.height
        if found.complete or near_end:
            self.virtual_size = Size(found.width, len(found.strips))
        self._later(found)

    def on_resize(self) -> None:
        self._sync()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base = None
        if self.is_mounted:
            self._sync()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        found = self.rendered
        index = scroll_y + y
        if found is None or index >= len(found.strips):
            return Strip.blank(width, self.rich_style)
        return found.strips[index].crop_extend(scroll_x, scroll_x + width, self.rich_style)
