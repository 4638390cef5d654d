"""The full-screen views on a PostgreSQL store (`BATON_DB=postgresql://…`), driven with Textual's Pilot
against the real server the tests start: Home lists the sessions with the server's URL shown without its
password; the Inbox lists checkpoints opened by runners in other processes as they open (and rings the
bell, on PostgreSQL and on a SQLite file alike), approves one in a key (recorded as made from the inbox),
and opens another in its session's Run and Review screens, where it is approved too."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from textual.widgets import DataTable

from baton.core import events as ev
from baton.sessions.open import location_of, open_store
from baton.sessions.pg_dsn import shown_dsn
from baton.tui.app import BatonApp
from baton.tui.screens.home import HomeScreen
from baton.tui.screens.inbox import InboxScreen
from baton.tui.screens.review import ReviewScreen
from baton.tui.screens.run import RunScreen
from tests.conftest import ROOT
from tests.sessions.pg_server import PASSWORD, shared_server
from tests.tui.drive import screen_text, until
from tests.tui.other_process import ENV

SIZE = (170, 40)
START_S = 120.0


class OtherProcess:
    """A session whose runner is another process (`tests.tui.other_process`)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.id = self.checkpoint_id = ""

    async def waiting(self) -> OtherProcess:
        """Once it waits at its first checkpoint."""
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), START_S)).decode().split()
        assert len(line) == 2, await self._stderr()
        self.id, self.checkpoint_id = line
        return self

    async def finish(self) -> str:
        """How its session ended."""
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), START_S)).decode().split()
        assert line[:1] == ["done"], await self._stderr()
        return line[1]

    async def _stderr(self) -> str:
        assert self.proc.stderr is not None
        if self.proc.returncode is None:
            self.proc.kill()
        return (await self.proc.stderr.read()).decode()


@asynccontextmanager
async def other_processes(db: str) -> AsyncIterator[Callable[[str], Awaitable[OtherProcess]]]:
    """Starts runners in processes of their own (`start(flow)`); those still there are killed on the way out."""
    env = {**os.environ, ENV: db, "PYTHONPATH": str(ROOT)}
    async with AsyncExitStack() as stack:

        async def start(flow: str) -> OtherProcess:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.tui.other_process", flow,
                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            stack.push_async_callback(_end, proc)
            return OtherProcess(proc)

        yield start


async def _end(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
    await proc.wait()


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store's location: a fresh database on the test server, or a SQLite file."""
    return shared_server().create_database() if request.param == "postgresql" else str(tmp_path / "b.db")


def rows(app: BatonApp) -> list[str]:
    screen = app.screen
    assert isinstance(screen, InboxScreen), screen
    return [str(key.value) for key in screen.query_one("#inbox-table", DataTable).rows]


async def test_a_checkpoint_opened_by_another_process_is_listed_and_rings_the_bell(db: str) -> None:
    async with other_processes(db) as start:
        first = await (await start("reviewed")).waiting()
        app = BatonApp(db=location_of(db))
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
            await pilot.press("i")
            await until(pilot, lambda: isinstance(app.screen, InboxScreen) and len(rows(app)) == 1, what="1 row")
            inbox = app.screen
            assert isinstance(inbox, InboxScreen) and inbox.rings == 0
            later = await (await start("gated")).waiting()
            await until(pilot, lambda: len(rows(app)) == 2, what="the other process's checkpoint listed")
            assert inbox.rings == 1
            await until(pilot, lambda: "1 new checkpoint waiting" in screen_text(app), what="the notice")
            assert rows(app) == [f"{first.id}/{first.checkpoint_id}", f"{later.id}/{later.checkpoint_id}"]
            await pilot.press("a")
            assert await first.finish() == "completed"
            await until(pilot, lambda: len(rows(app)) == 1, what="the approved one gone")
            await pilot.press("o")
            await until(
                pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen.cp is not None, what="the review"
            )
            await pilot.press("a")
            assert await later.finish() == "completed"
            await until(pilot, lambda: isinstance(app.screen, RunScreen), what="back on the run")
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, InboxScreen) and not rows(app), what="an empty inbox")
    store = await open_store(location_of(db))
    try:
        made = {
            e.session_id: e.event
            for sid in (first.id, later.id)
            for e in await store.events(sid)
            if isinstance(e.event, ev.DecisionMade)
        }
    finally:
        await store.close()
    assert made[first.id].where.startswith("inbox on ") and made[later.id].where.startswith("tui on ")


async def test_home_on_postgresql_lists_its_sessions_and_shows_the_url_without_the_password() -> None:
    dsn = shared_server().create_database()
    async with other_processes(dsn) as start:
        session = await (await start("gated")).waiting()
        app = BatonApp(db=dsn)
        async with app.run_test(size=SIZE) as pilot:
            await until(
                pilot, lambda: isinstance(app.screen, HomeScreen) and session.id in screen_text(app), what="Home"
            )
            text = screen_text(app)
            assert shown_dsn(dsn)[:40] in text and PASSWORD not in text


async def test_a_session_viewed_on_postgresql_can_start_runners_on_the_same_server() -> None:
    from baton.sessions.bus import StoreBus
    from baton.sessions.pg_store import PgStore
    from baton.tui.app import _launcher_for

    dsn = shared_server().create_database()
    store = await PgStore.open(dsn)
    try:
        launcher = _launcher_for(StoreBus(store, "00000000"))
        assert launcher is not None and launcher.store is store
        assert launcher.db == dsn, "runners it starts connect to the same server"
        assert launcher.shown == shown_dsn(dsn) and PASSWORD not in launcher.shown
    finally:
        await store.close()
