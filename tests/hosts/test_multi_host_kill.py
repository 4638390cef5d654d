"""Several machines, one PostgreSQL database, one of them killed: every session still ends, once.

Two `baton host` processes run on two simulated machines (`netns.py`: a network namespace, a veth link to
the server and a host name each), both against one database reached over their links with the password.
Fifty sessions of `flows/fanout.yaml` are queued: each fans out into three agents that call a side-effecting
tool twice (`approval: never`; every run appends its idempotency key, machine and pid to one shared file),
then a last agent that calls it twice more. The hosts take at most a few sessions each, so others wait in
the queue. When one host holds a session with committed steps while others have none yet (ideally while
one of its calls is under way), the test SIGKILLs that host's whole process group. The survivor takes the
dead host's sessions over once their three-second leases expire; a call whose intent committed without its
result stops its session for a person, answered with the real `baton decide … approve` from the survivor's
machine (then `baton resume --detach` when decide says the paused session waits for one). Then:

- every session completed, its event sequence numbers contiguous from 1;
- no committed step ran again: a step path completes once, and starts again only after a resume while it
  was unfinished; a model turn whose answer committed is never asked again;
- every tool call whose result committed ran exactly once; a call ran twice only when its intent was left
  open by the kill and a person said to run it again — and then first on the dead host;
- the dead host's unfinished sessions were resumed by the survivor, whose machine ran every call after the
  kill; the survivor still drains on SIGTERM;
- nothing a host printed or wrote in its machine's home holds the database password.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from baton.core.runner import RunOptions
from baton.core.spec.load import load_workflow
from baton.sessions.create import create_session
from baton.sessions.open import open_store
from tests.conftest import ROOT, baton_env
from tests.hosts.netns import Machine, Machines, link_dsn, link_server, machines
from tests.sessions.pg_server import PASSWORD, PgServer

FLOW = Path(__file__).resolve().parent / "flows" / "fanout.yaml"
SESSIONS = 50
PARTS = ("north", "south", "east")
CALLS_PER_SESSION = 2 * len(PARTS) + 2
HOSTNAMES = ("host-a", "host-b")
LEASE_TTL_S = 3
MAX_SESSIONS = 12
"""Sessions one host runs at once: two hosts cannot take all fifty, so some wait in the queue."""
READY_S = 120
KILL_S = 180
FINISH_S = 300
DRAIN_S = 60
STOP_S = 10
OPEN_INTENT_GRACE_S = 3.0
"""How long the kill waits for a moment when the victim has a tool call under way, once the rest holds."""
POLL_S = 0.02
T = TypeVar("T")
READY = re.compile(r"^host (\S+) ready$")
BATON = [sys.executable, "-m", "baton.tui.cli"]


# --- hosts -----------------------------------------------------------------------------------------


@dataclass
class Host:
    """A `baton host` process on a machine; its stdout lines as they come, its stderr in a file."""

    machine: Machine
    proc: subprocess.Popen[bytes]
    log: Path
    lines: list[str] = field(default_factory=list)
    host_id: str = ""

    def read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def ready(self) -> bool:
        for line in self.lines:
            found = READY.match(line)
            if found:
                self.host_id = found.group(1)
                return True
        return False

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.machine.hostname} (exit {self.proc.poll()}):\n" + "\n".join(
            self.lines[-10:] + text.splitlines()[-lines:]
        )


def start_host(group: Machines, machine: Machine, env: dict[str, str], logs: Path) -> Host:
    """`baton host` on `machine`, with its store (URL and password) given in the environment only."""
    argv = [*BATON, "host", "--lease-ttl", str(LEASE_TTL_S), "--max-sessions", str(MAX_SESSIONS), "--idle-exit", "900"]
    log = logs / f"{machine.hostname}.stderr"
    with open(log, "wb") as err:
        proc = group.spawn(machine, argv, env, stdout=subprocess.PIPE, stderr=err, cwd=ROOT)
    host = Host(machine, proc, log)
    threading.Thread(target=host.read, daemon=True).start()
    return host


def machine_env(home: Path, machine: Machine, dsn: str, counter: Path) -> dict[str, str]:
    """A machine's environment: a home of its own, the database over its link, the shared counter file."""
    env = baton_env(home / machine.hostname, Path("unused.db"), HOSTS_COUNTER=str(counter))
    env["BATON_DB"] = dsn
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONFAULTHANDLER"] = "1"
    return env


