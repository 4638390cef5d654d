"""Leaf steps: agent, router, tool and gate."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
from collections.abc import Mapping
from typing import Any

from baton.core import events as ev
from baton.core import expr
from baton.core.runner import prompts
from baton.core.runner.context import Scope, SessionStop, StepFailure, StepOutcome
from baton.core.runner.model_step import ModelTask, run_model
from baton.core.runner.outputs import check_writes, complete, skip
from baton.core.runner.runtime import Ask, Runtime, text_diff
from baton.core.runner.stepping import pause_before, reason_before, targets_before
from baton.core.spec.model import AgentStep, GateStep, RouterStep, StepBase, ToolStep
from baton.core.state import type_ok
from baton.core.structured import JUDGE_FIELDS, router_fields

JUDGE_SYSTEM = (
    "You are a strict reviewer. Decide whether the work meets the bar described in the prompt. "
    "'pass' is true only if it does; 'feedback' says concretely what to improve."
)
ROUTER_SYSTEM = "You route requests to the step best suited to handle them. Pick exactly one route."


async def gather_inputs(
    rt: Runtime, step: StepBase, path: str, scope: Scope, variables: dict[str, Any]
) -> prompts.Inputs | StepOutcome:
    """Layer 1: the step's reads, present and within limits. A problem opens a checkpoint before any
    token is spent: supply the values (edit), skip the step, or pause."""
    round_ = 0
    overrides: dict[str, Any] = {}
    while True:
        state = {**scope.state, **overrides}
        try:
            return prompts.gather(step, state, rt.spec.state, variables)
        except StepFailure as failure:
            round_ += 1
            if rt.options.auto is not None and rt.options.decisions is None:
                raise SessionStop(f"step '{path}': {failure.message}", path, "input_invalid") from None
            decision = await rt.checkpoints.ask(
                Ask(
                    path,
                    "escalation",
                    message=f"input check failed: {failure.message}",
                    context={
                        "error": failure.message,
                        "category": "input_invalid",
                        "attempts": 0,
                        "reads": {k: state.get(k) for k in step.read_keys},
                    },
                    options=["edit", "skip", "pause"],
                    round=round_,
                    edit=_edit_values(step, rt, state),
                    skip_needs=rt.skip_needs(path),
                )
            )
            if decision.decision == "skip":
                return await skip(rt, scope, path, decision)
            overrides.update(decision.edited or {})


def _edit_values(step: StepBase, rt: Runtime, before: Mapping[str, Any]) -> Any:
    """Values a person supplies for state keys the step reads or writes: typed and within limits; the
    diff is against the values they replace."""
    allowed = set(step.read_keys) | set(step.writes)

    def edit(value: Any) -> tuple[Any, str]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError('give the values as a JSON object: {"key": value}') from None
        if not isinstance(value, dict) or not value:
            raise ValueError('give the values as a JSON object: {"key": value}')
        for key, item in value.items():
            if key not in allowed:
                raise ValueError(f"'{key}' is not read or written by this step")
            decl = rt.spec.state.get(key)
            if decl is not None and not type_ok(item, decl.type):
                raise ValueError(f"'{key}' must be {decl.type}")
        try:
            check_writes(rt, value)
        except StepFailure as failure:
            raise ValueError(failure.message) from None
        return value, text_diff({k: before.get(k) for k in value}, value, "values")

    return edit


async def run_agent(
    rt: Runtime, step: AgentStep, path: str, scope: Scope, variables: dict[str, Any], role: str
) -> StepOutcome:
    """One model call (structured when `output` is declared)."""
    inputs = await gather_inputs(rt, step, path, scope, variables)
    if isinstance(inputs, StepOutcome):
        return inputs
    judge = role == "judge"
    fields = step.output or (JUDGE_FIELDS if judge else None)
    writes = list(step.writes)

    def to_writes(output: Any) -> dict[str, Any]:
        if fields is None:
            return {writes[0]: output} if writes else {}
        return {k: output[k] for k in writes if isinstance(output, dict) and k in output}

    alias = step.model or rt.spec.defaults.model or ""
    task = ModelTask(
        path=path,
        kind="judge" if judge else "agent",
        alias=alias,
        system=step.system or (JUDGE_SYSTEM if judge else ""),
        template=step.prompt,
        fields=fields,
        to_writes=to_writes,
        review=step.review,
        policy=step,
        orchestration=bool(step.orchestration),
        reads=step.read_keys,
        fallback_prompt=f"Carry out the step '{step.id}'. {step.description}".strip(),
        can_reroute=role == "top",
    )
    return await run_model(rt, task, scope, inputs)


async def run_router(rt: Runtime, step: RouterStep, path: str, scope: Scope, variables: dict[str, Any]) -> StepOutcome:
    """Rules first, then the (cheap) model, then the default route."""
    inputs = await gather_inputs(rt, step, path, scope, variables)
    if isinstance(inputs, StepOutcome):
        return inputs
    env = inputs.env()
    label: str | None = None
    reason = ""
    for rule in step.rules:
        try:
            matched = expr.parse(rule.when).evaluate(env)
        except expr.ExprError as exc:
            raise SessionStop(f"router '{path}': {exc}", path, "rule_error") from None
        if matched:
            label, reason = rule.route, f"rule: {rule.when}"
            break
    if label is None and step.model is None:
        label, reason = step.default, "default route (no rule matched)"
    if label is not None:
        stopped = await pause_before(rt, path, scope, "router", "top")
        if stopped is not None:
            return stopped
        rt.sink.post(
            [
                ev.StepStarted(
                    step=path,
                    step_kind="router",
                    reads=step.read_keys,
                    input_chars=inputs.chars,
                    orchestration=_orchestration(step, True),
                )
            ]
        )
        output = {"route": label, "reason": reason}
        return await complete(
            rt,
            scope,
            path,
            output=output,
            writes=check_writes(rt, {w: label for w in step.writes[:1]}),
            jump=step.routes[label],
        )
    labels = list(step.routes)
    described = prompts.route_lines(rt.spec, step.routes)
    task = ModelTask(
        path=path,
        kind="router",
        alias=step.model or rt.spec.defaults.model or "",
        system=(step.system or ROUTER_SYSTEM) + "\n\nRoutes:\n" + described,
        template=step.prompt,
        fields=router_fields(labels),
        to_writes=lambda output: {w: output["route"] for w in step.writes[:1]},
        review=step.review,
        policy=step,
        orchestration=_orchestration(step, True),
        reads=step.read_keys,
        fallback_prompt="Which route fits this request?",
        to_jump=lambda output: step.routes.get(str(output.get("route"))) if isinstance(output, dict) else None,
    )
    return await run_model(rt, task, scope, inputs)


def _orchestration(step: StepBase, default: bool) -> bool:
    return default if step.orchestration is None else step.orchestration


async def run_gate(
    rt: Runtime, step: GateStep, path: str, scope: Scope, variables: dict[str, Any], role: str
) -> StepOutcome:
    """A pure human checkpoint: approve, edit the values it shows, reject (stops the session), reroute."""
    inputs = await gather_inputs(rt, step, path, scope, variables)
    if isinstance(inputs, StepOutcome):
        return inputs
    rt.sink.post([ev.StepStarted(step=path, step_kind="gate", reads=step.read_keys, input_chars=inputs.chars)])
    message = prompts.render(step.message, inputs.env()) if step.message else f"Continue past '{step.id}'?"
    targets = rt.reroute_targets(path) if role == "top" else []
    options = ["approve", "reject", "pause"]
    if step.read_keys:
        options.insert(1, "edit")
    if targets:
        options.insert(-1, "reroute")
    decision = await rt.checkpoints.ask(
        Ask(
            path,
            "gate",
            message=message,
            output=dict(inputs.values) or None,
            context={"reads": dict(inputs.values)},
            options=options,
            targets=targets,
            edit=_edit_values(step, rt, inputs.values),
        )
    )
    if decision.decision == "reject":
        feedback = f": {decision.feedback}" if decision.feedback else ""
        await rt.sink.commit(
            [ev.StepFailed(step=path, error=f"rejected by {decision.by}{feedback}", error_type="rejected")]
        )
        raise SessionStop(f"gate '{path}' rejected by {decision.by}{feedback}", path, "rejected")
    writes = check_writes(rt, dict(decision.edited or {})) if decision.decision == "edit" else {}
    return await complete(
        rt,
        scope,
        path,
        output=decision.decision,
        writes=writes,
        note=f"{decision.decision} by {decision.by}",
        jump=decision.target if decision.decision == "reroute" else None,
        jump_by=decision.by,
    )


async def run_tool(
    rt: Runtime, step: ToolStep, path: str, scope: Scope, variables: dict[str, Any], role: str
) -> StepOutcome:
    """A Python callable. A side-effecting one writes its intent before it runs, is gated by approval
    unless `review: never`, and is never silently re-run after a crash between intent and result."""
    inputs = await gather_inputs(rt, step, path, scope, variables)
    if isinstance(inputs, StepOutcome):
        return inputs
    started = rt.clock.now()
    env = inputs.env()
    args = {k: _render_arg(v, env) for k, v in step.args.items()}
    args_hash = hashlib.sha256(json.dumps(args, sort_keys=True, default=str).encode()).hexdigest()
    key = f"{rt.session_id}:{path}:{args_hash[:16]}"
    rt.sink.post([ev.StepStarted(step=path, step_kind="tool", reads=step.read_keys, input_chars=inputs.chars)])
    recorded = rt.history.tool_results.get(key)
    result: Any = None
    pre: list[ev.Event] = []
    if recorded is not None and recorded.ok:
        result = recorded.result
    else:
        if step.side_effects and key in rt.history.intents:
            decision = await rt.checkpoints.ask(
                Ask(
                    path,
                    "ambiguous",
                    message=f"'{step.call}' may or may not have run before the runner stopped "
                    "(its intent was recorded, its result was not). Run it again, supply its result, or skip.",
                    output=args,
                    context={"args": args, "idempotency_key": key},
                    options=["approve", "edit", "skip", "pause"],
                    edit=_any_value,
                    skip_needs=rt.skip_needs(path),
                )
            )
            if decision.decision == "skip":
                return await skip(rt, scope, path, decision)
            if decision.decision == "edit":
                result = decision.edited
                pre.append(ev.ToolCallFinished(step=path, tool=step.call, idempotency_key=key, ok=True, result=result))
                return await _finish_tool(rt, step, path, scope, result, pre, started)
        gate = (
            step.review.before_tools
            if step.review.before_tools is not None
            else step.review.mode == "always" or (step.side_effects and step.review.mode != "never")
        )
        reason = reason_before(rt, path)
        if gate or reason:
            targets = targets_before(rt, path) if role == "top" else []
            options = ["approve", "edit", "skip", "pause"] + (["reroute"] if targets else [])
            decision = await rt.checkpoints.ask(
                Ask(
                    path,
                    "before_tool" if gate else (reason or "step_mode"),
                    message=f"run {step.call}({', '.join(args)})"
                    + (" — it has side effects" if step.side_effects else ""),
                    output=args,
                    context={"args": args, "side_effects": step.side_effects},
                    options=options,
                    targets=targets,
                    edit=_edit_args(args),
                    skip_needs=rt.skip_needs(path),
                )
            )
            if decision.decision == "skip":
                return await skip(rt, scope, path, decision)
            if decision.decision == "reroute":
                return await skip(rt, scope, path, decision, jump=decision.target)
            if decision.decision == "edit":
                args = dict(decision.edited)
        try:
            result, pre = await _invoke(rt, step, path, args, key)
        except _Skip as skipped:
            return await skip(rt, scope, path, skipped.decision)
    return await _finish_tool(rt, step, path, scope, result, pre, started)


async def _finish_tool(
    rt: Runtime, step: ToolStep, path: str, scope: Scope, result: Any, pre: list[ev.Event], started: float
) -> StepOutcome:
    if len(step.writes) == 1:
        writes = {step.writes[0]: result}
    elif step.writes:
        if not isinstance(result, dict):
            raise SessionStop(
                f"tool '{step.call}' must return a dict with {', '.join(step.writes)}", path, "tool_error"
            )
        writes = {k: result[k] for k in step.writes if k in result}
    else:
        writes = {}
    return await complete(
        rt,
        scope,
        path,
        output=result,
        writes=check_writes(rt, writes),
        pre_events=pre,
        latency=rt.clock.now() - started,
    )


async def _invoke(rt: Runtime, step: ToolStep, path: str, args: dict[str, Any], key: str) -> tuple[Any, list[ev.Event]]:
    fn = rt.tools[step.call]
    attempt = 0
    while True:
        attempt += 1
        if step.side_effects:
            await rt.sink.commit(
                [
                    ev.ToolCallIntent(
                        step=path,
                        tool=step.call,
                        idempotency_key=key,
                        args_hash=key.rsplit(":", 1)[-1],
                        args=args,
                        side_effects=True,
                    )
                ]
            )
        t0 = rt.clock.now()
        try:
            result = await _call_tool(fn, _tool_shape(rt, step.call, fn), args, key, step.timeout_s)
            json.dumps(result, default=str)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            rt.sink.post(
                [
                    ev.ToolCallFinished(
                        step=path,
                        tool=step.call,
                        idempotency_key=key,
                        ok=False,
                        error=rt.redact(message),
                        latency_s=rt.clock.now() - t0,
                    )
                ]
            )
            if rt.options.auto is not None and rt.options.decisions is None:
                raise SessionStop(f"tool '{step.call}' at '{path}' failed: {message}", path, "tool_error") from None
            decision = await rt.checkpoints.ask(
                Ask(
                    path,
                    "escalation",
                    message=f"tool '{step.call}' failed: {message}",
                    context={"error": message, "category": "tool_error", "attempts": attempt, "args": args},
                    options=["approve", "edit", "skip", "pause"],
                    round=attempt,
                    edit=_any_value,
                    skip_needs=rt.skip_needs(path),
                )
            )
            if decision.decision == "skip":
                raise _Skip(decision) from None
            if decision.decision == "edit":
                return decision.edited, [
                    ev.ToolCallFinished(step=path, tool=step.call, idempotency_key=key, ok=True, result=decision.edited)
                ]
            continue
        finished = ev.ToolCallFinished(
            step=path,
            tool=step.call,
            idempotency_key=key,
            ok=True,
            result=result,
            latency_s=round(rt.clock.now() - t0, 6),
        )
        return result, [finished]


class _Skip(Exception):
    def __init__(self, decision: ev.DecisionMade) -> None:
        super().__init__("skip")
        self.decision = decision


def _tool_shape(rt: Runtime, call: str, fn: Any) -> tuple[bool, bool]:
    """(takes an idempotency key, is async) of a tool, worked out once per run."""
    shape = rt.tool_shapes.get(call)
    if shape is None:
        try:
            params: Mapping[str, Any] = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}
        shape = rt.tool_shapes[call] = ("idempotency_key" in params, inspect.iscoroutinefunction(fn))
    return shape


async def _call_tool(fn: Any, shape: tuple[bool, bool], args: dict[str, Any], key: str, limit_s: float | None) -> Any:
    kwargs = dict(args)
    takes_key, is_async = shape
    if takes_key:
        kwargs["idempotency_key"] = key
    if is_async:
        coro = fn(**kwargs)
    else:
        coro = asyncio.to_thread(fn, **kwargs)
    if limit_s:
        return await asyncio.wait_for(coro, limit_s)
    return await coro


def _render_arg(value: Any, env: dict[str, Any]) -> Any:
    if isinstance(value, str):
        names = prompts.placeholder_names(value)
        if len(names) == 1 and value.strip() == "{" + names[0] + "}":
            return env.get(names[0])
        return prompts.render(value, env)
    return value


def _any_value(value: Any) -> tuple[Any, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    return value, text_diff("", value, "result")


def _edit_args(args: dict[str, Any]) -> Any:
    def edit(value: Any) -> tuple[Any, str]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("edited arguments must be a JSON object") from None
        if not isinstance(value, dict):
            raise ValueError("edited arguments must be a JSON object")
        unknown = sorted(set(value) - set(args))
        if unknown:
            raise ValueError(f"unknown argument{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
        return value, text_diff(args, value, "arguments")

    return edit
