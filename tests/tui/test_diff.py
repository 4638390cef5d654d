"""The Diff screen over real sessions on the offline model: `D` on a fork's Run screen compares it with its
parent (the first divergence chosen and highlighted, enter opens the step's diff), Home compares a marked
session with the chosen one, hostile outputs stay inert, and every key shown works and is shown."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widgets import DataTable

from baton.core.diff import compare
from baton.core.runner import RunOptions
from baton.sessions.app import Sessions
from baton.sessions.store import Store
from baton.tui.app import BatonApp
from baton.tui.diff_report import report
from baton.tui.screens.diff import DiffScreen, StepDiffScreen
from baton.tui.screens.home import HomeScreen
from baton.tui.screens.run import RunScreen
from tests.helpers import Session, run, workflow
from tests.tui.drive import Messages, footer, hostile_flow, screen_text, until
from tests.tui.test_keys_walk import IDS, SIZE, Stage, shown_and_help

THREE = """
name: three
state:
  topic: {type: str}
  x: {type: str}
  y: {type: str}
  z: {type: str}
inputs:
  topic: {default: "tides"}
models:
  fast: {model: mock/fast, mock: {min_tokens: 8, max_tokens: 16}}
steps:
  - {id: first, kind: agent, model: fast, reads: [topic], writes: [x], prompt: "Outline {topic}"}
  - {id: second, kind: agent, model: fast, reads: [topic], writes: [y], prompt: "Explain {topic}"}
  - {id: third, kind: agent, model: fast, reads: [y], writes: [z], prompt: "Summarise {y}", review: always}
"""
"""Three agents; a fork at `second` with another topic changes `second` and `third`, not `first`."""
RAW = ("\x1b", "\x07", "\u202e")
COMPARISON_KEYS = ("diff.", "diff_step.", "run.diff", "home.mark", "home.diff")
"""The keys this feature adds (the app's own keys on these screens are walked by test_keys_walk)."""


async def parent_and_fork(store: Store) -> tuple[str, str]:
    """A finished run of THREE, and its fork at `second` with the topic changed, run to its end."""
    status, parent = await run(store, workflow(THREE, instant=True), options=RunOptions(auto="approve"))
    assert status == "completed"
    made = await Sessions(store).fork(parent.session_id, "second", ["topic=volcanoes"])
    fork = Session(store, made.session_id, None)  # type: ignore[arg-type]
    await fork.resume(RunOptions(auto="approve"))
    assert await fork.finish() == "completed"
    return parent.session_id, made.session_id


async def open_diff(pilot: Pilot[Any], app: BatonApp) -> DiffScreen:
    """Wait for the Diff screen with its comparison drawn."""
    await until(
        pilot,
        lambda: isinstance(app.screen, DiffScreen) and app.screen.result is not None,
        what="the diff screen",
    )
    screen = app.screen
    assert isinstance(screen, DiffScreen)
    await until(pilot, lambda: "first divergence" in screen_text(app) or "did the same" in screen_text(app))
    return screen


def cursor_step(screen: DiffScreen) -> str:
    step = screen.chosen()
    assert step is not None
    return step.path


async def test_D_on_a_fork_compares_it_with_its_parent(store: Store, db_path: Path) -> None:
    parent, fork = await parent_and_fork(store)
    app = BatonApp(db=db_path, attach=fork)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.run_screen is not None and app.run_screen.feed.view.parent == parent)
        await until(pilot, lambda: " D diff parent " in footer(app), what="D in the footer of a fork")
        await pilot.press("D")
        screen = await open_diff(pilot, app)
        text = screen_text(app)
        assert f"A {parent}" in text and f"B {fork}" in text and f"fork of {parent} at second" in text
        assert "first divergence: second — the model request differs; the output differs" in text
        assert cursor_step(screen) == "second", "the first divergence is chosen"
        cells = [line.split() for line in text.splitlines()]
        rows = {c[1]: c[0] for c in cells if len(c) > 2 and c[0] in ("=", "≠", "▶≠", "A", "B") and c[2] == "completed"}
        assert rows == {"first": "=", "second": "▶≠", "third": "≠"}, text
        assert " ⏎ step diff " in footer(app) and " n next difference " in footer(app)

        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, StepDiffScreen), what="the step's diff")
        text = screen_text(app)
        assert "the model request differs; the output differs" in text
        assert "+Explain volcanoes" in text and "-Explain tides" in text
        assert "output (A -, B +)" in text and "request (A -, B +)" in text
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)

        await pilot.press("n")
        await until(pilot, lambda: cursor_step(screen) == "third", what="the next difference")
        await until(pilot, lambda: "decision B: approve by auto" in screen_text(app), what="the step's decisions")
        assert " n next difference " not in footer(app), "no difference after the last"
        await pilot.press("N")
        await until(pilot, lambda: cursor_step(screen) == "second", what="the previous difference")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="back on the run")
        await pilot.press("q")


