"""Figures on screen are true and labelled: the reviewed call apart from its step's total, calls per round
with their own latency, the status while only a person holds the session, map items by label and
queued ones as queued, and the session's result once it is over."""

from __future__ import annotations

from dataclasses import dataclass

from baton.core import events as ev
from baton.core.economics import usd
from baton.core.runner import RunOptions
from baton.sessions.store import Store
from baton.tui.figures import calls_by_round
from baton.tui.screens.review import ReviewScreen
from baton.tui.step_notes import StepNotes
from baton.tui.widgets.focus_view import FocusView
from baton.tui.widgets.inspector import Inspector, step_content
from baton.tui.widgets.step_tree import StepTree
from tests.tui.drive import PER_FILE, REVIEWED, app_for, header, pick, running, screen_text, until, until_text

SIZE = (190, 50)
RESULT = """
name: brief
state:
  q: {type: str}
  brief: {type: str}
inputs:
  q: {default: "x"}
models:
  fast:
    model: mock/fast
    mock:
      replies:
        - text: "# The brief\\n\\nFirst paragraph [bold red]not markup[/].\\n\\nPARAGRAPHS\\n\\nTHE LAST LINE."
steps:
  - {id: write, kind: agent, model: fast, reads: [q], writes: [brief], prompt: "{q}"}
""".replace("PARAGRAPHS", "\\n\\n".join(f"Paragraph {i} of a long brief." for i in range(40)))


async def test_review_header_shows_the_reviewed_call_then_the_step(store: Store) -> None:
    async with running(store, REVIEWED) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            await until_text(pilot, "this call · fast · ")
            assert "step total" not in screen_text(app), "one call: its figures are the step's"
            await pilot.press("m")
            await pick(pilot, "strong")
            text = await until_text(pilot, "this call · strong · ")
            assert app.run_screen is not None
            view = app.run_screen.feed.view
            first, second = (view.calls[c] for c in view.steps["draft"].calls)
            line = next(row for row in text.splitlines() if "this call · strong" in row)
            assert f"{second.tokens_in:,}→{second.tokens_out:,} tok · {usd(second.cost_usd)}" in line
            assert usd(first.cost_usd) not in line, "the first call's cost is not put on the second"
            total = next(row for row in text.splitlines() if "step total" in row)
            tokens = f"{first.tokens_in + second.tokens_in:,}→{first.tokens_out + second.tokens_out:,} tok"
            assert "2 calls" in total and tokens in total
            assert usd((first.cost_usd or 0) + (second.cost_usd or 0)) in total
            await pilot.press("a")
            await until(pilot, lambda: app.run_screen is not None and app.run_screen.feed.view.status == "completed")
            await pilot.press("q")


async def test_inspector_numbers_calls_per_round_with_their_latency(store: Store) -> None:
    async with running(store, REVIEWED) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
            await pilot.pause(0.5)  # the person takes a moment: the step waits, the call does not
            await pilot.press("r")
            await pilot.press(*"shorter")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: any(c.round == 2 for c in app.run_screen.feed.view.open_checkpoints))  # type: ignore[union-attr]
            await pilot.press("escape")
            screen = app.run_screen
            assert screen is not None
            screen.focus_step("draft")
            view = screen.feed.view
            rounds = calls_by_round(view, view.steps["draft"])
            assert [(n, why, len(calls)) for n, why, calls in rounds] == [(1, "", 1), (2, "rejected", 1)]
            await until(pilot, lambda: "round 2 · rejected" in screen.query_one(Inspector).shown_text(), what="rounds")
            text = screen_text(app)
            rows = [row for row in text.splitlines() if "#1 fast ok" in row]
            assert len(rows) == 2, "each round numbers its own calls"
            last = view.calls[view.steps["draft"].calls[-1]]
            assert f"latency {last.latency_s:.1f}s" in text, "the model call's latency, not the step's wall time"
            assert "waiting for you" in text
            await pilot.press("v", "a")
            await until(pilot, lambda: view.status == "completed")
            await pilot.press("q")


