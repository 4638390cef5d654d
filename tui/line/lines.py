"""The lines line mode prints for events: one per finished step, route, retry, fallback, breaker change,
blocked call, checkpoint and decision. Everything else about an event is already in the fold.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from rich.text import Text

from baton.core import events as ev
from baton.core.view import SessionView
from baton.tui import decisions
from baton.tui.line.render import header, line_of
from baton.tui.sanitize import inert, one_line

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
        "ToolCallIntent",
        "ToolCallFinished",
        "ControlChanged",
    }
)
"""Kinds that print no line of their own: how a run ends is the view's status (the viewer then prints
the summary); steps starting, their outputs and their state show in the live region and the step's line
when it ends; streamed text reaches line mode through the feed's panes (`stream.Stream`); a tool call is
the tool step's line; step mode and breakpoints are answered where they are switched."""


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

    def _checkpoint(self, e: ev.CheckpointOpened) -> list[Text]:
        reason = decisions.REASONS.get(e.reason, e.reason)
        if self.view.answered_unattended:
            return [Text(f"  ⏸ {self._name(e.step)}: {reason}", style="yellow")]
        self.bell()
        out = [Text(f"  ⏸ {self._name(e.step)}: {reason} — waiting for a decision", style="yellow bold")]
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
        return [Text(f"  ✎ {self._name(e.step)}: {e.decision}{detail} by {inert(e.by)}{said}", style="magenta")]

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
    ev.BreakerChanged: EventLines._breaker,
    ev.BudgetWarning: EventLines._budget,
    ev.CheckpointOpened: EventLines._checkpoint,
    ev.DecisionMade: EventLines._decision,
}
