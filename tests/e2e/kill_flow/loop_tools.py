"""Tools of the tool-loop kill test. `count` is the side effect: every run appends `pid key tag` to the
file named by `LOOP_COUNTER`, between two short pauses (so a kill can land before, inside or after it)."""

from __future__ import annotations

import os
import time


def count(tag: str, idempotency_key: str = "") -> str:
    """Count one thing (a side effect, recorded outside the session)."""
    time.sleep(0.015)
    with open(os.environ["LOOP_COUNTER"], "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {idempotency_key} {tag}\n")
        handle.flush()
        os.fsync(handle.fileno())
    time.sleep(0.015)
    return f"counted {tag}"


def peek(tag: str) -> str:
    """Look at one thing (no side effects)."""
    return f"peeked {tag}"
