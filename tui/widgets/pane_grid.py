"""The grid of agent panes, a window at a time: 4 panes, or 16 in the compact grid (a 16-branch fan-out
fits on one screen). While it follows the run the window ends at the newest agents; paging moves it.

Panes are mounted once, when their agent first runs, and shown or hidden with the window; the screen's
frame timer only touches the shown ones.
"""

from __future__ import annotations

from textual.containers import Container
from textual.content import Content

from baton.tui.widgets.agent_pane import AgentPane

PAGE = 4
COMPACT_PAGE = 16
SIZE_CLASSES = (0, 1, 2, 4, 9, 16)


class PaneGrid(Container):
    """Agent panes in start order; a window of `page_size` of them is shown."""

    def __init__(self, *, naive: bool = False, id: str | None = None) -> None:
        super().__init__(id=id, classes="-n0")
        self.naive = naive
        self.compact = False
        self.start = 0
        self.follow = True
        self.panes: dict[str, AgentPane] = {}
        self.order: list[str] = []

    @property
    def page_size(self) -> int:
        """Panes shown at once."""
        return COMPACT_PAGE if self.compact else PAGE

    def add(self, step: str) -> AgentPane:
        """A pane for a newly seen agent (shown if it falls in the window)."""
        pane = AgentPane(step, naive=self.naive)
        self.panes[step] = pane
        self.order.append(step)
        index = len(self.order) - 1
        pane.display = self.start <= index < self.start + self.page_size
        self.mount(pane)
        self._size_class()
        return pane

    def index_of(self, step: str) -> int:
        """Where a step's pane is in start order (-1 when it has none)."""
        return self.order.index(step) if step in self.order else -1

    def show_window(self, start: int) -> None:
        """Show `page_size` panes from `start` (clamped)."""
        self.start = max(0, min(start, len(self.order) - self.page_size))
        end = self.start + self.page_size
        for index, step in enumerate(self.order):
            shown = self.start <= index < end
            if self.panes[step].display != shown:
                self.panes[step].display = shown
        self._size_class()

    def reveal(self, step: str, latest: bool) -> bool:
        """Move the window so `step` is shown (ending at the newest pane when `latest`); True if it moved."""
        index = self.index_of(step)
        before = self.start
        if latest:
            start = max(0, len(self.order) - self.page_size)
            if index >= 0 and index < start:
                start = index
        elif index < 0 or self.start <= index < self.start + self.page_size:
            return False
        else:
            start = index - index % self.page_size
        self.show_window(start)
        return self.start != before

    def page(self, delta: int) -> None:
        """Move the window by whole pages."""
        self.show_window(self.start + delta * self.page_size)
        self.follow = self.start + self.page_size >= len(self.order)

    def set_compact(self, compact: bool) -> None:
        """Switch between 4 and 16 panes at once, keeping the first shown pane on screen."""
        self.compact = compact
        self.set_class(compact, "-compact")
        self.show_window(self.start)

    def shown_panes(self) -> list[AgentPane]:
        """Panes in the window."""
        return [self.panes[s] for s in self.order[self.start : self.start + self.page_size]]

    def _size_class(self) -> None:
        shown = len(self.shown_panes())
        bucket = next(n for n in SIZE_CLASSES if shown <= n)
        wanted = f"-n{min(bucket, 4) if not self.compact else bucket}"
        if self.has_class(wanted):
            return
        for n in SIZE_CLASSES:
            self.remove_class(f"-n{n}")
        self.add_class(wanted)

    def label(self) -> Content:
        """`agents 5–8 of 16 · compact` for the grid's border."""
        n = len(self.order)
        mode = " · compact" if self.compact else ""
        if n > self.page_size:
            last = min(n, self.start + self.page_size)
            return Content(f"agents {self.start + 1}–{last} of {n} · [ ] to page{mode}")
        return Content(f"{n} agent{'s' if n != 1 else ''}{mode}")
