"""Every key shown works, every key that works is shown: each screen and state, over real sessions.

For each state (Home, Home while filtering, Run running / paused / completed, Run on a tool-calling
agent, Review of every checkpoint kind, Trace) the test reads which bindings of baton's table work now
(`Screen.active_bindings`): each one is in the footer or in the `?` help, every footer entry is on
screen, and pressing each one — in a fresh viewer, over a fresh session when the key changes the
session — changes the screen stack, the focus, the theme, the run screen's layout or focus, what the
Review shows, or the message trace (a notification, a worker sent off). A key that does nothing fails
the test."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widgets import DataTable, Input
from textual.worker import Worker, WorkerState

from baton.core.commands import Command
from baton.core.runner import RunOptions
from baton.core.spec.load import load_workflow
from baton.sessions.lessons import add_lesson
from baton.sessions.store import Store
from baton.tui import keymap
from baton.tui.app import BatonApp
from baton.tui.commands.inbox import inbox_app
from baton.tui.screens.help import HelpScreen
from baton.tui.screens.home import HomeScreen
from baton.tui.screens.inbox import InboxScreen
from baton.tui.screens.lessons import LessonsScreen
from baton.tui.screens.review import ReviewScreen
from baton.tui.screens.run import RunScreen
from baton.tui.screens.trace import TraceScreen
from tests.helpers import Session, run, workflow
from tests.tui.drive import GATED, REVIEWED, TWO_REVIEWS, Messages, screen_text, until
from tests.tui.tool_session import Answerer, finished_loop, stored, tool_loop

SIZE = (230, 50)
IDS = keymap.table_ids()
CHANGES_SESSION = {
    "run.step_mode",
    "run.breakpoint",
    "run.pause",
    "run.resume",
    "review.approve",
    "review.deny",
    "review.pause",
    "review.skip",
    "home.resume",
    "inbox.approve",
}
"""Keys after which the next key needs a fresh session (or a fresh store, on Home)."""
PERIODIC = ("sessions", "inbox")
"""Home reads the sessions, and the Inbox the waiting checkpoints, again every second: those workers are
not a key's doing."""

MODELS = """
models:
  fast: {model: mock/fast, mock: {min_tokens: 8, max_tokens: 16}}
  strong: {model: mock/strong, mock: {min_tokens: 8, max_tokens: 16}}
"""
ONE_AGENT = """
name: one-agent
state:
  q: {type: str}
  a: {type: str}
inputs:
  q: {default: "x"}
%s
steps:
  - {id: answer, kind: agent, model: fast, reads: [q], writes: [a], prompt: "{q}"%s}
%s
"""
ESCALATION = ONE_AGENT % (
    "models:\n  fast: {model: mock/fast, mock: {faults: [{on_call: 1, error: bad_request}]}}\n"
    "  strong: {model: mock/strong}",
    "",
    "",
)
BUDGET = ONE_AGENT % (MODELS, "", "budget: {max_usd: 0.0000000001}")
COST = ONE_AGENT % (MODELS, ", review: {cost_over: 0.0000000001}", "")
STALLED = """
name: stalled
state:
  q: {type: str}
  notes: {type: "list[str]", reducer: append}
inputs:
  q: {default: "x"}
models:
  fast: {model: mock/fast, mock: {faults: [{match: ".", error: stall, after_chunks: 2, stall_s: 3600}]}}
steps:
  - id: fan
    kind: parallel
    branches:
      - {id: one, kind: agent, model: fast, reads: [q], writes: [notes], prompt: "one {q}"}
      - {id: two, kind: agent, model: fast, reads: [q], writes: [notes], prompt: "two {q}"}
      - {id: three, kind: agent, model: fast, reads: [q], writes: [notes], prompt: "three {q}"}
"""
AMBIGUOUS = """
name: ambiguous-send
state:
  text: {type: str}
  receipt: {type: str}
inputs:
  text: {default: "hello"}
steps:
  - id: send
    kind: tool
    call: "walk_tools:hang"
    review: never
    reads: [text]
    args: {text: "{text}"}
    writes: [receipt]
"""
TOOLS = "import asyncio\n\n\nasync def hang(text: str) -> str:\n    await asyncio.sleep(3600)\n    return text\n"


