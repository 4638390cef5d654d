"""Which model call a step makes: its model, prompts, reply fields, limits and fallbacks.

Built once from the spec and used by the runner (to send the call) and by the cost forecast (to price
it before it is sent), so what is forecast is exactly what is sent: the same system prompt (with the
judge, router or manager instructions and the JSON reply description), the same user message, the
same `max_tokens` — and therefore the same request hash, by which recorded answers are replayed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from baton.core.llm.types import LLMRequest
from baton.core.runner import prompts
from baton.core.spec.model import (
    AgentStep,
    CallPolicy,
    Defaults,
    ModelSpec,
    RetryPolicy,
    RouterStep,
    Step,
    SupervisorStep,
    TimeoutPolicy,
    WorkflowSpec,
)
from baton.core.structured import JUDGE_FIELDS, json_schema, manager_fields, router_fields

JUDGE_SYSTEM = (
    "You are a strict reviewer. Decide whether the work meets the bar described in the prompt. "
    "'pass' is true only if it does; 'feedback' says concretely what to improve."
)
ROUTER_SYSTEM = "You route requests to the step best suited to handle them. Pick exactly one route."
MANAGER_SYSTEM = (
    "You are a manager. Decide which of the workers below are needed for this request, and why. "
    "Choose only the workers whose output the final answer needs."
)


@dataclass(frozen=True)
class CallShape:
    """One model call a step makes. `kind` is agent, judge, router or manager; `optional` marks a call
    that may not happen (a router whose rules may decide first)."""

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
    kind: str = "agent"
    temperature: float | None = None
    fallback: tuple[str, ...] = ()
    fallback_static: Any = None
    retry: RetryPolicy | None = None
    timeout: TimeoutPolicy | None = None
    orchestration: bool = False

    def retry_policy(self, defaults: Defaults) -> RetryPolicy:
        """The step's retry policy, else the workflow's."""
        return self.retry or defaults.retry

    def timeout_policy(self, defaults: Defaults) -> TimeoutPolicy:
        """The step's watchdogs, else the workflow's."""
        return self.timeout or defaults.timeout


def shape(spec: WorkflowSpec, step: Step, path: str, role: str = "top") -> CallShape | None:
    """The model call of a leaf step (None when it calls no model: tools, gates, rules-only routers)."""
    default = spec.defaults.model or ""
    if isinstance(step, AgentStep):
        judge = role == "judge"
        return _with_policy(
            step,
            CallShape(
                path,
                step.model or default,
                step.system or (JUDGE_SYSTEM if judge else ""),
                step.prompt,
                step.output or (JUDGE_FIELDS if judge else None),
                step.max_tokens,
                f"Carry out the step '{step.id}'. {step.description}".strip(),
                step.read_keys,
                writes=tuple(step.writes),
                kind="judge" if judge else "agent",
                orchestration=bool(step.orchestration),
            ),
        )
    if isinstance(step, RouterStep) and step.model is not None:
        routes = prompts.route_lines(spec, step.routes)
        return _with_policy(
            step,
            CallShape(
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
                kind="router",
                orchestration=True if step.orchestration is None else step.orchestration,
            ),
        )
    return None


def manager_shape(spec: WorkflowSpec, step: SupervisorStep, path: str) -> CallShape:
    """The call of a supervisor's manager (at `path/manager`): which workers run, and why."""
    m = step.manager
    workers = "\n".join(f"- {w.id}: {w.description or w.kind}" for w in step.workers)
    return _with_policy(
        m,
        CallShape(
            f"{path}/manager",
            m.model or spec.defaults.model or "",
            (m.system or MANAGER_SYSTEM) + "\n\nWorkers:\n" + workers,
            m.prompt,
            manager_fields([w.id for w in step.workers]),
            m.max_tokens,
            "Which workers are needed?",
            step.read_keys,
            kind="manager",
            orchestration=True if step.orchestration is None else step.orchestration,
        ),
    )


def _with_policy(policy: CallPolicy, call: CallShape) -> CallShape:
    return dataclasses.replace(
        call,
        temperature=policy.temperature,
        fallback=tuple(policy.fallback),
        fallback_static=policy.fallback_static,
        retry=policy.retry,
        timeout=policy.timeout,
    )


def system_text(call: CallShape) -> str:
    """The system prompt as sent: the step's, plus a plain description of the JSON reply when structured."""
    system = call.system
    if call.fields:
        system = (system + "\n\n" if system else "") + prompts.json_instructions(call.fields)
    return system


def user_message(call: CallShape, state: Mapping[str, Any], variables: Mapping[str, Any] | None = None) -> str:
    """The user message rendered from `state` (limits are not enforced here: this is a forecast)."""
    inputs = prompts.Inputs({k: state.get(k) for k in call.reads}, dict(variables or {}))
    return prompts.user_prompt(call.template, inputs, call.fallback_prompt)


def build_request(call: CallShape, alias: str, model: ModelSpec, defaults: Defaults, user: str) -> LLMRequest:
    """The request for `call` on `alias` (which points at `model`) with this user message."""
    return LLMRequest(
        model=model.model,
        alias=alias,
        messages=prompts.messages(system_text(call), user),
        max_tokens=call.max_tokens or model.max_tokens or defaults.max_tokens,
        temperature=call.temperature if call.temperature is not None else model.temperature,
        response_format=json_schema(call.fields, call.path) if call.fields else None,
        api_base=model.api_base,
        api_key_env=model.api_key_env,
        params=dict(model.params),
        mock=model.mock.model_dump() if model.mock is not None else None,
    )


def retarget(request: LLMRequest, alias: str, model: ModelSpec) -> LLMRequest:
    """The same request sent to another alias (fallbacks, retry on another model)."""
    return request.with_model(
        model.model,
        alias,
        api_base=model.api_base,
        api_key_env=model.api_key_env,
        params=dict(model.params),
        mock=model.mock.model_dump() if model.mock is not None else None,
        temperature=request.temperature if request.temperature is not None else model.temperature,
    )


def model_for(models: Mapping[str, ModelSpec], alias: str) -> ModelSpec | None:
    """What an alias points at; a literal `provider/model` works without an alias (None when unknown)."""
    spec = models.get(alias)
    if spec is not None:
        return spec
    return ModelSpec(model=alias) if "/" in alias else None


def request(spec: WorkflowSpec, models: Mapping[str, ModelSpec], call: CallShape, user: str) -> LLMRequest | None:
    """The request the runner would send for `call` with this user message (None for an unknown alias)."""
    model = model_for(models, call.alias)
    if model is None:
        return None
    return build_request(call, call.alias, model, spec.defaults, user)
