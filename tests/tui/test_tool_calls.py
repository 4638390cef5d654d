"""A tool-calling agent in the full-screen viewer, over sessions written into a real store: its pane is a
transcript, the inspector lists its turns, one call at a time is shown in full, and a tool-call checkpoint
is answered from the keyboard — approve, edit the arguments (a refused edit says why), reject with a
message, deny, always (scoped by a pattern, shown in the header) — one call after another on one screen.

The session's runner is stood in for by `tool_session.Answerer` (the decisions reach the store as commands
and come back as events); what each decision does to the loop is tested with the real runner in tests/core.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from baton.core import events as ev
from baton.core.commands import Command
from baton.core.view import CheckpointView
from baton.sessions.store import Store
from baton.tui.app import BatonApp
from baton.tui.screens.dialogs import FormScreen, TextEditScreen
from baton.tui.screens.edit import EditScreen
from baton.tui.screens.review import ReviewScreen
from baton.tui.screens.run import RunScreen
from baton.tui.widgets.focus_view import FocusView
from baton.tui.widgets.inspector import Inspector
from tests.tui.drive import footer, header, screen_text, until, until_text
from tests.tui.tool_session import REPORT, STEP, Answerer, finished_loop, stored, tool_loop

SIZE = (180, 50)
C3, C4 = f"{STEP}:tool_call:1:t2:c3", f"{STEP}:tool_call:1:t2:c4"


def run_screen(app: BatonApp) -> RunScreen:
    assert app.run_screen is not None
    return app.run_screen


@asynccontextmanager
async def viewing(
    store: Store, db: Path, events: list[ev.Event], *, live: bool, review: bool = True, refuse: Any = None
) -> AsyncIterator[tuple[BatonApp, Pilot[Any], Answerer | None]]:
    """The viewer on a stored session (live: an `Answerer` holds it and answers decisions)."""
    session_id = await stored(store, events)
    answerer = await Answerer(store, session_id, refuse).start() if live else None
    app = BatonApp(db=db, attach=session_id)
    app.auto_review = review
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.run_screen is not None and STEP in app.run_screen.grid.panes, what="a pane")
            yield app, pilot, answerer
    finally:
        if answerer is not None:
            await answerer.stop()


def pane_text(app: BatonApp) -> str:
    return run_screen(app).grid.panes[STEP].shown_text()


async def until_review(pilot: Pilot[Any], app: BatonApp, checkpoint_id: str) -> ReviewScreen:
    await until(
        pilot,
        lambda: isinstance(app.screen, ReviewScreen)
        and app.screen.checkpoint_id == checkpoint_id
        and app.screen.cp is not None
        and not app.screen.busy,
        what=f"the review of {checkpoint_id}",
    )
    screen = app.screen
    assert isinstance(screen, ReviewScreen)
    await until(pilot, lambda: app.focused is not None and "── arguments ──" in screen_text(app), what="it on screen")
    return screen


async def test_the_pane_is_the_transcript_and_the_inspector_lists_the_turns(store: Store, db_path: Path) -> None:
    async with viewing(store, db_path, finished_loop(), live=False) as (app, pilot, _):
        screen = run_screen(app)
        await until(pilot, lambda: "── turn 3 ──" in pane_text(app), what="the whole transcript in the pane")
        text = pane_text(app)
        for line in (
            "I will search the notes first.",
            '✓ search(q="grid storage") · done in 12 ms',
            "    │ 3 notes found:",
            "    │ … 2 more lines",
            '✗ read_file(path="notes/x.md") · failed in 12 ms: file not found: notes/x.md',
            "Writing the report now.",
            '✓ write_file(path="reports/grid.md", text="# Grid storage\\n\\nBatteries lead.") · done in 12 ms',
            "    │ wrote reports/grid.md",
            '↩ write_file(path="reports/extra.md", text="More.") · rejected: one file',
            "The report is in reports/grid.md.",
        ):
            assert line in text, line
        await until_text(pilot, "research · fast · turn 3 · $0.0045")
        await until(pilot, lambda: " e tool call " in footer(app), what="the tool call key in the footer")
        inspector = screen.query_one(Inspector)
        await pilot.press("N")  # the previous call of the focused agent: it is shown instead of the result
        await until(pilot, lambda: "turns (3)" in inspector.shown_text(), what="the turns in the inspector")
        shown = inspector.shown_text()
        assert "turn 1 · ok · 100→20 tok · $0.0015 · 0.4s" in shown and "turn 3 · ok" in shown
        assert "write_file · MCP server files · approval always · side effects" in shown
        await until(pilot, lambda: "▸ ✓ write_file" in inspector.shown_text(), what="the previous call chosen")
        await pilot.press("N", "N")
        await until(pilot, lambda: "▸ ✓ search" in inspector.shown_text(), what="the first call chosen")
        await pilot.press("n")
        await until(pilot, lambda: "▸ ✗ read_file" in inspector.shown_text(), what="the next call chosen")
        await pilot.press("e")
        focus = screen.query_one(FocusView)
        await until(pilot, lambda: focus.has_class("-call"), what="the call in full")
        full = await until_text(pilot, "── arguments ──")
        assert "turn 1 · call c2" in full and "── error ──" in full and "file not found: notes/x.md" in full
        await pilot.press("e")
        await until(pilot, lambda: not focus.has_class("-call"), what="back to the transcript")
        await pilot.press("q")


async def test_tool_text_is_inert_in_the_pane_and_the_checkpoint(store: Store, db_path: Path) -> None:
    hostile = "evil[bold]\x1b]52;c;aGFja2Vk\x07"
    result = "[red]loud[/red] \x1b[2J cleared \u202eevil\u202c"
    async with viewing(store, db_path, tool_loop(tool=hostile, result=result), live=True) as (app, pilot, _):
        await until(pilot, lambda: "[red]loud[/red]" in pane_text(app), what="the result in the pane")
        text = pane_text(app)
        assert "✓ evil[bold]␛]52;c;aGFja2Vk␇(" in text and "␛[2J cleared ⟨RLO⟩evil⟨PDF⟩" in text
        assert "\x1b" not in text and "\u202e" not in text
        await until_review(pilot, app, C3)
        assert "[bold]" not in screen_text(app).replace("evil[bold]", ""), "no markup was parsed away"


async def test_approve_in_one_key_then_deny_the_next_call_on_the_same_screen(store: Store, db_path: Path) -> None:
    async with viewing(store, db_path, tool_loop(), live=True) as (app, pilot, answerer):
        assert answerer is not None
        review = await until_review(pilot, app, C3)
        text = screen_text(app)
        assert "checkpoint 1/2 · tool call · research" in text
        for shown in (
            "tool call · research · turn 2",
            "tool      write_file — MCP server files",
            "why       its approval is 'always'",
            "next turn forecast $0.0012–$0.0034",
            "── arguments ──",
            '"path": "reports/grid.md",',
            "── annotations ──",
            "destructiveHint: true",
            "tool call: write_file",
        ):
            assert shown in text, shown
        keys = (" a run ", " e edit arguments ", " r reject ", " d deny ", " A always ", " n next ")
        await until(pilot, lambda: all(k in footer(app) for k in keys), what=f"the footer to offer {keys}")
        await pilot.press("a")
        review = await until_review(pilot, app, C4)
        assert "checkpoint 1/1 · tool call · research" in screen_text(app)
        await pilot.press("d")
        await until(pilot, lambda: not isinstance(app.screen, ReviewScreen), what="the review to close")
        made = await answerer.decided(2)
        assert [(d.checkpoint_id, d.decision, d.by) for d in made] == [
            (C3, "approve", "tester"),
            (C4, "deny", "tester"),
        ]
        await until(pilot, lambda: "⊘ write_file" in pane_text(app), what="the denial in the transcript")
        text = pane_text(app)
        assert '✓ write_file(path="reports/grid.md", text="# Grid storage\\n\\nBatteries lead.") · done' in text
        assert '⊘ write_file(path="reports/extra.md", text="More.") · denied by tester' in text
        assert review.decided == {C3, C4}


def outside_reports(command: Command, cp: CheckpointView) -> str | None:
    """The runner's refusal of an edit the tool's schema (here: a path under reports/) does not allow."""
    path = command.edited.get("path", "") if isinstance(command.edited, dict) else ""
    if command.decision == "edit" and not str(path).startswith("reports/"):
        return "invalid edit: 'path' must match '^reports/' (the tool's schema)"
    return None


async def test_edit_the_arguments_as_json_and_see_why_an_edit_is_refused(store: Store, db_path: Path) -> None:
    async with viewing(store, db_path, tool_loop(), live=True, refuse=outside_reports) as (app, pilot, answerer):
        assert answerer is not None
        await until_review(pilot, app, C3)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EditScreen), what="the editor")
        area = app.screen.query_one(TextArea)
        assert area.text == '{\n  "path": "reports/grid.md",\n  "text": "# Grid storage\\n\\nBatteries lead."\n}'
        await until_text(pilot, "arguments  — a JSON object, checked against the tool's schema when sent")
        area.load_text('{"path": ')
        await until_text(pilot, "(JSON)")
        await pilot.press("ctrl+s")
        await until_text(pilot, "fix the values marked below first (nothing was sent)")
        area.load_text('{"path": "/etc/passwd", "text": "x"}')
        await pilot.press("ctrl+s")
        await until_text(pilot, "refused: invalid edit: 'path' must match '^reports/' (the tool's schema)")
        assert isinstance(app.screen, EditScreen), "the person's text stays on screen"
        area.load_text('{"path": "reports/short.md", "text": "Short."}')
        await pilot.press("ctrl+s")
        await until_review(pilot, app, C4)
        made = await answerer.decided(1)
        assert [(d.decision, d.edited) for d in made] == [("edit", {"path": "reports/short.md", "text": "Short."})]
        refused = [c for c in answerer.commands if c.decision == "edit"]
        assert [c.edited for c in refused][0] == {"path": "/etc/passwd", "text": "x"}
        await until(pilot, lambda: "(edited arguments)" in pane_text(app), what="the edited call in the pane")
        assert 'write_file(path="reports/short.md", text="Short.") · done in 12 ms (edited arguments)' in pane_text(app)


async def test_reject_with_a_message_for_the_model(store: Store, db_path: Path) -> None:
    async with viewing(store, db_path, tool_loop(), live=True) as (app, pilot, answerer):
        assert answerer is not None
        await until_review(pilot, app, C3)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, TextEditScreen), what="the message editor")
        assert "message for the model, in place of write_file's result" in screen_text(app)
        app.screen.query_one(TextArea).load_text("Write it under drafts/ instead.")
        await pilot.press("ctrl+s")
        await until_review(pilot, app, C4)
        made = await answerer.decided(1)
        assert [(d.decision, d.feedback) for d in made] == [("reject", "Write it under drafts/ instead.")]
        await until(pilot, lambda: "↩ write_file" in pane_text(app), what="the rejection in the transcript")
        assert "· rejected: Write it under drafts/ instead." in pane_text(app)


async def fill_form(pilot: Pilot[Any], app: BatonApp, values: dict[str, str]) -> str:
    """In the open form, type `values` and submit; returns what the form showed."""
    await until(pilot, lambda: isinstance(app.screen, FormScreen), what="the form")
    shown = screen_text(app)
    for name, value in values.items():
        app.screen.query_one(f"#field-{name}", Input).value = value
    await pilot.press("ctrl+s")
    return shown


async def test_always_for_this_session_scoped_by_a_pattern_shows_in_the_header(store: Store, db_path: Path) -> None:
    async with viewing(store, db_path, tool_loop(), live=True) as (app, pilot, answerer):
        assert answerer is not None
        await until_review(pilot, app, C3)
        await pilot.press("A")
        form = await fill_form(pilot, app, {"path": "reports/*"})
        assert "always run write_file this session — only for these arguments? (all empty: every call)" in form
        assert f"now {REPORT['path']}" in form
        await until_review(pilot, app, C4)
        await pilot.press("A")
        await fill_form(pilot, app, {})
        await until(pilot, lambda: not isinstance(app.screen, ReviewScreen), what="the review to close")
        made = await answerer.decided(2)
        assert [(d.decision, d.edited) for d in made] == [("always", {"path": "reports/*"}), ("always", None)]
        await until(pilot, lambda: "always: write_file (path=reports/*), write_file" in header(app), what="grants")


async def test_a_session_without_tools_shows_no_tool_keys(store: Store, db_path: Path) -> None:
    plain = [
        ev.SessionStarted(workflow="plain"),
        ev.StepStarted(step=STEP, step_kind="agent", model="fast"),
        ev.LLMCallStarted(step=STEP, call_id="p1", model="mock/fast", alias="fast"),
        ev.LLMCallFinished(step=STEP, call_id="p1", model="mock/fast", alias="fast", text="Just text."),
    ]
    async with viewing(store, db_path, plain, live=False) as (app, pilot, _):
        await until(pilot, lambda: pane_text(app) == "Just text.", what="the text")
        assert " e tool call " not in footer(app) and "turn" not in screen_text(app).splitlines()[1]
        before = run_screen(app).call_open
        await pilot.press("e")
        assert run_screen(app).call_open is before
