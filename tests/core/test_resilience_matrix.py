"""The fault matrix: every fault the fake provider can inject, through the real runner, store and gateway.

Each case asserts the action taken (retry / fallback / static / human / fail), the requests the server
received per model, the waits the runner asked its clock for, the step's timeline, the session status, that
no token is shown or recorded twice, and that the key is in no event, log line or database byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from baton.core import events as ev
from baton.core.llm.gateway import LiteLLMGateway
from baton.core.runner import RunOptions
from baton.sessions.store import Store
from tests.fakes.harness import (
    CANARY,
    Run,
    canary,
    captured_logs,
    db_bytes,
    fake,
    fake_flow,
    gateway,
    start,
)
from tests.fakes.openai_server import FakeOpenAI, Fault

__all__ = ["canary", "fake", "gateway"]

WORDS = "".join(f"w{i} " for i in range(12))


@dataclass
class Case:
    name: str
    faults: dict[str, list[Fault]]
    action: str
    requests: dict[str, int]
    waits: list[float]
    status: str
    timeline: str
    step: str = ""
    discarded: int = 0
    stalled: bool = False
    auto: str | None = None
    empty_first: bool = False
    answer_by: str = "fake-primary"
    notes: list[str] = field(default_factory=list)


P, B, G = "fake-primary", "fake-backup", "fake-big"
CASES = [
    Case(
        "429 Retry-After",
        {P: [Fault("rate_limit", retry_after=2)]},
        "retry",
        {P: 2},
        [2.0],
        "completed",
        "call ✗ 429 → retry 1 (wait 2.0s, Retry-After) ✓",
    ),
    Case(
        "500", {P: [Fault("server_error")]}, "retry", {P: 2}, [0.5], "completed", "call ✗ 500 → retry 1 (wait 0.5s) ✓"
    ),
    Case(
        "503 twice",
        {P: [Fault("unavailable"), Fault("unavailable")]},
        "retry",
        {P: 3},
        [0.5, 1.0],
        "completed",
        "call ✗ 503 → retry 1 (wait 0.5s) ✗ 503 → retry 2 (wait 1.0s) ✓",
    ),
    Case(
        "connection reset",
        {P: [Fault("reset")]},
        "retry",
        {P: 2},
        [0.5],
        "completed",
        "call ✗ connection error → retry 1 (wait 0.5s) ✓",
    ),
    Case(
        "stall before headers",
        {P: [Fault("stall_headers")]},
        "retry",
        {P: 2},
        [0.5],
        "completed",
        "call ✗ timeout 1s → retry 1 (wait 0.5s) ✓",
        stalled=True,
    ),
    Case(
        "stall before first chunk",
        {P: [Fault("stall_first")]},
        "retry",
        {P: 2},
        [0.5],
        "completed",
        "call ✗ timeout 1s → retry 1 (wait 0.5s) ✓",
        stalled=True,
    ),
    Case(
        "stall after 3 chunks",
        {P: [Fault("stall_after", after=3)]},
        "retry",
        {P: 2},
        [0.5],
        "completed",
        "call ✗ timeout 1s (partial discarded) → retry 1 (wait 0.5s) ✓",
        discarded=1,
        stalled=True,
    ),
    Case(
        "disconnect after 3 chunks",
        {P: [Fault("disconnect_after", after=3)]},
        "retry",
        {P: 2},
        [0.5],
        "completed",
        "call ✗ stream cut (partial discarded) → retry 1 (wait 0.5s) ✓",
        discarded=1,
    ),
    Case(
        "malformed chunk",
        {P: [Fault("malformed", after=3)]},
        "retry",
        {P: 2},
        [0.5],
        "completed",
        "call ✗ stream cut (partial discarded) → retry 1 (wait 0.5s) ✓",
        discarded=1,
    ),
    Case(
        "truncated stream",
        {P: [Fault("truncate_after", after=3)]},
        "retry",
        {P: 2},
        [0.5],
        "completed",
        "call ✗ stream cut (partial discarded) → retry 1 (wait 0.5s) ✓",
        discarded=1,
    ),
    Case(
        "empty answer",
        {},
        "retry",
        {P: 2},
        [0.5],
        "completed",
        "call ✗ invalid output → retry 1 (wait 0.5s) ✓",
        empty_first=True,
    ),
    Case(
        "401, no fallback",
        {P: [Fault("auth")]},
        "human",
        {P: 1},
        [],
        "paused",
        "call ✗ 401 → escalated to a person (auth)",
    ),
    Case(
        "401, --auto",
        {P: [Fault("auth")]},
        "fail",
        {P: 1},
        [],
        "failed",
        "call ✗ 401 → escalated to a person (auth)",
        auto="approve",
    ),
    Case(
        "401 with fallback",
        {P: [Fault("auth")]},
        "fallback",
        {P: 1, B: 1},
        [],
        "degraded",
        "call ✗ 401 → fallback backup ✓",
        step="fallback: [backup]",
        answer_by=B,
    ),
    Case(
        "404",
        {P: [Fault("not_found")]},
        "human",
        {P: 1},
        [],
        "paused",
        "call ✗ 404 → escalated to a person (not_found)",
    ),
    Case(
        "400",
        {P: [Fault("bad_request")]},
        "human",
        {P: 1},
        [],
        "paused",
        "call ✗ 400 → escalated to a person (bad_request)",
    ),
    Case(
        "context window → larger model",
        {P: [Fault("context_window")]},
        "fallback",
        {P: 1, B: 0, G: 1},
        [],
        "degraded",
        "call ✗ 400 → fallback big ✓",
        step="fallback: [backup, big]",
        answer_by=G,
    ),
    Case(
        "context window, none larger",
        {P: [Fault("context_window")]},
        "human",
        {P: 1, B: 0},
        [],
        "paused",
        "call ✗ 400 → escalated to a person (context_window)",
        step="fallback: [backup]",
    ),
    Case(
        "context window, static not used",
        {P: [Fault("context_window")]},
        "human",
        {P: 1},
        [],
        "paused",
        "call ✗ 400 → escalated to a person (context_window)",
        step='fallback_static: "n/a"',
    ),
    Case(
        "content policy",
        {P: [Fault("content_policy")]},
        "human",
        {P: 1, B: 0},
        [],
        "paused",
        "call ✗ 400 → escalated to a person (content_policy)",
        step="fallback: [backup]",
    ),
    Case(
        "503 × 3 → fallback",
        {P: [Fault("unavailable")] * 3},
        "fallback",
        {P: 3, B: 1},
        [0.5, 1.0],
        "degraded",
        "call ✗ 503 → retry 1 (wait 0.5s) ✗ 503 → retry 2 (wait 1.0s) ✗ 503 → fallback backup ✓",
        step="fallback: [backup]",
        answer_by=B,
    ),
    Case(
        "503 × 3 → static",
        {P: [Fault("unavailable")] * 3},
        "static",
        {P: 3},
        [0.5, 1.0],
        "degraded",
        "call ✗ 503 → retry 1 (wait 0.5s) ✗ 503 → retry 2 (wait 1.0s) ✗ 503 → fallback static result ✓",
        step='fallback_static: "a cached answer"',
        answer_by="",
    ),
    Case(
        "503 × 3, nothing left",
        {P: [Fault("unavailable")] * 3},
        "human",
        {P: 3},
        [0.5, 1.0],
        "paused",
        "call ✗ 503 → retry 1 (wait 0.5s) ✗ 503 → retry 2 (wait 1.0s) ✗ 503 → escalated to a person (server)",
    ),
    Case(
        "Retry-After over max_wait",
        {P: [Fault("rate_limit", retry_after=90)]},
        "fallback",
        {P: 1, B: 1},
        [],
        "degraded",
        "call ✗ 429 → fallback backup ✓",
        step="fallback: [backup]",
        answer_by=B,
    ),
]
MATRIX_IDS = [c.name for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=MATRIX_IDS)
async def test_fault_matrix(
    store: Store, db_path: Path, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str, case: Case
) -> None:
    for model, faults in case.faults.items():
        fake.fail(model, *faults)
    if case.empty_first:
        fake.reply(P, "")
    flow = fake_flow(fake, case.step)
    with captured_logs() as logs:
        run = await start(store, flow, gateway, RunOptions(auto=case.auto))
        if case.action == "human":
            cp = await run.session.checkpoint("write")
            assert cp.reason == "escalation"
            assert {"approve", "retry_model", "edit", "skip", "pause"} <= set(cp.options)
            assert cp.context["attempts"] == sum(case.requests.values())
            assert cp.context["category"] in cp.context["error"]
            assert cp.message and CANARY not in cp.message
            assert run.session.host.runner is not None
            await run.stop()
            status = (await run.session.view()).status
        else:
            status = await run.finish()
    view = await run.session.view()
    step = view.steps["write"]

    assert status == case.status == view.status, view.error
    assert {m: fake.count(m) for m in case.requests} == case.requests
    assert run.clock.sleeps == case.waits
    assert step.timeline_text == case.timeline
    _no_token_twice(run, fake, case)
    if case.stalled:
        gap = fake.seen[1].at - fake.seen[0].at
        assert 0.9 <= gap < 1.0 + 1.0, f"stalled attempt abandoned after {gap:.2f}s"
    if case.status == "degraded":
        assert step.status == "degraded"
        assert view.degraded
    if case.status in ("completed", "degraded") and case.answer_by:
        assert view.state["answer"] == WORDS
    elif case.action == "static":
        assert view.state["answer"] == "a cached answer"
    _key_nowhere(run, logs, db_path)


def _no_token_twice(run: Run, fake: FakeOpenAI, case: Case) -> None:
    """What a viewer showed per call equals what was recorded for it; the discarded partial is a separate
    call marked `discarded`; the accepted answer appears once, whole."""
    finished = run.recorder.of(ev.LLMCallFinished)
    assert len({f.call_id for f in finished}) == len(finished)
    discarded = [f for f in finished if f.status == "discarded"]
    assert len(discarded) == case.discarded
    for f in finished:
        assert run.recorder.shown(f.call_id) == f.text, f.status
    ok = [f for f in finished if f.status == "ok"]
    if case.status not in ("completed", "degraded"):
        assert ok == []
    elif case.answer_by:
        assert len(ok) == 1 and ok[0].text == WORDS and ok[0].model == f"openai/{case.answer_by}"
        for d in discarded:
            assert d.text == WORDS[: len(d.text)] and 0 < len(d.text) < len(WORDS)
        shown_live = "".join(t.text for t in run.recorder.live if t.call_id == ok[0].call_id)
        assert shown_live.count("w0 ") == 1
        completed = [e for e in run.recorder.of(ev.StepCompleted) if e.step == "write"]
        assert completed and completed[0].output == WORDS


def _key_nowhere(run: Run, logs: list[str], db: Path) -> None:
    for env in run.recorder.events:
        assert CANARY not in str(env.to_json())
    assert not [line for line in logs if CANARY in line]
    assert CANARY.encode() not in db_bytes(db)


async def test_the_timeline_of_the_issue(store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str) -> None:
    """`call ✗ timeout → retry 1 (wait 1.0s) ✗ 429 → retry 2 (wait 2.0s) ✓`, with backoff 1 s / 2 s, no jitter."""
    fake.fail(P, Fault("stall_first"), Fault("rate_limit"))
    flow = fake_flow(fake, "retry: {attempts: 3, backoff_s: [1, 2, 4], jitter: false}")
    run = await start(store, flow, gateway)
    assert await run.finish() == "completed"
    view = await run.session.view()
    assert view.steps["write"].timeline_text == "call ✗ timeout 1s → retry 1 (wait 1.0s) ✗ 429 → retry 2 (wait 2.0s) ✓"
    assert run.clock.sleeps == [1.0, 2.0]
    kinds = [type(e.event).__name__ for e in run.recorder.events if e.event.step == "write"]
    assert kinds.count("LLMCallStarted") == 3 and kinds.count("RetryScheduled") == 2


async def test_full_jitter_draws_within_the_backoff(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    """Full jitter: each wait is uniform(0, backoff[n]); the clock's draw fraction moves it within range."""
    from tests.fakes.harness import RecordingClock

    fake.fail(P, Fault("server_error"), Fault("server_error"))
    run = await start(store, fake_flow(fake), gateway, clock=RecordingClock(fraction=0.9))
    assert await run.finish() == "completed"
    assert run.clock.sleeps == [0.9, 1.8]


