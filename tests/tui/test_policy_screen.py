"""The Approval rules screen, opened from Home: a rule proposed from real sessions' decisions is shown with its
evidence; an edited pattern that would cover a rejected call is refused; `a` accepts it into the config file
(asking first), `r` revokes it, `x` dismisses the proposal so it is not proposed again."""

from __future__ import annotations

from pathlib import Path

from textual.notifications import Notify
from textual.widgets import TextArea

from baton.core.config import load_config
from baton.sessions.store import Store
from baton.tui.app import BatonApp
from baton.tui.screens.dialogs import ConfirmScreen, TextEditScreen
from baton.tui.screens.policy import PolicyScreen
from tests.core.test_policy import REJECT, read, session
from tests.tui.drive import Messages, until, until_text


def on_policy(app: BatonApp, kind: str) -> bool:
    if not isinstance(app.screen, PolicyScreen):
        return False
    chosen = app.screen.chosen()
    return chosen is not None and chosen.kind == kind


async def test_a_proposal_is_accepted_revoked_and_dismissed_from_the_screen(
    store: Store, db_path: Path, messages: Messages
) -> None:
    await session(store, [read(f"docs/{n}.md") for n in "abcde"], ["approve"] * 5)
    await session(store, [read("src/[red]x[/red].py")], [REJECT])
    app = BatonApp(db=db_path)
    async with app.run_test(size=(180, 40), message_hook=messages, notifications=True) as pilot:
        await until(pilot, lambda: app.screen.__class__.__name__ == "HomeScreen", what="Home")
        await pilot.press("P")
        await until(pilot, lambda: on_policy(app, "proposed"), what="the proposal listed")
        shown = await until_text(pilot, "approved 5 of 5 times with path under docs/ ending .md")
        assert "read_file (path=docs/*.md)" in shown and "1 rejected" in shown

        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, TextEditScreen), what="the pattern editor")
        app.screen.query_one(TextArea).text = "path=*"
        await pilot.press("ctrl+s")
        said = lambda: [m.notification.message for m in messages.of(Notify)]  # noqa: E731
        await until(pilot, lambda: any("a rule never covers a refused call" in m for m in said()), what="refused")
        assert "was rejected in session" in said()[-1] and "path=src/[red]x[/red].py" in said()[-1]
        assert load_config().rules == []

        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await until(pilot, lambda: on_policy(app, "rule"), what="the accepted rule")
        (rule,) = load_config().rules
        assert (rule.tool, rule.pattern, rule.accepted_by) == ("read_file", {"path": "docs/*.md"}, "tester")
        assert "proposed" not in [r.kind for r in app.screen.items]

        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await until(pilot, lambda: on_policy(app, "proposed"), what="proposed again once revoked")
        assert load_config().rules == []

        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, PolicyScreen)
                and app.screen.loaded
                and not any(r.kind == "proposed" for r in app.screen.items)
            ),
            what="the proposal gone",
        )
        assert load_config().dismissed == [rule.id]
        await pilot.press("q")
        await until(pilot, lambda: app.screen.__class__.__name__ == "HomeScreen", what="back Home")
