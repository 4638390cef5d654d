"""The Trace screen: steps and calls on one time axis, from a real session."""

from __future__ import annotations

from textual.widgets import DataTable

from baton.core.runner import RunOptions
from baton.sessions.store import Store
from baton.tui.screens.run import RunScreen
from baton.tui.screens.trace import TraceScreen, trace_rows
from tests.tui.drive import Messages, app_for, running, screen_text, until, until_text

RETRIED = """
name: flaky
state:
  q: {type: str}
  a: {type: str}
inputs:
  q: {default: "x"}
models:
  fast: {model: mock/fast, mock: {faults: [{on_call: 1, error: server_error}]}}
steps:
  - id: answer
    kind: agent
    model: fast
    reads: [q]
    writes: [a]
    prompt: "{q}"
    retry: {attempts: 3, backoff_s: [0.05], jitter: false}
"""


async def test_timeline_of_steps_and_calls(store: Store, messages: Messages) -> None:
    async with running(store, "demo", options=RunOptions(auto="approve")) as session:
        app = app_for(session)
        async with app.run_test(size=(170, 40), message_hook=messages) as pilot:
            assert app.run_screen is not None
            screen = app.run_screen
            await until(pilot, lambda: screen.feed.view.status == "completed", timeout=60)
            await pilot.press("t")
            await until(pilot, lambda: isinstance(app.screen, TraceScreen))
            text = await until_text(pilot, "step / call")
            for column in ("start", "duration", "tokens", "cost", "retries", "timeline"):
                assert column in text
            view = screen.feed.view
            rows = trace_rows(view, app.clock())
            calls = [r for r in rows if "|" in r[0]]
            assert len(calls) == len(view.calls), "a row per model call"
            assert len(view.calls) > sum(1 for s in view.steps.values() if s.calls), "tool loops took several turns"
            line = next(row for row in text.splitlines() if " write " in f" {row} ")
            step = view.steps["write"]
            assert f"{step.tokens_in}→{step.tokens_out}" in line and f"${step.cost_usd:.4f}" in line
            assert "└ call #1 strong" in text and "█" in text
            assert f"{len(view.calls)} calls" in text
            table = app.screen.query_one(DataTable)
            table.move_cursor(row=[r[0] for r in rows].index("research/news"))
            assert " ⏎ open step " in f" {screen_text(app).splitlines()[-1]} ", "enter is shown in the footer"
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, RunScreen))
            assert screen.focused_step == "research/news"
            await pilot.press("q")


async def test_retries_show_in_the_trace(store: Store) -> None:
    async with running(store, RETRIED) as session:
        app = app_for(session)
        async with app.run_test(size=(170, 30)) as pilot:
            assert app.run_screen is not None
            screen = app.run_screen
            await until(pilot, lambda: screen.feed.view.status == "completed", timeout=30)
            await pilot.press("t")
            text = await until_text(pilot, "call #2")
            line = next(row for row in text.splitlines() if row.strip().startswith("✓  answer"))
            assert line.split()[-2:-1] == ["1"] or " 1 " in line
            assert "call #1 fast · server" in text
            await pilot.press("escape", "q")
