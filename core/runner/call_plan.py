"""A step's model call as data: the plan (request, fallback chain, retries, watchdogs), the accepted
result with its totals, and the `Caller` seam that the live call and the replaying wrapper both fill."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from baton.core import events as ev
from baton.core.llm.types import LLMRequest, ModelToolCall
from baton.core.spec.model import RetryPolicy, TimeoutPolicy
from baton.core.timeline import Timeline


@dataclass(frozen=True)
class CallPlan:
    """How to call: the request for the first alias, the chain after it, retries and watchdogs."""

    request: LLMRequest
    fallback: list[str]
    fallback_static: Any
    retry: RetryPolicy
    timeout: TimeoutPolicy
    budget_override: bool = False
    turn: int = 0
    """The turn of an agent's tool loop (0 outside a loop): an answer may then call tools instead."""

    @property
    def chain(self) -> list[str]:
        """The aliases tried in order."""
        return [self.request.alias, *self.fallback]


@dataclass
class CallResult(Timeline):
    """The accepted answer of a step's call, with totals over every attempt."""

    text: str
    value: Any
    alias: str
    model: str
    degraded: bool
    finished: ev.LLMCallFinished | None
    attempts: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0
    latency_s: float = 0.0
    static: bool = False
    tool_calls: tuple[ModelToolCall, ...] = ()
    notes: list[str] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    pending_entry: bool = False


Validator = Callable[[str], Any]


class Caller(Protocol):
    """A step's model call through its layers (the resilient call, perhaps wrapped by replay)."""

    def __call__(self, path: str, plan: CallPlan, validate: Validator) -> Awaitable[CallResult]: ...


def new_call_id() -> str:
    """A short unique id for one attempt."""
    return "c" + secrets.token_hex(5)
