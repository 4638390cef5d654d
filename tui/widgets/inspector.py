"""The inspector: everything recorded about one step (or the session's state when none is chosen); for a
tool-calling agent, its turns with their tool calls and the tools it is offered."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from baton.core.economics import usd
from baton.core.view import CallView, SessionView, StepView
from baton.tui.decisions import size_label
from baton.tui.figures import calls_by_round, model_latency, models_used, waited_s
from baton.tui.report import duration
from baton.tui.sanitize import inert, one_line
from baton.tui.step_notes import StepNotes, queued
from baton.tui.transcript import call_line as tool_line
from baton.tui.transcript import look, loop_of, turn_figures, where
from baton.tui.values import as_text

PROMPT_LINES = 30
OUTPUT_LINES = 60
Part = str | tuple[str, str]


def _clip(text: str, lines: int) -> str:
    rows = inert(text).splitlines()
    if len(rows) <= lines:
        return "\n".join(rows)
    return "\n".join(rows[:lines]) + f"\n… {len(rows) - lines} more lines"


def _section(parts: list[Part], title: str) -> None:
    parts.append((f"\n── {title} ──\n", "dim"))


def step_content(
    view: SessionView, step: StepView, notes: StepNotes | None = None, now: float = 0.0, chosen: str = ""
) -> Content:
    """The inspector text for a step (`chosen`: the tool call marked `▸` among its turns)."""
    notes = notes or StepNotes()
    status = "queued" if queued(view, step) else step.status
    title = inert(notes.titled(view, step.path))
    parts: list[Part] = [(title, "bold"), "  ", (status, f"bold $agent-{_var(status)}"), "\n"]
    models = models_used(view, step)
    model = f"model{'s' if len(models) > 1 else ''} {inert(', '.join(models))}" if models else ""
    facts = [f for f in (step.kind, model) if f]
    if step.round > 1:
        facts.append(f"round {step.round}")
    if step.orchestration:
        facts.append("orchestration")
    if facts:
        parts.append((" · ".join(facts) + "\n", "dim"))
    limit = notes.limit_text(step.path)
    if limit:
        parts += [("runs    ", "bold"), limit, "\n"]
    if step.reads:
        sizes = ", ".join(f"{inert(k)} ({size_label(view.state.get(k))})" for k in step.reads)
        parts += [("reads   ", "bold"), sizes, "\n"]
    if step.writes:
        parts += [
            ("writes  ", "bold"),
            ", ".join(f"{inert(k)} ({size_label(v)})" for k, v in step.writes.items()),
            "\n",
        ]
    if step.input_chars:
        parts += [("input   ", "bold"), f"{step.input_chars} chars\n"]
    numbers = []
    if step.tokens_in or step.tokens_out:
        numbers.append(f"tokens {step.tokens_in}→{step.tokens_out}")
    if step.tokens_out or step.cost_usd or step.cost_unknown:
        numbers.append(f"cost {usd(step.cost_usd, step.cost_unknown)}")
    latency = model_latency(view, step)
    if latency is not None:
        numbers.append(f"latency {duration(latency)}")
    if numbers:
        parts += [" · ".join(numbers), "\n"]
    if step.started_at is not None and status != "queued":
        end = step.ended_at if step.ended_at is not None else max(now, step.started_at)
        waited = waited_s(view, step, now or end)
        wall = f"step time {duration(end - step.started_at)}"
        parts.append(wall + (f" (waiting for you {duration(waited)})" if waited >= 0.05 else "") + "\n")
    if step.calls or step.retries:
        parts.append(f"calls {len(step.calls)} · retries {step.retries}\n")
    if step.note:
        parts.append((one_line(step.note, 200) + "\n", "italic"))
    if step.error:
        parts.append((inert(step.error) + "\n", "$agent-failed"))
    if step.calls:
        _section(parts, "calls")
        rounds = calls_by_round(view, step)
        for number, why, calls in rounds:
            indent = ""
            if len(rounds) > 1:
                parts.append((f"round {number}" + (f" · {inert(why)}" if why else "") + "\n", "bold"))
                indent = "  "
            for index, call in enumerate(calls, start=1):
                parts.append(indent + call_line(index, call) + "\n")
    _tool_loop(parts, view, step.path, chosen)
    if step.timeline:
        _section(parts, "timeline")
        parts.append("\n".join(one_line(t, 200) for t in step.timeline[-12:]) + "\n")
    if step.prompt:
        _section(parts, "prompt")
        parts.append(_clip(step.prompt, PROMPT_LINES) + "\n")
    if step.reasoning:
        _section(parts, "reasoning")
        parts.append(_clip(step.reasoning, PROMPT_LINES) + "\n")
    if step.output is not None:
        _section(parts, "output")
        parts.append(_clip(as_text(step.output), OUTPUT_LINES))
    return Content.assemble(*parts)


def _tool_loop(parts: list[Part], view: SessionView, path: str, chosen: str) -> None:
    """A tool-calling agent's turns (each with its figures and its tool calls), then the tools offered."""
    loop = loop_of(view, path)
    if loop is None:
        return
    _section(parts, f"turns ({loop.turn})")
    for turn in loop.ordered_turns():
        parts += [(f"turn {turn.number}", "bold"), (f" · {turn_figures(turn)}\n", "dim")]
        for call in loop.calls_of(turn.number):
            mark = "▸ " if call.call_id == chosen else "  "
            parts += [mark, (tool_line(call, 90), look(call).var), "\n"]
    for call in (c for c in loop.calls.values() if c.turn not in loop.turns):
        parts += ["  ", (tool_line(call, 90), look(call).var), "\n"]
    if loop.tools:
        _section(parts, "tools offered")
        for tool in loop.tools:
            facts = [where(str(tool.get("source") or ""), str(tool.get("origin") or ""))]
            if tool.get("approval") not in (None, ""):
                facts.append(f"approval {one_line(tool['approval'], 40)}")
            if tool.get("side_effects"):
                facts.append("side effects")
            parts += [(one_line(tool.get("name") or "?", 40), "bold"), f" · {' · '.join(facts)}\n"]


