"""What a viewer keeps of a session between two frames: the fold, and the live text of every agent.

The bus consumer only calls `Feed.apply` (cheap: a fold step or an append to a buffer); the screen's
one timer calls `Feed.take` to learn what changed since the last frame. Nothing here touches a widget,
so it is tested without a terminal. Every string kept for display is already inert.

A tool-calling agent's pane shows its transcript (`Feed.source`): the tool lines around the live text
are rebuilt only when its tool loop changed, and only for a pane that is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from baton.core import events as ev
from baton.core.bus import RunnerLost, Update
from baton.core.view import SessionView
from baton.tui.sanitize import inert
from baton.tui.transcript import PaneTranscript, loop_of

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
        "StepCompleted",
        "StepFailed",
        "StepSkipped",
        "StepCancelled",
        "Rerouted",
        "ToolGrantChanged",
        "ToolCallIntent",
        "RetryScheduled",
        "FallbackUsed",
        "BreakerChanged",
        "BudgetWarning",
        "ControlChanged",
    }
)
"""Kinds that change nothing but the fold (`SessionView`), which every event reaches: no pane text,
no inbox announcement, no runner news (a grant shows in the header, drawn from the fold)."""
TRANSCRIPT_NEWS = (
    ev.LLMCallStarted,
    ev.LLMCallFinished,
    ev.ToolsListed,
    ev.ToolCallRequested,
    ev.ToolCallFinished,
    ev.CheckpointOpened,
    ev.DecisionMade,
)
"""Events that change a tool-calling agent's transcript."""

EventListener = Callable[[ev.Envelope, bool], None]
"""Told of each persisted event once the feed has folded it, and whether it came with the history."""


@dataclass
class PaneText:
    """The text an agent pane shows: its current call's streamed text (or the call's final text).

    Within one `generation` the text only grows (widgets append `text[shown:]`); a new call, a discarded
    attempt or a final text that differs from what streamed starts a new generation (redraw from scratch).
    """

    step: str
    order: int
    call_id: str = ""
    generation: int = 0
    live_chars: int = 0
    final: bool = False
    note: str = ""
    length: int = 0
    _parts: list[str] = field(default_factory=list)
    _joined: str = ""

    @property
    def text(self) -> str:
        """Everything shown so far, as one string (each part is joined once)."""
        if self._parts:
            self._joined += "".join(self._parts)
            self._parts.clear()
        return self._joined

    def append(self, text: str) -> None:
        """More streamed text."""
        self._parts.append(text)
        self.length += len(text)

    def reset(self, text: str = "", call_id: str | None = None) -> None:
        """Start over (a new call, a discarded attempt, or a corrected final text)."""
        self._parts.clear()
        self._joined = text
        self.length = len(text)
        self.generation += 1
        if call_id is not None:
            self.call_id = call_id


@dataclass
class Changes:
    """What changed since the last `take`."""

    text: set[str] = field(default_factory=set)
    structure: bool = False
    new_panes: list[str] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)
    lost: str = ""

    @property
    def any(self) -> bool:
        """Anything to draw."""
        return bool(self.text or self.structure or self.new_panes or self.opened or self.lost)


