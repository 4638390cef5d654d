"""Turning a step's accepted output into state writes, and committing its end in one transaction.

Output validation is the second half of layer 1: a value of the wrong type, or over its declared size
limit, is a failure (or truncated, when the key says so) — a later step never runs on bad data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from baton.core import events as ev
from baton.core.runner.context import Scope, StepFailure, StepOutcome
from baton.core.runner.runtime import Runtime
from baton.core.spec.model import StateKey
from baton.core.state import CHARS_PER_TOKEN, estimate_tokens, type_ok


def check_writes(rt: Runtime, writes: dict[str, Any]) -> dict[str, Any]:
    """Validate writes against the state schema (types, then limits)."""
    out: dict[str, Any] = {}
    for key, value in writes.items():
        decl = rt.spec.state.get(key)
        if decl is None:
            raise StepFailure(f"output writes undeclared key '{key}'", "output_invalid")
        out[key] = _fit(key, value, decl)
    return out


def _fit(key: str, value: Any, decl: StateKey) -> Any:
    item_of_list = decl.reducer == "append" and not isinstance(value, list)
    if item_of_list:
        ok = type_ok([value], decl.type)
    else:
        ok = type_ok(value, decl.type)
    if not ok:
        raise StepFailure(f"'{key}' must be {decl.type}, got {type(value).__name__}", "output_invalid")
    if isinstance(value, str) and value == "" and decl.type == "str":
        raise StepFailure(f"'{key}' would be empty", "output_invalid")
    over = _over_limit(value, decl)
    if over is None:
        return value
    if decl.on_overflow == "truncate":
        return _truncate(value, decl)
    raise StepFailure(f"'{key}' {over}", "output_invalid")


def _over_limit(value: Any, decl: StateKey) -> str | None:
    if decl.max_chars is not None and isinstance(value, str) and len(value) > decl.max_chars:
        return f"has {len(value)} chars, over its limit of {decl.max_chars}"
    if decl.max_items is not None and isinstance(value, list) and len(value) > decl.max_items:
        return f"has {len(value)} items, over its limit of {decl.max_items}"
    if decl.max_tokens is not None and decl.reducer != "append" and estimate_tokens(value) > decl.max_tokens:
        return f"has ~{estimate_tokens(value)} tokens, over its limit of {decl.max_tokens}"
    return None


def _truncate(value: Any, decl: StateKey) -> Any:
    if isinstance(value, str):
        limit = min(decl.max_chars or len(value), (decl.max_tokens or len(value)) * CHARS_PER_TOKEN)
        return value[:limit]
    if isinstance(value, list) and decl.max_items is not None:
        return value[: decl.max_items]
    return value


async def complete(
    rt: Runtime,
    scope: Scope,
    path: str,
    *,
    output: Any,
    writes: dict[str, Any],
    status: str = "completed",
    pre_events: Sequence[ev.Event] = (),
    tokens_in: int = 0,
    tokens_out: int = 0,
    cost: float | None = 0.0,
    latency: float = 0.0,
    note: str = "",
    jump: str | None = None,
    jump_by: str = "",
    apply: bool = True,
) -> StepOutcome:
    """The completion record: output, state update and events in one transaction. After it commits the
    step never runs again. `apply=False` records writes already applied by children (sequential
    composites) so that replay can apply them in one go."""
    ops = scope.apply(writes) if apply else []
    events: list[ev.Event] = list(pre_events)
    if scope.root and ops:
        events.append(ev.StateUpdated(step=path, ops=ops))
    events.append(
        ev.StepCompleted(
            step=path,
            status=status,
            output=output,
            writes=writes,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
            latency_s=round(latency, 6),
            note=note,
            next=jump or "",
        )
    )
    if jump:
        events += rt.jump_events(path, jump, output, jump_by or "router")
    await rt.sink.commit(events)
    rt.running.discard(path)
    rt.finished.add(path)
    if status == "degraded":
        rt.degraded = True
    return StepOutcome(status, output, writes, jump, tokens_in, tokens_out, cost)


async def skip(
    rt: Runtime, scope: Scope, path: str, decision: ev.DecisionMade | None, *, reason: str = "", jump: str | None = None
) -> StepOutcome:
    """Record a skipped step (with any values a person supplied in its place)."""
    supplied = check_writes(rt, dict(decision.supplied)) if decision is not None and decision.supplied else {}
    ops = scope.apply(supplied)
    events: list[ev.Event] = []
    if scope.root and ops:
        events.append(ev.StateUpdated(step=path, ops=ops))
    by = decision.by if decision is not None else "runner"
    text = reason or (f"skipped by {by}" + (f", continuing at '{jump}'" if jump else ""))
    events.append(ev.StepSkipped(step=path, reason=text, supplied=supplied, next=jump or ""))
    if jump:
        events += rt.jump_events(path, jump, None, by)
    await rt.sink.commit(events)
    rt.running.discard(path)
    rt.finished.add(path)
    return StepOutcome("skipped", None, supplied, jump)
