"""The side-effecting tool of the multi-host kill test. Every run appends `idempotency key, machine, pid` to
the file named by `HOSTS_COUNTER` (shared by every session and host), between two short pauses, so a host
killed at a random moment is often killed with a call under way."""

from __future__ import annotations

import os
import socket
import time

PAUSE_S = 0.05


def count(tag: str, idempotency_key: str = "") -> str:
    """Count one thing (a side effect, recorded outside the session)."""
    time.sleep(PAUSE_S)
    line = f"{idempotency_key} {socket.gethostname()} {os.getpid()}\n"
    with open(os.environ["HOSTS_COUNTER"], "a", encoding="utf-8") as handle:
        handle.write(line)  # one short write to a file opened for appending: lines never interleave
        handle.flush()
        os.fsync(handle.fileno())
    time.sleep(PAUSE_S)
    return f"counted {tag}"
