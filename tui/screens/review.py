"""The Review screen: one checkpoint with everything needed to decide, and the inbox of all waiting ones.

Approve is one key. Edit opens one field per value (strings as text, the rest as YAML; or `$EDITOR`),
reject asks for feedback, reroute and retry offer pickers (retry shows the forecast cost per model); at a
tool call, deny stops the step and always asks which arguments, if any, the grant is scoped by. The
keys, the menu line and the footer come from one table (`tui.keymap`) and the checkpoint's own options,
so only decisions it offers are shown, in the same words. The session keeps running underneath: other
branches go on, and a checkpoint decided elsewhere leaves the screen on its own. After each decision the
next waiting checkpoint comes up (the tool calls of one turn, one after another).
"""

from __future__ import annotations

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
from baton.tui import decisions, keymap
from baton.tui.keymap import Keyed, KeyFacts
from baton.tui.sanitize import inert, one_line
from baton.tui.screens.dialogs import Field, FormScreen, PickerScreen, TextEditScreen
from baton.tui.screens.edit import EditScreen
from baton.tui.tool_checkpoint import form_name, pattern_arguments
from baton.tui.values import ValueInvalid

if TYPE_CHECKING:
    from baton.tui.screens.run import RunScreen

Part = str | tuple[str, str]


def checkpoint_content(cp: CheckpointView, session: RunScreen) -> Content:
    """What a person reads before deciding: the header, then each section once."""
    view = session.feed.view
    lines = decisions.context_lines(cp, view)
    parts: list[Part] = [(lines[0], "bold"), "\n"]
    for line in lines[1:]:
        parts += [line, "\n"]
    for section in decisions.sections(cp, view):
        parts += [
            (f"\n── {section.title} ──\n", "dim"),
            (section.text, section.style) if section.style else section.text,
        ]
        parts.append("\n")
    return Content.assemble(*parts)