@dataclass
class Stage:
    """A state to press keys in: a way to make a viewer on it, and to wait until it shows the state."""

    app: Callable[[], BatonApp]
    reach: Callable[[Pilot[Any], BatonApp], Awaitable[None]]


Maker = Callable[[], Any]


class World:
    """What the states are made of: the store, its file, a folder for workflows, sessions to stop."""

    def __init__(self, store: Store, db: Path, tmp: Path) -> None:
        self.store, self.db, self.tmp = store, db, tmp
        self.sessions: list[Session] = []
        self.answerers: list[Answerer] = []

    async def session(self, flow: Any, **kwargs: Any) -> Session:
        session = await Session.start(self.store, flow, **kwargs)
        self.sessions.append(session)
        return session

    async def stop(self) -> None:
        for session in self.sessions:
            task = session.task
            if task is not None and not task.done():
                with contextlib.suppress(Exception):
                    await session.command(Command(kind="cancel", by="tester"), timeout=5)
                with contextlib.suppress(BaseException):
                    task.cancel()
                    await task
        self.sessions.clear()
        for answerer in self.answerers:
            await answerer.stop()
        self.answerers.clear()

    def viewer(self, session_id: str) -> Callable[[], BatonApp]:
        return lambda: BatonApp(db=self.db, attach=session_id)


def posted_handled(app: BatonApp) -> Callable[[], bool]:
    """A condition that holds once the app and its screen have handled every message posted until now."""
    waiting: set[int] = set()
    for node in [app, *app.screen.walk_children(with_self=True)]:
        key = id(node)

        def handled(key: int = key) -> None:
            waiting.discard(key)

        waiting.add(key)
        if not node.call_later(handled):
            handled()
    return lambda: not waiting


async def _run_screen(
    pilot: Pilot[Any], app: BatonApp, check: Callable[[RunScreen], bool], notices: tuple[str, ...] = ()
) -> None:
    """Wait for the state, then for the screen to show it: an agent focused, the state's notices up."""
    await until(pilot, lambda: app.run_screen is not None and check(app.run_screen), what="the run screen state")
    screen = app.run_screen
    assert screen is not None
    await until(
        pilot,
        lambda: bool(screen.focused_step) and all(notice in screen_text(app) for notice in notices),
        what=f"an agent focused and the notices {notices}",
    )


async def _review(pilot: Pilot[Any], app: BatonApp) -> None:
    """Wait for the review, mounted (its text focused), and for the checkpoint's notice posted before it opened."""
    await until(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen.cp is not None, what="the review")
    await until(pilot, lambda: app.focused is not None, what="the review mounted")
    await until(pilot, posted_handled(app), what="the checkpoint's notice handled")


async def review_of(world: World, flow: Any, step: str | None = None, **kwargs: Any) -> Stage:
    session = await world.session(flow, **kwargs)
    await session.checkpoint(step)
    return Stage(world.viewer(session.id), _review)


async def home(world: World) -> Stage:
    await run(world.store, workflow(GATED), options=RunOptions(auto="approve"))

    async def reach(pilot: Pilot[Any], app: BatonApp) -> None:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and bool(app.screen.selected_id()))
        await until(pilot, lambda: app.screen.selected_id() in screen_text(app), what="the chosen session on screen")

    return Stage(lambda: BatonApp(db=world.db), reach)


async def home_filtering(world: World) -> Stage:
    stage = await home(world)

    async def reach(pilot: Pilot[Any], app: BatonApp) -> None:
        await stage.reach(pilot, app)
        await pilot.press("slash", "g")
        await until(pilot, lambda: isinstance(app.focused, Input) and app.focused.value == "g")
        table = app.screen.query_one("#sessions", DataTable)
        await until(pilot, lambda: " of " in str(table.border_subtitle), what="the sessions filtered")

    return Stage(stage.app, reach)


