"""The Review screen: every decision, made from the keyboard, reaches the real runner as an event."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from textual.widgets import OptionList, TextArea
from textual.worker import Worker, WorkerState

from baton.core import events as ev
from baton.core.runner import RunOptions
from baton.sessions.store import Store
from baton.tui.app import BatonApp
from baton.tui.screens.dialogs import FormScreen, PickerScreen, TextEditScreen
from baton.tui.screens.edit import EditScreen
from baton.tui.screens.review import ReviewScreen
from baton.tui.screens.run import RunScreen
from tests.tui.drive import (
    GATED,
    REVIEWED,
    TWO_REVIEWS,
    Messages,
    app_for,
    footer,
    pick,
    running,
    screen_text,
    until,
    until_text,
)

SIZE = (160, 48)


def run_screen(app: BatonApp) -> RunScreen:
    assert app.run_screen is not None
    return app.run_screen


async def decisions_of(store: Store, session_id: str) -> list[ev.DecisionMade]:
    return [e.event for e in await store.events(session_id) if isinstance(e.event, ev.DecisionMade)]


async def test_approve_in_one_key(store: Store, messages: Messages) -> None:
    async with running(store, REVIEWED) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE, message_hook=messages) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="the review to open by itself")
            text = await until_text(pilot, "DRAFT v1: all systems nominal.")
            assert "checkpoint 1/1 · review · draft" in text
            assert "── forecast cost of a call, per model ──" in text
            assert "[a] approve" in text and "[m] other model" in text
            await pilot.press("a")
            await until(pilot, lambda: run_screen(app).feed.view.status == "completed", what="completion")
            assert not isinstance(app.screen, ReviewScreen)
            await pilot.press("q")
        assert await session.finish() == "completed"
        made = await decisions_of(store, session.id)
        assert [(d.decision, d.by) for d in made] == [("approve", "tester")]
    sent = [m for m in messages.of(Worker.StateChanged) if m.worker.description == "send a decision"]
    assert sent and sent[-1].state == WorkerState.SUCCESS


async def test_edit_in_place(store: Store) -> None:
    async with running(store, REVIEWED) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            await pilot.press("e")
            await until(pilot, lambda: isinstance(app.screen, EditScreen))
            area = app.screen.query_one(TextArea)
            assert area.text == "DRAFT v1: all systems nominal."
            area.load_text("DRAFT v2: edited by a person.")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: run_screen(app).feed.view.status == "completed")
            await pilot.press("q")
        view = await session.view()
        assert view.state["draft"] == "DRAFT v2: edited by a person."
        made = await decisions_of(store, session.id)
        assert made[0].decision == "edit" and "edited by a person" in made[0].diff


async def test_edit_in_the_editor(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "editor.py"
    script.write_text("import sys\nopen(sys.argv[1], 'w').write('DRAFT v3: from the editor.')\n")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.delenv("VISUAL", raising=False)
    async with running(store, REVIEWED) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            await pilot.press("E")
            await until(pilot, lambda: run_screen(app).feed.view.status == "completed")
            await pilot.press("q")
        assert (await session.view()).state["draft"] == "DRAFT v3: from the editor."


async def test_reject_with_feedback_reruns_the_step(store: Store) -> None:
    async with running(store, REVIEWED) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, TextEditScreen))
            await pilot.press(*"shorter")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: any(c.round == 2 for c in run_screen(app).feed.view.open_checkpoints))
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="round 2 in review")
            await until_text(pilot, "round 2")
            await pilot.press("a")
            await until(pilot, lambda: run_screen(app).feed.view.status == "completed")
            await pilot.press("q")
        made = await decisions_of(store, session.id)
        assert [(d.decision, d.feedback) for d in made] == [("reject", "shorter"), ("approve", "")]


async def test_retry_on_another_model_shows_forecasts(store: Store, messages: Messages) -> None:
    async with running(store, REVIEWED) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE, message_hook=messages) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            await pilot.press("m")
            await until(pilot, lambda: isinstance(app.screen, PickerScreen))
            text = screen_text(app)
            assert "retry on model (forecast cost)" in text
            assert "strong" in text and "$" in text
            await pick(pilot, "strong")
            await until_text(pilot, "STRONG: a better draft.")
            await pilot.press("a")
            await until(pilot, lambda: run_screen(app).feed.view.status == "completed")
            await pilot.press("q")
        made = await decisions_of(store, session.id)
        assert (made[0].decision, made[0].model) == ("retry_model", "strong")
        assert (await session.view()).state["draft"] == "STRONG: a better draft."
    sent = [m for m in messages.of(Worker.StateChanged) if m.worker.description == "send a decision"]
    assert sent and sent[-1].state == WorkerState.SUCCESS


async def test_reroute_to_an_allowed_target(store: Store) -> None:
    async with running(store, REVIEWED) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            cp = run_screen(app).feed.view.open_checkpoints[0]
            assert "end" in cp.targets
            await pilot.press("R")
            await until(pilot, lambda: isinstance(app.screen, PickerScreen))
            assert await pick(pilot, "end") == cp.targets
            await until(pilot, lambda: run_screen(app).feed.view.status == "completed")
            await pilot.press("q")
        view = await session.view()
        assert view.steps["polish"].status == "skipped"
        assert (await decisions_of(store, session.id))[0].target == "end"


async def test_skip_asks_for_what_later_steps_need(store: Store) -> None:
    async with running(store, REVIEWED) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, FormScreen))
            await until_text(pilot, "skip draft")
            await pilot.press(*"typed by hand")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: run_screen(app).feed.view.status == "completed")
            await pilot.press("q")
        view = await session.view()
        assert view.steps["draft"].status == "skipped"
        assert view.state["draft"] == "typed by hand"


async def test_pause_from_review(store: Store) -> None:
    async with running(store, REVIEWED) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            await pilot.press("p")
            await until(pilot, lambda: run_screen(app).feed.view.status == "paused")
            assert not isinstance(app.screen, ReviewScreen)
            await pilot.press("q")
        assert app.return_value == "paused"
        assert await session.finish() == "paused"


async def test_gate_approve_shows_the_values(store: Store) -> None:
    async with running(store, GATED) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            text = await until_text(pilot, "── draft ──")
            assert "Send this reply?" in text
            rows = text.splitlines()
            at = next(i for i, row in enumerate(rows) if "── draft ──" in row)
            assert "A reply." in rows[at + 1] and '"draft"' not in text, "the value is shown as text, not JSON"
            await pilot.press("a")
            await until(pilot, lambda: run_screen(app).feed.view.status == "completed")
            await pilot.press("q")


async def test_inbox_holds_every_waiting_branch(store: Store) -> None:
    async with running(store, TWO_REVIEWS) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            screen = run_screen(app)
            await until(pilot, lambda: len(screen.feed.view.open_checkpoints) == 2, what="both branches waiting")
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            review = app.screen
            assert isinstance(review, ReviewScreen)
            await until(pilot, lambda: review.is_mounted and review.query_one("#inbox", OptionList).option_count == 2)
            first = review.checkpoint_id
            await until_text(pilot, "checkpoint 1/2")
            assert "[n] next" in screen_text(app)
            await pilot.press("n")
            await until(pilot, lambda: review.checkpoint_id != first, what="the next checkpoint")
            second = review.checkpoint_id
            await pilot.press("a")
            await until(pilot, lambda: review.checkpoint_id == first, what="the other checkpoint")
            other = screen.feed.view.checkpoints[first]
            assert await session.decide(other, "approve") == ("done", "")
            await until(pilot, lambda: not isinstance(app.screen, ReviewScreen), what="decided elsewhere closes it")
            await until(pilot, lambda: screen.feed.view.status == "completed")
            await pilot.press("q")
        made = {d.checkpoint_id: d.by for d in await decisions_of(store, session.id)}
        assert made == {second: "tester", first: "tester"}


LIMITED_GATE = GATED.replace("draft: {type: str}", "draft: {type: str, max_chars: 60}").replace(
    "A reply.", "First line of the reply.\\n\\nSecond paragraph."
)
"""A gate over a two-paragraph draft with a size limit the runner enforces on an edit."""


async def test_gate_edit_is_text_and_a_refused_edit_keeps_it(store: Store) -> None:
    async with running(store, LIMITED_GATE) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            await until_text(pilot, "[e] edit values")
            await pilot.press("e")
            await until(pilot, lambda: isinstance(app.screen, EditScreen))
            editor = app.screen
            area = editor.query_one(TextArea)
            assert area.text == "First line of the reply.\n\nSecond paragraph.", "prose, not a JSON string"
            assert "{" not in screen_text(app) and "\\n" not in screen_text(app)
            too_long = "A much longer reply.\n\n" + "It goes on and on. " * 5
            area.load_text(too_long)
            await pilot.press("ctrl+s")
            text = await until_text(pilot, "refused:")
            assert "'draft' has" in text and "over its limit of 60" in text
            assert app.screen is editor and area.text == too_long, "the person's text stays, with the reason"
            area.load_text("Shorter.\n\nStill two paragraphs.")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: run_screen(app).feed.view.status == "completed")
            await pilot.press("q")
        view = await session.view()
        assert view.state["draft"] == "Shorter.\n\nStill two paragraphs."
        made = await decisions_of(store, session.id)
        assert [(d.decision, d.edited) for d in made] == [("edit", {"draft": "Shorter.\n\nStill two paragraphs."})]


async def test_step_modes_first_pause_opens_its_review(store: Store) -> None:
    async with running(store, REVIEWED, options=RunOptions(step_mode=True)) as session:
        await session.checkpoint("draft")
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="step mode's first pause in review")
            text = await until_text(pilot, "checkpoint 1/1 · step mode · draft")
            assert "[a] run" in text
            await until(pilot, lambda: " a run " in footer(app), what="the footer's word to be the menu's")
            await pilot.press("a")
            await until(
                pilot,
                lambda: any(
                    c.step == "draft" and c.reason == "review" for c in run_screen(app).feed.view.open_checkpoints
                ),
            )
            await until_text(pilot, "checkpoint 1/1 · review · draft")
            await pilot.press("p")
            await until(pilot, lambda: run_screen(app).feed.view.status == "paused")
            await pilot.press("q")


async def test_a_tool_approval_shows_its_arguments_once(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_PUBLISH_FILE", str(tmp_path / "published.jsonl"))
    async with running(store, "tool") as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            text = await until_text(pilot, "── arguments ──")
            assert text.count("── arguments ──") == 1 and "── output ──" not in text
            assert "text: baton keeps a person in the loop" in text and '"text"' not in text, "values as text"
            assert "[e] edit arguments" in text
            await until(pilot, lambda: " a run " in footer(app), what="run in the footer")
            await pilot.press("a")
            await until(pilot, lambda: run_screen(app).feed.view.status == "completed")
            await pilot.press("q")
