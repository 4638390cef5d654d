"""A `tool` step: a Python callable.

The drive: a result already recorded is used as is; a side-effecting call whose intent was recorded
without a result is ambiguous (a person decides); the tool's policy or step mode may ask before it runs;
then the call, whose failures (an exception, a timeout, a result that cannot be stored or written) go to
a person, or stop an unattended session.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from baton.core import events as ev
from baton.core.runner import prompts
from baton.core.runner.checkpoints import Edit
from baton.core.runner.context import Scope, StepFailure, StepOutcome
from baton.core.runner.gates import edits
from baton.core.runner.gates.ambiguous import Ambiguous
from baton.core.runner.gates.base import Accept, Jump, Proceed, Skip, pass_gate
from baton.core.runner.gates.before_step import reason_before
from baton.core.runner.gates.before_tool import BeforeTool, asks_first
from baton.core.runner.gates.escalation import ToolFailed
from baton.core.runner.runtime import Runtime
from baton.core.runner.steps.ending import complete, end_by
from baton.core.runner.steps.inputs import gather_inputs
from baton.core.runner.tools import ToolCall, ToolError
from baton.core.runner.writes import tool_writes
from baton.core.spec.model import ToolStep

_ARGS_JSON = json.JSONEncoder(sort_keys=True, default=str)
"""`json.dumps(args, sort_keys=True, default=str)` without building an encoder per call."""


def call_key(session_id: str, path: str, args: dict[str, Any]) -> str:
    """The idempotency key of a tool call: the session, the step and a hash of its arguments."""
    digest = hashlib.sha256(_ARGS_JSON.encode(args).encode()).hexdigest()
    return f"{session_id}:{path}:{digest[:16]}"


async def run_tool(
    rt: Runtime, step: ToolStep, path: str, scope: Scope, variables: dict[str, Any], role: str
) -> StepOutcome:
    """Run the tool (or use its recorded result), asking first where its policy says."""
    inputs = await gather_inputs(rt, step, path, scope, variables)
    if isinstance(inputs, StepOutcome):
        return inputs
    started = rt.clock.now()
    env = inputs.env()
    args = {k: prompts.render_arg(v, env) for k, v in step.args.items()}
    key = call_key(rt.session_id, path, args)
    rt.journal.note([ev.StepStarted(step=path, step_kind="tool", reads=step.read_keys, input_chars=inputs.chars)])
    drive = _ToolDrive(rt, step, path, scope, started)
    recorded = rt.tools.recorded(key)
    if recorded is not None:
        return await drive.finish(recorded.result, [])
    if step.side_effects and rt.tools.ambiguous(key):
        verdict = await pass_gate(rt, Ambiguous(path, step.call, args, key, edits.tool_result(rt, step)))
        if isinstance(verdict, Skip | Jump):
            return await end_by(rt, scope, path, verdict)
        if isinstance(verdict, Accept):
            return await drive.supplied(key, verdict.output)
    reason = "before_tool" if asks_first(step) else reason_before(rt, path)
    if reason is not None:
        verdict = await pass_gate(rt, BeforeTool(path, reason, step.call, args, step.side_effects, role == "top"))
        if isinstance(verdict, Skip | Jump):
            return await end_by(rt, scope, path, verdict)
        if isinstance(verdict, Proceed) and verdict.args is not None:
            args = verdict.args
    return await drive.call(ToolCall(path, step.call, args, key, step.side_effects, step.timeout_s))


class _ToolDrive:
    """Calling the tool until there is a result a person or the tool provided, or the step ends."""

    def __init__(self, rt: Runtime, step: ToolStep, path: str, scope: Scope, started: float) -> None:
        self.rt = rt
        self.step = step
        self.path = path
        self.scope = scope
        self.started = started

    async def call(self, call: ToolCall) -> StepOutcome:
        """Invoke; a failure asks a person (run it again, supply the result, skip)."""
        rt, attempt = self.rt, 0
        while True:
            attempt += 1
            try:
                done = await rt.tools.invoke(call)
                writes = tool_writes(rt.spec.state, list(self.step.writes), done.result)
            except ToolError as error:
                failed = ToolFailed(self.path, attempt, call.tool, error.what, error.detail, call.args, self._edit())
            except StepFailure as unusable:
                failed = self._unusable(call, unusable.message, attempt)
            else:
                return await self._complete(done.result, writes, [done.finished] if done.finished else [])
            verdict = await pass_gate(rt, failed)
            if isinstance(verdict, Skip | Jump):
                return await end_by(rt, self.scope, self.path, verdict)
            if isinstance(verdict, Accept):
                return await self.supplied(call.key, verdict.output)

    async def supplied(self, key: str, result: Any) -> StepOutcome:
        """A person supplied the tool's result: it is recorded as the call's result."""
        finished = ev.ToolCallFinished(step=self.path, tool=self.step.call, idempotency_key=key, ok=True, result=result)
        return await self.finish(result, [finished])

    async def finish(self, result: Any, pre: list[ev.Event]) -> StepOutcome:
        """Complete with a result already checked when it was given (recorded, or a person's)."""
        return await self._complete(result, tool_writes(self.rt.spec.state, list(self.step.writes), result), pre)

    async def _complete(self, result: Any, writes: dict[str, Any], pre: list[ev.Event]) -> StepOutcome:
        return await complete(
            self.rt,
            self.scope,
            self.path,
            output=result,
            writes=writes,
            pre_events=pre,
            latency=self.rt.clock.now() - self.started,
        )

    def _unusable(self, call: ToolCall, problem: str, attempt: int) -> ToolFailed:
        """The tool returned, but its result does not fit what the step writes: a failed call."""
        what = f"returned a result that cannot be written: {problem}"
        self.rt.journal.note(
            [ev.ToolCallFinished(step=self.path, tool=call.tool, idempotency_key=call.key, ok=False, error=what)]
        )
        return ToolFailed(self.path, attempt, call.tool, what, problem, call.args, self._edit())

    def _edit(self) -> Edit:
        return edits.tool_result(self.rt, self.step)
