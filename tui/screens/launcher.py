"""What the Home and Run screens need from the store and `tui.launch`: list, start, resume, delete.

Sessions are started the way `baton run` starts them: recorded in the store, then run by a background
runner process that outlives the UI.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baton.core.config import Config, ConfigInvalid, load_config
from baton.core.paths import log_path
from baton.core.runner import RunOptions
from baton.core.spec.load import Workflow
from baton.sessions.bus import StoreBus
from baton.sessions.create import create_session
from baton.sessions.store import SessionInUse, SessionRow, Store, shown_status
from baton.tui.launch import (
    LaunchError,
    bundled_flows,
    load_flow,
    local_flows,
    parse_inputs,
    spawn_runner,
    user_name,
    wait_started,
)
from baton.tui.screens.dialogs import Field


@dataclass(frozen=True)
class FlowEntry:
    """A workflow the person can start."""

    name: str
    path: Path
    origin: str


@dataclass(frozen=True)
class SessionEntry:
    """A saved session as the Home screen lists it."""

    row: SessionRow
    alive: bool | None

    @property
    def status(self) -> str:
        """`interrupted` when it claims to run but no runner holds it."""
        return shown_status(self.row.status, self.alive)


def _value_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class Launcher:
    """Starts and finds sessions in one store file."""

    def __init__(self, store: Store, db: Path, *, liveness: float = 1.0) -> None:
        self.store = store
        self.db = db
        self.liveness = liveness

    def config(self) -> Config:
        """The config file (an empty one when it is broken: the app already said so)."""
        try:
            return load_config()
        except ConfigInvalid:
            return Config()

    def workflows(self) -> list[FlowEntry]:
        """Bundled workflows, then local ones (`./flows/*.yaml`, `./*.yaml`)."""
        out = [FlowEntry(p.stem, p, "bundled") for p in bundled_flows()]
        out += [FlowEntry(p.stem, p, "local") for p in local_flows()]
        return out

    def load(self, path: Path) -> Workflow:
        """Load a workflow (`LaunchError` lists its problems)."""
        return load_flow(str(path), self.config())

    def fields(self, workflow: Workflow) -> list[Field]:
        """The inputs form for a workflow, from its declared inputs."""
        spec = workflow.spec
        out = []
        for key, decl in spec.inputs.items():
            state = spec.state.get(key)
            default = decl.default if decl.default is not None else (state.default if state else None)
            typ = state.type if state else "str"
            description = decl.description or (state.description if state else "")
            out.append(
                Field(
                    name=key,
                    label=f"{key} ({typ})",
                    description=description,
                    default=_value_text(default),
                    choices=list(decl.choices) if decl.choices else None,
                    required=decl.required and default is None,
                )
            )
        return out

    def check(self, workflow: Workflow, values: dict[str, str]) -> str | None:
        """What is wrong with the form's values (None when they are fine)."""
        try:
            parse_inputs(workflow, [f"{k}={v}" for k, v in values.items() if v != ""])
        except LaunchError as exc:
            return str(exc)
        return None

    async def start(self, workflow: Workflow, values: dict[str, str]) -> str:
        """Create a session and start its runner; returns the session id."""
        inputs = parse_inputs(workflow, [f"{k}={v}" for k, v in values.items() if v != ""])
        options = RunOptions(by=user_name())
        session_id = await create_session(self.store, workflow, inputs, options, {})
        process = spawn_runner(self.db, session_id)
        await wait_started(self.store, session_id, process)
        return session_id

    async def resume(self, session_id: str) -> None:
        """Start a runner for a paused, cancelled, failed or interrupted session."""
        lease = await self.store.lease(session_id)
        if lease and await self.store.runner_alive(session_id):
            raise SessionInUse(session_id, lease[0], lease[1])
        before = await self.store.last_seq(session_id)
        process = spawn_runner(self.db, session_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while loop.time() < deadline:
            if await self.store.runner_alive(session_id) or await self.store.last_seq(session_id) > before:
                return
            if process.poll() is not None:
                raise LaunchError(f"the runner exited with code {process.returncode}; see {log_path(session_id)}", 1)
            await asyncio.sleep(0.05)
        raise LaunchError(f"the runner did not start within 30s; see {log_path(session_id)}", 1)

    def bus(self, session_id: str) -> StoreBus:
        """A bus tailing a session in this store."""
        return StoreBus(self.store, session_id, liveness=self.liveness)

    async def sessions(self, limit: int = 500) -> list[SessionEntry]:
        """Saved sessions, newest first, with whether a runner holds the running ones."""
        rows = await self.store.sessions(limit)
        out = []
        for row in rows:
            alive = await self.store.runner_alive(row.id) if row.status in ("new", "running") else None
            out.append(SessionEntry(row, alive))
        return out

    async def delete(self, session_id: str) -> None:
        """Delete a session (refused while a runner holds it)."""
        if await self.store.runner_alive(session_id):
            raise LaunchError(f"session {session_id} is running; cancel it first", 3)
        await self.store.delete_session(session_id)
