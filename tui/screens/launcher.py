"""What the Home and Run screens need from the application layer: list, start, resume, attach, delete.

Sessions are started the way `baton run` starts them (`sessions.app.Sessions`): recorded in the store,
then run by a background runner process that outlives the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from baton.core.config import Config
from baton.core.spec.load import Workflow
from baton.sessions.app import (
    Plan,
    Runners,
    SessionEntry,
    Sessions,
    bundled_flows,
    load_flow,
    local_flows,
)
from baton.sessions.app import parse_inputs as parse_app_inputs
from baton.sessions.app.hosting import default_runners
from baton.sessions.app.inputs import run_options
from baton.sessions.app.workflows import config_or_empty
from baton.sessions.bus import StoreBus
from baton.sessions.interface import SessionStore
from baton.sessions.open import shown_location
from baton.tui.input_form import form_pairs

__all__ = ["FlowEntry", "Launcher", "SessionEntry"]


@dataclass(frozen=True)
class FlowEntry:
    """A workflow the person can start."""

    name: str
    path: Path
    origin: str


class Launcher:
    """The screens' handle on one store: the application layer, and where the store is (`shown`)."""

    def __init__(
        self, store: SessionStore, db: Path | str, *, liveness: float = 1.0, runners: Runners | None = None
    ) -> None:
        self.store = store
        self.db = db
        """Where the store is: a file, or a PostgreSQL URL (its password included: runners connect with it)."""
        self.liveness = liveness
        self.app = Sessions(store, runners or default_runners(db, liveness=liveness))

    @property
    def shown(self) -> str:
        """Where the store is, as a person may see it (a URL's password hidden)."""
        return shown_location(self.db)

    def config(self) -> Config:
        """The config file (an empty one when it is broken: the app already said so)."""
        return config_or_empty()

    def workflows(self) -> list[FlowEntry]:
        """Bundled workflows, then local ones (`./flows/*.yaml`, `./*.yaml`)."""
        out = [FlowEntry(p.stem, p, "bundled") for p in bundled_flows()]
        out += [FlowEntry(p.stem, p, "local") for p in local_flows()]
        return out

    def load(self, path: Path) -> Workflow:
        """Load a workflow (`AppError` lists its problems)."""
        return load_flow(str(path), self.config())

    async def start(self, workflow: Workflow, values: dict[str, str]) -> str:
        """Create a session and start its runner; returns the session id."""
        plan = Plan(workflow, parse_app_inputs(workflow, form_pairs(values)), run_options())
        return (await self.app.start(plan)).session_id

    async def resume(self, session_id: str) -> None:
        """Start a runner for a paused, cancelled, failed or interrupted session (`SessionInUse` while
        one holds it)."""
        await self.app.resume(session_id)

    def bus(self, session_id: str) -> StoreBus:
        """A bus tailing a session in this store."""
        return StoreBus(self.store, session_id, liveness=self.liveness)

    async def sessions(self, limit: int = 500) -> list[SessionEntry]:
        """Saved sessions, newest first, with whether a runner holds the running ones."""
        return await self.app.list_sessions(limit)

    async def delete(self, session_id: str) -> None:
        """Delete a session (refused while a runner holds it)."""
        await self.app.delete(session_id)
