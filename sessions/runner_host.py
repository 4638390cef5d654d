"""A runner host: one long-lived process running many sessions at once, each an asyncio task, claimed from
the store's queue (`baton host`).

- **Claiming.** `baton run`, `resume` and `decide` put a session in the queue (`SessionStore.enqueue`); a
  host claims queued sessions while it has room, each with its lease, and renews each lease while it runs.
  A session whose host died (its lease lapsed, or on this machine its process is gone) is claimed again by
  a live host, which goes on from the record: committed steps are not run again.
- **Parking.** A session that only a person can move on, for `park_after_s`, is let go (nothing recorded,
  its queue row says `parked`): it costs rows, not memory. A decision queues it again (`baton decide`
  unparks it) and a host claims it, replays its record and applies the decision.
- **Isolation.** A session that fails, whatever the reason, ends that session's task only. Synchronous tools
  run on threads of their own (`core.runner.tools`), and model calls share the host's limits (`LimitedLLM`).
- **Draining.** `drain()` (SIGTERM) lets every session go at once — waiting ones parked, the others queued
  for the next host — after their commits in flight finish, releases their leases and removes the host's row.
- **Idle exit.** A host that runs nothing for `idle_exit_s` exits (one started on demand goes away on its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from baton.core import events as ev
from baton.core.aio import stop_tasks
from baton.core.config import Config
from baton.core.llm.limited import CallLimits, LimitedLLM
from baton.core.llm.types import LLMClient
from baton.core.runner import RunOptions
from baton.core.secrets import default_redactor
from baton.core.spec.problems import WorkflowInvalid
from baton.core.view import SessionView
from baton.sessions.errors import AppError
from baton.sessions.host import SessionHost
from baton.sessions.host_env import fingerprint
from baton.sessions.interface import SessionStore
from baton.sessions.leases import LEASE_TTL_S, machine_name
from baton.sessions.records import Claim, HostRow
from baton.sessions.tasks import settle
from baton.sessions.writer import SessionWriter

log = logging.getLogger("baton.host")
DRAIN_WAIT_S = 30.0
"""How long a draining host waits for its sessions to stop."""
TAKEOVER_SCAN_S = 1.0
"""How often a host looks for sessions whose runner died (besides when told of a change)."""


@dataclass(frozen=True)
class HostLimits:
    """What one host takes on."""

    max_sessions: int = 100
    calls: CallLimits = field(default_factory=CallLimits)
    park_after_s: float = 10.0
    idle_exit_s: float | None = None
    lease_ttl_s: float = LEASE_TTL_S
    poll_s: float = 0.25

    def to_json(self) -> dict[str, object]:
        """As recorded in the host's row."""
        return {
            "max_sessions": self.max_sessions,
            **self.calls.to_json(),
            "park_after_s": self.park_after_s,
            "idle_exit_s": self.idle_exit_s,
            "lease_ttl_s": self.lease_ttl_s,
        }


@dataclass
class Hosted:
    """A session running on this host."""

    claim: Claim
    host: SessionHost
    task: asyncio.Task[str] | None = None
    blocked_since: float | None = None
    leaving: str | None = None
    """Why it is being let go: `parked` or `queued` (draining)."""