async def test_escalation_retry_after_the_fault_clears(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    """Layer 5 is never a dead end: 'approve' at an escalation retries the call (here it then succeeds)."""
    fake.fail(P, Fault("auth"))
    run = await start(store, fake_flow(fake), gateway)
    cp = await run.session.checkpoint("write")
    assert cp.context["attempts"] == 1
    assert "401" in cp.message and "1 attempt" in cp.message
    verdict = await run.session.decide(cp, "approve")
    assert verdict[0] == "done"
    assert await run.finish() == "completed"
    assert fake.count(P) == 2


async def test_escalation_to_another_model(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    fake.fail(P, Fault("content_policy"))
    run = await start(store, fake_flow(fake), gateway)
    cp = await run.session.checkpoint("write")
    assert cp.forecasts.keys() >= {"primary", "backup", "big"}
    await run.session.decide(cp, "retry_model", model="backup")
    assert await run.finish() == "completed"
    assert (fake.count(P), fake.count(B)) == (1, 1)


async def test_escalation_skip_is_never_plain_success(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    """A person skips the failed step (supplying its value): the session ends degraded, not completed."""
    fake.fail(P, Fault("not_found"))
    run = await start(store, fake_flow(fake), gateway)
    cp = await run.session.checkpoint("write")
    await run.session.decide(cp, "skip", supplied={"answer": "written by hand"})
    assert await run.finish() == "degraded"
    view = await run.session.view()
    assert view.status == "degraded" and view.state["answer"] == "written by hand"
