"""A tool-calling agent's transcript as a person reads it, the same in the TUI and in line mode.

Each tool call is one line — status mark, name, compact arguments, status and duration
(`✓ search(q="grid") · done in 12 ms`) — then the first lines of its result; turns after the first are
introduced by `── turn 2 ──`. Tool names, arguments, results and errors are untrusted text: every string
here comes out of `inert` / `one_line`, and callers render it as plain text, never markup.

`PaneTranscript` is what an agent pane follows: the transcript before the call now streaming, that call's
live text, then the tool lines of its turn. Within one generation only the live text grows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from baton.core.economics import usd
from baton.core.view import SessionView, who_decided
from baton.core.view_tools import Grant, ToolCallView, ToolLoop, TurnView, first_lines, result_text
from baton.tui.report import duration
from baton.tui.sanitize import inert, one_line

if TYPE_CHECKING:
    from baton.tui.feed import PaneText

RESULT_LINES = 3
"""Lines of a result a transcript shows under its call."""
ARG_WIDTH = 40
"""At most this many characters of one argument's value on a call's line."""
CALL_WIDTH = 100
PREVIEW_WIDTH = 160
"""At most this many characters of one line of a result under its call (the call in full shows all)."""


@dataclass(frozen=True)
class Look:
    """How a call's status looks: its mark, its theme variable (TUI) and its Rich style (line mode)."""

    mark: str
    var: str
    rich: str


LOOKS = {
    "requested": Look("…", "$agent-pending", "dim"),
    "waiting": Look("⏸", "$agent-awaiting", "yellow bold"),
    "running": Look("⋯", "$agent-running", "cyan"),
    "done": Look("✓", "$agent-done", "green"),
    "supplied": Look("✓", "$agent-done", "green"),
    "failed": Look("✗", "$agent-failed", "red"),
    "rejected": Look("↩", "$agent-degraded", "yellow"),
    "denied": Look("⊘", "$agent-failed", "red bold"),
    "invalid": Look("!", "$agent-failed", "red"),
    "interrupted": Look("◌", "$agent-cancelled", "magenta"),
}
SOURCES = {"python": "Python callable", "mcp": "MCP server", "agent": "sub-agent"}


def look(call: ToolCallView) -> Look:
    """The look of a call's status."""
    return LOOKS.get(call.status, LOOKS["requested"])


def took(seconds: float | None) -> str:
    """`12 ms` under a second, else `1.2s`, `4m05s`."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))} ms"
    return duration(seconds)


def status_words(call: ToolCallView) -> str:
    """`waiting for approval`, `done in 12 ms`, `failed in 1.2s: timeout`, `rejected: use drafts/` (inert)."""
    time = f" in {took(call.latency_s)}" if call.latency_s is not None and call.ended_at is not None else ""
    status = call.status
    if status == "waiting":
        return "waiting for approval"
    if status == "done":
        return f"done{time}" + (" (edited arguments)" if call.asked_args is not None else "")
    if status == "supplied":
        return "result supplied by a person"
    if status == "failed":
        return f"failed{time}" + (f": {one_line(call.error, 80)}" if call.error else "")
    if status == "rejected":
        said = call.feedback or call.error
        return "rejected" + (f": {one_line(said, 80)}" if said else "")
    if status == "denied":
        return "denied" + (f" by {one_line(call.decided_by, 24)}" if call.decided_by else "")
    if status == "invalid":
        why = call.error or call.reason
        return "invalid" + (f": {one_line(why, 80)}" if why else "")
    if status == "running" and call.policy == "granted":
        return "running (always allowed)"
    return status


def value_text(value: Any, width: int = ARG_WIDTH) -> str:
    """One argument's value on one line: strings quoted, anything else as compact JSON (inert)."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return one_line(text, width)


