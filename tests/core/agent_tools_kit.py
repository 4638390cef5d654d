"""Tools for the agent-loop tests (imported by `module:function`). Side effects count into the file
named by `BATON_TEST_TOOL_LOG`, one line per run, so a test can see what ran and how often."""

from __future__ import annotations

import asyncio
import os
from typing import Literal


def _log(line: str) -> None:
    path = os.environ.get("BATON_TEST_TOOL_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def search(q: str, limit: int = 3) -> list[str]:
    """Search the notes.

    Args:
        q: what to look for
        limit: how many hits at most
    """
    return [f"{q} hit {i}" for i in range(1, limit + 1)]


def write_report(path: str, text: str, mode: Literal["new", "append"] = "new") -> str:
    """Write a report file."""
    _log(f"write_report {path} {mode} {text}")
    return f"wrote {len(text)} characters to {path}"


def explode(reason: str = "boom") -> str:
    """Always fails."""
    raise RuntimeError(reason)


def long_text(size: int = 5000) -> str:
    """A long result."""
    return "x" * size


_meeting: dict[str, asyncio.Event] = {}


async def meet(name: str, other: str) -> str:
    """Returns only once `other` has also started: two calls of one turn that run at once."""
    event = _meeting.setdefault(name, asyncio.Event())
    event.set()
    await _meeting.setdefault(other, asyncio.Event()).wait()
    return f"{name} met {other}"
