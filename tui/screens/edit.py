"""Editing what a checkpoint lets a person change: one field per value, strings as plain text, anything
else as YAML checked as it is typed. `ctrl+s` sends; a refused edit stays on screen with the person's
text and the runner's reason beside it, so nothing typed is lost."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static, TextArea

from baton.tui import keymap
from baton.tui.keymap import Keyed
from baton.tui.sanitize import inert
from baton.tui.values import ValueField, ValueInvalid

Send = Callable[[dict[str, str]], Awaitable[str | None]]
"""Sends the text of every field; returns why the runner refused it (None: accepted)."""


class EditScreen(Keyed, ModalScreen[bool | None]):
    """One TextArea per value; returns True once the edit was accepted (None: closed, nothing sent)."""

    CSS_PATH = "dialogs.tcss"
    KEY_CONTEXT = "edit"
    BINDINGS = keymap.bindings("edit")

    def __init__(self, title: str, fields: list[ValueField], send: Send, *, blink: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields
        self.send_texts = send
        self.blink = blink
        self.sending = False

    def compose(self) -> ComposeResult:
        single = len(self.fields) == 1
        with Vertical(classes="dialog -wide"):
            yield Label(Content(self.title_text), classes="dialog-title")
            yield Static("", id="edit-error", classes="dialog-error")
            # one value fills the dialog; several scroll, each as tall as its text (up to a limit)
            fields = Vertical(classes="edit-fields -single") if single else VerticalScroll(classes="edit-fields")
            with fields:
                for index, field in enumerate(self.fields):
                    label = Content.assemble((inert(field.key), "bold"), (field.hint, "dim"))
                    yield Label(label, classes="field-label")
                    area = TextArea(
                        field.text,
                        id=f"value-{index}",
                        soft_wrap=True,
                        show_line_numbers=False,
                        language=field.language,
                        tab_behavior="focus",
                        classes="value-field",
                    )
                    area.cursor_blink = self.blink
                    yield area
                    yield Static("", id=f"value-error-{index}", classes="dialog-error field-error")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#value-0", TextArea).focus()

    def texts(self) -> dict[str, str]:
        """What each field holds now."""
        return {f.key: self.query_one(f"#value-{i}", TextArea).text for i, f in enumerate(self.fields)}

    @on(TextArea.Changed, ".value-field")
    def _changed(self, event: TextArea.Changed) -> None:
        index = int((event.text_area.id or "value-0").rsplit("-", 1)[1])
        self._check(index, event.text_area.text)

    def _check(self, index: int, text: str) -> bool:
        """Parse one field now; its error (or nothing) shows under it."""
        field = self.fields[index]
        try:
            field.parse(text)
        except ValueInvalid as exc:
            self._field_error(index, str(exc))
            return False
        self._field_error(index, "")
        return True

    def _field_error(self, index: int, message: str) -> None:
        self.query_one(f"#value-error-{index}", Static).update(Content(inert(message)))

    def show_error(self, message: str) -> None:
        """Say why the edit was not sent, above the fields (and under each field it names)."""
        self.query_one("#edit-error", Static).update(Content(inert(message)))
        for index, field in enumerate(self.fields):
            if f"'{field.key}'" in message:
                self._field_error(index, message)

    def action_save(self) -> None:
        """Send, unless a field does not parse or nothing changed."""
        if self.sending:
            return
        texts = self.texts()
        valid = [self._check(i, texts[f.key]) for i, f in enumerate(self.fields)]
        if not all(valid):
            self.show_error("fix the values marked below first (nothing was sent)")
            return
        if not any(f.changed(texts[f.key]) for f in self.fields):
            self.notify("no change", markup=False)
            self.dismiss(None)
            return
        self._send(texts)

    @work(exclusive=True, group="edit", exit_on_error=False, description="send an edit")
    async def _send(self, texts: dict[str, str]) -> None:
        self.sending = True
        self.query_one("#edit-error", Static).update(Content.styled("sending…", "dim"))
        try:
            refused = await self.send_texts(texts)
        finally:
            self.sending = False
        if refused is None:
            self.dismiss(True)
            return
        self.show_error(f"refused: {refused}")

    def action_cancel(self) -> None:
        """Close; nothing is sent."""
        self.dismiss(None)
