"""The records the fold is made of: a model call, a checkpoint and its decision, a step; and the words for
a session's statuses. `core.view` builds them from events (and re-exports them: readers import them from
there)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from baton.core.timeline import Timeline

OPEN_STATUSES = ("pending", "running", "awaiting")
DONE_STATUSES = ("completed", "degraded", "skipped")
SESSION_ENDED = ("completed", "degraded", "failed", "paused", "cancelled")
"""Session statuses in which no runner is working on it (a paused one may be resumed)."""
WAITING = "waiting"
"""The status shown for a running session that can do nothing until a person decides."""
STATUS_TEXT = {WAITING: "waiting for you"}
REASON_TEXT = {
    "review": "review",
    "gate": "gate",
    "confidence": "low confidence",
    "sample": "random audit",
    "on_failure": "fallback answer",
    "before_tool": "before a side-effecting tool",
    "step_mode": "step mode",
    "breakpoint": "breakpoint",
    "escalation": "escalation: the step failed",
    "budget": "budget",
    "cost": "cost over limit",
    "ambiguous": "tool may have run",
    "tool_call": "tool call",
    "tool_denied": "tool call denied",
    "elicitation": "a server asks",
}
"""Why a checkpoint opened, as a person reads it in a list of them."""
_NESTING = ("/", "[", "#")
"""What follows a step's path in the paths of the steps inside it (`a/b`, `m[3]`, `loop#2/x`)."""


def status_text(status: str) -> str:
    """A status as a person reads it (`waiting` is `waiting for you`)."""
    return STATUS_TEXT.get(status, status)


def encloses(outer: str, inner: str) -> bool:
    """Whether step path `inner` is `outer` or a step inside it."""
    return inner == outer or (inner.startswith(outer) and inner[len(outer) : len(outer) + 1] in _NESTING)


@dataclass
class CallView:
    """One model call attempt."""

    call_id: str
    step: str
    model: str
    alias: str
    attempt: int
    status: str = "running"
    text: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0
    started_at: float = 0.0
    ended_at: float | None = None
    latency_s: float = 0.0
    ttft_s: float | None = None
    error: str = ""
    error_type: str = ""
    request_hash: str = ""
    request: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False
    forecast_usd: list[float] | None = None
    inherited: bool = False
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """The tools the model called in this answer (`{"id", "name", "arguments"}`)."""


UNATTENDED_WHERE = frozenset({"auto", "decisions file"})
"""Where an unattended answer comes from: its `by` (`auto`, `decisions:FILE`) already says it."""


def who_decided(by: str, where: str) -> str:
    """Who made a decision and from where, as a person reads it: `alice from inbox on box (pts/3)`
    (just `by` when where is unknown, or an unattended answer's)."""
    return f"{by} from {where}" if where and where not in UNATTENDED_WHERE else by


@dataclass
class DecisionView:
    """A recorded decision; `where` it was made from ('' when not recorded)."""

    decision: str
    by: str
    at: float
    feedback: str = ""
    target: str = ""
    model: str = ""
    edited: Any = None
    diff: str = ""
    supplied: dict[str, Any] = field(default_factory=dict)
    where: str = ""

    @property
    def who(self) -> str:
        """Who decided and from where (`who_decided`)."""
        return who_decided(self.by, self.where)


@dataclass
class CheckpointView:
    """A checkpoint: open until a resolving decision (anything but pause) is recorded."""

    checkpoint_id: str
    step: str
    reason: str
    message: str
    output: Any
    reasoning: str
    context: dict[str, Any]
    options: list[str]
    targets: list[str]
    forecasts: dict[str, Any]
    round: int
    opened_seq: int
    opened_at: float
    decision: DecisionView | None = None

    @property
    def is_open(self) -> bool:
        """Still waiting for a person."""
        return self.decision is None


@dataclass
class StepView(Timeline):
    """A step instance (a path: `write`, `research/papers`, `each[3]`, `refine#2/draft`)."""

    path: str
    kind: str = ""
    label: str = ""
    status: str = "pending"
    model: str = ""
    attempts: int = 0
    retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    cost_unknown: bool = False
    started_at: float | None = None
    ended_at: float | None = None
    output: Any = None
    reasoning: str = ""
    prompt: str = ""
    writes: dict[str, Any] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)
    input_chars: int = 0
    error: str = ""
    note: str = ""
    degraded: bool = False
    orchestration: bool = False
    round: int = 0
    calls: list[str] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    pending_entry: bool = False
    item_labels: dict[str, int] = field(default_factory=dict)
    """For a map: how many of its items carry each label (a label two items share names its index too)."""
    concurrency: int | None = None
    """For a fan-out: how many children run at once (None: not said)."""
    concurrency_capped_by: str = ""
    """For a fan-out: the session-wide setting that lowered what it asked for, if one did."""

    @property
    def latency_s(self) -> float | None:
        """Wall time from first start to the end, when both are known."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at