async def test_D_is_offered_only_on_a_fork(store: Store, db_path: Path) -> None:
    parent, _ = await parent_and_fork(store)
    app = BatonApp(db=db_path, attach=parent)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.run_screen is not None and app.run_screen.feed.view.status == "completed")
        await until(pilot, lambda: " detach " in footer(app))
        assert "diff parent" not in footer(app)
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        await pilot.press("q")


async def home_row(pilot: Pilot[Any], app: BatonApp, session_id: str) -> HomeScreen:
    """Home with the cursor on `session_id`'s row."""
    await until(pilot, lambda: isinstance(app.screen, HomeScreen) and session_id in screen_text(app))
    home = app.screen
    assert isinstance(home, HomeScreen)
    table = home.query_one("#sessions", DataTable)
    keys = [str(k.value) for k in table.rows]
    table.move_cursor(row=keys.index(session_id))
    await until(pilot, lambda: home.selected_id() == session_id)
    return home


async def test_home_compares_a_marked_session_with_the_chosen_one(store: Store, db_path: Path) -> None:
    flow = workflow(THREE, instant=True)
    _, one = await run(store, flow, inputs={"topic": "tides"}, options=RunOptions(auto="approve"))
    _, two = await run(store, flow, inputs={"topic": "glaciers"}, options=RunOptions(auto="approve"))
    app = BatonApp(db=db_path)
    async with app.run_test(size=SIZE) as pilot:
        home = await home_row(pilot, app, one.session_id)
        assert " D compare " not in footer(app), "nothing marked, not a fork"
        await pilot.press("m")
        await until(pilot, lambda: home.compare_mark == one.session_id)
        assert f"marked {one.session_id}" in screen_text(app)
        await home_row(pilot, app, two.session_id)
        await until(pilot, lambda: " D compare " in footer(app), what="D offered with another session marked")
        await pilot.press("D")
        screen = await open_diff(pilot, app)
        text = screen_text(app)
        assert f"A {one.session_id}" in text and f"B {two.session_id}" in text
        assert "first divergence: first — the model request differs" in text
        assert cursor_step(screen) == "first"
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is home)
        await home_row(pilot, app, one.session_id)
        await pilot.press("m")
        await until(pilot, lambda: home.compare_mark == "")
        await until(pilot, lambda: " D compare " not in footer(app), what="unmarked: nothing to compare with")
        await pilot.press("q")


