"""The runner: one session of one workflow, from its first (or resumed) step to an end.

It owns the run state, walks the top-level steps (routers and reroutes jump forward), takes whatever
the log already records from the record, and ends with exactly one of SessionCompleted, SessionPaused
or SessionFailed. Commands from viewers arrive through `submit`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

from baton.core import events as ev
from baton.core.aio import stop_tasks
from baton.core.commands import Command
from baton.core.llm.types import LLMClient
from baton.core.runner.context import Clock, ConfigError, Paused, RealClock, RunOptions, SessionStop, Sink
from baton.core.runner.history import History
from baton.core.runner.run_state import RunState
from baton.core.runner.runtime import Runtime
from baton.core.runner.steps.dispatch import run_step
from baton.core.secrets import Redactor
from baton.core.spec.graph import iter_steps, successors, top_index
from baton.core.spec.load import Workflow
from baton.core.spec.model import END, ModelSpec, WorkflowSpec
from baton.core.state import empty_value, make_op

log = logging.getLogger("baton.runner")


def initial_state(spec: WorkflowSpec, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """State before any step: inputs, then declared defaults, then empty accumulators."""
    state: dict[str, Any] = {}
    for key, decl in spec.state.items():
        if key in inputs and inputs[key] is not None:
            state[key] = inputs[key]
        elif key in spec.inputs and spec.inputs[key].default is not None:
            state[key] = spec.inputs[key].default
        elif decl.default is not None:
            state[key] = decl.default
        else:
            empty = empty_value(decl.type, decl.reducer)
            if empty is not None:
                state[key] = empty
    return state


class Runner:
    """Runs one session. `history` is the session's recorded events (empty for a new session)."""

    def __init__(
        self,
        session_id: str,
        workflow: Workflow,
        *,
        sink: Sink,
        llm: LLMClient,
        models: dict[str, ModelSpec] | None = None,
        inputs: Mapping[str, Any] | None = None,
        options: RunOptions | None = None,
        history: History | None = None,
        clock: Clock | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.workflow = workflow
        self.spec = workflow.spec
        self.history = history or History()
        started = self.history.started
        self.inputs = dict(started.inputs if started is not None else (inputs or {}))
        self.options = options or RunOptions()
        self.state = RunState.new(self.spec, self.options, self.history)
        self.rt = Runtime(
            session_id,
            workflow,
            dict(models if models is not None else self.spec.models),
            llm,
            sink,
            clock or RealClock(),
            self.options,
            self.history,
            redactor,
            self.state,
        )
        self._index = top_index(self.spec)
        self._ids: set[str] | None = None
        """Every step id of the workflow, worked out when a breakpoint first needs it."""
        self._walk_task: asyncio.Task[None] | None = None
        self._cancel_reason = ""
        self._released = False
        self.status = "new"
        for control in self.history.controls:  # before any command that arrives: those come later
            self._apply_control(control)

    # --- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> str:
        """Run to an end; returns completed | degraded | paused | cancelled | failed, or released (see
        `release`). The MCP servers the run started are stopped however it ends."""
        try:
            return await self._run()
        finally:
            try:
                await self.rt.close()
            except Exception:
                log.exception("stopping the MCP servers of session %s", self.rt.session_id)

    async def _run(self) -> str:
        rt = self.rt
        started_at = rt.clock.now()
        self.state.root.state.update(initial_state(self.spec, self.inputs))
        for path, cost in self.history.cost_by_path.items():
            rt.ledger.add(path, cost)
        try:
            await self._start()
            rt.tool_runner.load(self.spec, rt.workflow.folder)
            if self._cancel_reason or self._released:
                raise asyncio.CancelledError()
            self._walk_task = asyncio.ensure_future(self._walk())
            await asyncio.shield(self._walk_task)
        except Paused as paused:
            return await self._end_paused(paused.reason)
        except SessionStop as stop:
            failed = ev.SessionFailed(step=stop.step, error=stop.message, error_type=stop.error_type)
            await rt.journal.session([*stop.events, failed])
            return self._set("failed")
        except ConfigError as exc:
            await rt.journal.session([ev.SessionFailed(error=str(exc), error_type="config")])
            return self._set("failed")
        except asyncio.CancelledError:
            if self._released:
                return await self._let_go()
            return await self._cancelled()
        except Exception as exc:
            log.exception("internal error in session %s", rt.session_id)
            error = rt.redact(f"internal error: {type(exc).__name__}: {exc}")
            await rt.journal.session([ev.SessionFailed(error=error, error_type="internal")])
            self._set("failed")
            raise
        return await self._end_completed(started_at)

    def _set(self, status: str) -> str:
        self.status = status
        return status

    async def _start(self) -> None:
        rt = self.rt
        await rt.llm.warm_up()
        if self.history.started is not None:
            resumed = ev.SessionResumed(pid=os.getpid(), options=self.options.to_json(), prices=self._prices())
            await rt.journal.session([resumed])
            return
        wf = self.workflow
        state = initial_state(self.spec, self.inputs)
        events: list[ev.Event] = [
            ev.SessionStarted(
                workflow=self.spec.name,
                workflow_path=wf.path,
                workflow_hash=wf.hash,
                workflow_text=wf.text,
                inputs=self.inputs,
                models={a: m.model for a, m in rt.models.items()},
                options=self.options.to_json(),
                prices=self._prices(),
            )
        ]
        if state:
            events.append(ev.StateUpdated(step="", ops=[make_op(k, "replace", v) for k, v in state.items()]))
        await rt.journal.session(events)

    def _prices(self) -> dict[str, Any]:
        """USD per token of every model the session may use (None when unknown), for cost reports."""
        out: dict[str, Any] = {}
        for spec in self.rt.models.values():
            if spec.model in out:
                continue
            try:
                cin = self.rt.llm.cost(spec.model, 1, 0)
                cout = self.rt.llm.cost(spec.model, 0, 1)
            except Exception:
                cin = cout = None
            out[spec.model] = [cin, cout] if cin is not None and cout is not None else None
        return out

    async def _walk(self) -> None:
        spec = self.spec
        fork = self.history.fork
        root = self.state.root
        i = 0
        while True:
            step = spec.steps[i]
            if fork is not None and step.id == fork.at_step and fork.overrides:
                root.state.update(fork.overrides)
                fork = None
            outcome = await run_step(self.rt, step, step.id, root, {}, "top")
            target = outcome.jump or successors(spec, i)[0]
            if target == END:
                return
            i = self._index[target]

    async def _end_completed(self, started_at: float) -> str:
        rt, state = self.rt, self.state
        unvisited = [
            ev.StepSkipped(step=s.id, reason="not on the route taken")
            for s in self.spec.steps
            if s.id not in state.finished
        ]
        status = "degraded" if state.degraded else "completed"
        completed = ev.SessionCompleted(
            status=status,
            cost_usd=round(sum(rt.ledger.spent.values()), 10),
            tokens_in=state.tokens_in,
            tokens_out=state.tokens_out,
            wall_s=round(rt.clock.now() - started_at, 6),
        )
        await rt.journal.session([*unvisited, completed])
        return self._set(status)

    async def _let_go(self) -> str:
        """Stop without a word in the record, as if the process had gone: another runner picks the session
        up from its record, and whatever ran when it stopped runs again."""
        if self._walk_task is not None and not self._walk_task.done():
            await stop_tasks([self._walk_task])
        return self._set("released")

    async def _cancelled(self) -> str:
        reason = self._cancel_reason or "cancelled: the runner was interrupted"
        if self._walk_task is not None and not self._walk_task.done():
            await stop_tasks([self._walk_task])
        await self._end_paused(reason)
        if not self._cancel_reason:
            raise asyncio.CancelledError()
        return self.status

    async def _end_paused(self, reason: str) -> str:
        cancelled = [ev.StepCancelled(step=p, reason=reason) for p in self.state.interrupted()]
        await self.rt.journal.session([*cancelled, ev.SessionPaused(reason=reason)])
        return self._set("cancelled" if reason.startswith("cancel") else "paused")

    # --- commands --------------------------------------------------------------------------------

    async def submit(self, command: Command) -> None:
        """Act on a viewer's command (a decision is validated and persisted before it is acted on)."""
        rt = self.rt
        kind = command.kind
        if kind == "decide":
            await rt.checkpoints.submit(command)
        elif kind == "pause":
            await rt.journal.session([], command_id=command.id)
            rt.pause(f"paused by {command.by}")
        elif kind == "cancel":
            await rt.journal.session([], command_id=command.id)
            self.cancel(f"cancelled by {command.by}")
        elif kind in ("step_mode", "breakpoint"):
            if kind == "breakpoint" and not self._names_step(command.step):
                await rt.journal.refuse(command.id, f"no step '{command.step}' in this workflow")
                return
            control = ev.ControlChanged(
                step_mode=command.enabled if kind == "step_mode" else None,
                breakpoint=command.step if kind == "breakpoint" else "",
                enabled=command.enabled,
                by=command.by,
            )
            await rt.journal.session([control], command_id=command.id)
            self._apply_control(control)
        elif kind == "revoke":
            await self._revoke(command)
        else:
            await rt.journal.refuse(command.id, f"unknown command '{kind}'")

    async def _revoke(self, command: Command) -> None:
        """End always-for-this-session grants of a tool (one pattern's, or all of them)."""
        rt = self.rt
        pattern = command.edited
        ending = [
            g for g in rt.grants.active if g.tool == command.target and (pattern is None or g.pattern == pattern)
        ]
        if not ending:
            active = ", ".join(sorted({g.tool for g in rt.grants.active})) or "none"
            await rt.journal.refuse(command.id, f"no grant for '{command.target}' to revoke (granted: {active})")
            return
        revoked = [
            ev.ToolGrantChanged(step=g.step, tool=g.tool, pattern=g.pattern, granted=False, by=command.by)
            for g in ending
        ]
        await rt.journal.session(revoked, command_id=command.id)
        for change in revoked:
            rt.grants.apply(change)

    def release(self) -> None:
        """Let the session go for another runner to continue (a host parking it, or draining): running steps
        stop unrecorded, and `run` returns `released`."""
        self._released = True
        if self._walk_task is not None and not self._walk_task.done():
            self._walk_task.cancel()

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop now: running steps are cancelled (they run again on resume)."""
        self._cancel_reason = reason if reason.startswith("cancel") else f"cancelled: {reason}"
        if self._walk_task is not None and not self._walk_task.done():
            self._walk_task.cancel()

    def _names_step(self, name: str) -> bool:
        """Is `name` a step id or a top-level step of the workflow?"""
        if name in self._index:
            return True
        if self._ids is None:
            self._ids = {info.step.id for info in iter_steps(self.spec)}
        return name in self._ids

    def _apply_control(self, control: ev.ControlChanged) -> None:
        state = self.state
        if control.step_mode is not None:
            state.step_mode = control.step_mode
        if control.breakpoint:
            if control.enabled:
                state.breakpoints.add(control.breakpoint)
            else:
                state.breakpoints.discard(control.breakpoint)
