"""The Inbox over a real session database and real in-process runners: reached from Home with `i`, it lists
every waiting checkpoint across sessions; `a` approves the chosen one, `s` then `a` a batch of similar ones,
`o` opens one in its session's review; a checkpoint opening while it is open rings the bell."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable

from baton.sessions.store import Store
from baton.tui.app import BatonApp
from baton.tui.screens.home import HomeScreen
from baton.tui.screens.inbox import InboxScreen
from baton.tui.screens.review import ReviewScreen
from baton.tui.screens.run import RunScreen
from tests.helpers import Session
from tests.tui.drive import GATED, REVIEWED, running, screen_text, until

SIZE = (170, 40)


@asynccontextmanager
async def waiting_sessions(store: Store, *flows: str) -> AsyncIterator[list[Session]]:
    """Sessions of `flows`, started one after the other once the one before stopped at its first checkpoint
    (so they wait oldest first in that order); their runners are stopped on the way out."""
    async with AsyncExitStack() as stack:
        sessions = []
        for flow in flows:
            session = await stack.enter_async_context(running(store, flow))
            await session.checkpoint()
            await session.host.writer.project()  # type: ignore[union-attr]
            sessions.append(session)
        yield sessions


def inbox(app: BatonApp) -> InboxScreen:
    screen = app.screen
    assert isinstance(screen, InboxScreen), screen
    return screen


def rows(app: BatonApp) -> list[str]:
    return [str(key.value) for key in inbox(app).query_one("#inbox-table", DataTable).rows]


async def open_inbox(pilot: Pilot[Any], app: BatonApp, count: int) -> None:
    await until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
    await pilot.press("i")
    await until(pilot, lambda: isinstance(app.screen, InboxScreen) and len(rows(app)) == count, what=f"{count} rows")


async def test_lists_every_waiting_checkpoint_and_approves_the_chosen_one_in_a_key(store: Store, db_path: Path) -> None:
    async with waiting_sessions(store, REVIEWED, GATED) as (first, second):
        app = BatonApp(db=db_path)
        async with app.run_test(size=SIZE) as pilot:
            await open_inbox(pilot, app, 2)
            assert rows(app) == [f"{first.id}/draft:review:1", f"{second.id}/approve_draft:gate:1"]
            text = screen_text(app)
            for shown in (first.id, "reviewed", "draft", "review", second.id, "gated", "approve_draft", "gate", "now"):
                assert shown in text, shown
            assert "[a]" not in text and " approve " in text.splitlines()[-1]
            await pilot.press("a")
            assert await first.finish() == "completed"
            await until(pilot, lambda: rows(app) == [f"{second.id}/approve_draft:gate:1"], what="one row left")
            decision = (await first.view()).checkpoints["draft:review:1"].decision
            assert decision is not None and decision.decision == "approve" and decision.by == "tester"
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, HomeScreen), what="back on Home")


async def test_marks_similar_checkpoints_and_approves_them_at_once(store: Store, db_path: Path) -> None:
    async with waiting_sessions(store, REVIEWED, GATED, REVIEWED) as (first, gated, third):
        app = BatonApp(db=db_path)
        async with app.run_test(size=SIZE) as pilot:
            await open_inbox(pilot, app, 3)
            await pilot.press("s")
            screen = inbox(app)
            assert screen.marked == {f"{first.id}/draft:review:1", f"{third.id}/draft:review:1"}
            await until(pilot, lambda: "2 marked" in screen_text(app), what="the marks counted")
            await pilot.press("a")
            assert await first.finish() == "completed"
            assert await third.finish() == "completed"
            await until(pilot, lambda: rows(app) == [f"{gated.id}/approve_draft:gate:1"], what="the gate left")
            assert not screen.marked
            assert gated.task is not None and not gated.task.done()


async def test_a_checkpoint_opening_elsewhere_rings_the_bell(store: Store, db_path: Path) -> None:
    async with waiting_sessions(store, REVIEWED):
        app = BatonApp(db=db_path)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await open_inbox(pilot, app, 1)
            assert inbox(app).rings == 0
            async with running(store, GATED) as later:
                await later.checkpoint()
                await until(pilot, lambda: len(rows(app)) == 2, what="the new checkpoint listed")
                assert inbox(app).rings == 1
                await until(pilot, lambda: "1 new checkpoint waiting" in screen_text(app), what="the notice")


async def test_opens_one_checkpoint_in_its_sessions_review(store: Store, db_path: Path) -> None:
    async with waiting_sessions(store, GATED, REVIEWED) as (_, reviewed):
        app = BatonApp(db=db_path)
        async with app.run_test(size=SIZE) as pilot:
            await open_inbox(pilot, app, 2)
            index = rows(app).index(f"{reviewed.id}/draft:review:1")
            if index:
                await pilot.press("down")
            await pilot.press("o")
            await until(
                pilot,
                lambda: isinstance(app.screen, ReviewScreen) and app.screen.cp is not None,
                what="the review",
            )
            review = app.screen
            assert isinstance(review, ReviewScreen)
            assert review.session.bus.session_id == reviewed.id and review.checkpoint_id == "draft:review:1"
            assert "DRAFT v1" in screen_text(app)
            await pilot.press("a")
            assert await reviewed.finish() == "completed"
            await until(pilot, lambda: isinstance(app.screen, RunScreen), what="back on the run")
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, InboxScreen) and len(rows(app)) == 1, what="inbox")
