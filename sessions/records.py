"""The rows every session store keeps, as plain values: what a list of sessions, a viewer, the runner
and the projections read and write, whatever the store is made of (a SQLite file, memory, a server).

Text that could carry a secret (payloads, outputs, errors) is stored redacted, and JSON values are kept
as their JSON text, exactly as a SQL store holds them: a row read back equals the row written. The
projection rows are named tuples, in their table's column order: cheap to build for every step, and
handed to SQL as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass
class SessionRow:
    """The `sessions` projection: what a list of sessions shows."""

    id: str
    workflow: str
    workflow_path: str
    workflow_hash: str
    workflow_text: str
    inputs: str
    options: str
    parent: str
    fork_step: str
    status: str
    reason: str
    error: str
    created_at: float
    updated_at: float
    ended_at: float | None
    active_s: float
    cost_usd: float
    cost_unknown: int
    tokens_in: int
    tokens_out: int
    steps_total: int
    steps_done: int
    inbox: int
    degraded: int
    last_seq: int
    projected_seq: int

    @property
    def inputs_dict(self) -> dict[str, Any]:
        """Inputs as given."""
        value = json.loads(self.inputs or "{}")
        return value if isinstance(value, dict) else {}

    @property
    def options_dict(self) -> dict[str, Any]:
        """Run options as stored."""
        value = json.loads(self.options or "{}")
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Delta:
    """Live streamed text of a call (ephemeral: dropped once the call's full text is projected)."""

    id: int
    step: str
    call_id: str
    text: str


class Lease(NamedTuple):
    """Who runs a session: a process (`pid` on `host`) until `expires_at` unless renewed."""

    pid: int
    host: str
    expires_at: float


class SessionSummary(NamedTuple):
    """The fields of a session's row that its projection keeps current."""

    status: str
    reason: str
    error: str
    updated_at: float
    ended_at: float | None
    active_s: float
    cost_usd: float
    cost_unknown: int
    tokens_in: int
    tokens_out: int
    steps_total: int
    steps_done: int
    inbox: int
    degraded: int
    last_seq: int
    projected_seq: int


class StepRow(NamedTuple):
    """The `steps` projection: one step path of a session."""

    session_id: str
    path: str
    kind: str
    status: str
    model: str
    attempts: int
    retries: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    cost_unknown: int
    orchestration: int
    started_at: float | None
    ended_at: float | None
    note: str
    error: str
    output: str
    writes: str


class CallRow(NamedTuple):
    """The `llm_calls` projection: one recorded model call (request hash, request, answer, usage)."""

    session_id: str
    call_id: str
    step: str
    model: str
    alias: str
    attempt: int
    status: str
    request_hash: str
    request: str
    response: str
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    started_at: float | None
    ended_at: float | None
    latency_s: float | None
    ttft_s: float | None
    error: str
    error_type: str
    replayed: int


class CheckpointRow(NamedTuple):
    """The `checkpoints` projection: one checkpoint, open or decided."""

    session_id: str
    checkpoint_id: str
    step: str
    reason: str
    status: str
    opened_seq: int
    opened_at: float
    decision: str
    decided_by: str
    decided_at: float | None


@dataclass(frozen=True)
class ProjectionUpdate:
    """One write of a session's projections: its summary, the changed rows, and the calls whose live text
    is no longer needed (their full text is in `calls`). `state` is None when the state did not change;
    otherwise it replaces the session's whole state (key → JSON text)."""

    session_id: str
    summary: SessionSummary
    steps: list[StepRow] = field(default_factory=list)
    state: dict[str, str] | None = None
    calls: list[CallRow] = field(default_factory=list)
    checkpoints: list[CheckpointRow] = field(default_factory=list)
    finished_calls: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Rows this update touches."""
        state = len(self.state) if self.state is not None else 0
        return len(self.steps) + len(self.calls) + len(self.checkpoints) + len(self.finished_calls) + state


WORK_STATES = ("queued", "running", "parked")
"""A session in the hosts' queue: waiting for a host to claim it, running on one, or parked (waiting for a
person, with no runner: only its rows)."""


@dataclass(frozen=True)
class WorkRow:
    """A session in the runner hosts' queue. `options` and `models` (JSON text, or None) override what the
    session was started with when a host runs it."""

    session_id: str
    state: str
    host_id: str
    options: str | None
    models: str | None
    requested_at: float
    updated_at: float
    env: str = ""
    """The fingerprint of the environment it was queued from (`sessions.host_env`)."""


@dataclass(frozen=True)
class Claim:
    """A session a host took from the queue: it holds the session's lease with `token`."""

    session_id: str
    token: str
    options: str | None
    models: str | None
    taken_over: bool = False
    """The session was running on a host that died (its lease had lapsed)."""


@dataclass(frozen=True)
class HostRow:
    """A live runner host as it last reported itself."""

    id: str
    pid: int
    machine: str
    started_at: float
    seen_at: float
    expires_at: float
    sessions: int = 0
    parked: int = 0
    rss_bytes: int = 0
    cpu_s: float = 0.0
    load: float = 0.0
    calls: int = 0
    limits: str = "{}"
    draining: int = 0
    env: str = ""
    """The fingerprint of its process's environment (`sessions.host_env`)."""

    def values(self) -> tuple[Any, ...]:
        """Its columns, in table order."""
        return (
            self.id,
            self.pid,
            self.machine,
            self.started_at,
            self.seen_at,
            self.expires_at,
            self.sessions,
            self.parked,
            self.rss_bytes,
            self.cpu_s,
            self.load,
            self.calls,
            self.limits,
            self.draining,
            self.env,
        )