async def test_header_says_waiting_for_you_while_only_a_checkpoint_holds_the_session(store: Store) -> None:
    async with running(store, REVIEWED) as session:
        app = app_for(session, auto_review=False)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "waiting for you" in header(app), what="waiting for you")
            assert " running " not in header(app)
            await pilot.press("v", "a")
            await until(pilot, lambda: " completed " in header(app))
            await pilot.press("q")


async def test_map_items_by_label_and_queued_ones_as_queued(store: Store) -> None:
    async with running(store, PER_FILE, options=RunOptions(auto="approve")) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.run_screen
            assert screen is not None
            tree = screen.query_one(StepTree)

            def labels() -> list[str]:
                return [str(tree.nodes[p].label) for p in ("each[0]", "each[1]", "each[2]") if p in tree.nodes]

            await until(pilot, lambda: len(labels()) == 3 and "▶" in labels()[0], what="the first item running")
            first, second, third = labels()
            assert "core/view.py" in first and "[0]" not in first
            assert second.startswith("◦ tui/app.py") and "queued" in second and "fast" not in second
            assert third.startswith("◦ README.md") and "queued" in third
            assert "1 running · 2 queued" in str(tree.nodes["each"].label)
            view = screen.feed.view
            if view.steps["each[1]"].started_at is None:  # still waiting for its slot
                shown = step_content(view, view.steps["each[1]"], screen.notes).plain
                assert shown.startswith("each[1] · tui/app.py  queued"), shown
            await until(pilot, lambda: session.task is not None and session.task.done(), timeout=60)
            await until(pilot, lambda: all("✓" in label for label in labels()))
            await pilot.press("q")


def test_a_map_says_how_many_run_at_a_time_and_what_capped_it() -> None:
    @dataclass(frozen=True, slots=True)
    class StartedWithLimit(ev.StepStarted):
        """A map's start as the runner records it with its effective concurrency."""

        concurrency: int = 0
        concurrency_capped_by: str = ""

    notes = StepNotes()
    started = StartedWithLimit(
        step="each", step_kind="map", concurrency=8, concurrency_capped_by="defaults.concurrency"
    )
    assert notes.apply([ev.Envelope("s", 1, 0.0, started)])
    assert notes.limit_text("each") == "8 at a time (capped by defaults.concurrency)"
    notes.apply([ev.Envelope("s", 2, 0.0, StartedWithLimit(step="m", step_kind="map", concurrency=3))])
    assert notes.limit_text("m") == "3 at a time"
    assert notes.limit_text("other") == ""


async def test_completed_run_shows_the_result_in_full(store: Store) -> None:
    async with running(store, RESULT) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.run_screen
            assert screen is not None
            await until(pilot, lambda: screen.feed.view.status == "completed", timeout=60)
            await until(pilot, lambda: "result · brief" in screen_text(app), what="the result panel")
            focus = screen.query_one(FocusView)
            await until(
                pilot,
                lambda: "not markup[/].  " in screen_text(app),
                what="the result rendered (not the inspector's preview of the state)",
            )
            text = screen_text(app)
            assert any(" The brief " in row and "# The brief" not in row for row in text.splitlines()), "Markdown"
            assert "First paragraph [bold red]not markup[/]." in text, "model text is never markup"
            scroller = focus.query_one("#focus-final")
            scroller.scroll_end(animate=False)
            await until_text(pilot, "THE LAST LINE.")
            footer = screen_text(app).splitlines()[-1]
            assert " o result" not in footer, "the result is already shown"
            screen.focus_step("write")  # as a click on the step in the tree does
            await until(pilot, lambda: "result · brief" not in screen_text(app), what="a step chosen instead")
            await until(pilot, lambda: " o result" in screen_text(app).splitlines()[-1])
            await pilot.press("o")
            await until(pilot, lambda: "result · brief" in screen_text(app), what="the result again")
            await pilot.press("q")
