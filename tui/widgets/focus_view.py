"""The focused agent, larger: live text (a tool-calling agent's transcript) while it runs, its finished
output rendered as Markdown; one of its tool calls in full when a person asks for it; once the session is
over and no step is chosen, the session's result.

Text streams as plain text; Markdown is rendered only once the output is final, once per text and width
(`MarkdownView`'s cache), so switching agents and zooming reuse what was rendered."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from baton.core.view import StepView
from baton.tui.feed import PaneText
from baton.tui.sanitize import inert, one_line
from baton.tui.transcript import PaneTranscript
from baton.tui.values import yaml_text
from baton.tui.widgets.agent_pane import pane_status, pane_title
from baton.tui.widgets.markdown_view import MarkdownView
from baton.tui.widgets.tail import TailView


def output_markdown(output: object) -> str:
    """A finished output as Markdown source (inert; structured outputs as a YAML block)."""
    if isinstance(output, str):
        return inert(output)
    return "```yaml\n" + inert(yaml_text(output)) + "\n```"


class FocusView(Vertical):
    """Follows one step: `TailView` while streaming, `MarkdownView` once its output is final."""

    DEFAULT_CSS = """
    FocusView #focus-final, FocusView #focus-call { display: none; }
    FocusView.-final #focus-final { display: block; }
    FocusView.-final #focus-live { display: none; }
    FocusView.-call #focus-call { display: block; }
    FocusView.-call #focus-live, FocusView.-call #focus-final { display: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.step = ""
        self._final_key: tuple[str, int, str] | None = None
        self._title: Content | None = None
        self._subtitle: Content | None = None
        self._call: str | None = None

    def compose(self) -> ComposeResult:
        yield TailView("choose an agent: click a pane, or pick a step in the tree", id="focus-live")
        yield MarkdownView(id="focus-final")
        with VerticalScroll(id="focus-call"):
            yield Static(id="focus-call-body")

    def show_result(self, title: str, markdown: str) -> None:
        """The session's result (Markdown, already inert), in full and scrollable."""
        key = ("\x00result", 0, f"{len(markdown)}:{hash(markdown)}")
        if key != self._final_key:
            self._final_key = key
            self.step = ""
            self.query_one("#focus-final", MarkdownView).update(markdown)
        content = Content.assemble(("result", "bold"), f" · {one_line(title, 60)}")
        if content != self._title:
            self._title = self.border_title = content
        if self._subtitle != Content(""):
            self._subtitle = self.border_subtitle = Content("")
        self.remove_class("-call")
        self.add_class("-final")

    def show_call(self, detail: str) -> None:
        """One tool call in full (inert text: its line, where it comes from, the arguments, the result)."""
        if detail != self._call:
            self._call = detail
            self.query_one("#focus-call-body", Static).update(Content(detail))
        self.add_class("-call")

    def show(
        self,
        path: str,
        pane: PaneText | PaneTranscript | None,
        step: StepView | None,
        title: str = "",
        loop: str = "",
        call: str | None = None,
    ) -> None:
        """Follow `path`; stream its text (or transcript), render its finished output, or show one of its
        tool calls in full (`call`, its detail)."""
        live = self.query_one("#focus-live", TailView)
        if path != self.step or (self._final_key or ("",))[0] == "\x00result":
            self.step = path
            live.generation = -1
            self._final_key = None
        heading = pane_title(title or path, step.model if step else "", 60, loop) if path else Content("focus")
        if heading != self._title:
            self._title = self.border_title = heading
        subtitle = pane_status(step) if pane is not None else Content("")
        if subtitle != self._subtitle:
            self._subtitle = self.border_subtitle = subtitle
        if call is not None:
            self.show_call(call)
            return
        self.remove_class("-call")
        finished = step is not None and step.status in ("completed", "degraded", "awaiting") and step.output is not None
        if finished and step is not None:
            shown = str(step.output)
            key = (path, step.round, shown[:64] + str(len(shown)))
            if key != self._final_key:
                self._final_key = key
                self.query_one("#focus-final", MarkdownView).update(output_markdown(step.output))
            self.add_class("-final")
            return
        self.remove_class("-final")
        if pane is None:
            if live.generation != -2:
                live.generation = -2
                live.set_text("")
            return
        live.follow(pane)
