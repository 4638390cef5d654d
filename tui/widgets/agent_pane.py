"""One agent's pane: its live text (a tool-calling agent's transcript), with who it is and what it costs on
the border (a tool-calling agent's turn and running cost in its title)."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Log

from baton.core.economics import usd
from baton.core.view import StepView
from baton.tui.feed import PaneText
from baton.tui.sanitize import inert, one_line
from baton.tui.transcript import PaneTranscript
from baton.tui.widgets.tail import TailView

STATUS_CLASSES = (
    "-pending",
    "-running",
    "-awaiting",
    "-completed",
    "-degraded",
    "-failed",
    "-skipped",
    "-cancelled",
)


def pane_title(step: str, model: str, width: int = 40, loop: str = "") -> Content:
    """`research/papers · strong`, with `· turn 3 · $0.0012` for a tool-calling agent (inert)."""
    parts: list[str | tuple[str, str]] = [one_line(step, width)]
    if model:
        parts.append((f" · {one_line(model, 16)}", "dim"))
    if loop:
        parts.append((f" · {loop}", "bold"))
    return Content.assemble(*parts)


def pane_status(view: StepView | None) -> Content:
    """`completed · 25→191 tok · $0.0029` on the bottom border (nothing that changes per token: a border
    change repaints the whole pane)."""
    if view is None:
        return Content("waiting")
    parts = [view.status]
    if view.tokens_out or view.tokens_in:
        parts.append(f"{view.tokens_in}→{view.tokens_out} tok")
    if view.tokens_out or view.cost_usd or view.cost_unknown:
        parts.append(usd(view.cost_usd, view.cost_unknown))
    if view.retries:
        parts.append(f"{view.retries} retr{'ies' if view.retries != 1 else 'y'}")
    return Content(" · ".join(parts))


class AgentPane(Vertical):
    """A live agent: streamed text (coalesced by the screen's frame timer), status on the border."""

    DEFAULT_CSS = """
    AgentPane { height: 1fr; min-height: 4; }
    """

    class Chosen(Message):
        """The person clicked this pane."""

        def __init__(self, step: str) -> None:
            super().__init__()
            self.step = step

    def __init__(self, step: str, *, naive: bool = False) -> None:
        super().__init__(classes="-pending")
        self.step = step
        self.naive = naive
        self.status = "pending"
        self._title_key: tuple[str, str, str] = ("", "", "")
        self._status_key: Content | None = None
        self._tail = TailView("waiting for the first token…")
        self._tail.defer_jumps = True
        self._log = Log(max_lines=400) if naive else None
        self._early: list[str] = []

    def compose(self) -> ComposeResult:
        yield self._log if self._log is not None else self._tail

    @property
    def tail(self) -> TailView:
        """The live text view (it exists before the pane is mounted, so a first frame can fill it)."""
        return self._tail

    def show_text(self, pane: PaneText | PaneTranscript) -> None:
        """Bring the live text (or transcript) up to date: only what arrived since the last frame is
        appended."""
        if self.naive:
            return
        tail = self.tail
        tail.follow(pane)
        note = pane.note if isinstance(pane, PaneText) else pane.pane.note
        if note and not pane.length:
            tail.placeholder = note

    def shown_text(self) -> str:
        """What the pane holds now (the benchmark checks it against the call's final text)."""
        if self._log is not None:
            return "\n".join(self._log.lines)
        return self.tail.text

    def write_now(self, text: str) -> None:
        """The naive reference: one widget write per token (only `bench/tui_stream.py` uses it)."""
        if self._log is None:
            return
        if self._log.is_mounted:
            self._log.write(inert(text))
        else:
            self._early.append(inert(text))

    def on_mount(self) -> None:
        if self._log is not None:
            self.call_after_refresh(self._write_early)

    def _write_early(self) -> None:
        if self._log is not None and self._early:
            self._log.write("".join(self._early))
            self._early.clear()

    def show_step(self, view: StepView | None, title: str = "", loop: str = "") -> None:
        """Status class, title (`title`, else the step's path; a tool loop's `turn 3 · $0.0012`) and bottom
        line."""
        status = view.status if view is not None else "pending"
        if status != self.status:
            self.remove_class(f"-{self.status}")
            self.add_class(f"-{status}")
            self.status = status
        key = (title or self.step, view.model if view else "", loop)
        if key != self._title_key:
            self._title_key = key
            self.border_title = pane_title(key[0], key[1], loop=loop)
        subtitle = pane_status(view)
        if subtitle != self._status_key:
            self._status_key = subtitle
            self.border_subtitle = subtitle

    def set_focused(self, focused: bool) -> None:
        """The pane the focus view and inspector follow."""
        self.set_class(focused, "-focused")

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Chosen(self.step))
