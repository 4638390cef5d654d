"""The Lessons screen, opened from Home: a lesson derived from a real session's feedback is listed as plain
text (markup in it stays text), `e` edits it and `d` removes it (after asking), both in the store."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import TextArea

from baton.core.runner import RunOptions
from baton.sessions.lessons import lessons
from baton.sessions.store import Store
from baton.tui.app import BatonApp
from baton.tui.screens.dialogs import ConfirmScreen, TextEditScreen
from baton.tui.screens.lessons import LessonsScreen
from tests.helpers import run, workflow
from tests.tui.drive import REVIEWED, until, until_text
from tests.tui.screen import screen_text

FEEDBACK = "Cite [bold]two[/bold] sources."


async def test_lessons_are_listed_edited_and_removed_from_the_screen(store: Store, db_path: Path) -> None:
    reject = {"decision": "reject", "feedback": FEEDBACK}
    status, _ = await run(store, workflow(REVIEWED), options=RunOptions(decisions={"draft": [reject, "approve"]}))
    assert status == "completed"
    (lesson,) = await lessons(store, "reviewed")
    app = BatonApp(db=db_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: app.screen.__class__.__name__ == "HomeScreen", what="Home")
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LessonsScreen) and app.screen.chosen() is not None)
        shown = await until_text(pilot, FEEDBACK)
        assert lesson.id in shown and "draft" in shown

        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, TextEditScreen), what="the editor")
        app.screen.query_one(TextArea).text = "Cite at least two sources."
        await pilot.press("ctrl+s")
        await until_text(pilot, "Cite at least two sources.")
        (edited,) = await lessons(store, "reviewed")
        assert (edited.id, edited.text, edited.edited) == (lesson.id, "Cite at least two sources.", True)

        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, LessonsScreen) and not app.screen.items, what="removed")
        assert await lessons(store, "reviewed") == []
        assert "no lessons yet" in screen_text(app)
        await pilot.press("q")
        await until(pilot, lambda: app.screen.__class__.__name__ == "HomeScreen", what="back Home")