def wait_until(
    what: str,
    check: Callable[[], T | None],
    timeout: float,
    hosts: list[Host],
    explain: Callable[[], str] = str,
    watched: list[Host] | None = None,
) -> T:
    """Poll `check` until it gives something; fail with the output of the `watched` hosts (default: `hosts`)
    and `explain()` when one of `hosts` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        dead = [h for h in hosts if h.proc.poll() is not None]
        if dead or time.monotonic() > deadline:
            why = "a host exited" if dead else f"not within {timeout:.0f}s"
            raise AssertionError(f"{what}: {why}\n{explain()}\n" + "\n".join(h.tail() for h in watched or hosts))
        time.sleep(POLL_S)


# --- the record ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One committed event."""

    seq: int
    ts: float
    kind: str
    step: str
    payload: dict[str, Any]


KILL_KINDS = ("StepCompleted", "SessionCompleted", "SessionFailed", "ToolCallIntent", "ToolCallFinished")


def read_events(conn: psycopg.Connection[Any], kinds: tuple[str, ...] = ()) -> dict[str, list[Row]]:
    """Every session's committed events (only `kinds`, when given), in order."""
    sql = "SELECT session_id, seq, ts, kind, step, payload FROM events"
    params: tuple[Any, ...] = ()
    if kinds:
        sql, params = sql + " WHERE kind = ANY(%s)", (list(kinds),)
    found: dict[str, list[Row]] = {}
    for sid, seq, ts, kind, step, payload in conn.execute(sql + " ORDER BY session_id, seq", params).fetchall():
        found.setdefault(sid, []).append(Row(seq, ts, kind, step, json.loads(payload)))
    return found


def leases(conn: psycopg.Connection[Any]) -> dict[str, tuple[str, int]]:
    """Session → (machine, pid) of its live lease."""
    rows = conn.execute("SELECT session_id, host, pid FROM leases WHERE expires_at > %s", (time.time(),)).fetchall()
    return {sid: (host, pid) for sid, host, pid in rows}


def open_intents(rows: list[Row]) -> set[str]:
    """Keys of side-effecting calls whose intent committed without a result."""
    intents = {r.payload["idempotency_key"] for r in rows if r.kind == "ToolCallIntent"}
    return intents - {r.payload["idempotency_key"] for r in rows if r.kind == "ToolCallFinished"}


def outline(rows: list[Row]) -> str:
    """Events in brief, for a failure's message."""
    return " ".join(f"{r.seq}:{r.kind}:{r.step}" for r in rows)


def finished(rows: list[Row]) -> bool:
    return any(r.kind in ("SessionCompleted", "SessionFailed") for r in rows)


def counted(path: Path) -> list[tuple[str, str, int]]:
    """(idempotency key, machine, pid) of every run of the tool, in order."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(key, machine, int(pid)) for key, machine, pid in (line.split() for line in lines if line.strip())]


# --- the test --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> PgServer:
    return link_server()


@pytest.fixture
def two() -> Iterator[Machines]:
    with machines(len(HOSTNAMES), HOSTNAMES) as group:
        yield group


@dataclass
class Kill:
    """What the kill left behind."""

    victim: Host
    survivor: Host
    held: set[str]
    """Sessions the victim held, unfinished."""
    intents: set[str]
    """Calls of the victim's sessions under way."""
    rows: dict[str, list[Row]]
    counted: int


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_host_killed_mid_run_leaves_every_session_to_the_survivor_with_nothing_run_twice_silently(
    two: Machines, server: PgServer, private_home: Path, tmp_path: Path
) -> None:
    database = server.create_database()  # the test's own URL: the unix socket
    counter = tmp_path / "counter"
    envs = {m.hostname: machine_env(private_home, m, link_dsn(server, database, m), counter) for m in two.machines}
    hosts = [start_host(two, m, envs[m.hostname], tmp_path) for m in two.machines]
    wait_until("the hosts said they were ready", lambda: all(h.ready() for h in hosts) or None, READY_S, hosts)
    assert len({h.host_id for h in hosts}) == len(hosts)

    ids = asyncio.run(queue_sessions(database))
    with psycopg.connect(database, autocommit=True) as conn:
        kill = kill_mid_run(conn, hosts, ids, counter)
        decided = finish(conn, two, kill, envs[kill.survivor.machine.hostname], ids)
        rows = read_events(conn)
    check(ids, rows, kill, decided, counter)
    print(
        f"killed {kill.victim.machine.hostname} holding {len(kill.held)} unfinished sessions,"
        f" {len(kill.intents)} calls under way; {len(decided)} ambiguous calls decided by a person;"
        f" {len(counted(counter)) - SESSIONS * CALLS_PER_SESSION} calls ran twice"
    )
    for host in hosts:
        files = [host.log, *(p for p in (private_home / host.machine.hostname).rglob("*") if p.is_file())]
        text = "\n".join(host.lines + [f.read_text(errors="replace") for f in files])
        assert PASSWORD not in text, f"{host.machine.hostname} showed the database password"
    drain(kill.survivor)