async def run_running(world: World) -> Stage:
    session = await world.session(STALLED)
    await session.wait_for(lambda v: sum(c.status == "running" for c in v.calls.values()) == 3)

    async def reach(pilot: Pilot[Any], app: BatonApp) -> None:
        await _run_screen(pilot, app, lambda s: len(s.grid.order) == 3 and s.feed.view.status == "running")

    return Stage(world.viewer(session.id), reach)


async def run_paused(world: World) -> Stage:
    session = await world.session(REVIEWED)
    await session.checkpoint("draft")
    await session.command(Command(kind="pause", by="tester"))
    await session.finish()

    async def reach(pilot: Pilot[Any], app: BatonApp) -> None:
        await _run_screen(
            pilot, app, lambda s: s.feed.view.status == "paused", notices=("session paused", "press v to review")
        )

    return Stage(world.viewer(session.id), reach)


async def run_completed(world: World) -> Stage:
    _, view = await run(world.store, workflow(GATED), options=RunOptions(auto="approve"))

    async def reach(pilot: Pilot[Any], app: BatonApp) -> None:
        await _run_screen(
            pilot,
            app,
            lambda s: s.feed.view.status == "completed" and len(s.grid.order) == 2,
            notices=("session completed",),
        )

    return Stage(world.viewer(view.session_id), reach)


async def trace(world: World) -> Stage:
    stage = await run_completed(world)

    async def reach(pilot: Pilot[Any], app: BatonApp) -> None:
        await stage.reach(pilot, app)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TraceScreen) and "call #1" in screen_text(app))

    return Stage(stage.app, reach)


async def run_tools(world: World) -> Stage:
    """A finished session of an agent that called tools in three turns (written into the store)."""
    session_id = await stored(world.store, finished_loop())

    async def reach(pilot: Pilot[Any], app: BatonApp) -> None:
        await _run_screen(pilot, app, lambda s: s.feed.view.status == "completed", notices=("session completed",))

    return Stage(world.viewer(session_id), reach)


async def tool_call(world: World) -> Stage:
    """Two tool calls of one turn waiting for approval (the session's decisions answered by an `Answerer`)."""
    session_id = await stored(world.store, tool_loop())
    world.answerers.append(await Answerer(world.store, session_id).start())
    return Stage(world.viewer(session_id), _review)


async def ambiguous(world: World) -> Stage:
    (world.tmp / "walk_tools.py").write_text(TOOLS)
    path = world.tmp / "ambiguous.yaml"
    path.write_text(AMBIGUOUS)
    session = await world.session(load_workflow(path))
    await session.wait_for(lambda v: bool(v.tool_intents))
    assert session.task is not None
    session.task.cancel()  # the runner dies between the tool's intent and its result
    with contextlib.suppress(BaseException):
        await session.task
    await session.resume()
    await session.checkpoint("send")
    return Stage(world.viewer(session.id), _review)


async def inbox(world: World, *, alone: bool = False, marked: bool = False) -> Stage:
    """Three checkpoints waiting in three sessions (two alike), in the Inbox opened from Home (or alone, as
    `baton inbox` opens it); `marked`: the chosen one marked."""
    fresh = []
    for flow in (REVIEWED, GATED, REVIEWED):
        session = await world.session(flow)
        await session.checkpoint()
        await session.host.writer.project()  # type: ignore[union-attr]
        fresh.append(session.id)

    def listed(app: BatonApp) -> bool:
        screen = app.screen
        return isinstance(screen, InboxScreen) and all(any(i.session_id == s for i in screen.items) for s in fresh)

    async def reach(pilot: Pilot[Any], app: BatonApp) -> None:
        if not alone:
            await until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
            await pilot.press("i")
        await until(pilot, lambda: listed(app), what="the inbox listing the waiting checkpoints")
        screen = app.screen
        assert isinstance(screen, InboxScreen)
        table = screen.query_one("#inbox-table", DataTable)
        keys = [str(k.value) for k in table.rows]
        table.move_cursor(row=keys.index(f"{fresh[0]}/draft:review:1"))
        if marked:
            await pilot.press("space")
            await until(pilot, lambda: bool(screen.marked), what="a checkpoint marked")
        await until(pilot, lambda: screen.key_facts().similar > 1 or marked, what="the chosen row's batch")

    return Stage((lambda: inbox_app(world.db)) if alone else (lambda: BatonApp(db=world.db)), reach)


