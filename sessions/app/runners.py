"""Starting a session's runner: a background process that outlives the viewer (like tmux), or a task in
this process (tests, embedding). Either way the caller gets the session's bus to view it through.

A runner process that cannot take its session says why: another runner holds it (exit 3, reported as
`SessionInUse` with that runner's pid), or the line it logged before it exited.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from baton.core import paths
from baton.core.bus import Bus
from baton.core.runner import RunOptions
from baton.sessions.bus import StoreBus
from baton.sessions.errors import AppError, InvalidInput, RunnerFailed, SessionInUse
from baton.sessions.interface import SessionStore
from baton.sessions.pg_dsn import is_dsn

if TYPE_CHECKING:
    from baton.core.config import Config
    from baton.core.llm.types import LLMClient

EXIT_CODES = {"completed": 0, "failed": 1, "invalid": 2, "in_use": 3, "paused": 4, "cancelled": 4, "degraded": 5}
IN_USE_EXIT = 3
START_WAIT_S = 30.0


def exit_code(status: str) -> int:
    """The documented exit code for how a session ended (0 when the viewer detached and it goes on)."""
    return EXIT_CODES.get(status, 0 if status == "detached" else 1)


@dataclass
class Started:
    """A runner that took its session: the bus to view it through, and the process or task running it."""

    session_id: str
    bus: Bus
    process: subprocess.Popen[bytes] | None = None
    task: asyncio.Task[str] | None = field(default=None, repr=False)

    async def finish(self, seen: str) -> str:
        """How the session ended once its viewer is done (`seen`: what the viewer saw). A runner in this
        process is waited for, or stopped when the viewer detached (it cannot outlive the process)."""
        if self.task is None:
            return seen
        if seen == "detached":
            self.task.cancel()
        (result,) = await asyncio.gather(self.task, return_exceptions=True)
        return result if isinstance(result, str) else seen


class Runners(Protocol):
    """How sessions get a runner."""

    def check(self) -> None:
        """Refuse (`AppError`) before a session is recorded if no runner could be started at all."""
        ...

    async def start(
        self,
        store: SessionStore,
        session_id: str,
        options: RunOptions | None = None,
        models: Mapping[str, str] | None = None,
    ) -> Started:
        """Start a runner for the session and wait until it holds it; `options` and `models` override what
        the session was started with."""
        ...

    async def hand_over(self, store: SessionStore, session_id: str) -> bool:
        """A decision arrived for a session no live runner holds: have a runner apply it now if one can
        (a parked session, or one whose host died). False: it waits for `baton resume`."""
        ...


class ProcessRunners:
    """Each session's runner is its own background process (`python -m baton.sessions.runner_main`) over
    the store at `db` (a file, or a PostgreSQL server's URL); viewers tail the store."""

    def __init__(self, db: Path | str, *, liveness: float = 1.0, wait_s: float = START_WAIT_S) -> None:
        self.db = db
        self.liveness = liveness
        self.wait_s = wait_s

    async def hand_over(self, store: SessionStore, session_id: str) -> bool:
        """Each of these runners runs its session once: a decision waits for `baton resume`."""
        return False

    def check(self) -> None:
        """The runner logs' folder can be created (a runner process would have nowhere to log)."""
        runner_log_dir()

    async def start(
        self,
        store: SessionStore,
        session_id: str,
        options: RunOptions | None = None,
        models: Mapping[str, str] | None = None,
    ) -> Started:
        """Spawn the runner and wait until it has taken the session and recorded its start."""
        before = await store.last_seq(session_id)
        log = runner_log(session_id)
        offset = log.stat().st_size if log.exists() else 0
        process = spawn_runner(self.db, session_id, options, models)
        await wait_started(store, session_id, process, before, log, offset, self.wait_s)
        return Started(session_id, StoreBus(store, session_id, liveness=self.liveness), process=process)


class InProcessRunners:
    """Runners as tasks of this process, viewed through an in-process bus (tests, embedding)."""

    def __init__(self, *, llm: LLMClient | None = None, config: Config | None = None) -> None:
        self.llm = llm
        self.config = config

    async def hand_over(self, store: SessionStore, session_id: str) -> bool:
        """Each of these runners runs its session once: a decision waits for `baton resume`."""
        return False

    def check(self) -> None:
        """A task can always be started."""

    async def start(
        self,
        store: SessionStore,
        session_id: str,
        options: RunOptions | None = None,
        models: Mapping[str, str] | None = None,
    ) -> Started:
        """Start the host as a task; return once it runs (or raise what stopped it, such as `SessionInUse`).
        The runner is loaded here: a command that hands its session to another process never needs it."""
        from baton.sessions.host import SessionHost

        host = SessionHost(
            store, session_id, llm=self.llm, options=options, config=self.config, models=dict(models or {}), local=True
        )
        task = asyncio.ensure_future(host.run())
        ready = asyncio.ensure_future(host.ready())
        await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            task.result()  # raises what ended it before it was ready
        assert host.bus is not None
        return Started(session_id, host.bus, task=task)


def runner_log_dir() -> Path:
    """The runner logs' folder; one this user cannot create is `InvalidInput` naming it."""
    try:
        return paths.log_dir()
    except paths.UnusablePath as exc:
        raise InvalidInput(str(exc)) from None


def runner_log(session_id: str) -> Path:
    """The session's runner log."""
    return runner_log_dir() / f"{session_id}.log"


def spawn_runner(
    db: Path | str, session_id: str, options: RunOptions | None = None, models: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start the session's runner in the background, in its own process group, logging to its file. A
    server's URL (it may hold a password) goes to the runner in its environment, not on its command line."""
    env = None
    args = [sys.executable, "-m", "baton.sessions.runner_main", "--session", session_id]
    if is_dsn(db):
        env = {**os.environ, "BATON_DB": str(db)}
    else:
        args += ["--db", str(db)]
    if options is not None:
        args += ["--options", json.dumps(options.to_json())]
    for alias, model in (models or {}).items():
        args += ["--model", f"{alias}={model}"]
    log = open_log(runner_log(session_id), "the runner log")
    try:
        return subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=env
        )
    finally:
        log.close()


def open_log(path: Path, what: str) -> BinaryIO:
    """A private log file opened for a child process to append to; `InvalidInput` saying why it cannot be."""
    try:
        return open(paths.private_file(path), "ab")
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
        raise InvalidInput(f"{path}: cannot write {what} ({reason}); set XDG_STATE_HOME to a writable folder") from None


async def wait_started(
    store: SessionStore,
    session_id: str,
    process: subprocess.Popen[bytes],
    after_seq: int,
    log: Path,
    log_offset: int = 0,
    wait_s: float = START_WAIT_S,
) -> None:
    """Wait until *this* runner holds the session and has recorded its start (an event after `after_seq`),
    or say why it did not. Events from another runner that won the session meanwhile do not count."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while loop.time() < deadline:
        code = process.poll()
        if code == IN_USE_EXIT:
            raise await _in_use(store, session_id, log, log_offset)
        started = await store.last_seq(session_id) > after_seq
        if code is not None:
            if started:
                return  # it ran, and already ended on its own
            why = _last_error(log, log_offset)
            raise RunnerFailed(
                f"the runner exited with code {code} before starting{': ' + why if why else ''}; see {log}"
            )
        if started:
            lease = await store.lease(session_id)
            if lease is not None and lease.pid == process.pid:
                return
        await asyncio.sleep(0.03)
    raise RunnerFailed(f"the runner did not start within {wait_s:.0f}s; see {log}")


def _new_log_lines(log: Path, offset: int) -> list[str]:
    try:
        with open(log, "rb") as handle:
            handle.seek(offset)
            return handle.read(1 << 20).decode("utf-8", "replace").splitlines()
    except OSError:
        return []


async def _in_use(store: SessionStore, session_id: str, log: Path, offset: int) -> AppError:
    """Why a runner refused the session: the holder it named in its log, else the lease as it is now."""
    pattern = re.compile(rf"session {re.escape(session_id)} in use by pid (\d+)(?: on (\S+))?\s*$")
    for line in reversed(_new_log_lines(log, offset)):
        found = pattern.search(line)
        if found:
            return SessionInUse(session_id, int(found.group(1)), found.group(2) or socket.gethostname())
    lease = await store.lease(session_id)
    if lease is not None:
        return SessionInUse(session_id, lease.pid, lease.host)
    return AppError(f"session {session_id} was in use by another runner; see {log}", code=IN_USE_EXIT)


def _last_error(log: Path, offset: int) -> str:
    """The last error the runner logged (its message part), if any."""
    for line in reversed(_new_log_lines(log, offset)):
        if " ERROR " in line:
            return line.split(": ", 1)[-1].strip()
    return ""