def call_line(number: int, call: CallView) -> str:
    """`#1 strong ok 3.7s 372→121 $0.0029` (the time is the model call's latency)."""
    running = call.status == "running"
    took = "…" if running else duration(call.latency_s)
    cost = "" if running else usd(call.cost_usd)
    replay = " (replayed)" if call.replayed else ""
    line = f"#{number} {inert(call.alias or call.model)} {call.status}{replay} {took}"
    line += f" {call.tokens_in}→{call.tokens_out} {cost}".rstrip()
    if call.error_type:
        line += f" · {inert(call.error_type)}"
    return line


def state_content(view: SessionView) -> Content:
    """The session's state keys, their sizes and a preview."""
    parts: list[Part] = [("state", "bold"), "\n"]
    if not view.state:
        parts.append(("(empty)", "dim"))
    for key, value in view.state.items():
        parts += [(inert(key), "bold"), (f"  {size_label(value)}\n", "dim"), f"  {one_line(as_text(value), 160)}\n"]
    if view.inputs:
        _section(parts, "inputs")
        for key, value in view.inputs.items():
            parts.append(f"{inert(key)} = {one_line(as_text(value), 160)}\n")
    return Content.assemble(*parts)


def _var(status: str) -> str:
    return {"completed": "done", "queued": "pending"}.get(status, status)


class Inspector(VerticalScroll):
    """A scrollable inspector for the chosen step."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "inspector"
        self._shown: Content | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="inspector-body")

    def shown_text(self) -> str:
        """What the inspector shows now, as plain text."""
        return self._shown.plain if self._shown is not None else ""

    def show(
        self, view: SessionView, path: str, notes: StepNotes | None = None, now: float = 0.0, chosen: str = ""
    ) -> None:
        """Show a step (or the state when `path` is empty or unknown); `chosen` is its chosen tool call."""
        step = view.steps.get(path) if path else None
        content = step_content(view, step, notes, now, chosen) if step is not None else state_content(view)
        if content != self._shown:
            self._shown = content
            self.query_one("#inspector-body", Static).update(content)
