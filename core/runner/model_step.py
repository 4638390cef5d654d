"""A step that asks a model: agents, routers, a supervisor's manager, a loop's judge.

The round loop: get an output (recorded, or from the model through every automatic layer), decide
whether a person must look at it, and act on their decision. Rejections re-run with the feedback in
the prompt and open the checkpoint again on the new output, until approved or the limit is reached.
A failure that got through every layer becomes an escalation checkpoint, never a silent skip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from baton.core import events as ev
from baton.core.runner import prompts
from baton.core.runner.calls import BudgetBlocked, CallPlan, CallResult, call
from baton.core.runner.context import Scope, SessionStop, StepFailure, StepOutcome
from baton.core.runner.forecast import next_forecast
from baton.core.runner.outputs import check_writes, complete, skip
from baton.core.runner.runtime import Ask, Runtime, text_diff
from baton.core.runner.stepping import reason_before, targets_before
from baton.core.spec.model import ReviewSpec
from baton.core.structured import OutputInvalid, json_schema, parse_reply, validate


@dataclass
class ModelTask:
    """What to ask, of whom, and what to do with the answer."""

    path: str
    kind: str
    alias: str
    system: str
    template: str
    fields: dict[str, str] | None
    to_writes: Callable[[Any], dict[str, Any]]
    review: ReviewSpec
    policy: Any
    orchestration: bool
    reads: list[str]
    fallback_prompt: str = ""
    can_reroute: bool = True
    to_jump: Callable[[Any], str | None] = lambda output: None


REVIEW_OPTIONS = ["approve", "edit", "reject", "reroute", "retry_model", "skip", "pause"]


async def run_model(rt: Runtime, task: ModelTask, scope: Scope, inputs: prompts.Inputs) -> StepOutcome:
    """Run a model-backed step to completion (or skip, jump, pause, stop)."""
    path = task.path
    started = rt.clock.now()
    alias = task.alias
    edited_prompt: str | None = None
    prompt_override: str | None = None
    rounds: list[tuple[Any, str]] = []
    round_ = 1
    escalations = 0
    budget_asks = 0
    cost_cleared = task.review.cost_over is None
    override_budget = False
    replay_ok = True  # only a step's first call may be answered from the record (resume, fork)
    totals = _Totals()
    rt.sink.post(
        [
            ev.StepStarted(
                step=path,
                step_kind=task.kind,
                model=alias,
                reads=task.reads,
                input_chars=inputs.chars,
                orchestration=task.orchestration,
            )
        ]
    )
    before = await _before_step(rt, task, inputs, scope)
    if isinstance(before, StepOutcome):
        return before
    if before is not None:
        alias, edited_prompt = before
    while True:
        recorded = rt.history.output(path, round_)
        result: CallResult | None = None
        if recorded is not None:
            output, degraded, user = recorded.output, recorded.degraded, recorded.prompt
            alias = recorded.model or alias
        else:
            user = prompt_override or prompts.with_feedback(
                edited_prompt or prompts.user_prompt(task.template, inputs, task.fallback_prompt), rounds
            )
            request = _request(rt, task, alias, user)
            if not cost_cleared:
                _, forecast = rt.llm.forecast(request)
                assert task.review.cost_over is not None
                if forecast is None or forecast[1] > task.review.cost_over:
                    shown = f"${forecast[1]:.4f}" if forecast else "unknown"
                    decision = await rt.checkpoints.ask(
                        Ask(
                            path,
                            "cost",
                            message=f"forecast {shown} is over cost_over ${task.review.cost_over:g}",
                            context={"prompt": user},
                            options=["approve", "edit", "retry_model", "skip", "pause"],
                            forecasts=rt.forecasts(request),
                            round=round_,
                            edit=_edit_prompt(user),
                            skip_needs=rt.skip_needs(path),
                        )
                    )
                    cost_cleared = True
                    if decision.decision == "skip":
                        return await skip(rt, scope, path, decision)
                    if decision.decision == "retry_model":
                        alias = decision.model
                    if decision.decision == "edit":
                        prompt_override = str(decision.edited)
                    continue
                cost_cleared = True
            plan = CallPlan(
                request,
                list(task.policy.fallback),
                task.policy.fallback_static,
                _retry(rt, task),
                _timeout(rt, task),
                replay=replay_ok,
                budget_override=override_budget,
            )
            replay_ok = False
            try:
                async with rt.limit:
                    result = await call(rt, path, plan, _validator(rt, task))
            except BudgetBlocked as blocked:
                budget_asks += 1
                v = blocked.verdict
                message = (
                    f"{v.scope} budget ${v.limit_usd:.4f}: ${v.spent_usd:.4f} spent and reserved, "
                    f"this call could cost up to ${v.forecast_usd:.4f}"
                    if v.forecast_usd
                    else f"{v.scope} budget ${v.limit_usd:.4f}: the price of '{alias}' is unknown"
                )
                decision = await rt.checkpoints.ask(
                    Ask(
                        path,
                        "budget",
                        message=message,
                        context={"prompt": user},
                        options=["approve", "retry_model", "skip", "pause"],
                        forecasts=rt.forecasts(request),
                        round=budget_asks,
                        skip_needs=rt.skip_needs(path),
                    )
                )
                if decision.decision == "skip":
                    return await skip(rt, scope, path, decision)
                if decision.decision == "retry_model":
                    alias = decision.model
                else:
                    override_budget = True
                continue
            except StepFailure as failure:
                escalations += 1
                if escalations > rt.options.escalation_limit:
                    raise SessionStop(f"step '{path}' failed: {failure.message}", path, failure.category) from None
                decision = await rt.checkpoints.ask(
                    Ask(
                        path,
                        "escalation",
                        message=f"{failure.message} ({failure.detail or 'no attempts'})",
                        context={
                            "error": failure.message,
                            "category": failure.category,
                            "attempts": failure.attempts,
                            "prompt": user,
                        },
                        options=["approve", "retry_model", "edit", "skip", "pause"],
                        forecasts=rt.forecasts(request),
                        round=escalations,
                        edit=_edit_prompt(user),
                        skip_needs=rt.skip_needs(path),
                    )
                )
                if decision.decision == "skip":
                    return await skip(rt, scope, path, decision)
                if decision.decision == "retry_model":
                    alias = decision.model
                if decision.decision == "edit":
                    prompt_override = str(decision.edited)
                continue
            totals.add(result)
            output, degraded = result.value, result.degraded
            alias = result.alias
        reason = _review_reason(rt, task, output, inputs, degraded)
        pre: list[ev.Event] = []
        if result is not None and result.finished is not None:
            pre.append(result.finished)
        if reason is None:
            writes = check_writes(rt, task.to_writes(output))
            return await complete(
                rt,
                scope,
                path,
                output=output,
                writes=writes,
                status="degraded" if degraded else "completed",
                pre_events=pre,
                tokens_in=totals.tokens_in,
                tokens_out=totals.tokens_out,
                cost=totals.cost,
                latency=rt.clock.now() - started,
                note=_note(result, degraded),
                jump=task.to_jump(output),
            )
        if recorded is None:
            pre.append(
                ev.StepOutput(step=path, output=output, round=round_, prompt=user, model=alias, degraded=degraded)
            )
        targets = rt.reroute_targets(path) if task.can_reroute else []
        options = [
            o
            for o in REVIEW_OPTIONS
            if not (o == "reject" and len(rounds) >= task.review.max_rejections)
            and not (o == "reroute" and not targets)
        ]
        decision = await rt.checkpoints.ask(
            Ask(
                path,
                reason,
                message=_review_message(reason, task, output),
                output=output,
                reasoning=_reasoning(output),
                context={
                    **_context(task, inputs, totals, result, user, alias),
                    "next": next_forecast(rt, path, task.to_writes(output), task.to_jump(output)),
                },
                options=options,
                targets=targets,
                forecasts=rt.forecasts(_request(rt, task, alias, user)),
                round=round_,
                edit=_edit_output(rt, task, output),
                skip_needs=rt.skip_needs(path),
                pre_events=pre,
            )
        )
        kind = decision.decision
        if kind in ("approve", "edit", "reroute"):
            final = decision.edited if kind == "edit" else output
            writes = check_writes(rt, task.to_writes(final))
            jump = decision.target if kind == "reroute" else task.to_jump(final)
            return await complete(
                rt,
                scope,
                path,
                output=final,
                writes=writes,
                status="degraded" if degraded else "completed",
                tokens_in=totals.tokens_in,
                tokens_out=totals.tokens_out,
                cost=totals.cost,
                latency=rt.clock.now() - started,
                note=f"{kind} by {decision.by}",
                jump=jump,
                jump_by=decision.by if kind == "reroute" else "",
            )
        if kind == "skip":
            return await skip(rt, scope, path, decision)
        if kind == "reject":
            rounds.append((output, decision.feedback))
        elif kind == "retry_model":
            alias = decision.model
        prompt_override = None
        round_ += 1


class _Totals:
    def __init__(self) -> None:
        self.tokens_in = 0
        self.tokens_out = 0
        self.cost: float | None = 0.0

    def add(self, result: CallResult) -> None:
        self.tokens_in += result.tokens_in
        self.tokens_out += result.tokens_out
        if result.cost_usd is None or self.cost is None:
            self.cost = None
        else:
            self.cost += result.cost_usd


def _request(rt: Runtime, task: ModelTask, alias: str, user: str) -> Any:
    system = task.system
    if task.fields:
        system = (system + "\n\n" if system else "") + prompts.json_instructions(task.fields)
    return rt.request(
        alias,
        prompts.messages(system, user),
        max_tokens=task.policy.max_tokens,
        temperature=task.policy.temperature,
        response_format=json_schema(task.fields, task.path) if task.fields else None,
    )


def _retry(rt: Runtime, task: ModelTask) -> Any:
    return task.policy.retry or rt.spec.defaults.retry


def _timeout(rt: Runtime, task: ModelTask) -> Any:
    return task.policy.timeout or rt.spec.defaults.timeout


def _validator(rt: Runtime, task: ModelTask) -> Callable[[str], Any]:
    """Parse a reply and check what it would write against the state schema, so an answer that could
    not be stored counts as invalid (retried, then escalated) rather than failing after the call."""
    fields = task.fields

    def check(text: str) -> Any:
        if fields:
            value: Any = parse_reply(text, fields)
        elif not text.strip():
            raise OutputInvalid("the model returned an empty answer")
        else:
            value = text
        try:
            check_writes(rt, task.to_writes(value))
        except StepFailure as failure:
            raise OutputInvalid(failure.message) from None
        return value

    return check


def _review_reason(rt: Runtime, task: ModelTask, output: Any, inputs: prompts.Inputs, degraded: bool) -> str | None:
    review = task.review
    if review.mode == "always":
        return "review"
    if review.mode == "on_failure" and degraded:
        return "on_failure"
    if review.when:
        from baton.core import expr

        env = {**inputs.env(), **(output if isinstance(output, dict) else {})}
        try:
            if expr.parse(review.when).evaluate(env):
                return "confidence"
        except expr.ExprError:
            return "confidence"
    if review.sample:
        digest = hashlib.sha256(f"{rt.session_id}:{task.path}:sample".encode()).digest()
        if int.from_bytes(digest[:4], "big") / 2**32 < review.sample:
            return "sample"
    return None


def _review_message(reason: str, task: ModelTask, output: Any) -> str:
    if reason == "confidence":
        return f"review because {task.review.when}"
    if reason == "sample":
        return f"random audit ({(task.review.sample or 0):.0%} of runs)"
    if reason == "on_failure":
        return "the answer came from a fallback: check it"
    return f"review the output of '{task.path}'"


def _reasoning(output: Any) -> str:
    if isinstance(output, dict):
        for key in ("reason", "reasoning", "rationale", "feedback"):
            if isinstance(output.get(key), str):
                return str(output[key])
    return ""


def _context(
    task: ModelTask, inputs: prompts.Inputs, totals: _Totals, result: CallResult | None, user: str, alias: str
) -> dict[str, Any]:
    return {
        "reads": {k: v for k, v in inputs.values.items()},
        "prompt": user,
        "model": alias,
        "tokens_in": totals.tokens_in,
        "tokens_out": totals.tokens_out,
        "cost_usd": totals.cost,
        "latency_s": round(result.latency_s, 3) if result else None,
        "attempts": result.attempts if result else 0,
        "retries": max(0, (result.attempts if result else 0) - 1),
        "degraded": bool(result and result.degraded),
    }


def _note(result: CallResult | None, degraded: bool) -> str:
    notes = list(result.notes) if result else []
    if degraded and not (result and result.static):
        notes.append(f"answered by fallback model {result.alias}" if result else "degraded")
    return "; ".join(notes)


def _edit_output(rt: Runtime, task: ModelTask, output: Any) -> Callable[[Any], tuple[Any, str]]:
    """Validate an edited output as strictly as a model's: its schema, then the state keys it writes."""
    fields = task.fields

    def edit(value: Any) -> tuple[Any, str]:
        edited: Any
        if fields:
            try:
                edited = parse_reply(value, fields) if isinstance(value, str) else validate(value, fields)
            except OutputInvalid as exc:
                raise ValueError(f"edited output is invalid: {exc}") from None
        elif not isinstance(value, str) or not value.strip():
            raise ValueError("edited output must be non-empty text")
        else:
            edited = value
        try:
            check_writes(rt, task.to_writes(edited))
        except StepFailure as failure:
            raise ValueError(f"edited output is invalid: {failure.message}") from None
        return edited, text_diff(output, edited)

    return edit


