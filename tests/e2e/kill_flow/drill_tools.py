"""Tools of the crash-drill workflow: each run appends `<pid> <step path>` to the file named by
`DRILL_COUNTER` (an external side effect the workflow's own log does not see), then lingers a little
so a kill can land between the side effect and the step's completion record."""

from __future__ import annotations

import os
import time

LINGER_S = 0.03


def _count(path: str) -> None:
    target = os.environ["DRILL_COUNTER"]
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{os.getpid()} {path}\n".encode())
    finally:
        os.close(fd)
    time.sleep(LINGER_S)


def mark(path: str) -> str:
    """Count this run of the step at `path`; its mark is the path."""
    _count(path)
    return path


def items(path: str, count: int) -> list[str]:
    """Count this run, and return `count` items for the map."""
    _count(path)
    return [f"item {i}" for i in range(count)]
