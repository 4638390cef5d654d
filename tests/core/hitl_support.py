"""Shared by the checkpoint tests: small workflows on the offline model, and a fixture that starts real
sessions and never leaves one running after its test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from baton.core import events as ev
from baton.core.view import SessionView
from baton.sessions.store import Store
from tests.helpers import Session, workflow

MODELS = """
models:
  fast: {model: mock/fast, mock: {min_tokens: 8, max_tokens: 16}}
  strong: {model: mock/strong, mock: {min_tokens: 8, max_tokens: 16}}
"""

AGENT = f"""
name: hitl-agent
state:
  topic: {{type: str}}
  draft: {{type: str, max_chars: 400}}
  extra: {{type: str}}
  final: {{type: str}}
inputs:
  topic: {{default: "tidal power"}}
{MODELS}
steps:
  - id: write
    kind: agent
    model: fast
    reads: [topic]
    writes: [draft]
    prompt: "Write a note about {{topic}}"
    review: always
  - id: extra
    kind: agent
    model: fast
    reads: [topic]
    writes: [extra]
    prompt: "Add a fact about {{topic}}"
  - id: polish
    kind: agent
    model: fast
    reads: [draft]
    writes: [final]
    prompt: "Polish: {{draft}}"
"""

Start = Callable[..., Awaitable[Session]]


@pytest.fixture(name="start")
async def start_fixture(store: Store) -> AsyncIterator[Start]:
    """`await start(flow, **kwargs)` → a running `Session`; every one is stopped when the test ends."""
    started: list[Session] = []

    async def go(flow: Any, **kwargs: Any) -> Session:
        session = await Session.start(store, workflow(flow) if isinstance(flow, str) else flow, **kwargs)
        started.append(session)
        return session

    yield go
    for session in started:
        await stop(session)


async def stop(session: Session) -> None:
    """Stop a session's runner if it still runs (as a person cancelling it would)."""
    task = session.task
    if task is None or task.done():
        return
    if session.host.runner is not None:
        session.host.runner.cancel("cancelled: the test ended")
    done, _ = await asyncio.wait({task}, timeout=10)
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=10)


async def events(session: Session) -> list[ev.Envelope]:
    """Every persisted event of the session, in order."""
    return await session.store.events(session.id)


def of_kind(envelopes: list[ev.Envelope], kind: type[ev.Event], step: str | None = None) -> list[Any]:
    """The events of one kind (at one step path, if given)."""
    return [e.event for e in envelopes if isinstance(e.event, kind) and (step is None or e.event.step == step)]


def calls(envelopes: list[ev.Envelope], step: str) -> list[ev.LLMCallFinished]:
    """Live model calls a step made (replayed answers excluded)."""
    return [e for e in of_kind(envelopes, ev.LLMCallFinished, step) if not e.replayed]


def statuses(view: SessionView) -> dict[str, str]:
    """Step path → status."""
    return {p: s.status for p, s in view.steps.items()}