def _edit_prompt(prompt: str) -> Callable[[Any], tuple[Any, str]]:
    def edit(value: Any) -> tuple[Any, str]:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("the edited prompt must be non-empty text")
        return value, text_diff(prompt, value, "prompt")

    return edit


async def _before_step(
    rt: Runtime, task: ModelTask, inputs: prompts.Inputs, scope: Scope
) -> StepOutcome | tuple[str, str | None] | None:
    """Step mode and breakpoints: ask before the step runs. Returns an outcome (skipped or rerouted),
    a (model, edited prompt) to run with, or None to run as is."""
    path = task.path
    reason = reason_before(rt, path)
    if reason is None:
        return None
    user = prompts.user_prompt(task.template, inputs, task.fallback_prompt)
    request = _request(rt, task, task.alias, user)
    targets = targets_before(rt, path) if task.can_reroute else []
    options = ["approve", "edit", "retry_model", "skip", "pause"] + (["reroute"] if targets else [])
    decision = await rt.checkpoints.ask(
        Ask(
            path,
            reason,
            message=f"about to run '{path}' on {task.alias}",
            context={"reads": dict(inputs.values), "prompt": user, "model": task.alias},
            options=options,
            targets=targets,
            forecasts=rt.forecasts(request),
            edit=_edit_prompt(user),
            skip_needs=rt.skip_needs(path),
        )
    )
    if decision.decision == "skip":
        return await skip(rt, scope, path, decision)
    if decision.decision == "reroute":
        return await skip(rt, scope, path, decision, jump=decision.target)
    if decision.decision == "retry_model":
        return decision.model, None
    if decision.decision == "edit":
        return task.alias, str(decision.edited)
    return None
