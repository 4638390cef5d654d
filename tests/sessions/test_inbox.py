"""The inbox across sessions on a real SQLite store: every waiting checkpoint, oldest first, with its session,
workflow, step, question, cost and wait; approving from it applies the decision (runner alive) or queues it
(no runner), recorded as made by the person."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from baton.core.commands import decide
from baton.sessions.app import Sessions
from baton.sessions.app.inbox import InboxItem, approve, same_as, waiting
from baton.sessions.errors import AppError
from baton.sessions.store import Store
from tests.helpers import Session
from tests.tui.drive import GATED, REVIEWED


async def listed(store: Store, count: int, clock: Callable[[], float] | None = None) -> list[InboxItem]:
    """The inbox once it lists `count` checkpoints (the projection is written just after the events)."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        items = await waiting(store, clock)
        if len(items) == count:
            return items
        assert asyncio.get_running_loop().time() < deadline, f"the inbox lists {len(items)}, not {count}"
        await asyncio.sleep(0.02)


async def test_every_waiting_checkpoint_of_every_session_oldest_first(store: Store) -> None:
    first = await Session.start(store, REVIEWED)
    await first.checkpoint("draft")
    second = await Session.start(store, GATED)
    await second.checkpoint("approve_draft")
    third = await Session.start(store, REVIEWED)
    await third.checkpoint("draft")
    items = await listed(store, 3, clock=lambda: 4_000_000_000.0)
    assert [(i.session_id, i.step) for i in items] == [
        (first.id, "draft"),
        (second.id, "approve_draft"),
        (third.id, "draft"),
    ]
    assert [i.workflow for i in items] == ["reviewed", "gated", "reviewed"]
    assert [i.asked for i in items] == ["review", "gate", "review"]
    assert all(i.runner for i in items)
    assert all(i.waited_s > 1_000_000 for i in items)
    assert items[0].opened_at <= items[1].opened_at <= items[2].opened_at
    row = await store.session(first.id)
    assert items[0].cost_usd == row.cost_usd
    record = items[0].record()
    assert record["session_id"] == first.id and record["decision"] == "applied" and "approve" in record["options"]
    assert [i.session_id for i in same_as(items, items[0])] == [first.id, third.id]

    outcomes = await approve(Sessions(store), [items[0], items[2]], by="ann")
    assert all(not isinstance(o, AppError) and not o.queued for o in outcomes)
    for session in (first, third):
        assert await session.finish() == "completed"
        view = await session.view()
        assert view.checkpoints["draft:review:1"].decision is not None
        assert view.checkpoints["draft:review:1"].decision.by == "ann"
    left = await listed(store, 1)
    assert [(i.session_id, i.step) for i in left] == [(second.id, "approve_draft")]
    await second.decide(left[0].checkpoint, "approve")
    assert await second.finish() == "completed"
    await listed(store, 0)


async def test_a_session_without_a_runner_gets_its_decision_queued(store: Store) -> None:
    session = await Session.start(store, REVIEWED)
    cp = await session.checkpoint("draft")
    await session.decide(cp, "pause")
    assert await session.finish() == "paused"
    items = await listed(store, 1)
    assert len(items) == 1 and not items[0].runner and items[0].record()["decision"] == "queued"
    (outcome,) = await approve(Sessions(store), items, by="bob")
    assert not isinstance(outcome, AppError) and outcome.queued
    await session.resume()
    assert await session.finish() == "completed"
    view = await session.view()
    decision = view.checkpoints[cp.checkpoint_id].decision
    assert decision is not None and decision.decision == "approve" and decision.by == "bob"


async def test_approve_is_refused_in_place_where_it_is_not_offered(store: Store) -> None:
    session = await Session.start(store, REVIEWED)
    await session.checkpoint("draft")
    (item,) = await listed(store, 1)
    narrowed = type(item)(**{**item.__dict__, "checkpoint": _without_approve(item.checkpoint)})
    (outcome,) = await approve(Sessions(store), [narrowed], by="ann")
    assert isinstance(outcome, AppError) and "approve is not offered" in str(outcome)
    await session.command(decide(item.checkpoint_id, "approve", by="tester"))
    assert await session.finish() == "completed"


def _without_approve(cp: object) -> object:
    import dataclasses

    assert dataclasses.is_dataclass(cp) and not isinstance(cp, type)
    return dataclasses.replace(cp, options=[o for o in cp.options if o != "approve"])  # type: ignore[attr-defined]


@pytest.mark.parametrize("reason", ["tool_call"])
def test_a_tool_call_names_its_tool(reason: str) -> None:
    from baton.core.view import CheckpointView

    cp = CheckpointView("s:tool_call:1:t1:c1", "s", reason, "", None, "", {"tool": "write_file"}, [], [], {}, 1, 5, 1.0)
    item = InboxItem("abcd1234", "flow", cp, 0.0, False, 3.0, False)
    assert item.asked == "tool call: write_file"
