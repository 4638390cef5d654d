"""What a resumed (or forked) runner knows from the log, indexed for replay.

Resume re-walks the workflow: a step whose completion is recorded is replayed from its record (never
re-run); an output recorded before a checkpoint is shown again rather than re-generated; a recorded
decision is acted on instead of asking again; an LLM request already answered in this session can be
served from the record at $0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from baton.core import events as ev


@dataclass
class History:
    """Indexed events of one session (empty for a new session)."""

    started: ev.SessionStarted | None = None
    completed: dict[str, ev.StepCompleted] = field(default_factory=dict)
    skipped: dict[str, ev.StepSkipped] = field(default_factory=dict)
    outputs: dict[tuple[str, int], ev.StepOutput] = field(default_factory=dict)
    opened: dict[str, ev.CheckpointOpened] = field(default_factory=dict)
    decisions: dict[str, ev.DecisionMade] = field(default_factory=dict)
    calls_by_hash: dict[str, ev.LLMCallFinished] = field(default_factory=dict)
    intents: dict[str, ev.ToolCallIntent] = field(default_factory=dict)
    tool_results: dict[str, ev.ToolCallFinished] = field(default_factory=dict)
    tool_requests: dict[str, ev.ToolCallRequested] = field(default_factory=dict)
    tools_listed: dict[str, ev.ToolsListed] = field(default_factory=dict)
    grants: list[ev.ToolGrantChanged] = field(default_factory=list)
    controls: list[ev.ControlChanged] = field(default_factory=list)
    cost_by_path: dict[str, float] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    finished: str = ""
    last_seq: int = 0
    fork: ev.Forked | None = None

    @classmethod
    def from_envelopes(cls, envelopes: Iterable[ev.Envelope]) -> History:
        """Index a session's events in order."""
        h = cls()
        for env in envelopes:
            h.add(env)
        return h

    def add(self, env: ev.Envelope) -> None:
        """Index one event."""
        self.last_seq = max(self.last_seq, env.seq)
        e = env.event
        if isinstance(e, ev.SessionStarted):
            self.started = e
        elif isinstance(e, ev.StepCompleted):
            self.completed[e.step] = e
        elif isinstance(e, ev.StepSkipped):
            self.skipped[e.step] = e
        elif isinstance(e, ev.StepOutput):
            self.outputs[(e.step, e.round)] = e
        elif isinstance(e, ev.CheckpointOpened):
            self.opened[e.checkpoint_id] = e
        elif isinstance(e, ev.DecisionMade):
            if e.decision != "pause":
                self.decisions[e.checkpoint_id] = e
        elif isinstance(e, ev.LLMCallFinished):
            self._remember_answer(e)
            if e.cost_usd:
                self.cost_by_path[e.step] = self.cost_by_path.get(e.step, 0.0) + e.cost_usd
            self.tokens_in += e.tokens_in
            self.tokens_out += e.tokens_out
        elif isinstance(e, ev.ToolCallIntent):
            self.intents[e.idempotency_key] = e
        elif isinstance(e, ev.ToolCallFinished):
            self.tool_results[e.idempotency_key] = e
        elif isinstance(e, ev.ToolCallRequested):
            self.tool_requests[e.idempotency_key] = e
        elif isinstance(e, ev.ToolsListed):
            self.tools_listed.setdefault(e.step, e)
        elif isinstance(e, ev.ToolGrantChanged):
            self.grants.append(e)
        elif isinstance(e, ev.ControlChanged):
            self.controls.append(e)
        elif isinstance(e, ev.SessionCompleted | ev.SessionFailed):
            self.finished = e.kind
        elif isinstance(e, ev.SessionResumed):
            self.finished = ""
        elif isinstance(e, ev.Forked):
            self.fork = e
            self.cost_by_path.clear()
            self.tokens_in = self.tokens_out = 0

    def add_recorded_calls(self, envelopes: Iterable[ev.Envelope]) -> None:
        """Answers recorded in an ancestor session (a fork replays unchanged calls at $0)."""
        for env in envelopes:
            if isinstance(env.event, ev.LLMCallFinished):
                self._remember_answer(env.event)

    def _remember_answer(self, e: ev.LLMCallFinished) -> None:
        """An answer a later identical request may replay: the first one actually received for it."""
        if e.status == "ok" and e.request_hash and not e.replayed:
            self.calls_by_hash.setdefault(e.request_hash, e)

    def output(self, path: str, round_: int) -> ev.StepOutput | None:
        """The output recorded for round `round_` of a step (before its checkpoint decided)."""
        return self.outputs.get((path, round_))
