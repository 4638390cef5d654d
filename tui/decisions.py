"""One decision API for every front end: line mode, the TUI and scripts build the same commands.

Describes a checkpoint for a person (all text inert), names the options with their keys, and turns a
person's choice into a `Command`. Sending it and waiting for the runner's verdict goes through the bus.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baton.core.bus import Bus
from baton.core.commands import Command, decide
from baton.core.economics import usd
from baton.core.state import size_chars
from baton.core.view import CheckpointView, SessionView
from baton.tui.sanitize import inert

OPTION_KEYS: dict[str, tuple[str, str]] = {
    "approve": ("a", "approve"),
    "edit": ("e", "edit"),
    "reject": ("r", "reject with feedback"),
    "reroute": ("R", "reroute"),
    "retry_model": ("m", "retry on another model"),
    "skip": ("s", "skip"),
    "pause": ("p", "pause"),
}
REASONS = {
    "review": "review",
    "gate": "gate",
    "confidence": "low confidence",
    "sample": "random audit",
    "on_failure": "fallback answer",
    "before_tool": "before a side-effecting tool",
    "step_mode": "step mode",
    "breakpoint": "breakpoint",
    "escalation": "failed: your call",
    "budget": "budget",
    "cost": "cost over limit",
    "ambiguous": "tool may have run",
}


def option_label(option: str, reason: str) -> str:
    """What an option means at this kind of checkpoint."""
    if option == "approve":
        return {
            "escalation": "retry",
            "budget": "send anyway",
            "ambiguous": "run it again",
            "cost": "send anyway",
            "step_mode": "run",
            "breakpoint": "run",
            "before_tool": "run",
        }.get(reason, "approve")
    if option == "edit":
        return {
            "gate": "edit values",
            "before_tool": "edit arguments",
            "ambiguous": "supply its result",
            "step_mode": "edit prompt",
            "breakpoint": "edit prompt",
            "escalation": "edit input",
            "cost": "edit prompt",
        }.get(reason, "edit output")
    return OPTION_KEYS.get(option, (option[:1], option))[1]


def menu(cp: CheckpointView) -> str:
    """`[a]pprove  [e]dit output  …` for the options this checkpoint offers."""
    parts = []
    for option in cp.options:
        key = OPTION_KEYS.get(option, (option[:1], option))[0]
        parts.append(f"[{key}] {option_label(option, cp.reason)}")
    return "  ".join(parts)


def parse_choice(text: str, cp: CheckpointView) -> str | None:
    """A typed key or word → an offered option (None if it is not one)."""
    value = text.strip()
    for option in cp.options:
        key, label = OPTION_KEYS.get(option, (option[:1], option))
        if value in (key, option, option.replace("_", " "), label, option_label(option, cp.reason)):
            return option
    low = value.lower()
    matches = [o for o in cp.options if o.startswith(low) or option_label(o, cp.reason).startswith(low)] if low else []
    if len(matches) == 1 and value not in ("R",):
        return matches[0]
    return None


def editable_text(cp: CheckpointView) -> str:
    """The text a person edits: the output (JSON for structured), the prompt, the arguments or values."""
    if cp.reason in ("step_mode", "breakpoint", "escalation", "cost"):
        if cp.reason == "escalation" and cp.context.get("category") == "input_invalid":
            return json.dumps(cp.context.get("reads") or {}, indent=2, ensure_ascii=False)
        return str(cp.context.get("prompt", ""))
    if cp.reason == "gate":
        return json.dumps(cp.context.get("reads") or {}, indent=2, ensure_ascii=False, default=str)
    if cp.reason in ("before_tool", "ambiguous") and cp.reason == "before_tool":
        return json.dumps(cp.context.get("args") or {}, indent=2, ensure_ascii=False, default=str)
    if cp.reason == "ambiguous":
        return "null\n"
    value = cp.output
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def edited_value(cp: CheckpointView, text: str) -> Any:
    """What to send for an edit: text as-is for text outputs and prompts, parsed JSON otherwise."""
    if cp.reason in ("step_mode", "breakpoint", "cost") or (
        cp.reason == "escalation" and cp.context.get("category") != "input_invalid"
    ):
        return text
    if isinstance(cp.output, str) and cp.reason not in ("gate", "before_tool", "ambiguous"):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def forecast_text(cp: CheckpointView, alias: str) -> str:
    """`$0.0010–$0.0150` for a model alias, or `price unknown`."""
    rng = cp.forecasts.get(alias)
    if not rng:
        return "price unknown"
    return f"{usd(rng[0])}–{usd(rng[1])}"


def context_lines(cp: CheckpointView, view: SessionView | None = None) -> list[str]:
    """What a person needs to decide, as inert lines (no markup)."""
    ctx = cp.context
    out = [f"{REASONS.get(cp.reason, cp.reason)} · {inert(cp.step)}" + (f" · round {cp.round}" if cp.round > 1 else "")]
    if cp.message:
        out.append(inert(cp.message))
    facts = []
    if ctx.get("model"):
        facts.append(f"model {inert(ctx['model'])}")
    if ctx.get("tokens_in") or ctx.get("tokens_out"):
        facts.append(f"{ctx.get('tokens_in', 0)}→{ctx.get('tokens_out', 0)} tok")
    if "cost_usd" in ctx:
        facts.append(usd(ctx.get("cost_usd")))
    if ctx.get("latency_s") is not None:
        facts.append(f"{ctx['latency_s']:.1f}s")
    if ctx.get("attempts"):
        facts.append(f"{ctx['attempts']} attempt{'s' if ctx['attempts'] != 1 else ''}")
    if ctx.get("retries"):
        facts.append(f"{ctx['retries']} retr{'ies' if ctx['retries'] != 1 else 'y'}")
    if ctx.get("degraded"):
        facts.append("DEGRADED (fallback answer)")
    if facts:
        out.append(" · ".join(facts))
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


def edit_suffix(cp: CheckpointView) -> str:
    """File suffix for editing this checkpoint's text in an editor (JSON for values and arguments)."""
    return ".json" if not isinstance(cp.output, str) or cp.reason in ("gate", "before_tool") else ".md"


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
