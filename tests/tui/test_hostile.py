"""Untrusted text stays inert on every screen: markup shows as characters, escape sequences as symbols."""

from __future__ import annotations

from pathlib import Path

from baton.core.runner import RunOptions
from baton.sessions.store import Store
from baton.tui.app import BatonApp
from baton.tui.feed import Feed
from baton.tui.screens.home import HomeScreen
from baton.tui.screens.review import ReviewScreen
from baton.tui.screens.trace import TraceScreen
from baton.tui.widgets.pane_grid import PaneGrid
from tests.helpers import run, workflow
from tests.tui.drive import app_for, header, hostile_flow, running, screen_text, until, until_text

LITERAL = ("[/bold]", "[link=http://x]y[/link]", "␛]52;c;aGFja2Vk␇", "␛]0;title␇", "␛[2J", "⟨RLO⟩evil⟨PDF⟩")
RAW = ("\x1b", "\x07", "\u202e")


def _no_raw(text: str) -> None:
    for raw in RAW:
        assert raw not in text, repr(raw)


async def test_hostile_output_is_shown_literally_everywhere(store: Store) -> None:
    async with running(store, hostile_flow()) as session:
        app = app_for(session)
        async with app.run_test(size=(200, 50)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="the review")
            text = await until_text(pilot, "[bold red]loud[/]")
            for literal in LITERAL:
                assert literal in text, literal
            _no_raw(text)
            assert app.run_screen is not None
            screen = app.run_screen
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is screen)
            await until(
                pilot,
                lambda: "hostile [bold]name[/bold]" in header(app) and all(x in screen_text(app) for x in LITERAL),
                what="the literal name in the header and the reply in its pane",
            )
            text = screen_text(app)
            pane = screen.query_one(PaneGrid).panes["evil"]
            assert all(literal in pane.shown_text() for literal in LITERAL)
            for literal in LITERAL:
                assert literal in text, literal
            _no_raw(text)
            await pilot.press("t")
            await until(pilot, lambda: isinstance(app.screen, TraceScreen))
            _no_raw(screen_text(app))
            await pilot.press("escape", "v")
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            await pilot.press("a")
            await until(pilot, lambda: screen.feed.view.status == "completed")
            await until(
                pilot,
                lambda: app.screen is screen and "completed" in header(app) and "result · " in screen_text(app),
                what="the result on the run screen",
            )
            _no_raw(screen_text(app))
            await pilot.press("q")
        assert await session.finish() == "completed"


async def test_hostile_names_on_home(store: Store, db_path: Path) -> None:
    status, view = await run(store, workflow(hostile_flow()), options=RunOptions(auto="approve"))
    assert status == "completed"
    app = BatonApp(db=db_path)
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        text = await until_text(pilot, view.session_id)
        assert "hostile [bold]name[/bold]" in text
        _no_raw(text)
        await pilot.press("q")


async def test_feed_keeps_live_text_inert(store: Store) -> None:
    status, view = await run(store, workflow(hostile_flow()), options=RunOptions(auto="approve"))
    feed = Feed(view.session_id)
    feed.apply(await store.events(view.session_id))
    text = feed.panes["evil"].text
    assert all(literal in text for literal in LITERAL)
    _no_raw(text)