async def test_hostile_outputs_stay_inert_in_the_diff(store: Store, db_path: Path) -> None:
    _, calm = await run(store, workflow(hostile_flow("calm words")), options=RunOptions(auto="approve"))
    _, hostile = await run(store, workflow(hostile_flow()), options=RunOptions(auto="approve"))
    app = BatonApp(db=db_path)
    async with app.run_test(size=SIZE) as pilot:
        await home_row(pilot, app, calm.session_id)
        await pilot.press("m")
        await home_row(pilot, app, hostile.session_id)
        await pilot.press("D")
        await open_diff(pilot, app)
        text = screen_text(app)
        assert "hostile [bold]name[/bold]" in text
        assert all(raw not in text for raw in RAW)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, StepDiffScreen))
        text = screen_text(app)
        assert "-calm words" in text
        assert "[bold red]loud[/]" in text and "␛]52;c;aGFja2Vk␇" in text and "⟨RLO⟩evil⟨PDF⟩" in text
        assert all(raw not in text for raw in RAW)
        await pilot.press("escape", "escape")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("q")
    printed = io.StringIO()
    console = Console(file=printed, width=200, force_terminal=True, highlight=False)
    for part in report(compare(calm, hostile), full=True):
        console.print(part, soft_wrap=True)
    text = printed.getvalue()
    assert "[bold red]loud[/]" in text and "␛]52;c;aGFja2Vk␇" in text and "⟨RLO⟩evil⟨PDF⟩" in text, text
    assert "\x1b]52" not in text and "\u202e" not in text and "\x07" not in text, "baton diff prints it inert"


# --- every key shown works, every working key is shown --------------------------------------------------


def fingerprint(app: BatonApp, messages: Messages) -> tuple[Any, ...]:
    """What a key on these screens can change: the screens, the focus, the chosen row, the notices."""
    screen = app.screen
    row = screen.query_one(DataTable).cursor_row if isinstance(screen, DiffScreen) else None
    home = screen.compare_mark if isinstance(screen, HomeScreen) else None
    return (tuple(id(s) for s in app.screen_stack), id(app.focused), row, home, len(messages.of(Notify)))


async def effect_of_each_key(stage: Stage, keys: dict[str, Any]) -> None:
    for key, binding in keys.items():
        messages = Messages()
        app = stage.app()
        async with app.run_test(size=SIZE, message_hook=messages, notifications=True) as pilot:
            await stage.reach(pilot, app)
            before = fingerprint(app, messages)
            await pilot.press(key)

            def changed(app: BatonApp = app, messages: Messages = messages, before: Any = before) -> bool:
                return fingerprint(app, messages) != before

            await until(pilot, changed, what=f"'{key}' ({binding.id}) to do something")


def stages(db: Path, parent: str, fork: str) -> dict[str, Stage]:
    async def on_run(pilot: Pilot[Any], app: BatonApp) -> None:
        await until(pilot, lambda: app.run_screen is not None and app.run_screen.feed.view.status == "completed")
        await until(pilot, lambda: " D diff parent " in footer(app))

    async def on_diff(pilot: Pilot[Any], app: BatonApp) -> None:
        await on_run(pilot, app)
        await pilot.press("D")
        await open_diff(pilot, app)

    async def on_step(pilot: Pilot[Any], app: BatonApp) -> None:
        await on_diff(pilot, app)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, StepDiffScreen) and app.focused is not None)

    async def on_home_marked(pilot: Pilot[Any], app: BatonApp) -> None:
        home = await home_row(pilot, app, parent)
        await pilot.press("m")
        await until(pilot, lambda: home.compare_mark == parent)
        await home_row(pilot, app, fork)
        await until(pilot, lambda: " D compare " in footer(app))

    def viewer(attach: str | None = None) -> Callable[[], BatonApp]:
        return lambda: BatonApp(db=db, attach=attach)

    return {
        "run-fork": Stage(viewer(fork), on_run),
        "diff": Stage(viewer(fork), on_diff),
        "step-diff": Stage(viewer(fork), on_step),
        "home-marked": Stage(viewer(), on_home_marked),
    }


@pytest.mark.slow
async def test_every_diff_key_shown_works_and_every_working_key_is_shown(store: Store, db_path: Path) -> None:
    parent, fork = await parent_and_fork(store)
    for name, stage in stages(db_path, parent, fork).items():
        works = await shown_and_help(stage)
        ours = {k: b for k, b in works.items() if b.id in IDS and b.id.startswith(COMPARISON_KEYS)}
        assert ours, f"{name}: none of the comparison's keys work"
        await effect_of_each_key(stage, ours)
