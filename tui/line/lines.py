"""The lines line mode prints for events: one per finished step, route, retry, fallback, breaker change,
blocked call, checkpoint and decision, and an agent's tool calls as its transcript has them (requested,
waiting for approval, done in 12 ms with the result's first line, failed, rejected, denied) with the
grants a person gives. Everything else about an event is already in the fold.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from rich.text import Text

from baton.core import events as ev
from baton.core.view import SessionView, who_decided
from baton.core.view_tools import ToolCallView
from baton.tui import decisions
from baton.tui.line.render import header, line_of
from baton.tui.sanitize import inert, one_line
from baton.tui.tool_checkpoint import pattern_text
from baton.tui.transcript import compact_args, look, result_preview, status_words

IGNORED_KINDS = frozenset(
    {
        "SessionPaused",
        "SessionCompleted",
        "SessionFailed",
        "Forked",
        "StepScheduled",
        "StepStarted",
        "StepOutput",
        "StateUpdated",
        "LLMCallStarted",
        "TokenDelta",
        "ToolsListed",
        "ToolCallIntent",
        "ControlChanged",
    }
)
"""Kinds that print no line of their own: how a run ends is the view's status (the viewer then prints
the summary); steps starting, their outputs and their state show in the live region and the step's line
when it ends; streamed text reaches line mode through the feed's panes (`stream.Stream`); a `tool` step's
call is the tool step's line, the tools an agent is offered are in `baton tools`; step mode and
breakpoints are answered where they are switched."""


class EventLines:
    """Turns a session's events into the lines that scroll above line mode's live region."""

    def __init__(self, view: SessionView, *, asking: bool, bell: Callable[[], None]) -> None:
        self.view = view
        self.asking = asking
        """Whether this viewer asks a person at checkpoints (else it says how to answer them elsewhere)."""
        self.bell = bell
        self._header_done = False
        self._printed: set[tuple[str, str]] = set()

    def lines(self, env: ev.Envelope) -> list[Text]:
        """What to print for one event (folded into the view already)."""
        handler = _HANDLERS.get(type(env.event))
        return handler(self, env.event) if handler is not None else []

    def _started(self, e: ev.SessionStarted | ev.SessionResumed) -> list[Text]:
        if self._header_done:
            return []
        self._header_done = True
        return [header(self.view)]

    def _step_ended(self, e: ev.StepCompleted | ev.StepFailed | ev.StepSkipped | ev.StepCancelled) -> list[Text]:
        key = (e.step, e.kind)
        if key in self._printed:
            return []
        self._printed.add(key)
        return [line_of(self.view, self.view.step(e.step))]

    def _rerouted(self, e: ev.Rerouted) -> list[Text]:
        how = f"route '{inert(e.route)}'" if e.route else f"rerouted by {inert(e.by)}"
        reason = f": {one_line(e.reason, 70)}" if e.reason else ""
        return [Text(f"  → {inert(self.view.title(e.target))} ({how}{reason})", style="cyan")]

    def _retry(self, e: ev.RetryScheduled) -> list[Text]:
        return [
            Text(
                f"  ↻ {self._name(e.step)}: {inert(e.error_type)} — retry {e.attempt} in {e.wait_s:.1f}s",
                style="yellow",
            )
        ]

    def _fallback(self, e: ev.FallbackUsed) -> list[Text]:
        to = inert(e.to_model) if e.to_model else "a static result"
        return [Text(f"  ⤵ {self._name(e.step)}: falling back from {inert(e.from_model)} to {to}", style="yellow")]

    def _call_finished(self, e: ev.LLMCallFinished) -> list[Text]:
        if e.status != "discarded":
            return []
        return [Text(f"  ✂ {self._name(e.step)}: partial answer discarded ({inert(e.error_type)})", style="yellow")]

    def _breaker(self, e: ev.BreakerChanged) -> list[Text]:
        return [Text(f"  ⚡ circuit breaker for {inert(e.model)}: {e.state}", style="yellow")]

    def _budget(self, e: ev.BudgetWarning) -> list[Text]:
        if not e.blocked:
            return []
        return [
            Text(f"  $ {self._name(e.step)}: call not sent — {inert(e.scope)} budget ${e.limit_usd:.4f}", style="red")
        ]

    def _call(self, step: str, call_id: str) -> ToolCallView | None:
        loop = self.view.tools.loops.get(step)
        return loop.calls.get(call_id) if loop is not None and call_id else None

    def _tool_requested(self, e: ev.ToolCallRequested) -> list[Text]:
        call = self._call(e.step, e.call_id)
        if call is None:
            return []
        said = {"ask": " — asks first", "granted": " — always allowed", "invalid": f" — {status_words(call)}"}
        line = f"  ⚙ {self._name(e.step)}: {one_line(e.tool, 40)}({compact_args(call, 90)}) requested"
        return [Text(line + said.get(e.policy, ""), style="red" if e.policy == "invalid" else "cyan")]

    def _tool_finished(self, e: ev.ToolCallFinished) -> list[Text]:
        call = self._call(e.step, e.call_id)
        if call is None:
            return []
        out = [Text(f"  {look(call).mark} {self._name(e.step)}: {one_line(call.tool, 40)} {status_words(call)}")]
        out[0].stylize(look(call).rich)
        return out + [Text(f"    │ {line}", style="dim") for line in result_preview(call, 1)]

    def _grant(self, e: ev.ToolGrantChanged) -> list[Text]:
        scope = f" ({pattern_text(e.pattern)})" if e.pattern else ""
        what = "always allowed for this session" if e.granted else "no longer allowed unasked"
        by = f" — by {inert(e.by)}" if e.by else ""
        return [Text(f"  ✓ {one_line(e.tool, 40)}{scope}: {what}{by}", style="green" if e.granted else "yellow")]

    def _checkpoint(self, e: ev.CheckpointOpened) -> list[Text]:
        reason = decisions.REASONS.get(e.reason, e.reason)
        call = self._call(e.step, str(e.context.get("call_id", ""))) if e.reason == "tool_call" else None
        waiting = "waiting for a decision"
        if call is not None:
            reason, waiting = f"{one_line(call.tool, 40)}({compact_args(call, 90)})", "waiting for approval"
        if self.view.answered_unattended:
            return [Text(f"  ⏸ {self._name(e.step)}: {reason}", style="yellow")]
        self.bell()
        out = [Text(f"  ⏸ {self._name(e.step)}: {reason} — {waiting}", style="yellow bold")]
        if not self.asking:
            sid, target = self.view.session_id, shlex.quote(inert(e.step))
            out.append(
                Text(
                    f"    no terminal to ask on: answer from another one with `baton attach {sid}` "
                    f"or `baton decide {sid} {target} approve` (or start runs with --auto approve)",
                    style="dim",
                )
            )
        return out

    def _decision(self, e: ev.DecisionMade) -> list[Text]:
        detail = f" → {inert(e.target)}" if e.target else (f" on {inert(e.model)}" if e.model else "")
        said = f": {one_line(e.feedback, 70)}" if e.feedback else ""
        who = inert(who_decided(e.by, e.where))
        return [Text(f"  ✎ {self._name(e.step)}: {e.decision}{detail} by {who}{said}", style="magenta")]

    def _name(self, path: str) -> str:
        return inert(self.view.title(path))


_HANDLERS: dict[type[ev.Event], Callable[[EventLines, Any], list[Text]]] = {
    ev.SessionStarted: EventLines._started,
    ev.SessionResumed: EventLines._started,
    ev.StepCompleted: EventLines._step_ended,
    ev.StepFailed: EventLines._step_ended,
    ev.StepSkipped: EventLines._step_ended,
    ev.StepCancelled: EventLines._step_ended,
    ev.Rerouted: EventLines._rerouted,
    ev.RetryScheduled: EventLines._retry,
    ev.FallbackUsed: EventLines._fallback,
    ev.LLMCallFinished: EventLines._call_finished,
    ev.ToolCallRequested: EventLines._tool_requested,
    ev.ToolCallFinished: EventLines._tool_finished,
    ev.ToolGrantChanged: EventLines._grant,
    ev.BreakerChanged: EventLines._breaker,
    ev.BudgetWarning: EventLines._budget,
    ev.CheckpointOpened: EventLines._checkpoint,
    ev.DecisionMade: EventLines._decision,
}