class ReviewScreen(Keyed, ModalScreen[None]):
    """Decide on waiting checkpoints, one at a time, while the run goes on."""

    CSS_PATH = "review.tcss"
    KEY_CONTEXT = "review"
    BINDINGS = keymap.bindings("review")

    def __init__(self, session: RunScreen, checkpoint_id: str) -> None:
        super().__init__()
        self.session = session
        self.checkpoint_id = checkpoint_id
        self.busy = False
        self.decided: set[str] = set()
        self._inbox_key: tuple[str, ...] = ()
        self._drafts: dict[str, str] = {}
        self._menu_shown: Content | None = None

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

    def key_facts(self) -> KeyFacts:
        cp = self.cp
        waiting = min(len(self.waiting()), 2)  # only 0, 1 or several matter
        if cp is None or not self.session.key_facts().live:
            return KeyFacts(waiting=waiting)
        return decisions.key_facts(cp, waiting, self.busy)

    def _menu(self) -> Content:
        """The keys that work on this checkpoint, or why none decides it now."""
        menu = keymap.menu("review", self.key_facts(), self.session.baton.key_overrides)
        if self.session.key_facts().live:
            return Content(menu)
        status = self.session.feed.view.status
        why = "its runner is lost" if self.session.feed.lost else f"the session is {status}"
        return Content.assemble((f"{why}: decide after resuming it (esc, then r)", "$agent-awaiting"), f"   {menu}")

    def show(self) -> None:
        """Draw the checkpoint, its menu and the inbox."""
        cp = self.cp
        waiting = self.waiting()
        if cp is None:
            return
        index = next((i for i, c in enumerate(waiting) if c.checkpoint_id == cp.checkpoint_id), 0)
        what = decisions.REASONS.get(cp.reason, cp.reason)
        title = f"checkpoint {index + 1}/{len(waiting)} · {what} · {one_line(cp.step, 50)}"
        self.query_one("#review-title", Static).update(Content(title))
        self.query_one("#review-content", Static).update(checkpoint_content(cp, self.session))
        self._menu_shown = self._menu()
        self.query_one("#review-menu", Static).update(self._menu_shown)
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
                what = cp.reason
                if cp.reason == "tool_call":
                    what = f"tool call: {one_line(cp.context.get('tool', '?'), 18)}"
                label = Content.assemble((one_line(cp.step, 28), "bold"), ("\n" + what, "dim"))
                inbox.add_option(Option(label, id=cp.checkpoint_id))
            self.refresh_bindings()
        ids = list(key)
        if self.checkpoint_id in ids:
            inbox.highlighted = ids.index(self.checkpoint_id)

    def feed_changed(self) -> None:
        """The run moved on: follow it (a checkpoint decided elsewhere leaves by itself)."""
        if self.busy or not self.is_mounted or self.app.screen is not self:
            return
        if self.cp is None:
            if self.checkpoint_id not in self.decided:
                self.notify("decided elsewhere, or the step ended", markup=False)
                self.decided.add(self.checkpoint_id)
            self._advance()
            return
        self._show_inbox(self.waiting())
        menu = self._menu()
        if menu != self._menu_shown:
            self._menu_shown = menu
            self.query_one("#review-menu", Static).update(menu)
            self.refresh_bindings()

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

    # --- deciding --------------------------------------------------------------------------------

    async def submit(self, cp: CheckpointView, option: str, **details: Any) -> decisions.Verdict:
        """Send a decision and wait for the runner's verdict; an accepted one is said and remembered."""
        self.busy = True
        self.refresh_bindings()
        try:
            command = decisions.build(cp, option, self.session.baton.by, where=self.session.baton.where, **details)
            verdict = await decisions.send_and_wait(self.session.bus, command)
        finally:
            self.busy = False
            self.refresh_bindings()
        if verdict.ok:
            self.notify(f"{decisions.option_label(option, cp)}: {one_line(cp.step, 40)}", markup=False)
            self.decided.add(cp.checkpoint_id)
            self._drafts.pop(cp.checkpoint_id, None)
        return verdict

    def action_decide(self, option: str, word: str = "", **details: Any) -> None:
        """Send a decision on the checkpoint on screen (`word` only tells the footer's bindings apart)."""
        cp = self.cp
        if cp is None or option not in cp.options or self.busy:
            return
        self._send(cp, option, details)

    @work(exclusive=True, group="decide", exit_on_error=False, description="send a decision")
    async def _send(self, cp: CheckpointView, option: str, details: dict[str, Any]) -> None:
        verdict = await self.submit(cp, option, **details)
        if not verdict.ok:
            self.notify(f"refused: {inert(verdict.reason)}", severity="error", markup=False)
            return
        if option == "pause":
            self.dismiss(None)
            return
        self._advance()

    def action_edit(self, word: str = "") -> None:
        """Edit in place: one field per value; the screen stays until the runner accepts the edit."""
        cp = self.cp
        if cp is None:
            return
        view = self.session.feed.view
        target = decisions.edit_target(cp, view)

        async def send(texts: dict[str, str]) -> str | None:
            current = self.cp
            if current is None:
                return "this checkpoint was decided elsewhere, or its step ended"
            try:
                _, payload = decisions.edit_payload(target, texts)
            except ValueInvalid as exc:
                return str(exc)
            verdict = await self.submit(current, "edit", edited=payload)
            return None if verdict.ok else inert(verdict.reason)

        def closed(sent: bool | None) -> None:
            if sent:
                self._advance()
            else:
                self.feed_changed()

        title = f"{decisions.option_label('edit', cp)} · {one_line(cp.step, 40)} (ctrl+s sends, esc cancels)"
        self.app.push_screen(EditScreen(title, target.fields, send, blink=self.session.baton.blink), closed)

    def action_edit_external(self) -> None:
        """Edit in `$VISUAL` / `$EDITOR`: the same values, one section each; a refused edit opens again
        with the person's text."""
        cp = self.cp
        if cp is None or decisions.editor_command() is None:
            return
        view = self.session.feed.view
        initial = self._drafts.get(cp.checkpoint_id) or decisions.editable_text(cp, view)
        suffix = decisions.edit_suffix(cp)
        try:
            with self.app.suspend():
                text = decisions.run_editor(initial, suffix)
        except SuspendNotSupported:
            text = decisions.run_editor(initial, suffix)
        if text is None:
            self.notify("no change", markup=False)
            return
        self._drafts[cp.checkpoint_id] = text
        try:
            changed, payload = decisions.parse_edit(cp, text, view)
        except ValueInvalid as exc:
            self.notify(f"not sent: {exc} — E opens your text again", severity="error", markup=False)
            return
        if not changed:
            self.notify("no change", markup=False)
            return
        self.action_decide("edit", edited=payload)

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
        if cp.reason == "tool_call":
            tool = one_line(cp.context.get("tool", "?"), 30)
            title = f"message for the model, in place of {tool}'s result (ctrl+s sends)"
        self.app.push_screen(TextEditScreen(title, "", blink=self.session.baton.blink), written)

    def action_always(self) -> None:
        """Approve, and let the tool run unasked for the rest of the session: scoped, if the person fills
        any in, by a glob per text argument."""
        cp = self.cp
        if cp is None or "always" not in cp.options:
            return
        arguments = pattern_arguments(cp)
        if not arguments:
            self.action_decide("always")
            return
        names = {form_name(arg, i): arg for i, (arg, _) in enumerate(arguments)}
        fields = [
            Field(name, arg, f"now {one_line(value, 60)} — a glob (* any text); empty: any value")
            for name, (arg, value) in zip(names, arguments, strict=True)
        ]

        def filled(values: dict[str, str] | None) -> None:
            if values is not None:
                pattern = {names[k]: v.strip() for k, v in values.items() if v.strip()}
                self.action_decide("always", edited=pattern or None)

        tool = one_line(cp.context.get("tool", "?"), 30)
        title = f"always run {tool} this session — only for these arguments? (all empty: every call)"
        self.app.push_screen(FormScreen(title, fields, submit="Always", blink=self.session.baton.blink), filled)

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
