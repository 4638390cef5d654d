"""A runner host in this process over a real SQLite file: it claims queued sessions and runs them as tasks,
parks a session that waits for a person and takes it back when the decision arrives, keeps one session's
failure to that session, holds model calls to the host's limits and per-model quotas, and drains without
a word in the record (the next host goes on from it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from baton.core import events as ev
from baton.core.commands import decide
from baton.core.llm.limited import CallLimits, LimitedLLM
from baton.core.llm.scripted import Reply, ScriptedLLM, prompt_of
from baton.core.llm.types import LLMRequest
from baton.core.runner import RunOptions
from baton.core.spec.load import load_workflow as load_file
from baton.sessions.app import Sessions
from baton.sessions.app.hosting import HostRunners
from baton.sessions.create import create_session
from baton.sessions.leases import runner_or_parked
from baton.sessions.runner_host import HostLimits, RunnerHost
from baton.sessions.store import Store

CHAIN = """\
name: chain
state:
  topic: {type: str}
  a: {type: str}
  b: {type: str}
inputs:
  topic: {default: "tides"}
models:
  fast: {model: scripted/fast}
  strong: {model: scripted/strong}
steps:
  - {id: first, kind: agent, model: fast, reads: [topic], writes: [a], prompt: "first {topic}"}
  - {id: second, kind: agent, model: strong, reads: [a], writes: [b], prompt: "second {a}"}
"""

GATED = """\
name: gated
state:
  topic: {type: str}
  a: {type: str}
  b: {type: str}
inputs:
  topic: {default: "tides"}
models:
  fast: {model: scripted/fast}
steps:
  - {id: first, kind: agent, model: fast, reads: [topic], writes: [a], prompt: "first {topic}"}
  - {id: check, kind: gate, reads: [a], message: "Go on?"}
  - {id: second, kind: agent, model: fast, reads: [a], writes: [b], prompt: "second {a}"}
"""


class Gauge:
    """How many model calls run at once, per model, and at most."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, request: LLMRequest) -> str | Reply:
        self.now[request.alias] = self.now.get(request.alias, 0) + 1
        self.peak[request.alias] = max(self.peak.get(request.alias, 0), self.now[request.alias])
        try:
            await self.release.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
            prompt = prompt_of(request)
            if "explode" in prompt:
                raise RuntimeError("a bug in the model client")
            return f"answer to {prompt[:30]}"
        finally:
            self.now[request.alias] -= 1


