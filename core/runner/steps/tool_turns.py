"""The pieces of an agent's tool loop that are not the loop: a call on its way through it, how a
`tool_choice` is sent, and running a turn's calls (or approvals) at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from baton.core import events as ev
from baton.core.llm.types import ModelToolCall
from baton.core.runner.toolbox import BoundTool

T = TypeVar("T")


@dataclass
class Prepared:
    """One tool call of a turn on its way: checked, its policy decided, then run (or answered without
    running: `content` set)."""

    call: ModelToolCall
    key: str
    tool: BoundTool | None
    args: dict[str, Any]
    policy: str
    reason: str
    content: str | None = None
    denied: ev.DecisionMade | None = None
    sequence: int = 0
    child: str = ""
    """The child step's path, for a task handed to a sub-agent."""


def tool_choice(choice: str | None) -> str | dict[str, Any] | None:
    """`auto`, `required`, `none` as they are; a tool's name as the provider's object that names it."""
    if choice is None or choice in ("auto", "required", "none"):
        return choice
    return {"type": "function", "function": {"name": choice}}


async def all_or_first_error(awaitables: Sequence[Awaitable[T]] | Any) -> list[T]:
    """Await all at once; the first failure (a pause, a stop) is raised once the others are cancelled."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    if not tasks:
        return []
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
    failed = next((t for t in tasks if t.done() and not t.cancelled() and t.exception() is not None), None)
    if failed is not None:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        exc = failed.exception()
        assert exc is not None
        raise exc
    return [t.result() for t in tasks]
