"""Driving the Textual app against real sessions: the real runner (in-process or a runner process),
the real store, the offline model through litellm. Helpers wait on what the app shows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from textual.message import Message
from textual.pilot import Pilot

from baton.core.commands import Command
from baton.sessions.store import Store
from baton.tui.app import BatonApp
from tests.helpers import Session, fan_out, workflow
from tests.tui.screen import screen_text

HOSTILE = (
    "plain start [/bold] and [link=http://x]y[/link] then \x1b]52;c;aGFja2Vk\x07 and \x1b]0;title\x07 "
    "and \x1b[2J cleared? \u202eevil\u202c [bold red]loud[/]"
)
"""What a hostile model writes: markup, OSC 52 (clipboard), OSC 0 (title), a screen clear, a bidi override."""

REVIEWED = """
name: reviewed
state:
  ask: {type: str}
  draft: {type: str}
  final: {type: str}
inputs:
  ask: {default: "a two-line status update"}
models:
  fast:
    model: mock/fast
    mock:
      replies:
        - {match: "Draft", text: "DRAFT v1: all systems nominal."}
        - {match: "Polish", text: "FINAL: all systems nominal."}
  strong: {model: mock/strong, mock: {replies: [{text: "STRONG: a better draft."}]}}
steps:
  - id: draft
    kind: agent
    model: fast
    reads: [ask]
    writes: [draft]
    prompt: "Draft {ask}"
    review: always
  - id: polish
    kind: agent
    model: fast
    reads: [draft]
    writes: [final]
    prompt: "Polish {draft}"
"""
"""One reviewed agent then another: every decision has somewhere to go."""

GATED = """
name: gated
state:
  ask: {type: str}
  draft: {type: str}
  final: {type: str}
inputs:
  ask: {default: "hello"}
models:
  fast: {model: mock/fast, mock: {replies: [{text: "A reply."}]}}
steps:
  - {id: draft, kind: agent, model: fast, reads: [ask], writes: [draft], prompt: "{ask}"}
  - {id: approve_draft, kind: gate, reads: [draft], message: "Send this reply?"}
  - {id: polish, kind: agent, model: fast, reads: [draft], writes: [final], prompt: "Polish {draft}"}
"""

TWO_REVIEWS = """
name: two-reviews
state:
  q: {type: str}
  notes: {type: "list[str]", reducer: append}
inputs:
  q: {default: "x"}
models:
  fast:
    model: mock/fast
    mock:
      replies:
        - {match: "left", text: "LEFT says yes."}
        - {match: "right", text: "RIGHT says no."}
steps:
  - id: both
    kind: parallel
    branches:
      - {id: left, kind: agent, model: fast, reads: [q], writes: [notes], prompt: "left {q}", review: always}
      - {id: right, kind: agent, model: fast, reads: [q], writes: [notes], prompt: "right {q}", review: always}
"""
"""Two branches that both wait for a person: the inbox holds both."""


def hostile_flow(text: str = HOSTILE, tokens_per_s: float = 200) -> str:
    """An agent whose reply is `text`, streamed, then reviewed (so it also reaches the Review screen)."""
    import json

    return f"""
name: "hostile [bold]name[/bold]"
state:
  q: {{type: str}}
  out: {{type: str}}
inputs:
  q: {{default: "go"}}
models:
  fast: {{model: mock/fast, mock: {{tokens_per_s: {tokens_per_s}, replies: [{{text: {json.dumps(text)}}}]}}}}
steps:
  - {{id: evil, kind: agent, model: fast, reads: [q], writes: [out], prompt: "{{q}}", review: always}}
