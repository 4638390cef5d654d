"""One runner per session: who may hold a session's lease, the same rule for every store.

A lease names its holder (a process on a host) and a token only that holder knows. A holder on this
host is alive while its process is; one in this very process only while it still holds the token (a
runner here that ended without releasing it is gone); one on another host until its lease expires
unless renewed.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from typing import Protocol

from baton.sessions.records import Lease, WorkRow

LEASE_TTL_S = 15.0


class SessionStoreLike(Protocol):
    """What `runner_or_parked` reads of a store."""

    async def runner_alive(self, session_id: str) -> bool: ...

    async def work(self, session_id: str | None = None) -> list[WorkRow]: ...


@dataclass(frozen=True)
class LeaseOwner:
    """A process that holds (or asks for) a lease."""

    pid: int
    host: str

    @classmethod
    def this_process(cls) -> LeaseOwner:
        """This process on this host."""
        return cls(os.getpid(), machine_name())


def machine_name() -> str:
    """The name this machine's runners go by in leases and the hosts list."""
    return socket.gethostname()


def new_token() -> str:
    """A lease token: known only to its holder."""
    return secrets.token_hex(8)


_HELD: set[str] = set()
"""Lease tokens held by runners in this process."""


def hold(token: str) -> None:
    """A runner in this process now holds `token`."""
    _HELD.add(token)


def drop(token: str) -> None:
    """A runner in this process gave `token` up."""
    _HELD.discard(token)


def holder_alive(lease: Lease, token: str, now: float) -> bool:
    """Is the holder of `lease` (with `token`) still running the session?"""
    me = LeaseOwner.this_process()
    if (lease.pid, lease.host) == (me.pid, me.host):
        return token in _HELD
    if lease.host == me.host:
        return pid_alive(lease.pid)
    return lease.expires_at > now


def process_alive(pid: int, machine: str, expires_at: float, now: float) -> bool:
    """Is the process `pid` on `machine` (which renews its rows until `expires_at`) still there? One on this
    machine is while its process runs; one elsewhere until its row expires."""
    if machine == machine_name():
        return pid == os.getpid() or pid_alive(pid)
    return expires_at > now


async def runner_or_parked(store: SessionStoreLike, session_id: str) -> bool:
    """Is the session in a runner's hands: held by a live one, or parked by a host (it waits for a person,
    and a decision queues it for a host again)?"""
    if await store.runner_alive(session_id):
        return True
    return any(row.state == "parked" for row in await store.work(session_id))


def pid_alive(pid: int) -> bool:
    """Is process `pid` running (a zombie is not)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True
