"""What every part of the runner shares: the seams (sink, clock), run options, outcomes and scopes."""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from baton.core import events as ev
from baton.core.spec.model import StateKey
from baton.core.state import apply_ops, make_op

slot: contextvars.ContextVar[asyncio.Semaphore | None] = contextvars.ContextVar("baton_slot", default=None)
"""The concurrency slot a fan-out child holds; released while the child waits for a person."""


class Sink(Protocol):
    """Where the runner's events go (the session store implements it)."""

    async def commit(self, events: Sequence[ev.Event], *, command_id: int = 0) -> None:
        """Persist `events` in one transaction and return once they are durable."""
        ...

    def post(self, events: Sequence[ev.Event]) -> None:
        """Queue informational events; they are persisted (and published) with the next batch."""
        ...

    def delta(self, step: str, call_id: str, text: str) -> None:
        """Live streamed text (ephemeral)."""
        ...

    async def reject_command(self, command_id: int, reason: str) -> None:
        """Tell the sender of a command why it was refused."""
        ...


class Clock(Protocol):
    """Time and randomness, injected so backoff and sampling are testable."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait."""
        ...

    def uniform(self, low: float, high: float) -> float:
        """Jitter."""
        ...


class RealClock:
    """The clock of the real world."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def now(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """`asyncio.sleep`."""
        await asyncio.sleep(max(0.0, seconds))

    def uniform(self, low: float, high: float) -> float:
        """Jitter from a private RNG."""
        return self._rng.uniform(low, high)


@dataclass
class RunOptions:
    """How a session runs. Persisted with the session so a resume behaves the same unless overridden."""

    auto: str | None = None
    decisions: dict[str, Any] | None = None
    decisions_file: str = ""
    step_mode: bool = False
    breakpoints: set[str] = field(default_factory=set)
    by: str = "user"
    max_usd: float | None = None
    escalation_limit: int = 3
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 30.0
    seed: int = 0
    rules: list[dict[str, Any]] | None = None
    """The approval rules in force (`Rule.record()`s), fixed when the session starts."""
    lessons: dict[str, list[dict[str, str]]] | None = None
    """Per learning step (its template), the lessons its prompt carries (`{"id", "text"}`), fixed when the
    session starts."""

    def to_json(self) -> dict[str, Any]:
        """Stored form (in the sessions row, SessionStarted and SessionResumed)."""
        out: dict[str, Any] = {"step_mode": self.step_mode, "breakpoints": sorted(self.breakpoints), "by": self.by}
        if self.auto:
            out["auto"] = self.auto
        if self.decisions is not None:
            out["decisions"] = self.decisions
            out["decisions_file"] = self.decisions_file
        if self.max_usd is not None:
            out["max_usd"] = self.max_usd
        if self.rules is not None:
            out["rules"] = self.rules
        if self.lessons is not None:
            out["lessons"] = self.lessons
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunOptions:
        """Parse the stored form; unknown keys are ignored."""
        decisions = data.get("decisions")
        return cls(
            auto=data.get("auto") or None,
            decisions=dict(decisions) if isinstance(decisions, dict) else None,
            decisions_file=str(data.get("decisions_file", "")),
            step_mode=bool(data.get("step_mode", False)),
            breakpoints=set(data.get("breakpoints") or []),
            by=str(data.get("by", "user")),
            max_usd=float(data["max_usd"]) if data.get("max_usd") is not None else None,
            rules=list(data["rules"]) if isinstance(data.get("rules"), list) else None,
            lessons=dict(data["lessons"]) if isinstance(data.get("lessons"), dict) else None,
        )


class ConfigError(Exception):
    """The workflow cannot start as configured (an unknown model, a tool that does not import, ...)."""


class Paused(Exception):
    """Stop cleanly: the session is paused (by a person, a decisions file, or a budget)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SessionStop(Exception):
    """The session cannot go on (a step failed with nobody to decide, a gate was rejected, ...).
    `events` (a step's failure record) commit with the session's end, in one transaction."""

    def __init__(
        self, message: str, step: str = "", error_type: str = "failed", events: Sequence[ev.Event] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.step = step
        self.error_type = error_type
        self.events = list(events)


class StepFailure(Exception):
    """A step failed after every layer of handling below the human."""

    def __init__(self, message: str, category: str = "error", attempts: int = 0, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.category = category
        self.attempts = attempts
        self.detail = detail


@dataclass
class StepOutcome:
    """What a step returns to its parent: status, output, writes, and where control goes next."""

    status: str
    output: Any = None
    writes: dict[str, Any] = field(default_factory=dict)
    jump: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0


class Scope:
    """The state a step sees and writes into.

    The root scope is the session state: writes there become `StateUpdated` ops in the step's
    completion transaction. A branch scope (parallel branch, map item, worker) starts as a copy and
    collects its writes; the parent applies them at fan-in, in declared order, so the result never
    depends on timing.
    """

    def __init__(self, state: dict[str, Any], schema: dict[str, StateKey], root: bool) -> None:
        self.state = state
        self.schema = schema
        self.root = root
        self.collected: dict[str, Any] = {}

    def fork(self) -> Scope:
        """A branch scope over a copy of this scope's state (values are never mutated in place)."""
        return Scope(dict(self.state), self.schema, root=False)

    def ops_for(self, writes: dict[str, Any], replaced: Collection[str] = ()) -> list[dict[str, Any]]:
        """The ops that apply `writes` through each key's reducer (`replaced` keys replace their value)."""
        return [
            make_op(k, "replace" if k in replaced or k not in self.schema else self.schema[k].reducer, v)
            for k, v in writes.items()
        ]

    def apply(self, writes: dict[str, Any], replaced: Collection[str] = ()) -> list[dict[str, Any]]:
        """Apply writes here; returns the ops (for the root scope's `StateUpdated`)."""
        ops = self.ops_for(writes, replaced)
        apply_ops(self.state, ops)
        if not self.root:
            self.collected = combine(self.collected, writes, self.schema)
        return ops


def combine(first: dict[str, Any], second: dict[str, Any], schema: dict[str, StateKey]) -> dict[str, Any]:
    """Writes equivalent to applying `first` then `second` through the reducers."""
    out = dict(first)
    for key, value in second.items():
        reducer = schema[key].reducer if key in schema else "replace"
        if key not in out or reducer == "replace":
            out[key] = value
        elif reducer == "append":
            before = out[key] if isinstance(out[key], list) else [out[key]]
            after = value if isinstance(value, list) else [value]
            out[key] = [*before, *after]
        elif reducer == "merge" and isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out
