"""An agent with tools: model turn → tool calls → results → next turn, until the model answers without
calling a tool (its answer is then the step's output, reviewed like any other) or `max_turns`.

Every model turn goes through the same layers as any model call (budgets, forecast, retries,
fallbacks, breaker, escalation); every tool call through its policy, a person where the policy asks,
then the call. The commit contract: a turn whose answer is committed is served from the record on
resume ($0, never sent again); a call whose result is committed is never run again; a side-effecting
call with a committed intent and no result is ambiguous and a person decides. So after a kill anywhere,
resuming re-walks the loop from the record to the first unfinished turn. Idempotency keys are
`session:step:r<round>:t<turn>:<call id>`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from baton.core import events as ev
from baton.core.llm.types import LLMRequest, ModelToolCall
from baton.core.runner import calls, prompts
from baton.core.runner.call_plan import CallPlan, CallResult
from baton.core.runner.context import Paused, Scope, SessionStop, StepOutcome
from baton.core.runner.gates import edits
from baton.core.runner.gates.ambiguous import Ambiguous
from baton.core.runner.gates.base import Accept, Jump, Proceed, Rerun, Skip, pass_gate
from baton.core.runner.gates.escalation import ToolFailed
from baton.core.runner.gates.tool_call import Question, ToolCallApproval, ToolDenied
from baton.core.runner.replay import ModelReplay
from baton.core.runner.runtime import Runtime
from baton.core.runner.steps.ending import end_by
from baton.core.runner.steps.model import Answer, ModelRun, ModelTask, drive
from baton.core.runner.steps.tool_turns import Prepared, all_or_first_error, tool_choice
from baton.core.runner.toolbox import BoundTool, Toolbox, build_toolbox, policy
from baton.core.runner.tools import ToolCall, ToolError
from baton.core.spec.model import AgentStep, Step
from baton.core.spec.tool_schema import check_args, parse_arguments

RunChild = Callable[[Runtime, Step, str, Scope, dict[str, Any], str], Awaitable[StepOutcome]]
"""Runs a child step (or takes it from the record): how a delegated sub-agent runs."""


async def run_tool_loop(
    rt: Runtime, step: AgentStep, task: ModelTask, scope: Scope, inputs: prompts.Inputs, run_child: RunChild | None
) -> StepOutcome:
    """Run an agent that has tools to completion (or skip, jump, pause, stop)."""
    recorded = rt.history.tools_listed.get(task.path)
    functions = rt.tool_runner.functions
    toolbox = await build_toolbox(step, task.path, functions, lambda: rt.mcp, rt.journal, recorded, rt.workflow.folder)
    return await drive(ToolLoop(rt, task, scope, inputs, step, toolbox, run_child))


class ToolLoop(ModelRun):
    """A model-backed step whose model may call tools, turn after turn."""

    def __init__(
        self,
        rt: Runtime,
        task: ModelTask,
        scope: Scope,
        inputs: prompts.Inputs,
        step: AgentStep,
        toolbox: Toolbox,
        run_child: RunChild | None,
    ) -> None:
        super().__init__(rt, task, scope, inputs)
        self.step = step
        self.toolbox = toolbox
        self.run_child = run_child
        self.turn = 1
        self.transcript: list[dict[str, Any]] = []
        self.transcript_round = self.round
        self.asked = 0
        self.last_text = ""
        self.delegated: dict[str, int] = {}
        self.questions: dict[str, int] = {}
        self.held: dict[str, Exception] = {}
        self._forecast: tuple[tuple[int, int, str], list[float] | None, dict[str, Any]] | None = None

    # --- the request of a turn -------------------------------------------------------------------

    def request(self, user: str) -> LLMRequest:
        """The call on the current model: the prompt, the turns so far, and the tools."""
        base = super().request(user)
        return dataclasses.replace(
            base,
            messages=[*base.messages, *self.transcript],
            tools=self.toolbox.offered() or None,
            tool_choice=tool_choice(self.step.tool_choice),
            parallel_tool_calls=None if self.step.parallel_tool_calls else False,
        )

    def _plan(self, request: LLMRequest) -> CallPlan:
        return dataclasses.replace(super()._plan(request), turn=self.turn)

    # --- the loop --------------------------------------------------------------------------------

    async def answer(self) -> Answer | StepOutcome | None:
        """Turns until the model answers without calling a tool; None to go round (the same turn)."""
        recorded = self.recorded_answer()
        if recorded is not None:
            return recorded
        if self.transcript_round != self.round:  # a new round (a rejection): the loop starts over
            self.transcript, self.turn, self.transcript_round = [], 1, self.round
        user = self.user_prompt()
        while True:
            if self.turn > self.step.max_turns:
                return self._out_of_turns(user)
            self.caller = ModelReplay(calls.caller(self.rt), self.rt.history.calls_by_hash)
            result = await self.ask_model(user)
            if not isinstance(result, CallResult):
                return result
            if not result.tool_calls:
                return Answer(result.value, result.degraded, user, result)
            self.last_text = result.text or self.last_text
            outcome = await self._act(result)
            if outcome is not None or self.transcript_round != self.round:
                return outcome  # ended, or a new round after a denial (None: go round)
            self.turn += 1

    def _out_of_turns(self, user: str) -> Answer:
        """`max_turns` reached: the step ends degraded, and a person decides on its last text."""
        text = self.last_text or f"(no final answer after {self.step.max_turns} turns)"
        return Answer(text, True, user, None, reason="max_turns")

    async def _act(self, result: CallResult) -> StepOutcome | None:
        """Run the tool calls of a turn (asking first where the policy says) and add their results."""
        rt = self.rt
        asked_for = [c.message() for c in result.tool_calls]
        self.transcript.append({"role": "assistant", "content": result.text or None, "tool_calls": asked_for})
        prepared = [self._prepare(call) for call in result.tool_calls]
        events: list[ev.Event] = [result.finished] if result.finished is not None else []
        events += [self._requested(p) for p in prepared if p.key not in rt.history.tool_requests]
        refused = [self._refused(p, "invalid") for p in prepared if p.policy == "invalid"]
        events += [e for e in refused if e is not None]
        rt.journal.note(events)
        await all_or_first_error(self._approve(p) for p in prepared if p.policy == "ask")
        denied = next((p for p in prepared if p.denied is not None), None)
        if denied is not None:
            return await self._denied(denied)
        runs = [self._run(p) for p in prepared]
        if self.step.parallel_tool_calls:
            contents = await all_or_first_error(runs)
        else:
            contents = [await run for run in runs]
        for p, content in zip(prepared, contents, strict=True):
            self.transcript.append({"role": "tool", "tool_call_id": p.call.id, "content": content})
        return None

    # --- one call --------------------------------------------------------------------------------

    def _prepare(self, call: ModelToolCall) -> Prepared:
        """Check the call (known tool, arguments that fit) and decide its policy."""
        key = f"{self.rt.session_id}:{self.task.path}:r{self.round}:t{self.turn}:{call.id}"
        tool = self.toolbox.tools.get(call.name)
        if tool is None:
            known = ", ".join(self.toolbox.tools) or "none"
            return Prepared(call, key, None, {}, "invalid", f"there is no tool '{call.name}' (tools: {known})")
        try:
            args = check_args(tool.schema, parse_arguments(call.arguments))
        except ValueError as exc:
            return Prepared(call, key, tool, {}, "invalid", str(exc))
        if tool.bound:
            env = self.inputs.env()
            args = {**args, **{name: prompts.render_arg(value, env) for name, value in tool.bound.items()}}
        verdict, reason = policy(tool, args, self.rt.grants)
        prepared = Prepared(call, key, tool, args, verdict, reason)
        if tool.source == "agent":
            count = self.delegated[tool.target] = self.delegated.get(tool.target, 0) + 1
            prepared.child = f"{self.task.path}/{tool.target}#{count}"
        if verdict == "ask":
            self.asked += 1
            prepared.sequence = self.asked
        return prepared

    def _requested(self, p: Prepared) -> ev.ToolCallRequested:
        args = p.args if p.tool is not None and p.policy != "invalid" else {"arguments": p.call.arguments}
        digest = hashlib.sha256(json.dumps(args, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return ev.ToolCallRequested(
            step=self.task.path,
            call_id=p.call.id,
            idempotency_key=p.key,
            tool=p.call.name,
            source=p.tool.source if p.tool else "",
            origin=p.tool.origin if p.tool else "",
            args=args,
            args_digest=digest,
            policy=p.policy,
            reason=p.reason,
            round=self.round,
            turn=self.turn,
        )

    def _refused(self, p: Prepared, outcome: str, message: str = "") -> ev.ToolCallFinished | None:
        """A call answered without running (invalid, rejected): the model is told why."""
        message = message or p.reason
        p.content = f"error: {message}" if outcome == "invalid" else f"rejected by the user: {message}"
        if p.key in self.rt.history.tool_results:
            return None
        return self._finished(p, outcome, error=message)

    def _next_turn_forecast(self) -> tuple[list[float] | None, dict[str, Any]]:
        """What the next turn may cost (on this model; on each model): worked out once a turn, however
        many of its calls ask."""
        at = (self.round, self.turn, self.alias)
        if self._forecast is None or self._forecast[0] != at:
            rt = self.rt
            request = self.request(self.user_prompt())
            forecasts = rt.forecasts(request)
            if self.alias in forecasts:
                forecast_next = forecasts[self.alias]
            else:
                _, rng = rt.llm.forecast(request)
                forecast_next = [round(rng[0], 8), round(rng[1], 8)] if rng else None
            self._forecast = (at, forecast_next, forecasts)
        return self._forecast[1], self._forecast[2]

    async def _approve(self, p: Prepared) -> None:
        """Ask a person about one call; follow the decision."""
        rt, tool = self.rt, p.tool
        assert tool is not None
        if p.key in rt.history.tool_results:
            return  # it ran (or was answered) before the runner stopped: nothing to ask
        forecast_next, forecasts = self._next_turn_forecast()
        gate = ToolCallApproval(
            self.task.path,
            self.round,
            self.turn,
            p.call.id,
            tool,
            p.args,
            p.reason,
            forecast_next,
            forecasts,
            edits.tool_arguments(tool.schema, p.args, set(tool.bound)),
            p.sequence,
        )
        self.start()
        verdict = await pass_gate(rt, gate)
        decision = verdict.decision
        if isinstance(verdict, Proceed):
            if verdict.args is not None:
                p.args = verdict.args
            if decision.decision == "always":
                self._grant(tool, decision)
        elif isinstance(verdict, Rerun):
            refused = self._refused(p, "rejected", verdict.feedback or "")
            rt.journal.note([refused] if refused is not None else [])
        else:
            p.denied = decision

    def _grant(self, tool: BoundTool, decision: ev.DecisionMade) -> None:
        pattern = dict(decision.edited) if isinstance(decision.edited, dict) else {}
        grants = self.rt.grants
        if any(g.tool == tool.name and g.pattern == pattern for g in grants.active):
            return  # given before the runner stopped
        grant = ev.ToolGrantChanged(step=self.task.path, tool=tool.name, pattern=pattern, granted=True, by=decision.by)
        grants.apply(grant)
        self.rt.journal.note([grant])

    async def _run(self, p: Prepared) -> str:
        """The content the model gets for the call: its result (or the record's), or an error."""
        if p.content is not None:
            return p.content
        rt, tool = self.rt, p.tool
        assert tool is not None
        done = rt.history.tool_results.get(p.key)
        if done is not None:
            return self._content(tool, done.result) if done.ok else f"error: {done.error}"
        if tool.source == "agent":
            return await self._delegate(p, tool)
        if tool.side_effects and p.key in rt.history.intents:
            settled = await self._ambiguous(p, tool)
            if settled is not None:
                return settled
        return await self._invoke(p, tool)

    async def _delegate(self, p: Prepared, tool: BoundTool) -> str:
        """Hand the task to a sub-agent: a child step (`agent/helper#2`: its second task) with its own model,
        tools, pane, cost and checkpoints; its answer is the call's result. A resumed run takes a
        finished child from the record."""
        rt = self.rt
        assert self.run_child is not None
        sub = self.toolbox.delegate(tool).step
        started = rt.clock.now()
        task = {"task": p.args.get("task", "")}
        outcome = await self.run_child(rt, sub, p.child, self.scope.fork(), task, "delegate")
        if outcome.status not in ("completed", "degraded") or outcome.output is None:
            problem = f"the agent '{sub.id}' ended {outcome.status} without an answer"
            content, done = f"error: {problem}", self._finished(p, "failed", error=problem)
        else:
            content = self._content(tool, outcome.output)
            took = round(rt.clock.now() - started, 6)
            done = self._finished(p, "done", result=outcome.output, latency_s=took)
        if p.key not in rt.history.tool_results:
            rt.journal.note([done])
        return content

    async def _invoke(self, p: Prepared, tool: BoundTool) -> str:
        rt, attempt = self.rt, 0
        while True:
            attempt += 1
            try:
                done = await rt.tools.invoke(self._call(p, tool))
            except ToolError as error:
                handled = await self._tool_error(p, tool, error, attempt)
                if handled is None:
                    continue
                return handled
            if done.finished is not None:
                rt.journal.note([done.finished])
            return self._content(tool, done.result)

    async def _question(
        self, p: Prepared, tool: BoundTool, server: str, message: str, schema: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A question the server asks the person during this call: a checkpoint (None: declined)."""
        count = self.questions[p.key] = self.questions.get(p.key, 0) + 1
        gate = Question(self.task.path, self.round, tool.name, server, message, schema, f"{p.key}:q{count}")
        try:
            verdict = await pass_gate(self.rt, gate)
        except (Paused, SessionStop) as stop:  # not the server's to handle: raised once the call ends
            self.held[p.key] = stop
            return None
        return dict(verdict.output) if isinstance(verdict, Accept) else None

    def _call(self, p: Prepared, tool: BoundTool) -> ToolCall:
        if tool.source == "mcp":
            server = self.toolbox.server(tool)

            async def work(args: dict[str, Any]) -> Any:
                askers = self.rt.asking.setdefault(server.label, [])
                asker = functools.partial(self._question, p, tool, server.label)
                askers.append(asker)
                try:
                    result = await self.rt.mcp.call_tool(server, tool.target, args, tool.timeout_s)
                finally:
                    askers.remove(asker)
                    held = self.held.pop(p.key, None)
                    if held is not None:  # the question paused or stopped the session: that wins
                        raise held
                return result

            return ToolCall(self.task.path, tool.name, p.args, p.key, tool.side_effects, None, p.call.id, work=work)
        return ToolCall(
            self.task.path, tool.name, p.args, p.key, tool.side_effects, tool.timeout_s, p.call.id, target=tool.target
        )

    async def _tool_error(self, p: Prepared, tool: BoundTool, error: ToolError, attempt: int) -> str | None:
        """`on_tool_error`: the error goes back to the model, stops the session, or a person decides
        (run it again: None; supply the result; return the error to the model)."""
        how = self.step.on_tool_error
        if how == "return_to_model":
            return f"error: tool '{tool.name}' {error.what}"
        if how == "fail":
            raise SessionStop(f"tool '{tool.name}' at '{self.task.path}' {error.what}", self.task.path, "tool_error")
        gate = ToolFailed(
            self.task.path, attempt, tool.name, error.what, error.detail, p.args, edits.any_value, call_key=p.key
        )
        verdict = await pass_gate(self.rt, gate)
        if isinstance(verdict, Accept):
            return self._supplied(p, tool, verdict.output)
        if isinstance(verdict, Skip):
            return f"error: tool '{tool.name}' {error.what}"
        return None

    async def _ambiguous(self, p: Prepared, tool: BoundTool) -> str | None:
        """A side-effecting call may have run before the runner stopped: a person decides (run it again:
        None; supply its result; return an error to the model)."""
        gate = Ambiguous(self.task.path, tool.name, p.args, p.key, edits.any_value, call_key=p.key)
        verdict = await pass_gate(self.rt, gate)
        if isinstance(verdict, Accept):
            return self._supplied(p, tool, verdict.output)
        if isinstance(verdict, Skip):
            message = "the call may or may not have run before the runner stopped; its result is unknown"
            self.rt.journal.note([self._finished(p, "failed", error=message)])
            return f"error: {message}"
        return None

    def _supplied(self, p: Prepared, tool: BoundTool, result: Any) -> str:
        """A person supplied the call's result: recorded as its result."""
        self.rt.journal.note([self._finished(p, "supplied", result=result)])
        return self._content(tool, result)

    def _finished(
        self, p: Prepared, outcome: str, *, result: Any = None, error: str = "", latency_s: float = 0.0
    ) -> ev.ToolCallFinished:
        """The end of a call that the loop (not the tool runner) records: done or supplied is ok."""
        return ev.ToolCallFinished(
            step=self.task.path,
            tool=p.call.name,
            idempotency_key=p.key,
            ok=outcome in ("done", "supplied"),
            result=result,
            error=error,
            latency_s=latency_s,
            call_id=p.call.id,
            outcome=outcome,
        )

    def _content(self, tool: BoundTool, result: Any) -> str:
        """A result as the model reads it, cut to the tool's size limit with a note saying so."""
        text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
        limit = tool.max_result_chars or self.step.max_result_chars
        if len(text) <= limit:
            return text
        return text[:limit] + f"\n[truncated: the first {limit} of {len(text)} characters]"

    async def _denied(self, p: Prepared) -> StepOutcome | None:
        """A person denied a call and stopped the step: they decide what happens to it."""
        rt, path = self.rt, self.task.path
        decision = p.denied
        assert decision is not None
        refused = self._refused(p, "rejected", decision.feedback or "denied")
        if refused is not None:
            rt.journal.note([dataclasses.replace(refused, outcome="denied")])
        gate = ToolDenied(
            path,
            self.round,
            p.call.name,
            decision.feedback,
            edits.output(rt, self.task.call.fields, self.task.to_writes, self.last_text),
            self.task.can_reroute,
        )
        verdict = await pass_gate(rt, gate)
        if isinstance(verdict, Skip | Jump):
            return await end_by(rt, self.scope, path, verdict)
        if isinstance(verdict, Accept):
            answer = Answer(verdict.output, False, self.user_prompt(), None)
            return await self._complete(answer, verdict.output, [], f"output supplied by {verdict.decision.by}", None)
        assert isinstance(verdict, Rerun)
        if verdict.feedback:
            self.rejected.append((self.last_text, verdict.feedback))
        self.call_prompt = None
        self.round += 1
        return None
