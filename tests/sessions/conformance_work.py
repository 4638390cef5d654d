# ruff: noqa: F811 - the fixtures are imported by name from the store conformance suite
"""What every session store must do for the runner hosts: the queue (enqueue, claim with leases, settle,
park and unpark, take over a dead host's sessions) and the hosts' registry, against SQLite, memory and
PostgreSQL (the fixtures of `tests.sessions.conformance`)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

from baton.core.commands import decide
from baton.sessions.host_env import PIN_S
from baton.sessions.interface import SessionStore
from baton.sessions.leases import LeaseOwner, drop, runner_or_parked
from baton.sessions.records import HostRow
from tests.sessions.conformance import T0, Clock, backend, clock, new_session, other, store  # noqa: F401

ELSEWHERE = LeaseOwner(4242, socket.gethostname() + "-elsewhere")


def dead_pid() -> int:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(finished.stdout)


async def test_a_queued_session_is_claimed_once_with_its_lease_and_options(
    store: SessionStore, other: SessionStore, clock: Clock
) -> None:
    first, second = await new_session(store, "a"), await new_session(store, "b")
    assert not await other.has_queued()
    assert await store.enqueue(first, '{"auto": "approve"}', '{"fast": "mock/x"}')
    assert await other.has_queued()
    clock.advance(1)
    assert await store.enqueue(second)
    assert not await other.enqueue(first), "a queued session is not queued twice"
    (claim,) = await store.claim("h1", 1, ttl=15)
    assert (claim.session_id, claim.options, claim.models, claim.taken_over) == (
        first,
        '{"auto": "approve"}',
        '{"fast": "mock/x"}',
        False,
    )
    assert await store.runner_alive(first) and await other.runner_alive(first)
    (row,) = await other.work(first)
    assert (row.state, row.host_id) == ("running", "h1")
    assert not await other.enqueue(first), "a session a live host runs is not queued again"
    (claim2,) = await other.claim("h2", 5, ttl=15)
    assert claim2.session_id == second, "the other host gets the other session"
    assert not await store.has_queued(), "both sessions run: nothing waits in the queue"
    assert await other.claim("h2", 5) == []


async def test_claims_at_the_same_moment_never_share_a_session(store: SessionStore, other: SessionStore) -> None:
    sids = [await new_session(store, f"s{i}") for i in range(12)]
    for sid in sids:
        await store.enqueue(sid)
    got = await asyncio.gather(*(handle.claim(f"h{i}", 4) for i, handle in enumerate((store, other, store, other))))
    claimed = [c.session_id for claims in got for c in claims]
    assert sorted(claimed) == sorted(sids)


async def test_settling_releases_the_lease_and_drops_parks_or_requeues_the_row(
    store: SessionStore, clock: Clock
) -> None:
    done, parked, queued = [await new_session(store, n) for n in "abc"]
    for sid in (done, parked, queued):
        await store.enqueue(sid)
        clock.advance(1)
    claims = {c.session_id: c for c in await store.claim("h1", 3)}
    assert await store.settle_work(done, claims[done].token, None)
    assert await store.settle_work(parked, claims[parked].token, "parked")
    assert await store.settle_work(queued, claims[queued].token, "queued")
    assert not await store.settle_work(queued, claims[queued].token, None), "a lease settled is no longer held"
    assert [(w.session_id, w.state) for w in await store.work()] == [(parked, "parked"), (queued, "queued")]
    assert not any([await store.runner_alive(s) for s in (done, parked, queued)])
    assert await runner_or_parked(store, parked) and not await runner_or_parked(store, done)
    assert [c.session_id for c in await store.claim("h2", 5)] == [queued], "a parked session is not claimed"
    assert await store.unpark(parked) and not await store.unpark(parked)
    assert [c.session_id for c in await store.claim("h2", 5)] == [parked]


async def test_parking_a_session_with_a_decision_waiting_queues_it_instead(store: SessionStore) -> None:
    sid = await new_session(store)
    await store.enqueue(sid)
    (claim,) = await store.claim("h1", 1)
    await store.send(sid, decide("check:gate:1", "approve"))
    assert await store.settle_work(sid, claim.token, "parked")
    assert [w.state for w in await store.work(sid)] == ["queued"]


async def test_a_dead_hosts_sessions_are_taken_over(store: SessionStore, clock: Clock) -> None:
    here, there = await new_session(store, "here"), await new_session(store, "there")
    await store.enqueue(here)
    await store.enqueue(there)
    (mine,) = await store.claim("dead-here", 1, owner=LeaseOwner(dead_pid(), socket.gethostname()))
    (theirs,) = await store.claim("elsewhere", 1, ttl=30, owner=ELSEWHERE)
    assert {mine.session_id, theirs.session_id} == {here, there}
    (taken,) = await store.claim("h2", 5)
    assert (taken.session_id, taken.taken_over) == (mine.session_id, True), "a dead local host's, at once"
    assert await store.enqueue(mine.session_id) is False, "it runs again, on a live host"
    clock.advance(31)
    (late,) = await store.claim("h2", 5)
    assert (late.session_id, late.taken_over) == (theirs.session_id, True), "another machine's, once it expired"
    drop(taken.token)
    drop(late.token)


async def test_a_session_whose_host_died_may_be_queued_again(store: SessionStore) -> None:
    sid = await new_session(store)
    await store.enqueue(sid)
    await store.claim("dead", 1, owner=LeaseOwner(dead_pid(), socket.gethostname()))
    assert await store.enqueue(sid, '{"auto": "reject"}')
    (claim,) = await store.claim("h2", 1)
    assert claim.options == '{"auto": "reject"}'


async def test_deleting_a_session_removes_its_queue_row(store: SessionStore) -> None:
    sid = await new_session(store)
    await store.enqueue(sid)
    await store.delete_session(sid)
    assert await store.work() == []


async def test_hosts_are_listed_while_alive(store: SessionStore, other: SessionStore, clock: Clock) -> None:
    me = HostRow("mine", os.getpid(), socket.gethostname(), T0, T0, T0 + 15, sessions=3, rss_bytes=1 << 20)
    gone = HostRow("gone", dead_pid(), socket.gethostname(), T0, T0, T0 + 15)
    far = HostRow("far", 4242, ELSEWHERE.host, T0 + 1, T0 + 1, T0 + 16, limits='{"max_sessions": 5}')
    for row in (me, gone, far):
        await store.beat_host(row)
    assert [h.id for h in await other.hosts()] == ["mine", "far"]
    assert (await other.hosts())[0] == me
    clock.advance(20)
    assert [h.id for h in await other.hosts()] == ["mine"], "a host on another machine lives while it renews"
    await store.beat_host(HostRow("far", 4242, ELSEWHERE.host, T0 + 1, T0 + 20, T0 + 35))
    assert [h.id for h in await other.hosts()] == ["mine", "far"]
    await store.drop_host("mine")
    assert [h.id for h in await other.hosts()] == ["far"]


async def test_unparking_only_wakes_a_parked_session(store: SessionStore) -> None:
    sid = await new_session(store)
    assert not await store.unpark(sid)
    await store.enqueue(sid)
    assert not await store.unpark(sid), "a queued session is not parked"
    (claim,) = await store.claim("h", 1)
    await store.settle_work(sid, claim.token, "parked")
    assert await store.unpark(sid)


async def test_a_host_renews_all_its_leases_at_once_and_learns_which_it_lost(
    store: SessionStore, other: SessionStore, clock: Clock
) -> None:
    kept, lost = await new_session(store, "kept"), await new_session(store, "lost")
    for sid in (kept, lost):
        await store.enqueue(sid)
    claims = {c.session_id: c.token for c in await store.claim("h1", 2, ttl=10, owner=ELSEWHERE)}
    clock.advance(11)
    theirs = await other.acquire_lease(lost)  # the lease lapsed: another runner took it
    ours = await store.renew_leases(claims, ttl=10)
    assert ours == {kept}, "a lapsed lease nobody took is still the host's; a taken one is not"
    assert (await store.lease(kept)).expires_at == clock.now + 10
    assert await store.renew_leases({}, ttl=10) == set()
    await other.release_lease(lost, theirs)


async def test_a_session_waits_a_moment_for_a_host_with_its_environment(store: SessionStore, clock: Clock) -> None:
    sid = await new_session(store)
    await store.enqueue(sid, env="env-a")
    assert await store.claim("other", 1, env="env-b") == [], "a host started elsewhere waits its turn"
    busy = HostRow("busy-a", 4242, ELSEWHERE.host, T0, T0, T0 + PIN_S + 30, env="env-a")
    await store.beat_host(busy)
    clock.advance(PIN_S + 1)
    assert await store.claim("other", 1, env="env-b") == [], "while a host with its environment lives"
    clock.advance(30)
    (claim,) = await store.claim("other", 1, env="env-b")
    assert claim.session_id == sid, "after the wait, any host runs it"
    await store.settle_work(sid, claim.token, "queued")
    await store.enqueue(sid, env="env-a")
    (claim,) = await store.claim("same", 1, env="env-a")
    assert claim.session_id == sid
    await store.settle_work(sid, claim.token, None)