async def lessons_screen(world: World) -> Stage:
    """The Lessons screen opened from Home, with a lesson chosen."""
    await add_lesson(world.store, "reviewed", "draft", "Cite two sources.", "tester")

    def listed(app: BatonApp) -> bool:
        return isinstance(app.screen, LessonsScreen) and app.screen.chosen() is not None

    async def reach(pilot: Pilot[Any], app: BatonApp) -> None:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await pilot.press("l")
        await until(pilot, lambda: listed(app), what="the lessons listed")
        await until(pilot, lambda: "Cite two sources." in screen_text(app), what="the lesson on screen")

    return Stage(lambda: BatonApp(db=world.db), reach)


async def policy_screen(world: World, accepted: bool = False) -> Stage:
    """The Approval rules screen opened from Home, with a proposed rule (or, `accepted`, a rule) chosen."""
    from baton.core.config import save_rule
    from baton.tui.screens.policy import PolicyScreen
    from tests.core.test_policy import docs_rule, read, session

    await session(world.store, [read(f"docs/{n}.md") for n in "abcde"], ["approve"] * 5)
    if accepted:
        save_rule(docs_rule())
    kind = "rule" if accepted else "proposed"

    def listed(app: BatonApp) -> bool:
        chosen = app.screen.chosen() if isinstance(app.screen, PolicyScreen) else None
        return chosen is not None and chosen.kind == kind

    async def reach(pilot: Pilot[Any], app: BatonApp) -> None:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await pilot.press("P")
        await until(pilot, lambda: listed(app), what=f"a {kind} rule chosen")

    return Stage(lambda: BatonApp(db=world.db), reach)


STATES: dict[str, Callable[[World], Awaitable[Stage]]] = {
    "home": home,
    "home-filtering": home_filtering,
    "run-running": run_running,
    "run-paused": run_paused,
    "run-completed": run_completed,
    "run-tools": run_tools,
    "trace": trace,
    "review": lambda w: review_of(w, REVIEWED),
    "review-two-waiting": lambda w: review_of(w, TWO_REVIEWS, "both/right"),
    "gate": lambda w: review_of(w, GATED),
    "before-tool": lambda w: review_of(w, "tool", "publish"),
    "escalation": lambda w: review_of(w, ESCALATION),
    "budget": lambda w: review_of(w, BUDGET),
    "cost": lambda w: review_of(w, COST),
    "step-mode": lambda w: review_of(w, REVIEWED, options=RunOptions(step_mode=True)),
    "breakpoint": lambda w: review_of(w, REVIEWED, options=RunOptions(breakpoints={"draft"})),
    "ambiguous": ambiguous,
    "tool-call": tool_call,
    "inbox": inbox,
    "inbox-marked": lambda w: inbox(w, marked=True),
    "inbox-alone": lambda w: inbox(w, alone=True),
    "lessons": lessons_screen,
    "policy": policy_screen,
    "policy-rule": lambda w: policy_screen(w, accepted=True),
}


async def stop_runners(store: Store) -> None:
    """Kill any runner process a key started (resume), so none outlives the test."""
    for row in await store.sessions():
        lease = await store.lease(row.id)
        if lease and lease[0] != os.getpid() and await store.runner_alive(row.id):
            with contextlib.suppress(ProcessLookupError):
                os.kill(lease[0], signal.SIGKILL)


def working(app: BatonApp) -> dict[str, Any]:
    """Key → binding of every binding from baton's table that works now on the current screen."""
    return {
        key: active.binding
        for key, active in app.screen.active_bindings.items()
        if active.enabled and active.binding.id in IDS
    }