@pytest.fixture
def flows(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in (("chain", CHAIN), ("gated", GATED)):
        out[name] = tmp_path / f"{name}.yaml"
        out[name].write_text(text, encoding="utf-8")
    return out


@pytest.fixture
async def serving(store: Store) -> AsyncIterator[Callable[..., RunnerHost]]:
    """Start hosts on the store (as tasks); each is drained and awaited at the end."""
    running: list[tuple[RunnerHost, asyncio.Task[None]]] = []

    def start(llm: Any, **limits: Any) -> RunnerHost:
        host = RunnerHost(store, HostLimits(poll_s=0.02, **limits), llm=llm)
        running.append((host, asyncio.ensure_future(host.serve())))
        return host

    yield start
    for host, _ in running:
        host.drain()
    await asyncio.gather(*(task for _, task in running), return_exceptions=True)


async def new_session(store: Store, path: Path, topic: str = "tides", options: RunOptions | None = None) -> str:
    workflow = load_file(path)
    sid = await create_session(store, workflow, {"topic": topic}, options or RunOptions(), {})
    await store.enqueue(sid)
    return sid


async def until(check: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def status(store: Store, sid: str) -> str:
    return (await store.view(sid)).status


async def test_a_host_claims_queued_sessions_and_runs_them_at_once(store: Store, flows, serving) -> None:
    gauge = Gauge(delay=0.05)
    host = serving(ScriptedLLM(gauge))
    sids = [await new_session(store, flows["chain"], f"t{i}") for i in range(6)]

    async def all_done() -> bool:
        return all([await status(store, s) == "completed" for s in sids])

    await until(all_done, "every session to complete")
    assert gauge.peak["fast"] + gauge.peak.get("strong", 0) > 1, "sessions ran one after another"
    await until(lambda: _true_async(store), "finished sessions to leave the queue")
    assert host.finished == 6
    (row,) = await store.hosts()
    assert row.id == host.id and row.pid > 0


async def test_per_model_quota_and_host_call_limit_hold_across_sessions(store: Store, flows, serving) -> None:
    gauge = Gauge(delay=0.03)
    serving(ScriptedLLM(gauge), calls=CallLimits(max_calls=3, quotas={"strong": 1}))
    sids = [await new_session(store, flows["chain"], f"t{i}") for i in range(6)]

    async def all_done() -> bool:
        return all([await status(store, s) == "completed" for s in sids])

    await until(all_done, "every session to complete")
    assert gauge.peak["strong"] == 1, gauge.peak
    assert gauge.peak["fast"] <= 3


async def test_limited_llm_counts_waiting_calls() -> None:
    gauge = Gauge()
    gauge.release.clear()
    llm = LimitedLLM(ScriptedLLM(gauge), CallLimits(quotas={"fast": 1}))
    request = LLMRequest(model="scripted/fast", alias="fast", messages=[{"role": "user", "content": "hi"}])
    calls = [
        asyncio.ensure_future(llm.stream(request, lambda _t: None, first_token_s=5, idle_s=5)) for _ in range(3)
    ]
    await until(lambda: _true(llm.in_flight == 1 and llm.waiting == 2), "one call sent, two waiting")
    gauge.release.set()
    await asyncio.gather(*calls)
    assert (llm.in_flight, llm.waiting, gauge.peak["fast"]) == (0, 0, 1)


async def _true_async(store: Store) -> bool:
    return await store.work() == []


async def _true(value: bool) -> bool:
    return value


async def test_a_waiting_session_is_parked_and_a_decision_brings_it_back(store: Store, flows, serving) -> None:
    host = serving(ScriptedLLM(Gauge()), park_after_s=0.2)
    sid = await new_session(store, flows["gated"])

    async def parked() -> bool:
        rows = await store.work(sid)
        return bool(rows) and rows[0].state == "parked"

    await until(parked, "the session to be parked")
    assert not await store.runner_alive(sid), "a parked session holds no lease"
    assert await runner_or_parked(store, sid), "but it is in a host's care"
    assert host.sessions == {}
    events = await store.events(sid)
    assert not any(isinstance(e.event, ev.SessionPaused | ev.StepCancelled) for e in events), "parking is silent"

    app = Sessions(store, HostRunners(store.path))
    (cp,) = (await store.view(sid)).open_checkpoints
    decided = await app.decide(sid, decide(cp.checkpoint_id, "approve", by="tester"))
    assert not decided.queued
    await until(lambda: _is(store, sid, "completed"), "the session to complete")
    seqs = [e.seq for e in await store.events(sid)]
    assert seqs == list(range(1, len(seqs) + 1))
    finished = [e.event.step for e in await store.events(sid) if isinstance(e.event, ev.StepCompleted)]
    assert sorted(finished) == sorted(set(finished)), "no step ran twice"


async def _is(store: Store, sid: str, wanted: str) -> bool:
    return await status(store, sid) == wanted


async def test_one_sessions_failure_stays_in_that_session(store: Store, flows, serving) -> None:
    serving(ScriptedLLM(Gauge()))
    bad = await new_session(store, flows["chain"], "explode")
    # a session whose stored workflow no longer loads: it fails with the reason, the host goes on
    workflow = load_file(flows["chain"])
    broken = await create_session(store, workflow, {"topic": "x"}, RunOptions(), {})
    await store.transaction(
        lambda c: c.execute("UPDATE sessions SET workflow_text = 'steps: [' WHERE id = ?", (broken,))
    )
    await store.enqueue(broken)
    good = await new_session(store, flows["chain"], "fine too")
    await until(lambda: _is(store, good, "completed"), "the good session to complete")
    await until(lambda: _is(store, bad, "failed"), "the exploding session to fail")
    assert "a bug in the model client" in (await store.view(bad)).error
    await until(lambda: _is(store, broken, "failed"), "the broken session to fail")
    assert "chain.yaml:1:9: expected the node content" in (await store.view(broken)).error
    assert (await store.session(broken)).status == "failed"
    await until(lambda: _true_async(store), "the queue to empty")


async def test_draining_lets_sessions_go_unrecorded_for_the_next_host(store: Store, flows, serving) -> None:
    gauge = Gauge()
    gauge.release.clear()
    first = serving(ScriptedLLM(gauge))
    sid = await new_session(store, flows["chain"])
    await until(lambda: _true(gauge.now.get("fast", 0) == 1), "a model call in flight")
    first.drain()
    await until(lambda: _queued(store, sid), "the session back in the queue")
    assert not await store.runner_alive(sid)
    assert await store.hosts() == []
    gauge.release.set()
    serving(ScriptedLLM(gauge))
    await until(lambda: _is(store, sid, "completed"), "the next host to finish it")
    kinds = [type(e.event).__name__ for e in await store.events(sid)]
    assert "SessionPaused" not in kinds and "SessionCancelled" not in kinds
    assert kinds.count("SessionResumed") == 1


async def _queued(store: Store, sid: str) -> bool:
    rows = await store.work(sid)
    return bool(rows) and rows[0].state == "queued"


async def test_options_given_at_enqueue_reach_the_runner(store: Store, flows, serving) -> None:
    serving(ScriptedLLM(Gauge()))
    workflow = load_file(flows["gated"])
    sid = await create_session(store, workflow, {"topic": "x"}, RunOptions(), {})
    await store.enqueue(sid, json.dumps(RunOptions(auto="approve").to_json()))
    await until(lambda: _is(store, sid, "completed"), "the gate approved automatically")


async def test_a_decision_sent_by_an_attached_viewer_reaches_a_parked_session(store: Store, flows, serving) -> None:
    serving(ScriptedLLM(Gauge()), park_after_s=0.1)
    sid = await new_session(store, flows["gated"])
    app = Sessions(store, HostRunners(store.path))
    bus = await app.attach(sid)

    async def parked() -> bool:
        rows = await store.work(sid)
        return bool(rows) and rows[0].state == "parked"

    await until(parked, "the session to be parked")
    (cp,) = (await store.view(sid)).open_checkpoints
    await bus.send(decide(cp.checkpoint_id, "approve", by="tester"))
    await until(lambda: _is(store, sid, "completed"), "the session to complete")


STUCK = """\
name: stuck
state:
  topic: {type: str}
  out: {type: any}
inputs:
  topic: {default: "x"}
steps:
  - {id: hang, kind: tool, call: "stuck_tools:hang", side_effects: false, writes: [out]}
"""


async def test_a_tool_that_never_returns_stalls_only_its_session_and_a_drain_lets_it_go(
    store: Store, flows, serving, tmp_path: Path
) -> None:
    (tmp_path / "stuck_tools.py").write_text(
        "import threading\n\ndef hang():\n    threading.Event().wait()\n", encoding="utf-8"
    )
    stuck_flow = tmp_path / "stuck.yaml"
    stuck_flow.write_text(STUCK, encoding="utf-8")
    host = serving(ScriptedLLM(Gauge()))
    stuck = await new_session(store, stuck_flow)
    await until(lambda: _started(store, stuck, "hang"), "the tool to start")
    good = await new_session(store, flows["chain"], "fine")
    await until(lambda: _is(store, good, "completed"), "the other session to complete beside the stuck one")
    host.drain()
    await until(lambda: _queued(store, stuck), "the stuck session back in the queue")
    assert not await store.runner_alive(stuck)
    kinds = [type(e.event).__name__ for e in await store.events(stuck)]
    assert "SessionFailed" not in kinds and "SessionPaused" not in kinds


async def _started(store: Store, sid: str, step: str) -> bool:
    return any(isinstance(e.event, ev.StepStarted) and e.event.step == step for e in await store.events(sid))
