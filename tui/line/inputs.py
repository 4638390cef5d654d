"""A run started without a required input asks for it when a person is at the terminal.

`baton run flow.yaml` with no `--input topic=…` should not end in an error a person must read, copy and
retype: in a terminal it asks, in the full-screen form that Home's `n` shows when the full screen is
used, else one prompt per missing input. Unattended (no terminal, `--json`, `--auto`, `--decisions`)
nobody can answer, so the error stays as it is, exit 2.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import TYPE_CHECKING, Any

from baton.core.runner import check_inputs
from baton.core.spec.load import Workflow
from baton.core.state import coerce_input
from baton.tui.launch import LaunchError, missing_inputs, parse_inputs
from baton.tui.sanitize import inert, one_line

if TYPE_CHECKING:
    from rich.console import Console

FORM_MODULE = "baton.tui.input_form"
"""Where the full-screen inputs form lives: `ask_inputs_async(workflow, given) -> dict | None`."""


async def inputs_for_run(workflow: Workflow, pairs: list[str], *, can_ask: bool, full_screen: bool) -> dict[str, Any]:
    """The inputs a run starts with: `--input` pairs, and what a person types for the required ones
    left out when `can_ask` (and stdin and stdout are a terminal); `LaunchError` as ever otherwise."""
    given = parse_inputs(workflow, pairs, allow_missing=True)
    if not missing_inputs(workflow, given):
        return given
    if not (can_ask and sys.stdin.isatty() and sys.stdout.isatty()):
        return parse_inputs(workflow, pairs)  # raises with every problem, the missing inputs among them
    if full_screen and importlib.util.find_spec(FORM_MODULE) is not None:
        answered = await _full_screen_form(workflow, given)
    else:
        answered = await ask_missing(workflow, given)
    if answered is None:
        raise LaunchError("no session started: the workflow's inputs were not given")
    typed = [f"{k}={v}" for k, v in answered.items() if isinstance(v, str) and v != ""]
    values = {**given, **parse_inputs(workflow, typed, allow_missing=True)}
    values.update({k: v for k, v in answered.items() if not isinstance(v, str)})
    problems = check_inputs(workflow.spec, values)
    if problems:
        raise LaunchError("\n".join(problems))
    return values


async def _full_screen_form(workflow: Workflow, given: dict[str, Any]) -> dict[str, Any] | None:
    """The full-screen inputs form (the one Home's `n` shows); None when the person cancels it."""
    form = importlib.import_module(FORM_MODULE)
    result = await form.ask_inputs_async(workflow, given)
    return dict(result) if result is not None else None


async def ask_missing(
    workflow: Workflow, given: dict[str, Any], console: Console | None = None
) -> dict[str, str] | None:
    """One prompt per missing required input, each value checked against its type (and choices) as it is
    typed; the values as typed (`key=value` text), or None when the person gives up (Ctrl-C or Ctrl-D).
    The terminal's libraries are loaded here, only when a person is asked."""
    from rich.console import Console
    from rich.text import Text

    from baton.tui.line import ask

    out = console or Console(highlight=False)
    spec = workflow.spec
    missing = missing_inputs(workflow, given)
    out.print(
        Text(f"{inert(spec.name)} needs {'these inputs' if len(missing) > 1 else 'an input'} to start:", style="bold")
    )
    values: dict[str, str] = {}
    for key in missing:
        decl, state = spec.inputs[key], spec.state[key]
        about = decl.description or state.description
        line = Text(f"  {inert(key)}", style="bold")
        line.append(f" ({state.type})", style="dim")
        if about:
            line.append(f" — {one_line(about, 90)}")
        if decl.choices:
            line.append(f" · one of: {', '.join(inert(c) for c in decl.choices)}", style="dim")
        out.print(line)
        while True:
            raw = await ask.line(f"{key}> ", list(decl.choices or []))
            if raw is None:
                return None
            problem = _problem(raw, state.type, decl.choices)
            if problem is None:
                values[key] = raw
                break
            out.print(Text(f"  {problem}", style="red"))
    return values


def _problem(raw: str, type_name: str, choices: list[str] | None) -> str | None:
    """What is wrong with a typed value (None when it will do)."""
    if not raw.strip():
        return "a value is needed (Ctrl-C gives up)"
    try:
        value = coerce_input(raw, type_name)
    except ValueError as exc:
        return str(exc)
    if choices and value not in choices:
        return f"must be one of {', '.join(choices)}"
    return None
