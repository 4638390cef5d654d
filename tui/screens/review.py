"""The Review screen: one checkpoint with everything needed to decide, and the inbox of all waiting ones.

Approve is one key. Edit opens a TextArea (or `$EDITOR`), reject asks for feedback, reroute and retry
offer pickers (retry shows the forecast cost per model). The session keeps running underneath: other
branches go on, and a checkpoint decided elsewhere leaves the screen on its own.
"""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from baton.core.view import CheckpointView
from baton.tui import decisions
from baton.tui.keymap import binding
from baton.tui.sanitize import inert, one_line
from baton.tui.screens.dialogs import Field, FormScreen, PickerScreen, TextEditScreen

if TYPE_CHECKING:
    from baton.tui.screens.run import RunScreen

OUTPUT_HIDDEN = ("step_mode", "breakpoint", "cost", "budget")
Part = str | tuple[str, str]


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def checkpoint_content(cp: CheckpointView, session: RunScreen) -> Content:
    """What a person reads before deciding: context, output, reasoning, prompt, forecasts."""
    parts: list[Part] = []
    lines = decisions.context_lines(cp, session.feed.view)
    parts += [(lines[0], "bold"), "\n"]
    for line in lines[1:]:
        parts += [line, "\n"]
    ctx = cp.context
    if cp.reason == "gate" and isinstance(ctx.get("reads"), dict) and ctx["reads"]:
        for key, value in ctx["reads"].items():
            text = value if isinstance(value, str) else _json(value)
            parts += [(f"\n── {inert(key)} ──\n", "dim"), inert(text), "\n"]
    if cp.reason in ("before_tool", "ambiguous") and ctx.get("args") is not None:
        parts += [("\n── arguments ──\n", "dim"), inert(_json(ctx["args"])), "\n"]
    if ctx.get("error"):
        parts += [("\n── error ──\n", "dim"), (inert(ctx["error"]), "$agent-failed"), "\n"]
    if cp.output is not None and cp.reason not in OUTPUT_HIDDEN and cp.reason != "gate":
        text = cp.output if isinstance(cp.output, str) else _json(cp.output)
        parts += [("\n── output ──\n", "dim"), inert(text), "\n"]
    if cp.reasoning:
        parts += [("\n── reasoning ──\n", "dim"), (inert(cp.reasoning), "italic"), "\n"]
    if cp.reason in OUTPUT_HIDDEN and ctx.get("prompt"):
        parts += [("\n── prompt ──\n", "dim"), inert(str(ctx["prompt"])), "\n"]
    if cp.forecasts:
        parts.append(("\n── forecast cost of a call, per model ──\n", "dim"))
        for alias in cp.forecasts:
            parts.append(f"{one_line(alias, 20):20} {decisions.forecast_text(cp, alias)}\n")
    return Content.assemble(*parts)