class Feed:
    """Folds a bus's updates into a `SessionView` plus per-agent text buffers."""

    def __init__(self, session_id: str, on_event: EventListener | None = None) -> None:
        self.view = SessionView(session_id)
        self.on_event = on_event
        self.panes: dict[str, PaneText] = {}
        self.transcripts: dict[str, PaneTranscript] = {}
        self._stale: set[str] = set()
        self.lost = ""
        self.batches = 0
        self.live_chars = 0
        self._finished: set[str] = set()
        self._changes = Changes()

    # --- the consumer side -----------------------------------------------------------------------

    def apply(self, batch: Iterable[Update]) -> None:
        """Fold one batch from `Bus.updates()`; the first batch is the session's history."""
        history = self.batches == 0
        self.batches += 1
        changes = self._changes
        batch = list(batch)
        for update in batch:
            if isinstance(update, ev.Envelope) and isinstance(update.event, ev.LLMCallStarted):
                self._pane(update.event.step)  # panes in the order their agents started
        for update in batch:
            if isinstance(update, ev.Envelope):
                if update.seq <= self.view.last_seq:
                    continue
                self.view.apply(update)
                changes.structure = True
                self._on_event(update.event, history)
                if self.on_event is not None:
                    self.on_event(update, history)
            elif isinstance(update, ev.TokenDelta):
                self._on_text(update)
            elif isinstance(update, RunnerLost):
                self.lost = update.reason
                changes.lost = update.reason
                changes.structure = True
        if history:
            changes.opened = [c.checkpoint_id for c in self.view.open_checkpoints]

    def _pane(self, step: str) -> PaneText:
        pane = self.panes.get(step)
        if pane is None:
            pane = self.panes[step] = PaneText(step, len(self.panes))
            self._changes.new_panes.append(step)
        return pane

    def _on_text(self, update: ev.TokenDelta) -> None:
        if update.call_id in self._finished:
            return  # read after its call's final text (which already holds it)
        pane = self._pane(update.step)
        if update.call_id != pane.call_id:
            pane.reset(call_id=update.call_id)
            pane.final, pane.note = False, ""
        pane.append(inert(update.text))
        pane.live_chars += len(update.text)
        self.live_chars += len(update.text)
        self._changes.text.add(update.step)

    def _on_event(self, event: ev.Event, history: bool) -> None:
        if isinstance(event, ev.LLMCallStarted):
            pane = self._pane(event.step)
            if event.call_id != pane.call_id:
                pane.reset(call_id=event.call_id)
                pane.final, pane.note = False, ""
                self._changes.text.add(event.step)
        elif isinstance(event, ev.LLMCallFinished):
            self._finished.add(event.call_id)
            pane = self._pane(event.step)
            if event.status == "discarded":
                pane.reset(call_id=event.call_id)
                pane.note = f"partial answer discarded ({inert(event.error_type or 'error')}); retrying"
            elif event.status == "ok":
                final = inert(event.text)
                if pane.call_id != event.call_id or pane.text != final:
                    pane.reset(final, call_id=event.call_id)
                pane.final, pane.note = True, ""
            else:
                pane.note = f"call failed: {inert(event.error_type or 'error')}"
            self._changes.text.add(event.step)
        elif isinstance(event, ev.SessionResumed | ev.SessionStarted):
            self.lost = ""
        elif isinstance(event, ev.CheckpointOpened) and not history:
            self._changes.opened.append(event.checkpoint_id)
        if isinstance(event, TRANSCRIPT_NEWS):
            self._tool_news(event)

    def _tool_news(self, event: ev.Event) -> None:
        """A tool-calling agent's transcript changed: redraw its pane (a decision names no step: its
        checkpoint's step is the one)."""
        step = event.step
        if isinstance(event, ev.DecisionMade):
            cp = self.view.checkpoints.get(event.checkpoint_id)
            step = cp.step if cp is not None else step
        if step in self.view.tools.loops:
            self._stale.add(step)
            if step in self.panes:
                self._changes.text.add(step)

    # --- the frame side --------------------------------------------------------------------------

    def take(self) -> Changes:
        """What changed since the last call (and forget it)."""
        changes, self._changes = self._changes, Changes()
        return changes

    def source(self, step: str) -> PaneText | PaneTranscript:
        """What an agent's pane follows: its transcript when it calls tools, else its live text."""
        pane = self.panes[step]
        loop = loop_of(self.view, step)
        if loop is None:
            return pane
        transcript = self.transcripts.get(step)
        if transcript is None:
            transcript = self.transcripts[step] = PaneTranscript(pane)
            self._stale.add(step)
        if step in self._stale:
            self._stale.discard(step)
            transcript.update(loop)
        return transcript

    def ordered_panes(self) -> list[PaneText]:
        """Agent panes in the order their agents first ran."""
        return sorted(self.panes.values(), key=lambda p: p.order)

    def running_panes(self) -> list[str]:
        """Steps whose agent is running now."""
        steps = self.view.steps
        return [p.step for p in self.ordered_panes() if p.step in steps and steps[p.step].status == "running"]