class RunnerHost:
    """Claims sessions from `store` and runs them until drained or idle for `limits.idle_exit_s`."""

    def __init__(
        self,
        store: SessionStore,
        limits: HostLimits | None = None,
        *,
        llm: LLMClient | None = None,
        config: Config | None = None,
        host_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.limits = limits or HostLimits()
        self.id = host_id or secrets.token_hex(4)
        self.env = fingerprint()
        self.config = config
        self.clock = clock
        self.started_at = clock()
        self.sessions: dict[str, Hosted] = {}
        self.parked = 0
        self.finished = 0
        self._inner = llm
        self._llm: LimitedLLM | None = None
        self._wake = asyncio.Event()
        self._mark: int | None = None
        self._draining = False
        self.ready = asyncio.Event()

    # --- the loop --------------------------------------------------------------------------------

    async def serve(self) -> None:
        """Run until drained (or idle for too long), then let every session go and leave the registry."""
        self._llm = LimitedLLM(self._inner or _gateway(), self.limits.calls)
        await self._llm.warm_up()
        await self._beat()
        self.ready.set()
        log.info("host %s serving %s", self.id, self.store.location)
        last_beat = last_scan = idle_since = time.monotonic()
        try:
            while not self._draining:
                now = time.monotonic()
                if now - last_scan >= TAKEOVER_SCAN_S or await self._queued():
                    last_scan = now
                    await self._claim()
                self._park_idle()
                if self.sessions:
                    idle_since = now
                elif self.limits.idle_exit_s is not None and now - idle_since >= self.limits.idle_exit_s:
                    log.info("host %s idle for %.0fs: exiting", self.id, self.limits.idle_exit_s)
                    break
                if now - last_beat >= self.limits.lease_ttl_s / 3:
                    last_beat = now
                    await settle(self._renew())
                    await settle(self._beat())
                await self._nap()
        finally:
            await settle(self._leave())

    def drain(self) -> None:
        """Stop claiming; let every session go (see the module's docstring), then return from `serve`."""
        self._draining = True
        self._wake.set()

    def wake(self) -> None:
        """Look at the queue now."""
        self._wake.set()

    async def _nap(self) -> None:
        """Until something is committed in the store (told by LISTEN/NOTIFY on PostgreSQL), `wake()`, or
        `poll_s`. The change mark carries over naps, so a commit made while the host was busy wakes it."""
        self._wake.clear()
        woken = asyncio.ensure_future(self._wake.wait())
        changed = asyncio.ensure_future(self.store.wait_for_change(None, self.limits.poll_s, self._mark))
        try:
            await asyncio.wait([woken, changed], timeout=self.limits.poll_s, return_when=asyncio.FIRST_COMPLETED)
            if changed.done() and not changed.cancelled() and changed.exception() is None:
                self._mark = changed.result()
        finally:
            await stop_tasks([woken, changed])

    async def _queued(self) -> bool:
        if len(self.sessions) >= self.limits.max_sessions:
            return False
        try:
            return await self.store.has_queued()
        except Exception:
            log.exception("reading the queue failed")
            return False

    async def _claim(self) -> None:
        room = self.limits.max_sessions - len(self.sessions)
        if room <= 0 or self._draining:
            return
        try:
            claims = await self.store.claim(self.id, room, self.limits.lease_ttl_s, env=self.env)
        except Exception:
            log.exception("claiming sessions failed")
            return
        for claim in claims:
            self._start(claim)

    def _start(self, claim: Claim) -> None:
        options = RunOptions.from_json(json.loads(claim.options)) if claim.options else None
        models = json.loads(claim.models) if claim.models else {}
        host = SessionHost(
            self.store,
            claim.session_id,
            llm=self._llm,
            options=options,
            config=self.config,
            models=models,
            token=claim.token,
            ttl=self.limits.lease_ttl_s,
        )
        hosted = Hosted(claim, host)
        if claim.session_id in self.sessions:
            log.error("host %s claimed session %s, which it already runs", self.id, claim.session_id)
        self.sessions[claim.session_id] = hosted
        hosted.task = asyncio.ensure_future(self._run(hosted))
        how = "took over" if claim.taken_over else "claimed"
        log.info("host %s %s session %s", self.id, how, claim.session_id)

    async def _run(self, hosted: Hosted) -> str:
        sid = hosted.claim.session_id
        status = "failed"
        try:
            status = await hosted.host.run_claimed()
        except asyncio.CancelledError:
            status = "released"
            raise
        except Exception as exc:
            log.exception("session %s failed on host %s", sid, self.id)
            if hosted.host.runner is None:  # it never started: say why in its record, not only in the log
                await settle(record_failure(self.store, sid, exc))
        finally:
            self.sessions.pop(sid, None)
            await settle(self._settle(hosted, status))
            self._wake.set()
        return status

    async def _settle(self, hosted: Hosted, status: str) -> None:
        sid = hosted.claim.session_id
        if hosted.host.lost:
            return  # another runner holds it now
        state = (hosted.leaving or "queued") if status == "released" else None
        writer = hosted.host.writer
        if status == "paused" and writer is not None and writer.view.open_checkpoints:
            state = "parked"  # it stopped for a person (unattended, or a budget): a decision brings it back
        try:
            await self.store.settle_work(sid, hosted.claim.token, state)
        except Exception:
            log.exception("settling session %s failed", sid)
            return
        if state == "parked":
            self.parked += 1
        log.info("session %s %s on host %s", sid, state or status, self.id)
        if state is None:
            self.finished += 1

    async def _renew(self) -> None:
        """Renew every session's lease in one go; a session whose lease another runner took stops."""
        held = {sid: h.claim.token for sid, h in self.sessions.items() if not h.host.lost}
        try:
            ours = await self.store.renew_leases(held, self.limits.lease_ttl_s)
        except Exception:
            log.exception("renewing the leases of host %s failed", self.id)
            return
        for sid in set(held) - ours:
            hosted = self.sessions.get(sid)
            if hosted is not None:
                hosted.host.lose()

    # --- parking ---------------------------------------------------------------------------------

    def _park_idle(self) -> None:
        now = time.monotonic()
        for hosted in list(self.sessions.values()):
            writer = hosted.host.writer
            if hosted.leaving or writer is None:
                continue
            if not writer.view.blocked_on_person:
                hosted.blocked_since = None
                continue
            if hosted.blocked_since is None:
                hosted.blocked_since = now
            elif now - hosted.blocked_since >= self.limits.park_after_s:
                hosted.leaving = "parked"
                hosted.host.release()

    # --- leaving ---------------------------------------------------------------------------------

    async def _leave(self) -> None:
        for hosted in list(self.sessions.values()):
            if hosted.leaving is None:
                writer = hosted.host.writer
                waiting = writer is not None and writer.view.blocked_on_person
                hosted.leaving = "parked" if waiting else "queued"
            hosted.host.release()
        tasks = {h.task: sid for sid, h in self.sessions.items() if h.task is not None}
        # a session still starting has no runner to release yet: its task is cancelled (nothing of it ran)
        for hosted in list(self.sessions.values()):
            if hosted.host.runner is None and hosted.task is not None:
                hosted.task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=DRAIN_WAIT_S)
            if stuck:  # sessions that would not stop in time: say where everything waits, then cut them off
                names = ", ".join(sorted(tasks[t] for t in stuck))
                log.error("sessions %s did not stop within %.0fs:\n%s", names, DRAIN_WAIT_S, task_stacks())
            await stop_tasks(list(stuck))
        with contextlib.suppress(Exception):
            await self.store.drop_host(self.id)
        log.info("host %s stopped", self.id)

    # --- the registry ----------------------------------------------------------------------------

    async def _beat(self) -> None:
        now = self.clock()
        llm = self._llm
        await self.store.beat_host(
            HostRow(
                id=self.id,
                pid=os.getpid(),
                machine=machine_name(),
                started_at=self.started_at,
                seen_at=now,
                expires_at=now + self.limits.lease_ttl_s,
                sessions=len(self.sessions),
                parked=self.parked,
                rss_bytes=resident_bytes(),
                cpu_s=round(time.process_time(), 3),
                load=round(os.getloadavg()[0], 2),
                calls=llm.in_flight if llm is not None else 0,
                limits=json.dumps(self.limits.to_json()),
                draining=int(self._draining),
                env=self.env,
            )
        )


