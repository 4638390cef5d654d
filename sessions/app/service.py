"""The application layer: what a person does to sessions, written once for every front end.

The CLI (`baton run`, `resume`, `attach`, `decide`, `fork`, `sessions`, `show`, `rm`), the Home screen and
line mode call these and only print or draw what comes back. Results are plain values; every refusal is
an `AppError` whose `code` is the command's exit code (`sessions.errors`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from baton.core import events as ev
from baton.core.commands import Command
from baton.core.config import Config, keys_message, keys_missing, resolve_models
from baton.core.runner import RunOptions
from baton.core.spec.load import Workflow, load_text, tool_problems
from baton.core.spec.problems import WorkflowInvalid
from baton.core.step_path import StepPath
from baton.core.view import CheckpointView, SessionView
from baton.sessions.app import workflows
from baton.sessions.app.inputs import (
    check_breakpoints,
    model_overrides,
    parse_inputs,
    run_options,
    state_values,
    text_value,
)
from baton.sessions.app.runners import Runners, Started
from baton.sessions.bus import StoreBus
from baton.sessions.create import create_session
from baton.sessions.errors import AppError, DecisionRefused, InvalidInput, SessionInUse
from baton.sessions.fork import fork_session
from baton.sessions.interface import SessionStore
from baton.sessions.leases import runner_or_parked
from baton.sessions.records import SessionRow
from baton.sessions.store import shown_status
from baton.sessions.text import escaped, is_text

DECISION_WAIT_S = 15.0


@dataclass(frozen=True)
class Plan:
    """A new session as the person asked for it, checked before anything is recorded."""

    workflow: Workflow
    inputs: dict[str, Any]
    options: RunOptions
    models: dict[str, str] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        """What `baton validate` would warn about, one line each."""
        return [str(w) for w in self.workflow.warnings]


def load_for_run(flow: str, config: Config, on_warning: Callable[[str], None] | None = None) -> Workflow:
    """Load the workflow FLOW names for a new session: its warnings go to `on_warning` as soon as it is
    loaded; a path that is not text, or a tool that does not import, is refused before anything runs."""
    workflow = workflows.load_flow(flow, config)
    if on_warning is not None:
        for warning in workflow.warnings:
            on_warning(str(warning))
    if not is_text(workflow.path):
        raise InvalidInput(
            f"{escaped(workflow.path)}: the workflow's path is not valid UTF-8 text; rename the file to record"
            " sessions of it"
        )
    broken = tool_problems(workflow)
    if broken:
        raise InvalidInput("\n".join(str(problem) for problem in broken))
    return workflow


def plan_run(
    flow: str,
    *,
    inputs: Iterable[str] = (),
    auto: str | None = None,
    decisions: str | None = None,
    step_mode: bool = False,
    breakpoints: Sequence[str] = (),
    max_usd: float | None = None,
    models: Iterable[str] = (),
    config: Config | None = None,
    on_warning: Callable[[str], None] | None = None,
    workflow: Workflow | None = None,
    values: Mapping[str, Any] | None = None,
) -> Plan:
    """Check everything given for a new session of FLOW before anything is recorded: the workflow (loaded
    here unless `workflow` is given, see `load_for_run`), its inputs (`values` when a front end already
    asked for them, else parsed from `inputs`), breakpoints, options, model overrides, and that every real
    model it will call has its key set."""
    config = config if config is not None else workflows.config()
    if workflow is None:
        workflow = load_for_run(flow, config, on_warning)
    checked = dict(values) if values is not None else parse_inputs(workflow, inputs)
    for name in breakpoints:
        text_value(name, "--break")
    check_breakpoints(workflow, breakpoints)
    overrides = model_overrides(models)
    missing = keys_missing(workflow.spec, resolve_models(workflow.spec, config, overrides))
    if missing:
        raise InvalidInput(keys_message(missing))
    return Plan(workflow, checked, run_options(auto, decisions, step_mode, breakpoints, max_usd), overrides)


@dataclass(frozen=True)
class SessionEntry:
    """A saved session as a list shows it."""

    row: SessionRow
    alive: bool | None
    waiting: bool = False

    @property
    def status(self) -> str:
        """`interrupted` when it claims to run but no runner holds it, `waiting` when only a person can move
        it on."""
        return shown_status(self.row.status, self.alive, self.waiting)


@dataclass(frozen=True)
class Opened:
    """One session read whole: its folded view, and whether a runner holds it."""

    session_id: str
    view: SessionView
    alive: bool

    @property
    def status(self) -> str:
        """The status a person is shown."""
        running = self.view.status == "running"
        return shown_status(self.view.status, self.alive if running else None, self.view.blocked_on_person)


@dataclass(frozen=True)
class Decided:
    """What became of a decision: applied by the runner, or queued for the next one."""

    checkpoint_id: str
    decision: str
    queued: bool


@dataclass(frozen=True)
class Forked:
    """A new session made from another's record."""

    source: str
    session_id: str
    at_step: str