def fingerprint(app: BatonApp, messages: Messages) -> tuple[Any, ...]:
    """What a key can change, apart from text that moves by itself (clocks, streams)."""
    parts: list[Any] = [
        tuple(id(s) for s in app.screen_stack),
        id(app.focused),
        app.theme,
        app.return_value,
        app.return_code,
        len(messages.of(Notify)),
        sum(
            1
            for m in messages.of(Worker.StateChanged)
            if m.state == WorkerState.RUNNING and m.worker.group not in PERIODIC
        ),
    ]
    run_screen = app.run_screen
    if run_screen is not None and run_screen.is_mounted:
        grid = run_screen.grid
        parts += [frozenset(run_screen.classes), grid.compact, grid.start]
        parts += [run_screen.focused_step, run_screen.user_focus, run_screen.chosen_call, run_screen.call_open]
    screen = app.screen
    if isinstance(screen, ReviewScreen):
        parts += [screen.checkpoint_id, frozenset(screen.decided)]
    if isinstance(screen, HomeScreen):
        parts.append(screen.query_one("#filter", Input).value)
    if isinstance(screen, InboxScreen):
        parts += [frozenset(screen.marked), screen.query_one("#inbox-table", DataTable).cursor_row]
    return tuple(parts)


@asynccontextmanager
async def viewing(stage: Stage, messages: Messages) -> AsyncIterator[tuple[BatonApp, Pilot[Any]]]:
    app = stage.app()
    async with app.run_test(size=SIZE, message_hook=messages, notifications=True) as pilot:
        await stage.reach(pilot, app)
        yield app, pilot


async def shown_and_help(stage: Stage) -> dict[str, Any]:
    """Check that what works is shown; returns key → binding of everything that works."""
    messages = Messages()
    async with viewing(stage, messages) as (app, pilot):
        dimmed = [a.binding for a in app.screen.active_bindings.values() if not a.enabled and a.binding.id in IDS]
        assert not dimmed, f"shown but doing nothing: {dimmed}"
        works = working(app)
        assert works, f"no key works on {app.screen}"
        shown_labels = [b.group.description if b.group else b.description for b in works.values() if b.show]
        await until(
            pilot,
            lambda: all(f" {label} " in f" {screen_text(app).splitlines()[-1]} " for label in shown_labels),
            what=f"the footer to show {shown_labels}",
        )
        footer = f" {screen_text(app).splitlines()[-1]} "
        in_footer = set()
        for key, item in works.items():
            if item.action == "command_palette" and footer.rstrip().endswith(" palette"):
                in_footer.add(key)  # the footer keeps the palette's key at its right end
            if not item.show:
                continue
            assert app.get_key_display(item) in footer, (item, footer)
            in_footer.add(key)
        help_keys = [k for k, b in works.items() if b.action in ("help", "app.help")]
        hidden = {k: b for k, b in works.items() if k not in in_footer}
        if hidden:
            assert help_keys, f"{sorted(hidden)} work but are not in the footer, and there is no ? help"
            await pilot.press(help_keys[0])
            await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
            text = screen_text(app)
            rows = text.splitlines()
            for key, item in hidden.items():
                shown = keymap.key_text(item.key)
                assert any(f" {shown} " in row and f" {item.description} " in row for row in rows), (key, text)
        return works


async def press_has_effect(stage: Stage, key: str, binding_id: str, state: str) -> None:
    messages = Messages()
    async with viewing(stage, messages) as (app, pilot):
        before = fingerprint(app, messages)
        await pilot.press(key)
        await until(
            pilot,
            lambda: fingerprint(app, messages) != before,
            timeout=30,
            what=f"{state}: '{key}' ({binding_id}) to do something",
        )


@pytest.mark.slow
@pytest.mark.parametrize("state", list(STATES))
async def test_every_key_shown_works_and_every_working_key_is_shown(
    state: str, store: Store, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_PUBLISH_FILE", str(tmp_path / "published.jsonl"))
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    world = World(store, db_path, tmp_path)
    try:
        stage = await STATES[state](world)
        works = await shown_and_help(stage)
        for key, item in works.items():
            await press_has_effect(stage, key, item.id, state)
            if item.id in CHANGES_SESSION:
                await world.stop()
                if state.startswith("home"):
                    world.store = store
                stage = await STATES[state](world)
    finally:
        await world.stop()
        await stop_runners(store)
