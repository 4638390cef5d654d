"""Key bindings carry ids and tooltips, the config file remaps them, the palette lists every action."""

from __future__ import annotations

import re
from pathlib import Path

from textual.binding import Binding
from textual.command import CommandPalette

from baton.core.config import config_path
from baton.core.runner import RunOptions
from baton.sessions.store import Store
from baton.tui import keymap
from baton.tui.app import BatonApp
from baton.tui.keymap import check_keymap
from baton.tui.screens.dialogs import ConfirmScreen, FormScreen, PickerScreen, TextEditScreen
from baton.tui.screens.edit import EditScreen
from baton.tui.screens.help import HelpScreen
from baton.tui.screens.home import HomeScreen
from baton.tui.screens.palette import ActionsProvider
from baton.tui.screens.review import ReviewScreen
from baton.tui.screens.run import RunScreen
from baton.tui.screens.trace import TraceScreen
from tests.conftest import ROOT
from tests.helpers import run, workflow
from tests.tui.drive import (
    GATED,
    REVIEWED,
    app_for,
    footer,
    running,
    screen_text,
    until,
    until_offered,
    until_text,
)

SCREENS = [BatonApp, HomeScreen, RunScreen, ReviewScreen, TraceScreen, ConfirmScreen, PickerScreen, TextEditScreen]


def test_every_binding_comes_from_the_table_with_an_id_and_a_tooltip() -> None:
    table = keymap.table_ids()
    for owner in [*SCREENS, FormScreen, EditScreen, HelpScreen]:
        for item in owner.BINDINGS:
            assert isinstance(item, Binding), (owner, item)
            assert item.id in table and item.tooltip, (owner.__name__, item.key)
    contexts: dict[str, set[str]] = {}
    for context, keys in keymap.CONTEXTS.items():
        for key in keys:
            assert key.id and key.label and key.tooltip, key
            assert table[key.id].keys == key.keys, f"{key.id} has one default key"
            contexts.setdefault(key.id, set()).add(context)
    shared = {i: c for i, c in contexts.items() if len(c) > 1}
    assert shared == {"app.help": {"app", "review"}}, "an id belongs to one context (the help key is also Review's)"


def test_a_checkpoint_shows_only_the_decisions_it_offers_in_its_own_words() -> None:
    facts = keymap.KeyFacts(
        options=frozenset(["approve", "edit", "skip", "pause"]), words={"approve": "run", "edit": "edit prompt"}
    )
    menu = keymap.menu("review", facts)
    assert menu == "[a] run  [e] edit prompt  [s] skip  [p] pause  [esc] later  [?] keys"
    labels = [b.description for b in keymap.bindings("review") if isinstance(b, Binding) and b.key == "a"]
    assert "run" in labels and "approve" in labels


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
            # Step mode goes through the runner after anything "p" might have sent: once it is on, a pause
            # the old key sent would have been taken too.
            await pilot.press("s")
            await until(pilot, lambda: screen.feed.view.step_mode, what="step mode on, after the old key")
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
        assert "new session: research-brief (demo.yaml)" in text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*f"attach {view.session_id}")
        await until_offered(pilot, f"attach {view.session_id}")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="the palette to attach")
        await until_text(pilot, "completed")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"trace")
        await until_text(pilot, "Timeline of steps and model calls")
        await until_offered(pilot, "trace")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TraceScreen), what="the palette to open the trace")
        await pilot.press("escape", "q", "q")


async def test_palette_lists_baton_first_and_one_theme_switcher(store: Store, db_path: Path) -> None:
    await run(store, workflow(GATED), options=RunOptions(auto="approve"))
    app = BatonApp(db=db_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and bool(app.screen.selected_id()))
        titles = [str(hit.text) async for hit in ActionsProvider(app.screen).discover()]
        first_system = titles.index("Screenshot")
        assert {"new session", "attach", "filter", "theme", "keys"} <= set(titles[:first_system]), titles
        assert not {"Theme", "Keys", "Quit", "Cursor up"} & set(titles), "Textual's own switcher and keys are left out"
        assert sum("theme" in title.lower() for title in titles) == 1, "one theme switcher"
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"theme")
        await until_text(pilot, "Switch to the next theme")
        await until_offered(pilot, "theme")
        await pilot.press("enter")
        await until(pilot, lambda: app.theme != "baton-dark", what="the palette's theme entry to switch")
        await pilot.press("q")


async def test_help_lists_every_key_and_greys_those_that_do_nothing_now(store: Store) -> None:
    async with running(store, REVIEWED) as session:
        app = app_for(session, auto_review=False)
        async with app.run_test(size=(160, 50)) as pilot:
            assert app.run_screen is not None
            screen = app.run_screen
            await until(pilot, lambda: bool(screen.feed.view.open_checkpoints))
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen))
            text = screen_text(app)
            rows = text.splitlines()
            for key, word in (("v", "review"), ("p", "pause"), ("z", "zoom"), ("ctrl+t", "theme"), ("ctrl+q", "quit")):
                assert any(f" {key} " in row and f" {word} " in row for row in rows), (key, word)
            resume = next(row for row in rows if " r " in row and " resume " in row)
            assert "when the session is paused" in resume, "a key that does nothing now says when it works"
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is screen)
            await pilot.press("q")


async def test_a_remapped_key_is_shown_and_works_on_the_review(store: Store) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[keys]\n"review.approve" = "y"\n')
    async with running(store, REVIEWED) as session:
        app = app_for(session)
        async with app.run_test(size=(160, 40)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            await until_text(pilot, "[y] approve")
            await until(pilot, lambda: " y approve " in footer(app), what="the remapped key in the footer")
            review = app.screen
            assert isinstance(review, ReviewScreen)
            await pilot.press("a")
            await pilot.press("question_mark")  # keys are taken in order: once the help is up, "a" was taken
            await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the key help")
            assert app.screen_stack[-2] is review and not review.busy, "the old key does nothing"
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is review, what="back on the review")
            await pilot.press("y")
            await until(pilot, lambda: app.run_screen is not None and app.run_screen.feed.view.status == "completed")
            await pilot.press("q")


def test_the_readme_lists_every_key_id() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Key ids") :]
    section = section[: section.index("\n## ")] if "\n## " in section else section
    listed = set(re.findall(r"`([a-z_]+\.[a-z_]+)`", section))
    assert listed == set(keymap.table_ids())