class Sessions:
    """The application layer over one store; `runners` start sessions (a process each, or tasks here)."""

    def __init__(self, store: SessionStore, runners: Runners | None = None) -> None:
        self.store = store
        self.runners = runners

    # --- starting and running ------------------------------------------------------------------------

    async def start(self, plan: Plan) -> Started:
        """Record a new session of `plan` and start its runner."""
        self._runners().check()
        session_id = await create_session(self.store, plan.workflow, plan.inputs, plan.options, plan.models)
        return await self.run(session_id)

    async def run(
        self, session_id: str, options: RunOptions | None = None, models: dict[str, str] | None = None
    ) -> Started:
        """Start a runner for a session (`options` and `models` override what it was started with)."""
        return await self._runners().start(self.store, session_id, options, models)

    def _runners(self) -> Runners:
        if self.runners is None:
            raise AppError(f"sessions in {self.store.location} cannot be run from here", code=1)
        return self.runners

    async def resume(
        self,
        session: str,
        *,
        auto: str | None = None,
        decisions: str | None = None,
        step_mode: bool = False,
        breakpoints: Sequence[str] = (),
        max_usd: float | None = None,
    ) -> Started:
        """Continue a paused, cancelled, failed, crashed or finished session (`SessionInUse` while a
        runner holds it). Options given here apply from now on; the rest stay as the session had them."""
        session_id = await self.store.resolve(session)
        await self._refuse_in_use(session_id)
        row = await self.store.session(session_id)
        stored = RunOptions.from_json(row.options_dict)
        options = None
        if auto or decisions or step_mode or breakpoints or max_usd is not None:
            for name in breakpoints:
                text_value(name, "--break")
            options = run_options(
                auto or stored.auto,
                decisions,
                step_mode or stored.step_mode,
                set(breakpoints) | stored.breakpoints,
                max_usd if max_usd is not None else stored.max_usd,
                stored_decisions=stored.decisions,
                stored_decisions_file=stored.decisions_file,
            )
        return await self.run(session_id, options)

    async def _refuse_in_use(self, session_id: str) -> None:
        lease = await self.store.lease(session_id)
        if lease is not None and await self.store.runner_alive(session_id):
            raise SessionInUse(session_id, lease.pid, lease.host)

    # --- reading -------------------------------------------------------------------------------------

    async def attach(self, session: str, *, liveness: float = 1.0) -> StoreBus:
        """A bus that tails the session (its history first), whoever runs it; a decision sent through it
        reaches a parked session's next runner."""
        session_id = await self.store.resolve(session)
        runners = self.runners
        hand_over = (lambda: runners.hand_over(self.store, session_id)) if runners is not None else None
        return StoreBus(self.store, session_id, liveness=liveness, hand_over=hand_over)

    async def open(self, session: str) -> Opened:
        """The session folded from its events."""
        session_id = await self.store.resolve(session)
        view = await self.store.view(session_id)
        return Opened(session_id, view, await runner_or_parked(self.store, session_id))

    async def events(self, session: str) -> list[ev.Envelope]:
        """Every event of the session, in order."""
        return await self.store.events(await self.store.resolve(session))

    async def list_sessions(self, limit: int = 500) -> list[SessionEntry]:
        """Saved sessions, newest first, with whether a runner holds the ones that claim to run (and, for those
        with open checkpoints, whether only a person can move them on)."""
        rows = await self.store.sessions(limit)
        out = []
        for row in rows:
            alive = await runner_or_parked(self.store, row.id) if row.status in ("new", "running") else None
            waiting = bool(alive and row.inbox and (await self.store.view(row.id)).blocked_on_person)
            out.append(SessionEntry(row, alive, waiting))
        return out

    # --- deciding ------------------------------------------------------------------------------------

    async def waiting_checkpoint(self, session: str, target: str) -> tuple[str, CheckpointView]:
        """The open checkpoint `target` names (its id, its step path, or the step's own id)."""
        session_id = await self.store.resolve(session)
        view = await self.store.view(session_id)
        text_value(target, "the checkpoint")
        for cp in view.open_checkpoints:
            if target in (cp.checkpoint_id, cp.step, StepPath(cp.step).name):
                return session_id, cp
        waiting = ", ".join(c.step for c in view.open_checkpoints)
        raise InvalidInput(
            f"no open checkpoint '{target}' in session {session_id}" + (f" (waiting: {waiting})" if waiting else "")
        )

    async def decide(self, session_id: str, command: Command, *, wait_s: float = DECISION_WAIT_S) -> Decided:
        """Hand a decision to the session's runner and wait for its verdict; with no runner, queue it (it is
        checked and applied when the session resumes). A refusal is `DecisionRefused` with the reason."""
        for name in ("feedback", "target", "model"):
            text_value(getattr(command, name), f"--{'to' if name == 'target' else name}")
        done = Decided(command.checkpoint_id, command.decision, queued=False)
        live = await self.store.runner_alive(session_id)
        command_id = await self.store.send(session_id, command)
        if not live and not (self.runners is not None and await self.runners.hand_over(self.store, session_id)):
            return Decided(command.checkpoint_id, command.decision, queued=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while loop.time() < deadline:
            status, reason = await self.store.command_status(command_id)
            if status == "done":
                return done
            if status == "rejected":
                raise DecisionRefused(f"refused: {reason}")
            await asyncio.sleep(0.02)
        raise DecisionRefused("refused: the runner did not answer (is it running? try `baton resume`)")

    # --- forking and deleting ------------------------------------------------------------------------

    async def fork(self, session: str, at_step: str, sets: Iterable[str] = ()) -> Forked:
        """A new session from `session`'s record up to `at_step` (with `--set key=value` state changes)."""
        source = await self.store.resolve(session)
        row = await self.store.session(source)
        try:
            workflow = load_text(row.workflow_text, row.workflow_path)
        except WorkflowInvalid as exc:
            raise InvalidInput(str(exc)) from None
        text_value(at_step, "--at")
        new_id = await fork_session(self.store, source, at_step, state_values(workflow, sets))
        return Forked(source, new_id, at_step)

    async def removable(self, sessions: Iterable[str], *, force: bool = False) -> list[str]:
        """The full ids of `sessions`, refusing (exit 3) any a runner holds unless `force`."""
        ids = [await self.store.resolve(s) for s in sessions]
        if not force:
            for session_id in ids:
                if await self.store.runner_alive(session_id):
                    raise AppError(f"session {session_id} is running; cancel it first or use --force", code=3)
        return ids

    async def delete(self, session_id: str, *, force: bool = False) -> None:
        """Delete a session and everything recorded for it (refused while a runner holds it, unless `force`)."""
        if not force and await self.store.runner_alive(session_id):
            raise AppError(f"session {session_id} is running; cancel it first", code=3)
        await self.store.delete_session(session_id)
