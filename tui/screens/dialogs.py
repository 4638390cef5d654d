"""Small modal dialogs shared by the screens: confirm, pick one, edit text, fill a form.

Each returns its answer through `dismiss` (None when the person backs out). Labels that carry
untrusted text are `Content` built from inert strings, never markup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from baton.tui import keymap
from baton.tui.keymap import Keyed
from baton.tui.sanitize import inert


class ConfirmScreen(Keyed, ModalScreen[bool]):
    """Yes or no."""

    CSS_PATH = "dialogs.tcss"
    KEY_CONTEXT = "confirm"
    BINDINGS = keymap.bindings("confirm")

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Content(self.question), classes="dialog-title")
            if self.detail:
                yield Static(Content(inert(self.detail)), classes="dialog-detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        """Close with the answer."""
        self.dismiss(yes)


class PickerScreen(Keyed, ModalScreen[str | None]):
    """Pick one of a list (reroute targets, models with their forecast cost)."""

    CSS_PATH = "dialogs.tcss"
    KEY_CONTEXT = "picker"
    BINDINGS = keymap.bindings("picker")

    def __init__(self, title: str, choices: list[tuple[str, Content]]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Content(self.title_text), classes="dialog-title")
            yield OptionList(*[Option(label, id=value) for value, label in self.choices], id="picker")
        yield Footer()

    def on_mount(self) -> None:
        picker = self.query_one(OptionList)
        if picker.option_count:
            picker.highlighted = 0  # `enter` takes what is highlighted: something always is
        picker.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_choose(self) -> None:
        """Take the highlighted choice."""
        picker = self.query_one(OptionList)
        if picker.highlighted is not None:
            self.dismiss(picker.get_option_at_index(picker.highlighted).id)

    def action_cancel(self) -> None:
        """Close without an answer."""
        self.dismiss(None)


class TextEditScreen(Keyed, ModalScreen[str | None]):
    """Edit text in place: Ctrl+S keeps it, Escape throws it away."""

    CSS_PATH = "dialogs.tcss"
    KEY_CONTEXT = "edit"
    BINDINGS = keymap.bindings("edit")

    def __init__(self, title: str, text: str, *, language: str | None = None, blink: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.language = language
        self.blink = blink

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide"):
            yield Label(Content(self.title_text), classes="dialog-title")
            area = TextArea(self.text, id="editor", soft_wrap=True, show_line_numbers=False)
            area.cursor_blink = self.blink
            yield area
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        """Return the text (None when it is empty)."""
        text = self.query_one(TextArea).text
        self.dismiss(text if text.strip() else None)

    def action_cancel(self) -> None:
        """Return nothing."""
        self.dismiss(None)


@dataclass
class Field:
    """One form field."""

    name: str
    label: str
    description: str = ""
    default: str = ""
    choices: list[str] | None = None
    required: bool = False


class FormScreen(Keyed, ModalScreen[dict[str, str] | None]):
    """A form generated from fields (workflow inputs, values for a skipped step)."""

    CSS_PATH = "dialogs.tcss"
    KEY_CONTEXT = "form"
    BINDINGS = keymap.bindings("form")

    def __init__(
        self,
        title: str,
        fields: list[Field],
        *,
        submit: str = "Start",
        blink: bool = True,
        check: Callable[[dict[str, str]], str | None] | None = None,
    ) -> None:
        super().__init__()
        self.check = check
        self.title_text = title
        self.fields = fields
        self.submit_label = submit
        self.blink = blink

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide"):
            yield Label(Content(self.title_text), classes="dialog-title")
            with VerticalScroll(classes="form-fields"):
                if not self.fields:
                    yield Static(Content("This workflow takes no inputs."), classes="dialog-detail")
                for field in self.fields:
                    label = field.label + (" *" if field.required else "")
                    yield Label(Content(inert(label)), classes="field-label")
                    if field.description:
                        yield Static(Content(inert(field.description)), classes="field-help")
                    if field.choices:
                        options = [(Content(inert(c)), c) for c in field.choices]
                        value = field.default if field.default in field.choices else Select.NULL
                        yield Select(options, value=value, id=f"field-{field.name}", allow_blank=not field.required)
                    else:
                        box = Input(field.default, id=f"field-{field.name}", placeholder=field.name)
                        box.cursor_blink = self.blink
                        yield box
            yield Static("", id="form-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.submit_label} (ctrl+s)", id="submit", variant="primary")
                yield Button("Cancel (esc)", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        first = self.query("Input, Select").first() if self.fields else self.query_one("#submit", Button)
        first.focus()

    def values(self) -> dict[str, str]:
        """What is in the form now."""
        out: dict[str, str] = {}
        for field in self.fields:
            widget = self.query_one(f"#field-{field.name}")
            if isinstance(widget, Select):
                if widget.value is not Select.NULL:
                    out[field.name] = str(widget.value)
            elif isinstance(widget, Input):
                out[field.name] = widget.value
        return out

    def show_error(self, message: str) -> None:
        """Say what is wrong without closing."""
        self.query_one("#form-error", Static).update(Content(inert(message)))

    @on(Input.Submitted)
    def _enter(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_submit(self) -> None:
        """Submit (required fields must be filled)."""
        values = self.values()
        missing = [f.name for f in self.fields if f.required and not values.get(f.name, "").strip()]
        if missing:
            self.show_error(f"required: {', '.join(missing)}")
            return
        problem = self.check(values) if self.check is not None else None
        if problem:
            self.show_error(problem)
            return
        self.dismiss(values)

    def action_cancel(self) -> None:
        """Close without values."""
        self.dismiss(None)
