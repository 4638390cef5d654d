"""What a step's model calls will cost before they are sent.

A reviewer sees the next step's cost range (`context["next"]` of a review checkpoint) and `baton estimate`
ranges a whole workflow before it runs. Both price the calls `shape` says a step makes — the very
requests the runner would send — with the gateway's forecast: prompt tokens by litellm's counter × input
price, plus 0 … max output tokens × output price.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from baton.core.llm.types import LLMClient, LLMRequest
from baton.core.runner.context import Scope
from baton.core.runner.navigation import next_step
from baton.core.runner.shape import CallShape, manager_shape, request, shape, user_message
from baton.core.spec.model import (
    LoopStep,
    MapStep,
    ModelSpec,
    ParallelStep,
    SequenceStep,
    Step,
    SupervisorStep,
    WorkflowSpec,
)
from baton.core.state import apply_ops
from baton.core.step_path import StepPath

__all__ = ["CallShape", "Pass", "next_forecast", "one_pass", "pass_range", "request", "user_message"]

Range = tuple[float, float]


@dataclass(frozen=True)
class Pass:
    """The model calls of one pass through a step; `repeat` is (min, max) passes (map items, loop rounds);
    `per_item` passes repeat once per item of a map's list when it is known."""

    shapes: list[CallShape]
    repeat: tuple[int, int] = (1, 1)
    children: tuple[Pass, ...] = ()
    optional_children: bool = False
    per_item: bool = False
    over: str = ""


def one_pass(spec: WorkflowSpec, step: Step, path: str, role: str = "top") -> Pass:
    """Every model call one run of `step` can make, nested as the step nests."""
    leaf = shape(spec, step, path, role)
    if leaf is not None:
        return Pass([leaf])
    at = StepPath(path)
    if isinstance(step, ParallelStep):
        return Pass([], children=tuple(one_pass(spec, b, at.child(b.id), "branch") for b in step.branches))
    if isinstance(step, SequenceStep):
        return Pass([], children=tuple(one_pass(spec, c, at.child(c.id), "body") for c in step.steps))
    if isinstance(step, MapStep):
        child = one_pass(spec, step.step, at.item(0), "item")
        return Pass([], children=(child,), repeat=(0, step.max_items), per_item=True, over=step.over)
    if isinstance(step, LoopStep):
        first = at.iteration(1)
        body = [one_pass(spec, c, first.child(c.id), "body") for c in step.steps]
        if step.judge is not None:
            body.append(one_pass(spec, step.judge, first.child(step.judge.id), "judge"))
        return Pass([], children=(Pass([], children=tuple(body), repeat=(1, step.max_iterations)),))
    if isinstance(step, SupervisorStep):
        chosen = Pass(
            [],
            children=tuple(one_pass(spec, w, at.child(w.id), "worker") for w in step.workers),
            optional_children=True,
        )
        synthesis = step.synthesis
        tail = (one_pass(spec, synthesis, at.child(synthesis.id), "synthesis"),) if synthesis else ()
        return Pass([manager_shape(spec, step, path)], children=(chosen, *tail))
    return Pass([])


Forecaster = Callable[[LLMRequest], "Range | None"]


def pass_range(
    spec: WorkflowSpec,
    models: Mapping[str, ModelSpec],
    forecast: Forecaster,
    p: Pass,
    state: Mapping[str, Any],
    items: int | None = None,
) -> Range | None:
    """(low, high) USD of one pass priced against `state`; None when a price is unknown."""
    low = high = 0.0
    for call in p.shapes:
        req = request(spec, models, call, user_message(call, state))
        rng = forecast(req) if req is not None else None
        if rng is None:
            return None
        low += 0.0 if call.optional else rng[0]
        high += rng[1]
    for child in p.children:
        rng = pass_range(spec, models, forecast, child, state)
        if rng is None:
            return None
        low += 0.0 if p.optional_children else rng[0]
        high += rng[1]
    lo_n, hi_n = (items, items) if p.per_item and items is not None else p.repeat
    return low * lo_n, high * hi_n


def next_forecast(
    spec: WorkflowSpec,
    models: Mapping[str, ModelSpec],
    llm: LLMClient,
    root: Scope,
    path: str,
    writes: Mapping[str, Any],
    jump: str | None,
) -> dict[str, Any] | None:
    """What a review checkpoint shows of the next step: its id, model(s) and cost range with this output
    accepted (None when nothing runs next). A forecast never stops a review: on any problem it is None."""
    try:
        return _next_forecast(spec, models, llm, root, path, writes, jump)
    except Exception:
        return None


def _next_forecast(
    spec: WorkflowSpec,
    models: Mapping[str, ModelSpec],
    llm: LLMClient,
    root: Scope,
    path: str,
    writes: Mapping[str, Any],
    jump: str | None,
) -> dict[str, Any] | None:
    step = next_step(spec, path, jump)
    if step is None:
        return None
    state = dict(root.state)
    apply_ops(state, root.ops_for(dict(writes)))
    p = one_pass(spec, step, step.id)
    items = len(state[step.over]) if isinstance(step, MapStep) and isinstance(state.get(step.over), list) else None

    def forecast(req: LLMRequest) -> Range | None:
        try:
            return llm.forecast(req)[1]
        except Exception:
            return None

    rng = pass_range(spec, models, forecast, p, state, items)
    aliases = list(dict.fromkeys(call.alias for call in _calls(p)))
    return {
        "step": step.id,
        "model": ", ".join(aliases),
        "forecast": [round(rng[0], 8), round(rng[1], 8)] if rng is not None else None,
    }


def _calls(p: Pass) -> list[CallShape]:
    out = list(p.shapes)
    for child in p.children:
        out += _calls(child)
    return out