class ReviewScreen(ModalScreen[None]):
    """Decide on waiting checkpoints, one at a time, while the run goes on."""

    CSS_PATH = "review.tcss"
    BINDINGS = [
        binding("a", "decide('approve')", "approve", "review.approve", "Accept and go on"),
        binding("e", "edit", "edit", "review.edit", "Edit in place, then send the edit"),
        binding("E", "edit_external", "$EDITOR", "review.editor", "Edit in $VISUAL or $EDITOR"),
        binding("r", "reject", "reject", "review.reject", "Run the step again with your feedback"),
        binding("R", "reroute", "reroute", "review.reroute", "Go to another step the workflow allows"),
        binding("m", "retry_model", "other model", "review.retry_model", "Run it again on another model"),
        binding("s", "skip", "skip", "review.skip", "Skip the step"),
        binding("p", "decide('pause')", "pause", "review.pause", "Pause the session here; resume later"),
        binding("n", "next", "next", "review.next", "The next waiting checkpoint"),
        binding("escape", "later", "later", "review.later", "Back to the run; decide later"),
    ]

    def __init__(self, session: RunScreen, checkpoint_id: str) -> None:
        super().__init__()
        self.session = session
        self.checkpoint_id = checkpoint_id
        self.busy = False
        self.decided: set[str] = set()
        self._inbox_key: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        with Vertical(id="review"):
            yield Static(id="review-title")
            with Horizontal(id="review-main"):
                yield OptionList(id="inbox")
                with VerticalScroll(id="review-body"):
                    yield Static(id="review-content")
            yield Static(id="review-menu")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#inbox", OptionList).border_title = "inbox"
        self.show()
        self.query_one("#review-body", VerticalScroll).focus()

    @property
    def cp(self) -> CheckpointView | None:
        """The checkpoint on screen, while it is still open."""
        cp = self.session.feed.view.checkpoints.get(self.checkpoint_id)
        return cp if cp is not None and cp.is_open and self.checkpoint_id not in self.decided else None

    def waiting(self) -> list[CheckpointView]:
        """Open checkpoints not decided from this screen yet."""
        return [c for c in self.session.feed.view.open_checkpoints if c.checkpoint_id not in self.decided]

    def show(self) -> None:
        """Draw the checkpoint and the inbox."""
        cp = self.cp
        waiting = self.waiting()
        if cp is None:
            return
        index = next((i for i, c in enumerate(waiting) if c.checkpoint_id == cp.checkpoint_id), 0)
        what = decisions.REASONS.get(cp.reason, cp.reason)
        title = f"checkpoint {index + 1}/{len(waiting)} · {what} · {one_line(cp.step, 50)}"
        self.query_one("#review-title", Static).update(Content(title))
        self.query_one("#review-content", Static).update(checkpoint_content(cp, self.session))
        menu = decisions.menu(cp) + ("  [n] next" if len(waiting) > 1 else "") + "  [esc] later"
        self.query_one("#review-menu", Static).update(Content(menu))
        self._show_inbox(waiting)
        self.refresh_bindings()

    def _show_inbox(self, waiting: list[CheckpointView]) -> None:
        inbox = self.query_one("#inbox", OptionList)
        key = tuple(c.checkpoint_id for c in waiting)
        self.session.seen_checkpoints.update(key)
        if key != self._inbox_key:
            self._inbox_key = key
            inbox.clear_options()
            for cp in waiting:
                label = Content.assemble((one_line(cp.step, 28), "bold"), ("\n" + cp.reason, "dim"))
                inbox.add_option(Option(label, id=cp.checkpoint_id))
        ids = list(key)
        if self.checkpoint_id in ids:
            inbox.highlighted = ids.index(self.checkpoint_id)

    def feed_changed(self) -> None:
        """The run moved on: follow it (a checkpoint decided elsewhere leaves by itself)."""
        if self.busy or not self.is_mounted:
            return
        if self.cp is None:
            if self.checkpoint_id not in self.decided:
                self.notify("decided elsewhere, or the step ended", markup=False)
                self.decided.add(self.checkpoint_id)
            self._advance()
            return
        self._show_inbox(self.waiting())

    def _advance(self) -> None:
        waiting = self.waiting()
        if not waiting:
            self.dismiss(None)
            return
        self.checkpoint_id = waiting[0].checkpoint_id
        self.show()

    @on(OptionList.OptionSelected, "#inbox")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id and event.option.id != self.checkpoint_id:
            self.checkpoint_id = event.option.id
            self.show()

    # --- which keys apply ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        cp = self.cp
        needed = {
            "edit": "edit",
            "edit_external": "edit",
            "reject": "reject",
            "reroute": "reroute",
            "retry_model": "retry_model",
            "skip": "skip",
        }
        if action == "decide":
            option = str(parameters[0]) if parameters else ""
            return None if cp is None or option not in cp.options else not self.busy
        if action in needed:
            return None if cp is None or needed[action] not in cp.options else not self.busy
        if action == "next":
            return len(self.waiting()) > 1
        return True

    # --- deciding --------------------------------------------------------------------------------

    def action_decide(self, option: str, **details: Any) -> None:
        """Send a decision on the checkpoint on screen."""
        cp = self.cp
        if cp is None or option not in cp.options or self.busy:
            return
        self.busy = True
        self._send(cp, option, details)

    @work(exclusive=True, group="decide", exit_on_error=False, description="send a decision")
    async def _send(self, cp: CheckpointView, option: str, details: dict[str, Any]) -> None:
        try:
            command = decisions.build(cp, option, self.session.baton.by, **details)
            verdict = await decisions.send_and_wait(self.session.bus, command)
        finally:
            self.busy = False
        if not verdict.ok:
            self.notify(f"refused: {inert(verdict.reason)}", severity="error", markup=False)
            self.refresh_bindings()
            return
        label = decisions.option_label(option, cp.reason)
        self.notify(f"{label}: {one_line(cp.step, 40)}", markup=False)
        self.decided.add(cp.checkpoint_id)
        if option == "pause":
            self.dismiss(None)
            return
        self._advance()

    def action_edit(self) -> None:
        """Edit in a TextArea."""
        cp = self.cp
        if cp is None:
            return

        def edited(text: str | None) -> None:
            current = self.cp
            if text is None or current is None or text == decisions.editable_text(current):
                self.notify("no change", markup=False)
                return
            self.action_decide("edit", edited=decisions.edited_value(current, text))

        title = f"edit · {one_line(cp.step, 40)} · {decisions.option_label('edit', cp.reason)} (ctrl+s sends)"
        language = "json" if decisions.edit_suffix(cp) == ".json" else "markdown"
        screen = TextEditScreen(title, decisions.editable_text(cp), language=language, blink=self.session.baton.blink)
        self.app.push_screen(screen, edited)

    def action_edit_external(self) -> None:
        """Edit in `$VISUAL` / `$EDITOR`."""
        cp = self.cp
        if cp is None:
            return
        if decisions.editor_command() is None:
            self.notify("set $EDITOR (or $VISUAL) to edit outside; e edits here", markup=False)
            return
        initial, suffix = decisions.editable_text(cp), decisions.edit_suffix(cp)
        try:
            with self.app.suspend():
                text = decisions.run_editor(initial, suffix)
        except SuspendNotSupported:
            text = decisions.run_editor(initial, suffix)
        if text is None:
            self.notify("no change", markup=False)
            return
        self.action_decide("edit", edited=decisions.edited_value(cp, text))

    def action_reject(self) -> None:
        """Reject with feedback (the step runs again with it)."""
        cp = self.cp
        if cp is None:
            return

        def written(text: str | None) -> None:
            if text and text.strip():
                self.action_decide("reject", feedback=text.strip())
            else:
                self.notify("a rejection needs feedback", markup=False)

        title = f"feedback for {one_line(cp.step, 40)} (ctrl+s sends)"
        self.app.push_screen(TextEditScreen(title, "", blink=self.session.baton.blink), written)

    def action_reroute(self) -> None:
        """Pick an allowed target."""
        cp = self.cp
        if cp is None or not cp.targets:
            self.notify("no step to reroute to", markup=False)
            return
        choices = [(t, Content(inert(t))) for t in cp.targets]

        def picked(target: str | None) -> None:
            if target:
                self.action_decide("reroute", target=target)

        self.app.push_screen(PickerScreen("reroute to", choices), picked)

    def action_retry_model(self) -> None:
        """Pick another model, with its forecast cost."""
        cp = self.cp
        if cp is None or not cp.forecasts:
            self.notify("no other model is configured", markup=False)
            return
        choices = [
            (alias, Content.assemble((f"{one_line(alias, 20):20}", "bold"), decisions.forecast_text(cp, alias)))
            for alias in cp.forecasts
        ]

        def picked(alias: str | None) -> None:
            if alias:
                self.action_decide("retry_model", model=alias)

        self.app.push_screen(PickerScreen("retry on model (forecast cost)", choices), picked)

    def action_skip(self) -> None:
        """Skip; later steps' needs are asked for first."""
        cp = self.cp
        if cp is None:
            return
        needs = decisions.skip_needs(cp)
        if not needs:
            self.action_decide("skip")
            return
        fields = [Field(k, k, "later steps need it: JSON, or plain text", required=True) for k in needs]

        def filled(values: dict[str, str] | None) -> None:
            if values is not None:
                self.action_decide("skip", supplied={k: decisions.supplied_value(v) for k, v in values.items()})

        form = FormScreen(f"skip {one_line(cp.step, 40)}", fields, submit="Skip", blink=self.session.baton.blink)
        self.app.push_screen(form, filled)

    def action_next(self) -> None:
        """The next waiting checkpoint."""
        waiting = self.waiting()
        if len(waiting) < 2:
            return
        ids = [c.checkpoint_id for c in waiting]
        index = ids.index(self.checkpoint_id) if self.checkpoint_id in ids else -1
        self.checkpoint_id = ids[(index + 1) % len(ids)]
        self.show()

    def action_later(self) -> None:
        """Back to the run."""
        self.dismiss(None)

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """Jump to any waiting checkpoint."""
        out = []
        for cp in self.waiting():
            what = decisions.REASONS.get(cp.reason, cp.reason)
            out.append((f"review {cp.step}", what, partial(self._jump, cp.checkpoint_id)))
        return out

    def _jump(self, checkpoint_id: str) -> None:
        self.checkpoint_id = checkpoint_id
        self.show()