def compact_args(call: ToolCallView, width: int = CALL_WIDTH) -> str:
    """`q="grid storage", limit=3` (inert, cut to `width`)."""
    if call.arguments_text:
        return one_line(call.arguments_text, width)
    text = ", ".join(f"{one_line(k, 24)}={value_text(v)}" for k, v in call.args.items())
    return one_line(text, width)


def call_line(call: ToolCallView, width: int = CALL_WIDTH) -> str:
    """`✓ search(q="grid") · done in 12 ms` (inert)."""
    name = one_line(call.tool or "?", 40)
    return f"{look(call).mark} {name}({compact_args(call, width)}) · {status_words(call)}"


def result_preview(call: ToolCallView, count: int = RESULT_LINES) -> list[str]:
    """The first lines of a call's result (structured results as compact JSON, each line cut to
    `PREVIEW_WIDTH`), then `… N more lines` (inert); none while it has no result."""
    if call.status not in ("done", "supplied") or call.result is None:
        return []
    value = call.result
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    lines, more = first_lines(text, count)
    out = [one_line(line, PREVIEW_WIDTH) for line in lines] or ["(empty)"]
    if more:
        out.append(f"… {more} more line{'s' if more != 1 else ''}")
    return out


def where(source: str, origin: str) -> str:
    """`MCP server files`, `Python callable tools:search`, `sub-agent researcher` (inert)."""
    kind = SOURCES.get(source, source or "tool")
    return f"{kind} {one_line(origin, 60)}".strip()


def grant_label(grant: Grant) -> str:
    """`write_file (path=reports/*)`, or the tool alone when the grant covers every call (inert)."""
    scope = ", ".join(f"{one_line(k, 24)}={one_line(v, 40)}" for k, v in grant.pattern.items())
    return one_line(grant.tool, 40) + (f" ({scope})" if scope else "")


def grants_text(view: SessionView, width: int = 60) -> str:
    """The grants in force, on one line (empty when there are none)."""
    return one_line(", ".join(grant_label(g) for g in view.tools.grants), width) if view.tools.grants else ""


def loop_of(view: SessionView, step: str) -> ToolLoop | None:
    """A step's tool loop, once it has a turn or a call."""
    loop = view.tools.loops.get(step)
    return loop if loop is not None and (loop.turns or loop.calls) else None


def turn_figures(turn: TurnView) -> str:
    """`ok · 120→40 tok · $0.0003 · 1.2s` for one turn."""
    parts = [turn.status + (" (replayed)" if turn.replayed else "")]
    if turn.tokens_in or turn.tokens_out:
        parts.append(f"{turn.tokens_in}→{turn.tokens_out} tok")
        parts.append(usd(turn.cost_usd, turn.cost_unknown))
    if turn.latency_s:
        parts.append(f"{turn.latency_s:.1f}s")
    return " · ".join(parts)


def call_lines(call: ToolCallView, chosen: str = "", preview: int = RESULT_LINES) -> list[str]:
    """A call's line and its result's first lines, indented under it (the chosen call marked `▸`)."""
    mark = "▸ " if chosen and call.call_id == chosen else ""
    return [mark + call_line(call)] + [f"    │ {line}" for line in result_preview(call, preview)]


def call_detail(call: ToolCallView) -> str:
    """Everything about one call, for the person who asked to see it in full (inert)."""
    lines = [call_line(call), f"turn {call.turn} · call {one_line(call.call_id, 40)}"]
    if call.source or call.origin:
        lines.append(f"from {where(call.source, call.origin)}")
    if call.reason:
        lines.append(f"policy: {one_line(call.policy, 12)} — {one_line(call.reason, 160)}")
    if call.decision:
        said = f": {one_line(call.feedback, 160)}" if call.feedback else ""
        who = one_line(who_decided(call.decided_by, call.decided_where), 100)
        lines.append(f"decision: {call.decision} by {who}{said}")
    lines += ["", "── arguments ──", arguments_text(call.args, call.arguments_text)]
    if call.asked_args is not None:
        lines += ["", "── arguments the model asked for ──", arguments_text(call.asked_args)]
    if call.error:
        lines += ["", "── error ──", inert(call.error)]
    if call.result is not None:
        lines += ["", "── result ──", inert(result_text(call.result))]
    return "\n".join(lines)


