"""Key bindings carry ids and tooltips, the config file remaps them, the palette lists every action."""

from __future__ import annotations

from pathlib import Path

from textual.binding import Binding
from textual.command import CommandPalette

from baton.core.config import config_path
from baton.core.runner import RunOptions
from baton.sessions.store import Store
from baton.tui.app import BatonApp
from baton.tui.keymap import check_keymap
from baton.tui.screens.dialogs import ConfirmScreen, FormScreen, PickerScreen, TextEditScreen
from baton.tui.screens.home import HomeScreen
from baton.tui.screens.review import ReviewScreen
from baton.tui.screens.run import RunScreen
from baton.tui.screens.trace import TraceScreen
from tests.helpers import run, workflow
from tests.tui.drive import GATED, REVIEWED, app_for, running, screen_text, until, until_text

SCREENS = [BatonApp, HomeScreen, RunScreen, ReviewScreen, TraceScreen, ConfirmScreen, PickerScreen, TextEditScreen]


def test_every_binding_has_an_id_and_a_tooltip() -> None:
    seen: set[str] = set()
    for owner in [*SCREENS, FormScreen]:
        for item in owner.BINDINGS:
            assert isinstance(item, Binding), (owner, item)
            assert item.id and item.tooltip, (owner.__name__, item.key)
            assert item.id not in seen, item.id
            seen.add(item.id)


def test_keymap_problems_are_named() -> None:
    known = {"run.pause": Binding("p", "pause", id="run.pause")}
    usable, problems = check_keymap({"run.pause": "P", "run.nope": "x", "run.pause2": "p"}, known)
    assert usable == {"run.pause": "P"}
    assert problems == ["[keys] unknown binding id 'run.nope'", "[keys] unknown binding id 'run.pause2'"]
    assert check_keymap({"run.pause": "not a key!"}, known)[1][0].startswith("[keys] 'run.pause'")


async def test_config_remaps_a_key(store: Store, tmp_path: Path) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[keys]\n"run.pause" = "P"\n"run.nope" = "x"\n')
    async with running(store, REVIEWED) as session:
        app = app_for(session, auto_review=False)
        assert any("unknown binding id 'run.nope'" in message for message, _ in app.problems)
        async with app.run_test(size=(160, 40)) as pilot:
            assert app.run_screen is not None
            screen = app.run_screen
            await until(pilot, lambda: bool(screen.feed.view.open_checkpoints))
            await until_text(pilot, " P pause ")
            await pilot.press("p")
            await pilot.pause(0.3)
            assert screen.feed.view.status == "running", "the old key no longer pauses"
            await pilot.press("P")
            await until(pilot, lambda: screen.feed.view.status == "paused")
            await pilot.press("q")


async def test_palette_lists_and_runs_actions(store: Store, db_path: Path) -> None:
    _, view = await run(store, workflow(GATED), options=RunOptions(auto="approve"))
    app = BatonApp(db=db_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and view.session_id in screen_text(app))
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"new session")
        text = await until_text(pilot, "Start a session of the chosen workflow")
        assert "new session: demo" in text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*f"attach {view.session_id}")
        await until_text(pilot, f"attach {view.session_id}")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="the palette to attach")
        await until_text(pilot, "completed")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"trace")
        await until_text(pilot, "Timeline of steps and model calls")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TraceScreen), what="the palette to open the trace")
        await pilot.press("escape", "q", "q")