def drain(host: Host) -> None:
    """SIGTERM: the host lets its sessions go and exits 0 (one that hangs shows its threads' stacks)."""
    host.proc.send_signal(signal.SIGTERM)
    try:
        wait_until("the survivor drained on SIGTERM", host.proc.poll, DRAIN_S, [], watched=[host])
    except AssertionError:
        host.proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        host.proc.wait(STOP_S)
        raise AssertionError(f"the survivor did not drain within {DRAIN_S}s: {host.tail(120)}") from None
    assert host.proc.returncode == 0, host.tail()


async def queue_sessions(database: str) -> list[str]:
    """Record the sessions and queue them for the hosts."""
    workflow = load_workflow(FLOW)
    store = await open_store(database)
    try:
        ids = []
        for n in range(SESSIONS):
            inputs = {"tag": f"s{n}", "parts": list(PARTS)}
            ids.append(await create_session(store, workflow, inputs, RunOptions(auto="approve")))
            await store.enqueue(ids[-1])
        return ids
    finally:
        await store.close()


def kill_mid_run(conn: psycopg.Connection[Any], hosts: list[Host], ids: list[str], counter: Path) -> Kill:
    """SIGKILL a host holding a session with committed steps while other sessions have none yet, preferably
    while one of its calls is under way."""
    since: list[float] = []

    def victim() -> Host | None:
        rows, held = read_events(conn, KILL_KINDS), leases(conn)
        stepped = {sid for sid in ids if any(r.kind == "StepCompleted" for r in rows.get(sid, []))}
        if len(stepped) == len(ids):
            return None
        candidates: list[tuple[bool, Host]] = []
        for host in hosts:
            mine = {sid for sid, (machine, _) in held.items() if machine == host.machine.hostname}
            if any(sid in stepped and not finished(rows[sid]) for sid in mine):
                candidates.append((any(open_intents(rows.get(sid, [])) for sid in mine), host))
        if not candidates:
            return None
        since.append(time.monotonic())
        busy = [host for under_way, host in candidates if under_way]
        if busy:
            return busy[0]
        return candidates[0][1] if time.monotonic() - since[0] > OPEN_INTENT_GRACE_S else None

    host = wait_until("a host holds a session part done while others have no step done", victim, KILL_S, hosts)
    os.killpg(host.proc.pid, signal.SIGKILL)
    host.proc.wait(30)
    rows, held = read_events(conn), leases(conn)
    mine = {sid for sid, (machine, _) in held.items() if machine == host.machine.hostname}
    intents: set[str] = set()
    for sid in mine:
        intents |= open_intents(rows.get(sid, []))
    survivor = next(h for h in hosts if h is not host)
    held_unfinished = {sid for sid in mine if not finished(rows.get(sid, []))}
    return Kill(host, survivor, held_unfinished, intents, rows, len(counted(counter)))


