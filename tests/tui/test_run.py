"""The Run screen against real sessions (in-process runner, real store, offline model through litellm)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from textual.widgets import Tree
from textual.worker import Worker, WorkerState

from baton.core.runner import RunOptions
from baton.sessions.store import Store
from baton.tui.app import BatonApp
from baton.tui.screens.review import ReviewScreen
from baton.tui.screens.run import RunScreen
from baton.tui.transcript import loop_of
from baton.tui.widgets.agent_pane import AgentPane
from baton.tui.widgets.pane_grid import PaneGrid
from baton.tui.widgets.step_tree import StepTree
from tests.helpers import workflow
from tests.tui.drive import (
    GATED,
    REVIEWED,
    Messages,
    app_for,
    fan_out,
    header,
    running,
    screen_text,
    until,
    until_text,
)

SIZE = (180, 50)


def run_screen(app: BatonApp) -> RunScreen:
    assert app.run_screen is not None
    return app.run_screen


async def test_demo_streams_into_panes_and_completes(store: Store, messages: Messages) -> None:
    async with running(store, "demo", options=RunOptions(auto="approve")) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE, message_hook=messages) as pilot:
            screen = run_screen(app)
            await until(pilot, lambda: "research/papers" in screen.query_one(PaneGrid).panes, what="a pane per agent")
            await until(pilot, lambda: screen.feed.view.status == "completed", timeout=60, what="the session to end")
            await until(pilot, lambda: "completed" in header(app), what="completed in the header")
            # A review opened for a checkpoint the runner then answered itself closes on its own.
            await until(pilot, lambda: app.screen is screen, what="the run screen on top")
            text = screen_text(app)
            for path in ("triage", "papers", "news", "critics", "write", "publish"):
                assert path in text
            view = screen.feed.view
            assert f"${view.cost_usd:.4f}" in text
            grid = screen.query_one(PaneGrid)
            assert grid.order[:1] == ["triage"] and {"research/papers", "write"} <= set(grid.order)
            for step in grid.order:
                call = view.calls[screen.feed.panes[step].call_id]
                assert call.status == "ok"
                if grid.panes[step].display:
                    shown = grid.panes[step].shown_text()
                    if loop_of(view, step) is None:
                        assert shown == call.text, step
                    else:  # a tool-calling agent's pane is its transcript, its last answer at the end
                        assert shown == screen.feed.source(step).text and shown.endswith(call.text), step
                        assert "· done in" in shown, step
            assert screen.feed.live_chars > 0, "text streamed live, not only at the end"
            tree = screen.query_one(StepTree)
            assert {"triage", "research", "research/papers", "write", "publish"} <= set(tree.nodes)
            assert "✓" in str(tree.nodes["write"].label)
            await pilot.press("q")
        assert await session.finish() == "completed"
        assert app.return_value == "completed"
        states = [m.state for m in messages.of(Worker.StateChanged) if m.worker.group == "bus"]
        assert WorkerState.RUNNING in states and states[-1] == WorkerState.CANCELLED, states


async def test_focus_inspector_zoom_compact_and_pages(store: Store, messages: Messages) -> None:
    async with running(store, fan_out(10, tokens_per_s=40, tokens=20), options=RunOptions(auto="approve")) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE, message_hook=messages) as pilot:
            screen = run_screen(app)
            await until(pilot, lambda: screen.feed.view.status == "completed", what="completion")
            await until(pilot, lambda: len(screen.query_one(PaneGrid).order) == 10)
            grid = screen.query_one(PaneGrid)
            assert grid.compact and len(grid.shown_panes()) == 10, "ten agents at once switch to the compact grid"
            await until_text(pilot, "10 agents · compact")
            await pilot.press("c")
            await until(pilot, lambda: not grid.compact and len(grid.shown_panes()) == 4, what="the four-pane grid")
            await pilot.press("left_square_bracket")
            await until(pilot, lambda: grid.start == 2 and not grid.follow, what="the previous page, not following")
            await pilot.press("left_square_bracket", "left_square_bracket")
            await until(pilot, lambda: grid.start == 0, what="the first page")
            await until_text(pilot, "agents 1–4 of 10")
            await pilot.press("right_square_bracket")
            await until(pilot, lambda: grid.start == 4, what="the next page")
            await until_text(pilot, "agents 5–8 of 10")
            target = grid.shown_panes()[1]
            await pilot.click(target, offset=(3, 2))

            def chosen_pane() -> bool:
                chosen = messages.of(AgentPane.Chosen)
                return bool(chosen) and chosen[-1].step == target.step and screen.focused_step == target.step

            await until(pilot, chosen_pane, what=f"{target.step} chosen by the click")
            step = target.step
            await until(
                pilot,
                lambda: "── output ──" in screen_text(app) and "reads   q" in screen_text(app),
                what="the chosen agent in the inspector",
            )
            assert screen.query_one(StepTree).selected_path() == step
            await pilot.press("j")
            await until(pilot, lambda: screen.focused_step != step, what="the next agent focused")
            await pilot.press("z")
            await until(
                pilot,
                lambda: screen.has_class("-zoomed") and screen.query_one(PaneGrid).display is False,
                what="the focused agent zoomed",
            )
            await until(pilot, lambda: "steps" not in screen_text(app).splitlines()[1], what="the tree hidden")
            await pilot.press("z", "i")
            await until(pilot, lambda: "─ inspector ─" not in screen_text(app), what="the inspector hidden")
            await pilot.press("i", "escape")
            await until(pilot, lambda: not screen.user_focus, what="the focus back to following the run")
            await pilot.press("q")
        assert app.return_value == "completed"


async def test_tree_selection_moves_the_focus(store: Store, messages: Messages) -> None:
    async with running(store, "demo", options=RunOptions(auto="approve")) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE, message_hook=messages) as pilot:
            screen = run_screen(app)
            await until(pilot, lambda: screen.feed.view.status == "completed", timeout=60)
            tree = screen.query_one(StepTree)
            tree.focus()
            tree.select_path("triage")
            await until(pilot, lambda: screen.focused_step == "triage", what="the focus on triage")
            assert any(m.node.data == "triage" for m in messages.of(Tree.NodeHighlighted))
            text = await until_text(pilot, "router")
            assert "triage" in text
            await pilot.press("t")
            await until_text(pilot, "step / call")
            await pilot.press("escape", "q")
        await session.finish()


async def test_step_mode_and_breakpoint_commands(store: Store) -> None:
    async with running(store, GATED) as session:
        app = app_for(session, auto_review=False)
        async with app.run_test(size=SIZE) as pilot:
            screen = run_screen(app)
            await until(pilot, lambda: bool(screen.feed.view.open_checkpoints), what="the gate")
            await pilot.press("s")
            await until(pilot, lambda: screen.feed.view.step_mode, what="step mode on")
            await until(pilot, lambda: "step mode" in header(app), what="step mode in the header")
            tree = screen.query_one(StepTree)
            tree.select_path("polish")
            await until(pilot, lambda: tree.selected_path() == screen.focused_step == "polish", what="polish chosen")
            await pilot.press("b")
            await until(pilot, lambda: "polish" in screen.feed.view.breakpoints, what="breakpoint on polish")
            await until(pilot, lambda: "1 breakpoint" in header(app), what="the breakpoint in the header")
            assert "●" in str(screen.query_one(StepTree).nodes["polish"].label)
            await pilot.press("s")
            await until(pilot, lambda: not screen.feed.view.step_mode, what="step mode off")
            await pilot.press("v")
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            await pilot.press("a")
            await until(pilot, lambda: any(c.reason == "breakpoint" for c in screen.feed.view.open_checkpoints))
            await pilot.press("escape")
            await pilot.press("p")
            await until(pilot, lambda: screen.feed.view.status == "paused", what="paused")
            await until(pilot, lambda: "paused" in header(app), what="paused in the header")
            await pilot.press("q")
        assert app.return_value == "paused"
        assert await session.finish() == "paused"


async def test_cancel_asks_first_then_cancels(store: Store) -> None:
    async with running(store, REVIEWED) as session:
        app = app_for(session, auto_review=False)
        async with app.run_test(size=SIZE) as pilot:
            screen = run_screen(app)
            await until(pilot, lambda: bool(screen.feed.view.open_checkpoints))
            await pilot.press("x")
            await until_text(pilot, "Cancel this session?")
            await pilot.press("n")
            await until(pilot, lambda: app.screen is screen, what="the question answered")
            assert screen.feed.view.status == "running"
            await pilot.press("x")
            await until_text(pilot, "Cancel this session?")
            await pilot.press("y")
            await until(pilot, lambda: screen.feed.view.status == "cancelled", what="cancelled")
            await pilot.press("q")
        assert app.return_value == "cancelled"
        assert await session.finish() == "cancelled"


async def test_detach_leaves_the_runner_going(store: Store) -> None:
    async with running(store, REVIEWED) as session:
        app = app_for(session, auto_review=False)
        async with app.run_test(size=SIZE) as pilot:
            screen = run_screen(app)
            await until(pilot, lambda: bool(screen.feed.view.open_checkpoints))
            await until(pilot, lambda: "1 waiting" in header(app))
            await pilot.press("q")
        assert app.return_value == "detached"
        assert session.task is not None and not session.task.done()
        cp = await session.checkpoint("draft")
        assert await session.decide(cp, "approve") == ("done", "")
        assert await session.finish() == "completed"


async def test_stop_cancels_and_leaves(store: Store) -> None:
    async with running(store, REVIEWED) as session:
        app = app_for(session, auto_review=False)
        async with app.run_test(size=SIZE) as pilot:
            screen = run_screen(app)
            await until(pilot, lambda: bool(screen.feed.view.open_checkpoints))
            await pilot.press("Q")
            await until_text(pilot, "Stop the session and leave?")
            await pilot.press("y")
            await until(pilot, lambda: app.return_value is not None, what="the app to leave")
        assert app.return_value == "cancelled"
        assert await session.finish() == "cancelled"


async def test_sixteen_agents_fit_the_compact_grid(store: Store) -> None:
    async with running(store, fan_out(16, tokens_per_s=30, tokens=40)) as session:
        app = app_for(session)
        async with app.run_test(size=(200, 60)) as pilot:
            screen = run_screen(app)
            await until(pilot, lambda: len(screen.feed.running_panes()) > 4, what="a wide fan-out")
            await until(pilot, lambda: screen.query_one(PaneGrid).compact, what="the compact grid")
            await until(pilot, lambda: screen.feed.view.status == "completed", timeout=60)
            grid = screen.query_one(PaneGrid)

            def every_pane_shows_its_call() -> bool:
                view = screen.feed.view
                return all(
                    grid.panes[step].shown_text() == view.calls[screen.feed.panes[step].call_id].text
                    for step in grid.order
                )

            await until(pilot, every_pane_shows_its_call, what="every pane's full text")
            assert len(grid.shown_panes()) == 16
            for step in grid.order:
                call = screen.feed.view.calls[screen.feed.panes[step].call_id]
                assert grid.panes[step].shown_text() == call.text
                # Text streams live; the last pieces of a call may come with its completion instead (the
                # store drops a finished call's live rows when it records the call).
                assert 0 < screen.feed.panes[step].live_chars <= len(call.text), "the text arrived live"
            await pilot.press("q")
        await session.finish()


@pytest.mark.slow
async def test_runner_lost_then_resumed_from_the_run_screen(store: Store, db_path: Path) -> None:
    from baton.sessions.create import create_session
    from baton.tui.launch import spawn_runner

    session_id = await create_session(store, workflow(REVIEWED), {}, RunOptions(), {})
    process = spawn_runner(db_path, session_id)
    try:
        for _ in range(600):
            if (await store.view(session_id)).open_checkpoints:
                break
            await asyncio.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    app = BatonApp(db=db_path, attach=session_id)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.run_screen is not None)
        screen = run_screen(app)
        await until(pilot, lambda: bool(screen.feed.lost), what="the bus to notice", timeout=20)
        if isinstance(app.screen, ReviewScreen):
            await pilot.press("escape")
        text = await until_text(pilot, "runner lost")
        assert "r to resume" in text
        await pilot.press("r")
        await until(pilot, lambda: not screen.feed.lost, timeout=60, what="a new runner")
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen), timeout=60, what="the checkpoint again")
        await pilot.press("a")
        await until(pilot, lambda: screen.feed.view.status == "completed", timeout=60)
        await pilot.press("q")
    assert app.return_value == "completed"


async def test_a_full_pane_moves_on_to_show_the_latest_text(store: Store) -> None:
    async with running(store, fan_out(2, tokens_per_s=400, tokens=400), options=RunOptions(auto="approve")) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            screen = run_screen(app)
            await until(pilot, lambda: screen.feed.view.status == "completed", timeout=60, what="completion")
            grid = screen.query_one(PaneGrid)
            for pane in grid.shown_panes():
                tail = pane.tail
                text = pane.shown_text()
                area = tail.size.width * tail.size.height
                assert area > 0 and len(text) > 2 * area, "the reply overflows its pane"
                last_words = text.split()[-1]
                await until(
                    pilot,
                    lambda tail=tail, last=last_words: last in screen_text(app) and not tail.jump_pending,
                    what=f"the last words of {pane.step} in view",
                )
            await pilot.press("q")
        await session.finish()
