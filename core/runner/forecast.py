"""What a step's model calls will cost before they are sent.

A reviewer sees the next step's cost range (`context["next"]` of a review checkpoint) and `baton estimate`
ranges a whole workflow before it runs. Both build the same messages the runner would send (system
prompt, JSON instructions, the rendered template) and price them with the gateway's forecast: prompt
tokens by litellm's counter × input price, plus 0 … max output tokens × output price.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from baton.core.llm.types import LLMRequest
from baton.core.runner import prompts
from baton.core.runner.needs import step_id
from baton.core.spec.graph import successors, top_index
from baton.core.spec.model import (
    END,
    AgentStep,
    LoopStep,
    MapStep,
    ModelSpec,
    ParallelStep,
    RouterStep,
    SequenceStep,
    Step,
    SupervisorStep,
    WorkflowSpec,
)
from baton.core.state import apply_ops
from baton.core.structured import JUDGE_FIELDS, manager_fields, router_fields

if TYPE_CHECKING:
    from baton.core.runner.runtime import Runtime

Range = tuple[float, float]


@dataclass(frozen=True)
class CallShape:
    """One model call a step makes: who, with which system prompt, template and reply fields."""

    path: str
    alias: str
    system: str
    template: str
    fields: dict[str, str] | None
    max_tokens: int | None
    fallback_prompt: str
    reads: list[str]
    optional: bool = False
    writes: tuple[str, ...] = ()


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


def shape(spec: WorkflowSpec, step: Step, path: str, role: str = "top") -> CallShape | None:
    """The model call of a leaf step (None when it calls no model: tools, gates, rules-only routers)."""
    from baton.core.runner.leaf import JUDGE_SYSTEM, ROUTER_SYSTEM

    default = spec.defaults.model or ""
    if isinstance(step, AgentStep):
        judge = role == "judge"
        return CallShape(
            path,
            step.model or default,
            step.system or (JUDGE_SYSTEM if judge else ""),
            step.prompt,
            step.output or (JUDGE_FIELDS if judge else None),
            step.max_tokens,
            f"Carry out the step '{step.id}'. {step.description}".strip(),
            step.read_keys,
            writes=tuple(step.writes),
        )
    if isinstance(step, RouterStep) and step.model is not None:
        routes = prompts.route_lines(spec, step.routes)
        return CallShape(
            path,
            step.model or default,
            (step.system or ROUTER_SYSTEM) + "\n\nRoutes:\n" + routes,
            step.prompt,
            router_fields(list(step.routes)),
            step.max_tokens,
            "Which route fits this request?",
            step.read_keys,
            optional=bool(step.rules),
            writes=tuple(step.writes[:1]),
        )
    return None


def one_pass(spec: WorkflowSpec, step: Step, path: str, role: str = "top") -> Pass:
    """Every model call one run of `step` can make, nested as the step nests."""
    from baton.core.runner.composite import MANAGER_SYSTEM

    leaf = shape(spec, step, path, role)
    if leaf is not None:
        return Pass([leaf])
    if isinstance(step, ParallelStep):
        return Pass([], children=tuple(one_pass(spec, b, f"{path}/{b.id}", "branch") for b in step.branches))
    if isinstance(step, SequenceStep):
        return Pass([], children=tuple(one_pass(spec, c, f"{path}/{c.id}", "body") for c in step.steps))
    if isinstance(step, MapStep):
        child = one_pass(spec, step.step, f"{path}[0]", "item")
        return Pass([], children=(child,), repeat=(0, step.max_items), per_item=True, over=step.over)
    if isinstance(step, LoopStep):
        body = [one_pass(spec, c, f"{path}#1/{c.id}", "body") for c in step.steps]
        if step.judge is not None:
            body.append(one_pass(spec, step.judge, f"{path}#1/{step.judge.id}", "judge"))
        return Pass([], children=(Pass([], children=tuple(body), repeat=(1, step.max_iterations)),))
    if isinstance(step, SupervisorStep):
        m = step.manager
        workers = "\n".join(f"- {w.id}: {w.description or w.kind}" for w in step.workers)
        manager = CallShape(
            f"{path}/manager",
            m.model or spec.defaults.model or "",
            (m.system or MANAGER_SYSTEM) + "\n\nWorkers:\n" + workers,
            m.prompt,
            manager_fields([w.id for w in step.workers]),
            m.max_tokens,
            "Which workers are needed?",
            step.read_keys,
        )
        chosen = Pass(
            [],
            children=tuple(one_pass(spec, w, f"{path}/{w.id}", "worker") for w in step.workers),
            optional_children=True,
        )
        tail = (one_pass(spec, step.synthesis, f"{path}/{step.synthesis.id}", "synthesis"),) if step.synthesis else ()
        return Pass([manager], children=(chosen, *tail))
    return Pass([])


def request(spec: WorkflowSpec, models: Mapping[str, ModelSpec], call: CallShape, user: str) -> LLMRequest | None:
    """The request the runner would send for `call` with this user message (None for an unknown alias)."""
    model = models.get(call.alias) or (ModelSpec(model=call.alias) if "/" in call.alias else None)
    if model is None:
        return None
    system = call.system
    if call.fields:
        system = (system + "\n\n" if system else "") + prompts.json_instructions(call.fields)
    return LLMRequest(
        model=model.model,
        alias=call.alias,
        messages=prompts.messages(system, user),
        max_tokens=call.max_tokens or model.max_tokens or spec.defaults.max_tokens,
    )


def user_message(call: CallShape, state: Mapping[str, Any], variables: Mapping[str, Any] | None = None) -> str:
    """The user message rendered from `state` (limits are not enforced here: this is a forecast)."""
    inputs = prompts.Inputs({k: state.get(k) for k in call.reads}, dict(variables or {}))
    return prompts.user_prompt(call.template, inputs, call.fallback_prompt)


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


def next_step(spec: WorkflowSpec, path: str, jump: str | None) -> Step | None:
    """The top-level step that runs after `path` (a top-level step, or one nested in it)."""
    top = step_id(path.split("/", 1)[0])
    index = top_index(spec)
    if top not in index:
        return None
    target = (jump if top == path else None) or successors(spec, index[top])[0]
    if target == END or target not in index:
        return None
    return spec.steps[index[target]]


def next_forecast(rt: Runtime, path: str, writes: Mapping[str, Any], jump: str | None) -> dict[str, Any] | None:
    """What a review checkpoint shows of the next step: its id, model(s) and cost range with this output
    accepted (None when nothing runs next). A forecast never stops a review: on any problem it is None."""
    try:
        return _next_forecast(rt, path, writes, jump)
    except Exception:
        return None


def _next_forecast(rt: Runtime, path: str, writes: Mapping[str, Any], jump: str | None) -> dict[str, Any] | None:
    step = next_step(rt.spec, path, jump)
    if step is None:
        return None
    state = dict(rt.root.state)
    apply_ops(state, rt.root.ops_for(dict(writes)))
    p = one_pass(rt.spec, step, step.id)
    items = len(state[step.over]) if isinstance(step, MapStep) and isinstance(state.get(step.over), list) else None

    def forecast(req: LLMRequest) -> Range | None:
        try:
            return rt.llm.forecast(req)[1]
        except Exception:
            return None

    rng = pass_range(rt.spec, rt.models, forecast, p, state, items)
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
