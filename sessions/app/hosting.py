"""Handing sessions to a runner host: the queue row, and a host started in the background when none serves
the store (as tmux starts its server). The viewer tails the store, as with any runner in another process.

A host started here stays after its first session ends, so the next `baton run` finds it warm; it exits
on its own after `BATON_HOST_IDLE_EXIT` seconds with nothing to run (default 60).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from baton.core.runner import RunOptions
from baton.sessions.app.runners import START_WAIT_S, ProcessRunners, Runners, Started, open_log, runner_log_dir
from baton.sessions.bus import StoreBus
from baton.sessions.errors import AppError, RunnerFailed, SessionInUse
from baton.sessions.host_env import fingerprint
from baton.sessions.interface import SessionStore
from baton.sessions.leases import machine_name
from baton.sessions.pg_dsn import is_dsn

T = TypeVar("T")
POLL_S = 0.02


@dataclass
class HostRunners:
    """Sessions run on the store's runner hosts (one started here when none is live)."""

    db: Path | str
    liveness: float = 1.0
    wait_s: float = START_WAIT_S

    def check(self) -> None:
        """The logs' folder can be created (a host started here would have nowhere to log)."""
        runner_log_dir()

    async def start(
        self,
        store: SessionStore,
        session_id: str,
        options: RunOptions | None = None,
        models: Mapping[str, str] | None = None,
    ) -> Started:
        """Queue the session, make sure a host serves the store, and wait until one runs it."""
        before = await store.last_seq(session_id)
        queued = await store.enqueue(
            session_id,
            json.dumps(options.to_json()) if options is not None else None,
            json.dumps(dict(models)) if models else None,
            fingerprint(),
        )
        if not queued:
            raise await in_use(store, session_id, self.wait_s)
        process = await ensure_host(store, self.db, self.wait_s)
        await wait_claimed(store, session_id, before, process, self.wait_s)
        bus = StoreBus(store, session_id, liveness=self.liveness, hand_over=lambda: self.hand_over(store, session_id))
        return Started(session_id, bus, process=process)

    async def hand_over(self, store: SessionStore, session_id: str) -> bool:
        """A decision arrived for a session no runner holds: if a host ran it (it is parked, or its host
        died), queue it again and make sure a host will claim it. False when no host ever had it."""
        rows = await store.work(session_id)
        if not rows:
            return False
        await store.unpark(session_id)
        await ensure_host(store, self.db, self.wait_s)
        return True


def default_runners(db: Path | str, *, liveness: float = 1.0) -> Runners:
    """Runner hosts, unless `BATON_HOST=off` asks for one runner process per session."""
    if os.environ.get("BATON_HOST", "").strip().lower() in ("off", "0", "no"):
        return ProcessRunners(db, liveness=liveness)
    return HostRunners(db, liveness=liveness)


async def ensure_host(
    store: SessionStore, db: Path | str, wait_s: float = START_WAIT_S
) -> subprocess.Popen[bytes] | None:
    """None when a live host of the store has this process's environment (`sessions.host_env`), else the
    process of one started here (with it), once it is ready."""
    env, machine = fingerprint(), machine_name()
    if any(not h.draining and h.env == env and h.machine == machine for h in await store.hosts()):
        return None
    host_id = secrets.token_hex(4)
    process = spawn_host(db, host_id)

    async def ready() -> bool | None:
        if any(host.id == host_id for host in await store.hosts()):
            return True
        code = process.poll()
        if code is not None:
            raise RunnerFailed(f"the runner host exited with code {code} before starting; see {host_log_path(host_id)}")
        return None

    if await until(ready, store, None, wait_s):
        return process
    raise RunnerFailed(f"the runner host did not start within {wait_s:.0f}s; see {host_log_path(host_id)}")


async def in_use(store: SessionStore, session_id: str, wait_s: float) -> AppError:
    """Someone else queued the session (or a host runs it): `SessionInUse` naming the host that runs it,
    once one does."""

    async def holder() -> AppError | None:
        lease = await store.lease(session_id)
        if lease is not None and await store.runner_alive(session_id):
            return SessionInUse(session_id, lease.pid, lease.host)
        return None

    held = await until(holder, store, session_id, wait_s)
    if held is not None:
        return held
    return AppError(f"session {session_id} is already waiting for a runner host (see `baton hosts`)", code=3)


async def until(
    found: Callable[[], Awaitable[T | None]], store: SessionStore, session_id: str | None, wait_s: float
) -> T | None:
    """What `found` gives once it gives something, or None after `wait_s`: it is asked again whenever the
    store says something changed (of `session_id`; None: anything), at least every `POLL_S`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    mark = await store.wait_for_change(session_id, 0)
    while loop.time() < deadline:
        result = await found()
        if result is not None:
            return result
        mark = await store.wait_for_change(session_id, POLL_S, mark)
    return None


def host_log_path(host_id: str) -> Path:
    """Where a host started here logs."""
    return runner_log_dir() / f"host-{host_id}.log"


def spawn_host(db: Path | str, host_id: str) -> subprocess.Popen[bytes]:
    """Start a host in the background, in its own process group (it outlives this command). A server's URL
    (it may hold a password) goes to it in its environment, not on its command line."""
    env = dict(os.environ)
    args = [sys.executable, "-m", "baton.sessions.host_main", "--id", host_id, "--log"]
    if is_dsn(db):
        env["BATON_DB"] = str(db)
    else:
        args += ["--db", str(db)]
    out = open_log(host_log_path(host_id), "the host's log")
    try:
        return subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out, start_new_session=True, env=env
        )
    finally:
        out.close()


async def wait_claimed(
    store: SessionStore,
    session_id: str,
    after_seq: int,
    process: subprocess.Popen[bytes] | None,
    wait_s: float = START_WAIT_S,
) -> None:
    """Wait until a host runs the session (it recorded its start after `after_seq`, or already ended), or say
    why not. Woken by the store's change notification (on PostgreSQL the moment the host commits), else
    every `POLL_S`."""

    async def claimed() -> bool | None:
        if await store.last_seq(session_id) > after_seq:
            return True
        if process is not None and process.poll() is not None and not await store.hosts():
            raise RunnerFailed(f"the runner host exited with code {process.returncode}; see {runner_log_dir()}")
        return None

    if await until(claimed, store, session_id, wait_s):
        return
    raise RunnerFailed(f"no runner host took session {session_id} within {wait_s:.0f}s (see `baton hosts`)")


__all__ = ["HostRunners", "default_runners", "ensure_host", "spawn_host", "wait_claimed"]
