"""A step that asks a model: agents, routers, a supervisor's manager, a loop's judge.

The drive loop: get an answer (recorded, or from the model through every automatic layer), decide
whether a person must look at it, and follow their decision. Each stop on the way is a gate — before
the step (step mode, breakpoints), cost over `cost_over`, a budget, an escalation, the review — and each
gate's verdict says how to go on. A rejection re-runs the step with the feedback in the prompt and the
review opens again on the new output, until approved or the limit is reached.

A queued step (waiting for the session's model-call slot) has not started: its `StepStarted` is posted
when it takes its slot for its first call, or when a person is first asked about it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from baton.core import events as ev
from baton.core.llm.types import LLMRequest
from baton.core.runner import calls, prompts
from baton.core.runner.call_plan import CallPlan, CallResult
from baton.core.runner.context import Scope, StepFailure, StepOutcome
from baton.core.runner.forecast import next_forecast
from baton.core.runner.gates import edits
from baton.core.runner.gates.base import Accept, Gate, Jump, Proceed, Rerun, Skip, pass_gate
from baton.core.runner.gates.before_step import BeforeModelStep, reason_before
from baton.core.runner.gates.budget import BudgetOver
from baton.core.runner.gates.cost import CostOver, over
from baton.core.runner.gates.escalation import call_failed
from baton.core.runner.gates.review import Review, StepTotals, review_context, review_message, review_reason
from baton.core.runner.replay import ModelReplay
from baton.core.runner.runtime import Runtime
from baton.core.runner.shape import CallShape
from baton.core.runner.steps.ending import complete, end_by
from baton.core.runner.writes import check_writes
from baton.core.spec.model import ReviewSpec
from baton.core.structured import OutputInvalid, parse_reply


@dataclass
class ModelTask:
    """What to ask (the call's shape), and what to do with the answer."""

    call: CallShape
    to_writes: Callable[[Any], dict[str, Any]]
    review: ReviewSpec
    can_reroute: bool = True
    to_jump: Callable[[Any], str | None] = lambda output: None

    @property
    def path(self) -> str:
        """The step's path."""
        return self.call.path


@dataclass
class Answer:
    """An output to conclude on: from a call, or recorded before a checkpoint (`result` None)."""

    output: Any
    degraded: bool
    prompt: str
    result: CallResult | None
    reason: str | None = None
    """Why a person must look at it whatever the review policy says (an agent out of turns)."""


async def run_model(rt: Runtime, task: ModelTask, scope: Scope, inputs: prompts.Inputs) -> StepOutcome:
    """Run a model-backed step to completion (or skip, jump, pause, stop)."""
    return await drive(ModelRun(rt, task, scope, inputs))


async def drive(run: ModelRun) -> StepOutcome:
    """Ask before the step where a person wants to, then answer and conclude until the step ends."""
    ended = await run.before()
    if ended is not None:
        return ended
    while True:
        answer = await run.answer()
        if isinstance(answer, StepOutcome):
            return answer
        if answer is not None:
            outcome = await run.conclude(answer)
            if outcome is not None:
                return outcome


class ModelRun:
    """One run of a model-backed step: the model and prompt it uses now, its rounds and its totals."""

    def __init__(self, rt: Runtime, task: ModelTask, scope: Scope, inputs: prompts.Inputs) -> None:
        self.rt = rt
        self.task = task
        self.scope = scope
        self.inputs = inputs
        self.alias = task.call.alias
        self.step_prompt: str | None = None
        self.call_prompt: str | None = None
        self.rejected: list[tuple[Any, str]] = []
        self.round = 1
        self.escalations = 0
        self.budget_asks = 0
        self.cost_cleared = task.review.cost_over is None
        self.past_budget = False
        self.totals = StepTotals()
        self.started_at = rt.clock.now()
        self.started = False
        self.caller = ModelReplay(calls.caller(rt), rt.history.calls_by_hash)

    # --- the drive -------------------------------------------------------------------------------

    async def before(self) -> StepOutcome | None:
        """Step mode and breakpoints: ask before the step runs."""
        reason = reason_before(self.rt, self.task.path)
        if reason is None:
            return None
        user = self._base_prompt()
        gate = BeforeModelStep(
            self.task.path,
            reason,
            self.alias,
            user,
            dict(self.inputs.values),
            self.rt.forecasts(self.request(user)),
            self.task.can_reroute,
        )
        return await self._through(gate)

    async def answer(self) -> Answer | StepOutcome | None:
        """The next output to conclude on; an outcome when a person ended the step; None to go round."""
        recorded = self.recorded_answer()
        if recorded is not None:
            return recorded
        user = self.user_prompt()
        result = await self.ask_model(user)
        if not isinstance(result, CallResult):
            return result
        return Answer(result.value, result.degraded, user, result)

    def recorded_answer(self) -> Answer | None:
        """An output recorded before its checkpoint (a resumed run shows it again, not a new one)."""
        recorded = self.rt.history.output(self.task.path, self.round)
        if recorded is None:
            return None
        self.alias = recorded.model or self.alias
        return Answer(recorded.output, recorded.degraded, recorded.prompt, None)

    def user_prompt(self) -> str:
        """The user message of this round's call: as a person edited it, or with a reviewer's feedback."""
        return self.call_prompt or prompts.with_feedback(self._base_prompt(), self.rejected)

    async def ask_model(self, user: str) -> CallResult | StepOutcome | None:
        """One model call through every automatic layer and the gates around it (cost over, budget,
        escalation): the result; an outcome when a person ended the step; None to go round."""
        rt, task, path = self.rt, self.task, self.task.path
        request = self.request(user)
        if not self.cost_cleared:
            self.cost_cleared = True
            limit = task.review.cost_over
            assert limit is not None
            _, forecast = rt.llm.forecast(request)
            if over(limit, forecast):
                high = forecast[1] if forecast else None
                return await self._through(CostOver(path, self.round, limit, high, user, rt.forecasts(request)))
        plan = self._plan(request)
        try:
            async with rt.limit:
                self.start()
                result = await self.caller(path, plan, self._validate)
        except calls.BudgetBlocked as blocked:
            self.budget_asks += 1
            gate: Gate = BudgetOver(path, self.budget_asks, blocked.verdict, self.alias, user, rt.forecasts(request))
            return await self._through(gate)
        except StepFailure as failure:
            self.escalations += 1
            return await self._through(call_failed(rt, path, self.escalations, failure, user, rt.forecasts(request)))
        self.totals.add(result)
        self.alias = result.alias
        return result

    async def conclude(self, answer: Answer) -> StepOutcome | None:
        """Complete, or ask for a review and follow it; None when the step runs another round."""
        rt, task = self.rt, self.task
        reason = answer.reason or review_reason(
            rt.session_id, task.review, task.path, answer.output, self.inputs.env(), answer.degraded
        )
        result = answer.result
        pre: list[ev.Event] = [result.finished] if result is not None and result.finished is not None else []
        if reason is None:
            self.start()
            return await self._complete(
                answer, answer.output, pre, _note(result, answer.degraded), task.to_jump(answer.output)
            )
        if result is not None:
            pre.append(self._output_event(answer))
        self.start()
        verdict = await pass_gate(rt, self._review(answer, reason, pre))
        if isinstance(verdict, Accept):
            decision = verdict.decision
            note = f"{decision.decision} by {decision.by}"
            return await self._complete(answer, verdict.output, [], note, verdict.jump, verdict.jump_by)
        if isinstance(verdict, Skip | Jump):
            return await end_by(rt, self.scope, task.path, verdict)
        assert isinstance(verdict, Rerun)
        if verdict.feedback is not None:
            self.rejected.append((answer.output, verdict.feedback))
        if verdict.model:
            self.alias = verdict.model
        self.call_prompt = None
        self.round += 1
        return None

    # --- pieces ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Post `StepStarted` once: when the step takes its model-call slot, or a person is asked."""
        if self.started:
            return
        self.started = True
        task = self.task
        self.rt.journal.note(
            [
                ev.StepStarted(
                    step=task.path,
                    step_kind=task.call.kind,
                    model=task.call.alias,
                    reads=task.call.reads,
                    input_chars=self.inputs.chars,
                    orchestration=task.call.orchestration,
                )
            ]
        )

    async def _through(self, gate: Gate) -> StepOutcome | None:
        """Ask at a gate before the answer: end the step, or follow the change and go round (None)."""
        self.start()
        verdict = await pass_gate(self.rt, gate)
        if isinstance(verdict, Skip | Jump):
            return await end_by(self.rt, self.scope, self.task.path, verdict)
        assert isinstance(verdict, Proceed)
        if verdict.model:
            self.alias = verdict.model
        if verdict.prompt is not None:
            self.call_prompt = verdict.prompt
        if verdict.step_prompt is not None:
            self.step_prompt = verdict.step_prompt
        if verdict.past_budget:
            self.past_budget = True
        return None

    def _base_prompt(self) -> str:
        call = self.task.call
        return self.step_prompt or prompts.user_prompt(call.template, self.inputs, call.fallback_prompt)

    def request(self, user: str) -> LLMRequest:
        """The request on the current model with this user message."""
        return self.rt.request(self.task.call, self.alias, user)

    def _plan(self, request: LLMRequest) -> CallPlan:
        call, defaults = self.task.call, self.rt.spec.defaults
        return CallPlan(
            request,
            list(call.fallback),
            call.fallback_static,
            call.retry_policy(defaults),
            call.timeout_policy(defaults),
            budget_override=self.past_budget,
        )

    def _validate(self, text: str) -> Any:
        """Parse a reply and check what it would write against the state schema, so an answer that could
        not be stored counts as invalid (retried, then escalated) rather than failing after the call."""
        fields = self.task.call.fields
        if fields:
            value: Any = parse_reply(text, fields)
        elif not text.strip():
            raise OutputInvalid("the model returned an empty answer")
        else:
            value = text
        try:
            check_writes(self.rt.spec.state, self.task.to_writes(value))
        except StepFailure as failure:
            raise OutputInvalid(failure.message) from None
        return value

    def _output_event(self, answer: Answer) -> ev.StepOutput:
        return ev.StepOutput(
            step=self.task.path,
            output=answer.output,
            round=self.round,
            prompt=answer.prompt,
            model=self.alias,
            degraded=answer.degraded,
        )

    def _review(self, answer: Answer, reason: str, pre: list[ev.Event]) -> Review:
        rt, task, output = self.rt, self.task, answer.output
        context = review_context(self.inputs.values, answer.prompt, answer.result, self.totals, self.alias)
        context["next"] = next_forecast(
            rt.spec, rt.models, rt.llm, rt.state.root, task.path, task.to_writes(output), task.to_jump(output)
        )
        return Review(
            task.path,
            reason,
            self.round,
            output,
            review_message(reason, task.review, task.path),
            context,
            rt.forecasts(self.request(answer.prompt)),
            can_reject=len(self.rejected) < task.review.max_rejections,
            can_reroute=task.can_reroute,
            edit=edits.output(rt, task.call.fields, task.to_writes, output),
            to_jump=task.to_jump,
            pre_events=pre,
        )

    async def _complete(
        self, answer: Answer, output: Any, pre: list[ev.Event], note: str, jump: str | None, jump_by: str = ""
    ) -> StepOutcome:
        totals = self.totals
        return await complete(
            self.rt,
            self.scope,
            self.task.path,
            output=output,
            writes=check_writes(self.rt.spec.state, self.task.to_writes(output)),
            status="degraded" if answer.degraded else "completed",
            pre_events=pre,
            tokens_in=totals.tokens_in,
            tokens_out=totals.tokens_out,
            cost=totals.cost,
            latency=self.rt.clock.now() - self.started_at,
            note=note,
            jump=jump,
            jump_by=jump_by,
        )


def _note(result: CallResult | None, degraded: bool) -> str:
    notes = list(result.notes) if result else []
    if degraded and not (result and result.static):
        notes.append(f"answered by fallback model {result.alias}" if result else "degraded")
    return "; ".join(notes)