def arguments_text(args: dict[str, Any], raw: str = "") -> str:
    """Arguments pretty-printed as JSON (inert); what the model wrote when it was not JSON."""
    if raw:
        return inert(raw)
    return inert(json.dumps(args, ensure_ascii=False, indent=2, default=str)) if args else "(none)"


def transcript_lines(loop: ToolLoop, chosen: str = "", live: str = "") -> list[str]:
    """The whole transcript as lines; the turn whose model call is `live` is left without its text
    (the caller has it streaming)."""
    out: list[str] = []
    for part in _parts(loop, live, chosen):
        out += part.splitlines()
    return out


def _parts(loop: ToolLoop, live: str, chosen: str) -> Iterable[str]:
    """Text pieces in order; the piece `\\x00` stands where the live call's text goes."""
    for index, turn in enumerate(loop.ordered_turns()):
        if index:
            yield f"── turn {turn.number} ──\n"
        if live and live in turn.model_calls:
            yield "\x00"
        elif turn.text:
            text = inert(turn.text)
            yield text if text.endswith("\n") else text + "\n"
        for call in loop.calls_of(turn.number):
            yield "\n".join(call_lines(call, chosen)) + "\n"
    orphans = [c for c in loop.calls.values() if c.turn not in loop.turns]
    for call in orphans:
        yield "\n".join(call_lines(call, chosen)) + "\n"


class PaneTranscript:
    """What a tool-calling agent's pane shows: the transcript before the call now streaming, its live
    text, and the tool lines after it. Follows `PaneText`'s contract (`generation`, `length`, `text`)."""

    def __init__(self, pane: PaneText, chosen: str = "") -> None:
        self.pane = pane
        self.chosen = chosen
        self.before = ""
        self.after = ""
        self._version = 0

    @property
    def step(self) -> str:
        """The agent's step path."""
        return self.pane.step

    @property
    def generation(self) -> int:
        """Changes whenever anything but the live text changed (a redraw from scratch)."""
        return self._version * 1_000_003 + self.pane.generation

    @property
    def length(self) -> int:
        """Characters shown."""
        return len(self.before) + self.pane.length + len(self.after)

    @property
    def text(self) -> str:
        """All of it."""
        return self.before + self.pane.text + self.after

    def update(self, loop: ToolLoop, chosen: str | None = None) -> bool:
        """Rebuild the parts around the live text from `loop`; True when they changed."""
        if chosen is not None:
            self.chosen = chosen
        pieces = list(_parts(loop, self.pane.call_id, self.chosen))
        if "\x00" in pieces:
            cut = pieces.index("\x00")
            before, after = "".join(pieces[:cut]), "".join(pieces[cut + 1 :])
        else:
            before, after = "".join(pieces), ""
        live = self.pane.text
        if after and live and not live.endswith("\n"):
            after = "\n" + after
        if (before, after) == (self.before, self.after):
            return False
        self.before, self.after = before, after
        self._version += 1
        return True


def loop_title(loop: ToolLoop, cost: float, cost_unknown: bool = False) -> str:
    """`turn 3 · $0.0012` for a pane's title: the turn counter and what the step has cost so far."""
    return f"turn {loop.turn} · {usd(cost, cost_unknown)}" if loop.turn else usd(cost, cost_unknown)


def chosen_call(loop: ToolLoop, chosen: str = "") -> ToolCallView | None:
    """The call a person chose, else the first waiting for approval, else the latest."""
    calls = loop.ordered_calls()
    if chosen and chosen in loop.calls:
        return loop.calls[chosen]
    waiting = [c for c in calls if c.status == "waiting"]
    return waiting[0] if waiting else (calls[-1] if calls else None)
