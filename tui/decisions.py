"""One decision API for every front end: line mode, the TUI and scripts show a checkpoint the same way,
name its options with the same keys and words (from `tui.keymap`), edit values the same way (strings
as text, the rest as YAML, `tui.values`) and build the same commands. Sending a command and waiting
for the runner's verdict goes through the bus.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baton.core.bus import Bus
from baton.core.commands import Command, decide
from baton.core.economics import usd
from baton.core.state import size_chars
from baton.core.view import REASON_TEXT, CheckpointView, SessionView
from baton.tui import keymap
from baton.tui.figures import Figures, call_figures, step_figures
from baton.tui.sanitize import inert
from baton.tui.tool_checkpoint import arguments_field, blocks, header_lines, question_blocks
from baton.tui.values import ValueField, ValueInvalid, declared_types, document, fields_for, parse_document, yaml_text

REASONS = {**REASON_TEXT, "escalation": "failed: your call"}
"""Why a checkpoint opened, as its own screen heads it (the step's failure is shown beside it)."""
OUTPUT_HIDDEN = ("step_mode", "breakpoint", "cost", "budget", "gate", "before_tool", "ambiguous", "tool_call")
"""Checkpoints whose `output` is not a model's answer (it is shown as values or arguments, or not at all)."""
PROMPT_EDITS = ("step_mode", "breakpoint", "cost")
CHANGED_ONLY = ("gate", "escalation")
"""Edits that supply state values: only the keys a person changed are sent (an unchanged list with an
`append` reducer would otherwise be appended again)."""


def option_label(option: str, cp: CheckpointView) -> str:
    """What an option means at this checkpoint, in the words its key is shown with."""
    return keymap.option_word(option, cp.reason, cp.context)


def key_facts(cp: CheckpointView, waiting: int = 1, busy: bool = False) -> keymap.KeyFacts:
    """What decides which Review keys work on this checkpoint."""
    return keymap.KeyFacts(
        options=frozenset(cp.options),
        words={o: option_label(o, cp) for o in cp.options},
        waiting=waiting,
        busy=busy,
        editor=editor_command() is not None,
    )


def option_key(option: str, cp: CheckpointView, overrides: Mapping[str, str] | None = None) -> str:
    """The key that makes a decision here (`a`, `e`, `R`, …)."""
    facts = key_facts(cp)
    for key in keymap.REVIEW:
        if key.when(facts) and _decides(key) == option:
            return keymap.key_text(keymap.keys_of(key, overrides))
    return option[:1]


def _decides(key: keymap.Key) -> str:
    """The decision a Review key makes ('' for next, later, the editor and the help)."""
    if key.action == "decide":
        return str(key.params[0])
    return key.action if key.action in keymap.OPTION_WORDS else ""


def parse_choice(text: str, cp: CheckpointView, overrides: Mapping[str, str] | None = None) -> str | None:
    """A typed key or word → an offered option (None if it is not one)."""
    value = text.strip()
    for option in cp.options:
        words = (option_key(option, cp, overrides), option, option.replace("_", " "), option_label(option, cp))
        if value in words:
            return option
    low = value.lower()
    if not low or len(low) < 2:
        return None
    matches = [o for o in cp.options if o.startswith(low) or option_label(o, cp).startswith(low)]
    return matches[0] if len(matches) == 1 else None


# --- what a checkpoint shows ---------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One titled block of a checkpoint: values, arguments, output, reasoning, prompt, forecasts."""

    title: str
    text: str
    style: str = ""


def sections(cp: CheckpointView, view: SessionView | None = None) -> list[Section]:
    """Everything below a checkpoint's header, the same in the Review screen and in line mode (inert)."""
    ctx = cp.context
    out: list[Section] = []
    types = declared_types(view.workflow_text) if view is not None else {}
    if cp.reason == "gate" and isinstance(ctx.get("reads"), dict):
        out += [Section(f.label, inert(f.text)) for f in fields_for(ctx["reads"], types)]
    if cp.reason in ("before_tool", "ambiguous") and isinstance(ctx.get("args"), dict):
        out.append(Section("arguments", inert(yaml_text(ctx["args"]) if ctx["args"] else "(none)")))
    if cp.reason == "tool_call":
        out += [Section(block.title, block.text) for block in blocks(cp)]
    if cp.reason == "elicitation":
        out += [Section(block.title, block.text) for block in question_blocks(cp)]
    if ctx.get("error"):
        out.append(Section("error", inert(ctx["error"]), "$agent-failed"))
    if cp.output is not None and cp.reason not in OUTPUT_HIDDEN:
        out.append(Section("output", inert(cp.output if isinstance(cp.output, str) else yaml_text(cp.output))))
    if cp.reasoning:
        out.append(Section("reasoning", inert(cp.reasoning), "italic"))
    if cp.reason in ("step_mode", "breakpoint", "cost", "budget", "escalation") and ctx.get("prompt"):
        out.append(Section("prompt", inert(str(ctx["prompt"]))))
    if cp.forecasts:
        rows = [f"{inert(alias)[:20]:20} {forecast_text(cp, alias)}" for alias in cp.forecasts]
        out.append(Section("forecast cost of a call, per model", "\n".join(rows)))
    return out


def forecast_text(cp: CheckpointView, alias: str) -> str:
    """`$0.0010–$0.0150` for a model alias, or `price unknown`."""
    rng = cp.forecasts.get(alias)
    if not rng:
        return "price unknown"
    return f"{usd(rng[0])}–{usd(rng[1])}"


def figures_line(label: str, figures: Figures, call: bool) -> str:
    """`this call · fast · 372→91 tok · $0.000100 · 1.9s` (a step's total names its calls instead)."""
    parts = [label]
    if call and figures.model:
        parts.append(inert(figures.model))
    if not call:
        parts.append(f"{figures.calls} call{'s' if figures.calls != 1 else ''}")
    parts.append(f"{figures.tokens_in:,}→{figures.tokens_out:,} tok")
    parts.append(usd(figures.cost_usd))
    if call and figures.latency_s is not None:
        parts.append(f"{figures.latency_s:.1f}s")
    return " · ".join(parts)


def context_lines(cp: CheckpointView, view: SessionView | None = None) -> list[str]:
    """The checkpoint's header: what it is, the call being reviewed, the step's total, the reads and the
    next step's forecast, as inert lines (no markup)."""
    ctx = cp.context
    if cp.reason == "tool_call":
        return header_lines(cp)  # its message says the same, in one line
    round_ = f" · round {cp.round}" if cp.round > 1 else ""
    out = [f"{REASONS.get(cp.reason, cp.reason)} · {inert(cp.step)}{round_}"]
    if cp.message:
        out.append(inert(cp.message))
    call = call_figures(cp, view)
    if call is not None:
        extra = []
        if ctx.get("attempts"):
            extra.append(f"{ctx['attempts']} attempt{'s' if ctx['attempts'] != 1 else ''}")
        if ctx.get("degraded"):
            extra.append("DEGRADED (fallback answer)")
        out.append(" · ".join([figures_line("this call", call, True), *extra]))
        step = step_figures(cp, view)
        if step is not None and (step.calls > 1 or step.cost_usd != call.cost_usd):
            out.append(figures_line("step total", step, False))
    elif ctx.get("model"):
        out.append(f"model {inert(ctx['model'])}")
    reads = ctx.get("reads")
    if isinstance(reads, dict) and reads:
        out.append("reads: " + ", ".join(f"{inert(k)} ({size_label(v)})" for k, v in reads.items()))
    nxt = ctx.get("next")
    if isinstance(nxt, dict) and nxt.get("step"):
        rng, model = nxt.get("forecast"), nxt.get("model")
        if not model:
            out.append(f"next: {inert(nxt['step'])} (no model call)")
        else:
            cost = f"{usd(rng[0])}–{usd(rng[1])}" if rng else "cost unknown"
            out.append(f"next: {inert(nxt['step'])} on {inert(model)} · forecast {cost}")
    return out


def size_label(value: Any) -> str:
    """How big a state value is, in words: `empty`, `3 items`, `2 keys`, `120 chars`."""
    if value is None:
        return "empty"
    if isinstance(value, list):
        return f"{len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return f"{len(value)} key{'s' if len(value) != 1 else ''}"
    return f"{size_chars(value)} chars"


# --- editing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EditTarget:
    """What an edit changes, as fields to edit, and the shape the runner expects back: `text` (a
    prompt or a text output: the string), `dict` (values, arguments, a structured output), or
    `value` (one value: a tool's result, a list output)."""

    fields: list[ValueField]
    shape: str
    changed_only: bool = False


def edit_target(cp: CheckpointView, view: SessionView | None = None) -> EditTarget:
    """The fields a person edits at this checkpoint."""
    ctx = cp.context
    types = declared_types(view.workflow_text) if view is not None else {}
    if cp.reason == "escalation" and ctx.get("category") == "input_invalid":
        return EditTarget(fields_for(ctx.get("reads") or {}, types), "dict", changed_only=True)
    if cp.reason in PROMPT_EDITS or cp.reason == "escalation":
        return EditTarget([ValueField("prompt", str(ctx.get("prompt", "")), True)], "text")
    if cp.reason == "gate":
        return EditTarget(fields_for(ctx.get("reads") or {}, types), "dict", changed_only=True)
    if cp.reason == "before_tool":
        return EditTarget(fields_for(ctx.get("args") or {}), "dict")
    if cp.reason in ("tool_call", "elicitation"):
        return EditTarget([arguments_field(cp)], "value")
    if cp.reason == "ambiguous":
        return EditTarget([ValueField("result", None, False)], "value")
    if isinstance(cp.output, str):
        return EditTarget([ValueField("output", cp.output, True)], "text")
    if isinstance(cp.output, dict):
        return EditTarget(fields_for(cp.output), "dict")
    return EditTarget([ValueField("output", cp.output, False)], "value")


def edit_payload(target: EditTarget, texts: Mapping[str, str]) -> tuple[bool, Any]:
    """(changed, what to send) from the text of each field; `ValueInvalid` names a field that does not
    parse. A field missing from `texts` keeps its value."""
    if target.shape == "text":
        only = target.fields[0]
        text = texts.get(only.key, only.text)
        return text != only.text, text
    values: dict[str, Any] = {}
    changed = False
    for field in target.fields:
        edited = texts.get(field.key)
        if edited is None or not field.changed(edited):
            if not target.changed_only:
                values[field.key] = field.value
            continue
        values[field.key] = field.parse(edited)
        changed = True
    if target.shape == "value":
        return changed, values.get(target.fields[0].key)
    return changed, values


def editable_text(cp: CheckpointView, view: SessionView | None = None) -> str:
    """The text an editor opens with: one value as its text, several as one section per key."""
    return document(edit_target(cp, view).fields)


def parse_edit(cp: CheckpointView, text: str, view: SessionView | None = None) -> tuple[bool, Any]:
    """(changed, what to send) from an editor's text (`ValueInvalid` when it does not parse)."""
    target = edit_target(cp, view)
    legacy = _json_values(target, text)
    if legacy is not None:
        return True, legacy
    return edit_payload(target, parse_document(target.fields, text))


def _json_values(target: EditTarget, text: str) -> dict[str, Any] | None:
    """Values given as one JSON object of the target's keys (what earlier versions asked for)."""
    if target.shape != "dict" or not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    keys = {f.key for f in target.fields}
    return value if isinstance(value, dict) and value and set(value) <= keys else None


def edited_value(cp: CheckpointView, text: str, view: SessionView | None = None) -> Any:
    """What to send for an edit made in a file (`baton decide --edited`): the parsed values, or the text
    as it is when it does not parse (the runner then refuses it with its reason)."""
    try:
        return parse_edit(cp, text, view)[1]
    except ValueInvalid:
        return text


def edit_suffix(cp: CheckpointView) -> str:
    """File suffix for editing this checkpoint in an editor."""
    target = edit_target(cp)
    if len(target.fields) > 1:
        return ".txt"
    if target.fields and target.fields[0].language == "json":
        return ".json"
    return ".md" if target.fields and target.fields[0].text_kind else ".yaml"


def skip_needs(cp: CheckpointView) -> list[str]:
    """State keys later steps need when this step is skipped (the person supplies them)."""
    needs = cp.context.get("skip_needs")
    return [str(k) for k in needs] if isinstance(needs, list) else []


def supplied_value(raw: str) -> Any:
    """A value typed for a skipped step's key: JSON when it parses, else the text."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


# --- sending -------------------------------------------------------------------------------------


def build(cp: CheckpointView, option: str, by: str, **details: Any) -> Command:
    """The command for a choice."""
    return decide(cp.checkpoint_id, option, by=by, **details)


@dataclass
class Verdict:
    """What the runner did with a command."""

    status: str
    reason: str = ""

    @property
    def ok(self) -> bool:
        """Accepted and acted on."""
        return self.status == "done"


async def send_and_wait(bus: Bus, command: Command, wait_s: float = 15.0) -> Verdict:
    """Send a command and wait for the runner to accept or refuse it."""
    command_id = await bus.send(command)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while loop.time() < deadline:
        status, reason = await bus.outcome(command_id)
        if status in ("done", "rejected"):
            return Verdict(status, reason)
        await asyncio.sleep(0.02)
    return Verdict("timeout", "the runner did not answer (is it running? try `baton resume`)")


def editor_command() -> str | None:
    """`$VISUAL`, else `$EDITOR`, else None."""
    return os.environ.get("VISUAL") or os.environ.get("EDITOR") or None


def run_editor(initial: str, suffix: str = ".md") -> str | None:
    """Edit `initial` in the person's editor (blocking; the caller gives it the terminal).

    None when there is no editor, it failed, or the text is unchanged or empty.
    """
    editor = editor_command()
    if editor is None:
        return None
    fd, name = tempfile.mkstemp(suffix=suffix, prefix="baton-")
    path = Path(name)
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write(initial)
        if subprocess.call([*shlex.split(editor), str(path)]) != 0:
            return None
        text = path.read_text(encoding="utf-8")
    finally:
        path.unlink(missing_ok=True)
    return None if not text.strip() or text == initial else text
