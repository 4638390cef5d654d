"""The Home screen over a real session database: list, filter, attach, start, resume, delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, OptionList

from baton.core.commands import Command
from baton.core.runner import RunOptions
from baton.sessions.store import Store
from baton.tui.app import BatonApp
from baton.tui.screens.dialogs import ConfirmScreen, FormScreen
from baton.tui.screens.home import HomeScreen
from baton.tui.screens.review import ReviewScreen
from baton.tui.screens.run import RunScreen
from tests.helpers import run, workflow
from tests.tui.drive import GATED, REVIEWED, Messages, footer, running, screen_text, until, until_text

SIZE = (170, 45)
FIELD_FLOW = """
name: typed-inputs
state:
  topic: {type: str}
  count: {type: int}
  tone: {type: str}
  out: {type: str}
inputs:
  topic: {description: "What to write about"}
  count: {default: 2}
  tone: {choices: [plain, warm], default: plain}
models:
  fast: {model: mock/fast}
steps:
  - {id: write, kind: agent, model: fast, reads: [topic, count, tone], writes: [out], prompt: "{topic} {count} {tone}"}
"""


def home(app: BatonApp) -> HomeScreen:
    screen = app.screen
    assert isinstance(screen, HomeScreen), screen
    return screen


def rows(app: BatonApp) -> list[str]:
    table = home(app).query_one("#sessions", DataTable)
    return [str(key.value) for key in table.rows]


async def test_lists_sessions_with_status_cost_and_waiting(store: Store, db_path: Path) -> None:
    status, done = await run(store, workflow(GATED), options=RunOptions(auto="approve"))
    assert status == "completed"
    async with running(store, REVIEWED) as waiting:
        await waiting.checkpoint("draft")
        await waiting.host.writer.project()  # type: ignore[union-attr]
        app = BatonApp(db=db_path)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, HomeScreen) and len(rows(app)) == 2, what="two rows")
            text = screen_text(app)
            for column in ("session", "workflow", "status", "started", "duration", "cost", "waiting"):
                assert column in text
            line = next(row for row in text.splitlines() if done.session_id in row)
            assert "gated" in line and "completed" in line and f"${done.cost_usd:.4f}" in line
            line = next(row for row in text.splitlines() if waiting.id in row)
            assert "reviewed" in line and "waiting" in line and "⏸ 1" in line
            for name in ("demo", "parallel", "gate"):
                assert name in text
            await pilot.press("slash")
            assert isinstance(app.focused, Input)
            await pilot.press(*"gated")
            await until(pilot, lambda: rows(app) == [done.session_id], what="the filter")
            await until_text(pilot, "1 of 2")
            await pilot.press("enter")
            await pilot.press("q")


async def test_attach_and_come_back(store: Store, db_path: Path, messages: Messages) -> None:
    status, done = await run(store, workflow(GATED), options=RunOptions(auto="approve"))
    app = BatonApp(db=db_path)
    async with app.run_test(size=SIZE, message_hook=messages) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and len(rows(app)) == 1)
        home(app).query_one("#sessions", DataTable).focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        text = await until_text(pilot, "completed")
        assert done.session_id in text and "approve_draft" in text
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        assert messages.of(DataTable.RowSelected)
        await pilot.press("q")
    assert app.return_value == 0


@pytest.mark.slow
async def test_new_session_from_a_form_runs_in_a_runner_process(store: Store, db_path: Path) -> None:
    app = BatonApp(db=db_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        flows = home(app).query_one("#flows", OptionList)
        ids = [flows.get_option_at_index(i).id or "" for i in range(flows.option_count)]
        flows.focus()
        flows.highlighted = next(i for i, p in enumerate(ids) if p.endswith("gate.yaml"))
        await until_text(pilot, "sign-off")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        text = screen_text(app)
        assert "new session · sign-off" in text and "request (str)" in text
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, RunScreen | ReviewScreen), timeout=60, what="the run")
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen), timeout=60, what="the gate")
        await pilot.press("a")
        assert app.run_screen is not None
        run_screen = app.run_screen
        await until(pilot, lambda: run_screen.feed.view.status == "completed", timeout=60)
        session_id = run_screen.bus.session_id
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await until(pilot, lambda: session_id in rows(app))
        await pilot.press("q")
    assert (await store.view(session_id)).status == "completed"


async def test_inputs_form_checks_types_and_required(store: Store, db_path: Path, tmp_path: Path) -> None:
    flow = tmp_path / "typed.yaml"
    flow.write_text(FIELD_FLOW)
    app = BatonApp(db=db_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        home(app).action_new(str(flow))
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        form = app.screen
        assert isinstance(form, FormScreen)
        assert [f.name for f in form.fields] == ["topic", "count", "tone"]
        assert form.fields[0].required and not form.fields[1].required and form.fields[2].choices == ["plain", "warm"]
        await pilot.press("ctrl+s")
        assert "required: topic" in await until_text(pilot, "required")
        await pilot.press(*"bikes")
        form.query_one("#field-count", Input).value = "many"
        await pilot.press("ctrl+s")
        text = await until_text(pilot, "input 'count'")
        assert isinstance(app.screen, FormScreen), text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("q")
    assert await store.sessions() == []


async def test_delete_asks_first(store: Store, db_path: Path) -> None:
    _, done = await run(store, workflow(GATED), options=RunOptions(auto="approve"))
    app = BatonApp(db=db_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and len(rows(app)) == 1)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await until_text(pilot, f"Delete session {done.session_id}?")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        assert rows(app) == [done.session_id]
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: rows(app) == [], what="the row to go")
        await pilot.press("q")
    assert await store.sessions() == []


async def test_delete_is_not_offered_for_a_running_session(store: Store, db_path: Path) -> None:
    async with running(store, REVIEWED) as session:
        await session.checkpoint("draft")
        app = BatonApp(db=db_path)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: isinstance(app.screen, HomeScreen) and rows(app) == [session.id])
            await until(pilot, lambda: " a attach " in footer(app), what="the footer")
            assert " d delete" not in footer(app) and " r resume" not in footer(app)
            screen = home(app)
            await pilot.press("d")
            await pilot.press("question_mark")  # keys are taken in order: once the help is up, "d" was taken
            text = await until_text(pilot, "on a session that is not running")
            assert app.screen_stack[-2] is screen, "d does nothing here"
            assert "delete" in text
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is screen, what="back on Home")
            assert rows(app) == [session.id], "d does nothing here"
            await pilot.press("q")


@pytest.mark.slow
async def test_resume_a_paused_session(store: Store, db_path: Path) -> None:
    async with running(store, REVIEWED) as session:
        await session.checkpoint("draft")
        assert await session.command(Command(kind="pause", by="tester")) == ("done", "")
        assert await session.finish() == "paused"
    app = BatonApp(db=db_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and rows(app) == [session.id])
        await until_text(pilot, "paused")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen), timeout=60, what="the checkpoint again")
        await pilot.press("a")
        assert app.run_screen is not None
        screen = app.run_screen
        await until(pilot, lambda: screen.feed.view.status == "completed", timeout=60)
        await pilot.press("q", "q")
    assert (await store.view(session.id)).status == "completed"


async def test_filter_esc_names_and_store_path(store: Store, db_path: Path) -> None:
    _, done = await run(store, workflow(GATED), options=RunOptions(auto="approve"))
    app = BatonApp(db=db_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and len(rows(app)) == 1)
        text = screen_text(app)
        assert f"sessions in {db_path}" in text.splitlines()[0], "the header names the store"
        flows = [line for line in text.splitlines() if "gate.yaml" in line or "demo.yaml" in line]
        assert any("sign-off  gate.yaml" in line for line in flows), "listed by name, the file beside"
        assert any("research-brief  demo.yaml" in line for line in flows)
        await pilot.press("slash", *"nothing-matches")
        await until(pilot, lambda: rows(app) == [], what="the filter")
        await until(pilot, lambda: " esc clear filter " in footer(app), what="esc offered while filtering")
        assert " n new session " not in footer(app), "letters type into the filter"
        await pilot.press("escape")
        await until(pilot, lambda: rows(app) == [done.session_id], what="every session again")
        assert isinstance(app.focused, DataTable) and home(app).query_one("#filter", Input).value == ""
        await until(pilot, lambda: " n new session " in footer(app))
        assert " clear filter" not in footer(app)
        await pilot.press("q")


async def test_the_inputs_form_runs_on_its_own(tmp_path: Path) -> None:
    from baton.core.spec.load import load_workflow
    from baton.tui.input_form import InputFormApp, check_inputs, form_pairs

    flow = tmp_path / "typed.yaml"
    flow.write_text(FIELD_FLOW)
    wf = load_workflow(flow)
    assert check_inputs(wf, {"topic": "", "count": "2"}, {}) is not None
    assert form_pairs({"topic": "bikes"}, {"count": 3}) == ["count=3", "topic=bikes"]
    from baton.tui.launch import parse_inputs

    assert parse_inputs(wf, form_pairs({"topic": "bikes"}, {"count": "3"})) == {"topic": "bikes", "count": 3}
    app = InputFormApp(wf, {"count": "5"})
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        form = app.screen
        assert isinstance(form, FormScreen)
        assert form.query_one("#field-count", Input).value == "5", "what the command line gave is filled in"
        await pilot.press("ctrl+s")
        await until_text(pilot, "required: topic")
        form.query_one("#field-topic", Input).value = "bikes"
        await pilot.press("ctrl+s")
    assert app.return_value == {"topic": "bikes", "count": "5", "tone": "plain"}
    cancelled = InputFormApp(wf, {})
    async with cancelled.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(cancelled.screen, FormScreen))
        await pilot.press("escape")
    assert cancelled.return_value is None
