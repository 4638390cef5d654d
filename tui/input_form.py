"""Asking for a workflow's inputs in a form: Home's `n`, and `baton run FLOW` in a terminal when a required
input was not given on the command line.

`ask_inputs(workflow, given)` runs the form as a small full-screen app of its own and returns the
inputs, typed by the workflow's state schema, or None when the person backs out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from textual.app import App
from textual.notifications import SeverityLevel

from baton.core.config import Config, ConfigInvalid, load_config
from baton.core.spec.load import Workflow
from baton.tui.launch import LaunchError, parse_inputs
from baton.tui.sanitize import one_line
from baton.tui.screens.dialogs import Field, FormScreen
from baton.tui.themes_loader import DEFAULT_THEME, install_themes, variable_defaults


def _text(value: Any) -> str:
    """A value as the form shows it: strings as they are, anything else as JSON (what `--input` takes)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def input_fields(workflow: Workflow, given: Mapping[str, Any] | None = None) -> list[Field]:
    """One field per declared input: its type, description, default (or the value given), choices."""
    spec = workflow.spec
    out = []
    for key, decl in spec.inputs.items():
        state = spec.state.get(key)
        default = decl.default if decl.default is not None else (state.default if state else None)
        typ = state.type if state else "str"
        description = decl.description or (state.description if state else "")
        value = (given or {}).get(key, default)
        out.append(
            Field(
                name=key,
                label=f"{key} ({typ})",
                description=description,
                default=_text(value),
                choices=list(decl.choices) if decl.choices else None,
                required=decl.required and default is None,
            )
        )
    return out


def form_pairs(values: Mapping[str, str], given: Mapping[str, Any] | None = None) -> list[str]:
    """`key=value` pairs for `parse_inputs`: the form's filled fields, and values given for other keys."""
    merged = {k: _text(v) for k, v in (given or {}).items()}
    merged.update(values)
    return [f"{k}={v}" for k, v in merged.items() if v != ""]


def check_inputs(workflow: Workflow, values: Mapping[str, str], given: Mapping[str, Any] | None = None) -> str | None:
    """What is wrong with the form's values, in `parse_inputs`' words (None when they are fine)."""
    try:
        parse_inputs(workflow, form_pairs(values, given))
    except LaunchError as exc:
        return str(exc)
    return None


def inputs_form(
    workflow: Workflow, given: Mapping[str, Any] | None = None, *, submit: str = "Start", blink: bool = True
) -> FormScreen:
    """The form for a workflow's inputs (checks types and required inputs before it closes)."""
    return FormScreen(
        f"new session · {one_line(workflow.name, 40)}",
        input_fields(workflow, given),
        submit=submit,
        blink=blink,
        check=lambda values: check_inputs(workflow, values, given),
    )


class InputFormApp(App[dict[str, str] | None]):
    """Only the inputs form, in baton's theme (for `baton run` before its session exists)."""

    TITLE = "baton"

    def __init__(self, workflow: Workflow, given: Mapping[str, Any] | None = None, config: Config | None = None):
        super().__init__()
        self.workflow = workflow
        self.given = dict(given or {})
        problems: list[tuple[str, SeverityLevel]] = []
        if config is None:
            try:
                config = load_config()
            except ConfigInvalid as exc:
                problems.append((f"config: {exc}", "error"))
                config = Config()
        _, theme_problems = install_themes(self, str(config.ui.get("theme", DEFAULT_THEME)))
        self.problems = problems + theme_problems

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """baton's colour variables (the dialogs use them)."""
        return variable_defaults(self.current_theme)

    def on_mount(self) -> None:
        for message, severity in self.problems:
            self.notify(message, severity=severity, timeout=12, markup=False)
        self.push_screen(inputs_form(self.workflow, self.given, submit="Start"), self.exit)


def ask_inputs(workflow: Workflow, given: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """Ask for a workflow's inputs in a full-screen form (needs a terminal), starting from `given`
    (what the command line had, as text or values). Returns every input typed by the state schema,
    ready for `create_session`, or None when the person cancels. Not inside a running event loop:
    use `ask_inputs_async` there."""
    values = InputFormApp(workflow, given).run()
    return None if values is None else parse_inputs(workflow, form_pairs(values, given))


async def ask_inputs_async(workflow: Workflow, given: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """`ask_inputs` for a caller already inside an event loop (`baton run` is)."""
    values = await InputFormApp(workflow, given).run_async()
    return None if values is None else parse_inputs(workflow, form_pairs(values, given))
