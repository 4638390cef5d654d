"""Hosting a session's runner: the lease, the recorded history, the writer, the command pump.

The same host runs in the background runner process (`sessions.runner_main`) and in-process (tests,
embedding), so both behave identically; an in-process host also offers a `LocalBus`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from typing import Any

from baton.core.aio import stop_tasks
from baton.core.commands import Command
from baton.core.config import Config, known_aliases, load_config, resolve_models
from baton.core.llm.types import LLMClient
from baton.core.runner import History, Runner, RunOptions
from baton.core.runner.context import Clock
from baton.core.spec.load import Workflow, load_text
from baton.core.spec.problems import WorkflowInvalid
from baton.core.view import SessionView
from baton.sessions.bus import LocalBus
from baton.sessions.interface import SessionStore
from baton.sessions.leases import LEASE_TTL_S
from baton.sessions.lessons import lessons_to_pin
from baton.sessions.tasks import settle
from baton.sessions.writer import SessionWriter

log = logging.getLogger("baton.host")
COMMAND_WAIT_S = 1.0
"""The longest a runner goes without looking for commands (it looks at once when told of a commit)."""
SMALL_HISTORY = 256
"""A session with at most this many events (as last projected) is read without a thread hop."""


class SessionHost:
    """Runs one session to an end. `options` overrides what the session was started with; `workflow`
    is the session's workflow already loaded (in-process callers), used when it is the stored one."""

    def __init__(
        self,
        store: SessionStore,
        session_id: str,
        *,
        llm: LLMClient | None = None,
        options: RunOptions | None = None,
        config: Config | None = None,
        models: dict[str, str] | None = None,
        clock: Clock | None = None,
        local: bool = False,
        workflow: Workflow | None = None,
        token: str | None = None,
        ttl: float = LEASE_TTL_S,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self._llm = llm
        self._options = options
        self._config = config
        self._model_overrides = models or {}
        self._clock = clock
        self._workflow = workflow
        self.runner: Runner | None = None
        self.writer: SessionWriter | None = None
        self.bus: LocalBus | None = LocalBus(store, session_id, self.submit) if local else None
        self._seen: set[int] = set()
        self._ready = asyncio.Event()
        self._token = token
        self._ttl = ttl
        self._stopping = False
        self.lost = False
        """The lease was taken over by another runner while this one ran."""

    async def run(self) -> str:
        """Take the lease, run, release. Raises `SessionInUse` if another runner holds the session."""
        token = await self.store.acquire_lease(self.session_id, self._ttl)
        try:
            return await self._run_leased(token)
        finally:
            with contextlib.suppress(Exception):
                await settle(self.store.release_lease(self.session_id, token))

    async def run_claimed(self) -> str:
        """Run under the lease a runner host claimed for it (the host settles the lease afterwards)."""
        assert self._token is not None
        return await self._run_leased(self._token)

    def release(self) -> None:
        """Let the session go, unrecorded, for another runner to continue (see `Runner.release`)."""
        if self.runner is not None:
            self.runner.release()

    def lose(self) -> None:
        """The lease was taken over: stop at once, unrecorded (the new holder goes on from the record)."""
        log.error("lease of session %s was taken over; stopping", self.session_id)
        self.lost = True
        self.release()

    async def ready(self) -> Runner:
        """Wait until the runner exists (for in-process callers that want to submit commands)."""
        await self._ready.wait()
        assert self.runner is not None
        return self.runner

    async def _run_leased(self, token: str) -> str:
        store, sid = self.store, self.session_id
        row = await store.session(sid)
        envelopes = await store.events(sid, small=row.last_seq <= SMALL_HISTORY)
        view = SessionView(sid).apply_all(envelopes)
        config = self._config if self._config is not None else load_config()
        workflow = self._workflow
        if workflow is None or workflow.hash != row.workflow_hash or workflow.text != row.workflow_text:
            workflow = load_text(row.workflow_text, row.workflow_path, known_aliases(config))
        options = self._options or RunOptions.from_json(json.loads(row.options or "{}"))
        models = resolve_models(workflow.spec, config, {**row.options_dict.get("models", {}), **self._model_overrides})
        writer = SessionWriter(
            store,
            sid,
            view,
            publish=self.bus.publish if self.bus else None,
            on_delta=self.bus.live if self.bus else None,
        )
        if row.projected_seq < view.last_seq:
            writer.unprojected([e for e in envelopes if e.seq > row.projected_seq])
            await writer.project()
        self.writer = await writer.start()
        llm = self._llm
        if llm is None:
            from baton.core.llm.gateway import LiteLLMGateway

            llm = LiteLLMGateway()
        history = History.from_envelopes(envelopes)
        if history.started is None and options.rules is None and config.rules:  # a resume keeps the recorded ones
            options = dataclasses.replace(options, rules=[rule.record() for rule in config.rules])
        if history.started is None and options.lessons is None:  # likewise the learning steps' lessons
            options = dataclasses.replace(options, lessons=await lessons_to_pin(store, workflow.spec, row.workflow))
        parent = row.parent
        while parent:
            history.add_recorded_calls(await store.events(parent))
            parent = (await store.session(parent)).parent
        runner = Runner(
            sid,
            workflow,
            sink=writer,
            llm=llm,
            models=models,
            inputs=row.inputs_dict,
            options=options,
            history=history,
            clock=self._clock,
        )
        self.runner = runner
        self._ready.set()
        # Decisions queued while no runner held the session reach it before it walks: a person's
        # decision beats the automatic policy at its checkpoint.
        for command in await store.pending_commands(sid):
            await self.submit(command)
        background = [asyncio.ensure_future(self._pump(runner))]
        if self._token is None:  # a runner host renews the leases of all its sessions at once
            background.append(asyncio.ensure_future(self._renew(token)))
        try:
            return await runner.run()
        finally:
            await settle(self._wind_down(background, writer))

    async def _wind_down(self, background: list[asyncio.Task[None]], writer: SessionWriter) -> None:
        self._stopping = True
        await stop_tasks(background)
        await writer.close()

    async def submit(self, command: Command) -> None:
        """Hand a command to the runner (once, whichever way it arrived)."""
        if command.id:
            if command.id in self._seen:
                return
            self._seen.add(command.id)
        runner = await self.ready()
        await runner.submit(command)

    async def _pump(self, runner: Runner) -> None:
        """Hand the runner each command written for the session, looking again whenever the store says
        something was committed (a notification on PostgreSQL; a cheap change counter on SQLite)."""
        after = 0
        mark = await self.store.wait_for_change(self.session_id, 0)
        while not self._stopping:
            try:
                for command in await self.store.pending_commands(self.session_id, after):
                    after = max(after, command.id)
                    await self.submit(command)
                mark = await self.store.wait_for_change(self.session_id, COMMAND_WAIT_S, mark)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading commands for session %s failed", self.session_id)
                await asyncio.sleep(COMMAND_WAIT_S)

    async def _renew(self, token: str) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                if not await self.store.renew_lease(self.session_id, token, self._ttl):
                    log.error("lease of session %s was taken over; stopping", self.session_id)
                    self.lost = True
                    if self.runner is not None:
                        self.runner.cancel("cancelled: another runner took the session over")
                    return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("renewing the lease of session %s failed", self.session_id)


async def run_in_process(store: SessionStore, session_id: str, **kwargs: Any) -> str:
    """Run a session in this process (tests, embedding)."""
    return await SessionHost(store, session_id, **kwargs).run()


def workflow_problems(text: str, path: str, config: Config | None = None) -> list[str]:
    """Problems that stop a stored workflow from loading (empty when it loads)."""
    try:
        load_text(text, path, known_aliases(config))
    except WorkflowInvalid as exc:
        return [str(p) for p in exc.problems]
    return []