def task_stacks() -> str:
    """Where every task of this process waits (for a host that seems stuck: SIGUSR1 logs it)."""
    where = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(file=where)
        awaited = getattr(task.get_coro(), "cr_await", None)
        while awaited is not None:  # follow the awaits down to the innermost coroutine
            inner = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if inner is not None:
                where.write(f"    awaiting {inner.f_code.co_qualname} at {inner.f_code.co_filename}:{inner.f_lineno}\n")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return where.getvalue()


async def record_failure(store: SessionStore, session_id: str, exc: Exception) -> None:
    """Record that a session could not start on a host (its workflow no longer loads, say)."""
    try:
        envelopes = await store.events(session_id)
        view = SessionView(session_id).apply_all(envelopes)
        writer = await SessionWriter(store, session_id, view).start()
        try:
            said = str(exc) if isinstance(exc, AppError | WorkflowInvalid) else f"{type(exc).__name__}: {exc}"
            error = default_redactor()(f"could not start on a runner host: {said}")
            await writer.commit([ev.SessionFailed(error=error, error_type="invalid")])
        finally:
            await writer.close()
    except Exception:
        log.exception("recording the failure of session %s failed", session_id)


def resident_bytes() -> int:
    """This process's resident memory."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _gateway() -> LLMClient:
    from baton.core.llm.gateway import LiteLLMGateway

    return LiteLLMGateway()