def finish(
    conn: psycopg.Connection[Any], group: Machines, kill: Kill, env: dict[str, str], ids: list[str]
) -> dict[str, str]:
    """Wait for every session to end, answering each ambiguous call as a person would, with the real
    `baton decide` on the survivor's machine; returns {idempotency key: checkpoint} of those answered."""
    decided: dict[str, str] = {}

    def ended() -> bool | None:
        kinds = ("CheckpointOpened", "DecisionMade", "SessionPaused", "SessionResumed", "SessionCompleted")
        rows = read_events(conn, (*kinds, "SessionFailed"))
        parked = {sid for (sid,) in conn.execute("SELECT session_id FROM work WHERE state = 'parked'").fetchall()}
        held = leases(conn)
        for sid in ids:
            mine = rows.get(sid, [])
            failed = [r.payload for r in mine if r.kind == "SessionFailed"]
            assert not failed, f"session {sid} failed: {failed}"
            answered = {r.payload["checkpoint_id"] for r in mine if r.kind == "DecisionMade"}
            asked = [
                r.payload
                for r in mine
                if r.kind == "CheckpointOpened" and r.payload["checkpoint_id"] not in answered | set(decided.values())
            ]
            assert all(a["reason"] == "ambiguous" for a in asked), f"session {sid} asked a person: {asked}"
            turns = [r.kind for r in mine if r.kind in ("SessionPaused", "SessionResumed")]
            if asked and sid not in held and (sid in parked or turns[-1:] == ["SessionPaused"]):
                answer(sid, asked)  # once its host let it go
        return all(finished(rows.get(sid, [])) for sid in ids) or None

    def answer(sid: str, asked: list[dict[str, Any]]) -> None:
        """Approve every ambiguous call a waiting session asks about; resume it when decide says it waits
        for that (it paused rather than parked)."""
        queued = False
        for payload in asked:
            cp = payload["checkpoint_id"]
            before = state_of(sid)
            done = group.run(kill.survivor.machine, [*BATON, "decide", sid, cp, "approve"], env, timeout=120)
            assert done.returncode == 0, f"{done.stdout}{done.stderr}before: {before}\nafter: {state_of(sid)}"
            decided[str(payload["context"]["idempotency_key"])] = cp
            queued = queued or " queued " in done.stdout
        if queued:
            done = group.run(kill.survivor.machine, [*BATON, "resume", sid, "--detach"], env, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr

    def state_of(sid: str) -> str:
        work = conn.execute("SELECT state, host_id FROM work WHERE session_id = %s", (sid,)).fetchall()
        lease = conn.execute("SELECT host, pid, expires_at - %s FROM leases WHERE session_id = %s", (time.time(), sid))
        tail = outline(read_events(conn).get(sid, [])[-8:])
        return f"queue {work}, lease {lease.fetchall()}, events ... {tail}"

    def unfinished() -> str:
        rows = read_events(conn)
        work = {sid: state for sid, state in conn.execute("SELECT session_id, state FROM work").fetchall()}
        return "\n".join(
            f"session {sid} (queue: {work.get(sid, 'none')}): ... "
            + outline(rows.get(sid, [])[-6:])
            for sid in ids
            if not finished(rows.get(sid, []))
        )

    wait_until("every session ended", ended, FINISH_S, [kill.survivor], unfinished)
    return decided


def check(ids: list[str], rows: dict[str, list[Row]], kill: Kill, decided: dict[str, str], counter: Path) -> None:
    """What must hold once every session ended (see the module's docstring)."""
    assert set(rows) == set(ids)
    results: set[str] = set()
    for sid in ids:
        mine = rows[sid]
        assert [r.seq for r in mine] == list(range(1, len(mine) + 1)), f"session {sid}: sequence has gaps"
        ends = [r for r in mine if r.kind == "SessionCompleted"]
        assert len(ends) == 1 and ends[0].payload["status"] == "completed", (
            f"session {sid} ended {[e.payload['status'] for e in ends]}: ... {outline(mine[-12:])}"
        )
        check_steps(sid, mine)
        done = {r.payload["idempotency_key"] for r in mine if r.kind == "ToolCallFinished" and r.payload["ok"]}
        assert len(done) == CALLS_PER_SESSION, f"session {sid}: {len(done)} calls with a result"
        results |= done
    runs = counted(counter)
    by_key: dict[str, list[tuple[str, int]]] = {}
    for key, machine, pid in runs:
        by_key.setdefault(key, []).append((machine, pid))
    assert set(by_key) == results, "the calls that ran are not the calls with a result"
    dead = (kill.victim.machine.hostname, kill.victim.proc.pid)
    for key, where in by_key.items():
        if len(where) == 1:
            continue
        assert key in decided, f"'{key}' ran {len(where)} times ({where}) and nobody was asked"
        assert len(where) == 2 and where[0] == dead, f"ambiguous '{key}' ran at {where}"
    silent = kill.intents - set(decided)
    assert not silent, f"calls under way at the kill not put to a person: {silent}"
    after = runs[kill.counted :]
    survivor = kill.survivor.machine.hostname
    assert all(machine == survivor for _, machine, _ in after), "a call ran after the kill off the survivor"
    assert kill.held, "the killed host held no unfinished session"
    for sid in kill.held:
        late = [r for r in rows[sid] if r.seq > len(kill.rows.get(sid, []))]
        resumed = [r.payload for r in late if r.kind == "SessionResumed"]
        assert resumed and all(p["pid"] == kill.survivor.proc.pid for p in resumed), (
            f"session {sid} of the killed host was not resumed by the survivor: {resumed}"
        )


def check_steps(sid: str, mine: list[Row]) -> None:
    """A completed step never starts or completes again; a step starts again only after a resume; a model
    turn answered is never asked again."""
    completed: set[str] = set()
    started: dict[str, int] = {}
    resumes = [r.seq for r in mine if r.kind == "SessionResumed"]
    turns: Counter[tuple[str, int]] = Counter()
    for r in mine:
        if r.kind == "StepStarted":
            assert r.step not in completed, f"session {sid}: '{r.step}' started again after it completed"
            if r.step in started:
                assert any(started[r.step] < seq < r.seq for seq in resumes), (
                    f"session {sid}: '{r.step}' started twice with no resume between"
                )
            started[r.step] = r.seq
        elif r.kind == "StepCompleted":
            assert r.step not in completed, f"session {sid}: '{r.step}' completed twice"
            completed.add(r.step)
        elif r.kind == "LLMCallFinished" and r.payload.get("status", "ok") == "ok" and not r.payload.get("replayed"):
            turns[(r.step, int(r.payload.get("turn", 0)))] += 1
    again = {turn: n for turn, n in turns.items() if n > 1}
    assert not again, f"session {sid}: model turns answered more than once: {again}"