"""


def app_for(session: Session, *, auto_review: bool = True) -> BatonApp:
    """The app viewing an in-process session (through the same bus a runner process would give)."""
    assert session.host.bus is not None
    app = BatonApp(bus=session.host.bus)
    if not auto_review:
        app.auto_review = False
    return app


@asynccontextmanager
async def running(store: Store, flow: str, **kwargs: Any) -> AsyncIterator[Session]:
    """A session whose in-process runner is stopped (cancelled) on the way out, even when a test fails."""
    session = await Session.start(store, flow if "\n" not in flow else workflow(flow), **kwargs)
    try:
        yield session
    finally:
        task = session.task
        if task is not None and not task.done():
            with contextlib.suppress(Exception):
                await session.command(Command(kind="cancel", by="tester"), timeout=5)
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(task), 10)
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


class Messages:
    """A `message_hook` that keeps every message the app's widgets posted."""

    def __init__(self) -> None:
        self.seen: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.seen.append(message)

    def of(self, kind: type[Message]) -> list[Any]:
        """Messages of one class."""
        return [m for m in self.seen if isinstance(m, kind)]


async def until(pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Let the app run until `predicate` holds (it is checked between frames)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


def header(app: Any) -> str:
    """The header line as it is on screen now (it redraws on the next frame after the view changes)."""
    return screen_text(app).splitlines()[0]


async def pick(pilot: Pilot[Any], choice: str) -> list[str]:
    """In the open picker, take `choice` (as a person moving the highlight and pressing enter would);
    returns every choice it offered."""
    from textual.widgets import OptionList

    from baton.tui.screens.dialogs import PickerScreen

    await until(pilot, lambda: isinstance(pilot.app.screen, PickerScreen), what="the picker")
    picker = pilot.app.screen.query_one(OptionList)
    ids = [str(picker.get_option_at_index(i).id) for i in range(picker.option_count)]
    picker.highlighted = ids.index(choice)
    await pilot.press("enter")
    return ids


PER_FILE = """
name: per-file
state:
  files: {type: "list[str]"}
  reviews: {type: "list[str]", reducer: append}
inputs:
  files: {default: ["core/view.py", "tui/app.py", "README.md"]}
models:
  fast: {model: mock/fast, mock: {latency_s: 2.0, tokens_per_s: 10, min_tokens: 30, max_tokens: 30}}
steps:
  - id: each
    kind: map
    over: files
    as: file
    concurrency: 1
    step: {id: review_file, kind: agent, model: fast, writes: [reviews], prompt: "Review {file}"}
"""
"""A map over three files, one at a time, each taking seconds: the others wait, queued."""


def footer(app: Any) -> str:
    """The footer line as it is on screen now, padded with a space each side (so ` a attach ` matches)."""
    return f" {screen_text(app).splitlines()[-1]} "


async def until_text(pilot: Pilot[Any], text: str, timeout: float = 30.0) -> str:
    """Wait until `text` is on screen; returns the screen."""
    await until(pilot, lambda: text in screen_text(pilot.app), timeout, repr(text))
    return screen_text(pilot.app)


async def until_offered(pilot: Pilot[Any], title: str, timeout: float = 30.0) -> None:
    """Wait until the open command palette lists its matches with `title` highlighted (so enter runs it)."""
    from textual.command import Command as Match
    from textual.command import CommandList, CommandPalette

    def offered() -> bool:
        palette = pilot.app.screen
        if not isinstance(palette, CommandPalette):
            return False
        matches = palette.query_one(CommandList)
        index = matches.highlighted
        if not matches.has_class("--visible") or index is None or index >= matches.option_count:
            return False
        match = matches.get_option_at_index(index)
        return isinstance(match, Match) and str(match.hit.text) == title

    await until(pilot, offered, timeout, f"the palette to offer {title!r}")


__all__ = [
    "GATED",
    "HOSTILE",
    "PER_FILE",
    "REVIEWED",
    "TWO_REVIEWS",
    "Messages",
    "fan_out",
    "footer",
    "header",
    "hostile_flow",
    "pick",
    "running",
    "screen_text",
    "until",
    "until_offered",
    "until_text",
    "workflow",
]
