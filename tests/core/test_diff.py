"""Two sessions compared step by step (`core.diff`), on sessions made by real runs on the offline model: a
fork with a changed input diverges at the fork step, an unchanged fork is the same as its parent, two runs
answered differently diverge at the decision, and the pure pieces (alignment, key diffs, unified diffs)."""

from __future__ import annotations

import json

import pytest

from baton.core.diff import aligned, compare, key_diff, output_text, unified
from baton.core.runner import RunOptions
from baton.core.view import SessionView
from baton.sessions.app import Sessions
from baton.sessions.store import Store
from tests.helpers import Session, run, workflow
from tests.tui.drive import REVIEWED


async def forked(store: Store, parent: str, at: str, sets: list[str]) -> SessionView:
    """Fork `parent` at `at` (as `baton fork --set` does) and run the fork to its end in this process."""
    made = await Sessions(store).fork(parent, at, sets)
    fork = Session(store, made.session_id, None)  # type: ignore[arg-type]
    await fork.resume(RunOptions(auto="approve"))
    assert await fork.finish() == "completed"
    return await fork.view()


@pytest.fixture
async def demo(store: Store) -> SessionView:
    status, view = await run(store, workflow("demo", instant=True), options=RunOptions(auto="approve"))
    assert status == "completed"
    return view


async def test_a_fork_with_a_changed_input_diverges_at_the_fork_step(store: Store, demo: SessionView) -> None:
    fork = await forked(store, demo.session_id, "write", ["topic=tidal power"])
    result = compare(demo, fork)
    assert result.first is not None and result.first.step == "write"
    assert "request" in result.first.why and "output" in result.first.why
    paths = [s.path for s in result.steps]
    copied = {"triage", "quick_answer", "research", "research/papers", "research/news", "research/critics"}
    assert set(paths[: paths.index("write")]) == copied and paths[-1] == "publish"
    before = result.steps[: paths.index("write")]
    assert all(not s.differs and s.where == "both" for s in before)
    assert all(s.b is not None and s.b.inherited and s.b.time_s is None for s in before)
    assert all(s.a is not None and not s.a.inherited for s in before)
    papers = next(s for s in before if s.path == "research/papers")
    assert papers.a is not None and papers.b is not None
    assert (papers.b.tokens_in, papers.b.cost_usd) == (papers.a.tokens_in, papers.a.cost_usd), "a copy's figures"
    write = result.steps[paths.index("write")]
    assert write.request_diff.startswith("--- A write\n+++ B write")
    assert "+Write a one-page brief on tidal power" in write.request_diff
    assert "-Write a one-page brief on the economics" in write.request_diff
    assert write.output_diff and "draft" in write.writes.changed
    assert write.a is not None and write.b is not None and write.a.requests != write.b.requests
    assert [d.text() for d in write.b.decisions] == ["approve by auto"]
    assert set(result.state.changed) >= {"topic", "draft", "published"}
    assert result.state.changed["topic"][1] == "tidal power"
    assert not result.same
    shaped = json.loads(json.dumps(result.to_json(), default=str))
    assert set(shaped) == {"a", "b", "same", "first_divergence", "steps", "state"}
    assert shaped["first_divergence"]["step"] == "write" and shaped["b"]["parent"] == demo.session_id
    assert [s["step"] for s in shaped["steps"]] == paths
    assert shaped["state"]["changed"]["topic"] == {"a": demo.state["topic"], "b": "tidal power"}


async def test_a_fork_without_changes_did_the_same(store: Store, demo: SessionView) -> None:
    fork = await forked(store, demo.session_id, "research", [])
    assert fork.cost_usd == 0.0, "an unchanged fork replays at $0"
    result = compare(demo, fork)
    assert result.first is None and result.state.same
    assert result.same, [(s.path, s.differs) for s in result.differing]
    assert compare(demo, demo).same


async def test_a_different_decision_is_where_two_runs_diverge(store: Store) -> None:
    async def answered(*decisions: tuple[str, str]) -> SessionView:
        session = await Session.start(store, REVIEWED)
        for decision, feedback in decisions:
            cp = await session.checkpoint("draft")
            await session.decide(cp, decision, by="alice", feedback=feedback)
        assert await session.finish() == "completed"
        return await session.view()

    approved = await answered(("approve", ""))
    rejected = await answered(("reject", "name the systems"), ("approve", ""))
    result = compare(approved, rejected)
    assert result.first is not None and result.first.step == "draft"
    assert "the decisions differ" in result.first.why
    draft = result.steps[0]
    assert draft.b is not None
    texts = [d.text() for d in draft.b.decisions]
    assert texts[0].startswith("reject by alice") and "(feedback: name the systems)" in texts[0]
    assert texts[1].startswith("approve by alice")
    assert compare(approved, approved).same
    assert not compare(rejected, approved).same


def test_alignment_keeps_each_sessions_order_and_shows_one_sided_steps() -> None:
    a = ["triage", "quick_answer", "write"]
    b = ["triage", "research", "research/papers", "write", "publish"]
    assert aligned(a, b) == ["triage", "quick_answer", "research", "research/papers", "write", "publish"]
    assert aligned(a, a) == a
    assert aligned([], b) == b


def test_one_sided_steps_diverge_and_say_which_session_ran_them() -> None:
    a = SessionView("a")
    b = SessionView("b")
    for view in (a, b):
        view.step("first").status = "completed"
    a.step("only").status = "completed"
    a.steps["only"].output = "x"
    result = compare(a, b)
    assert [s.path for s in result.steps] == ["first", "only"]
    assert result.first is not None and result.first.step == "only" and result.first.why == "ran only in A"
    assert result.steps[1].where == "a" and result.steps[1].b is None
    assert compare(b, a).steps[1].where == "b"


def test_key_diff_and_unified_diff() -> None:
    changed = key_diff({"a": 1, "b": [1], "gone": 0}, {"a": 1, "b": [2], "new": "x"})
    assert (changed.added, changed.removed, changed.changed) == ({"new": "x"}, {"gone": 0}, {"b": ([1], [2])})
    assert key_diff({"a": 1}, {"a": 1}).same
    assert unified("same", "same", "s") == ""
    text = unified("one\ntwo", "one\nthree", "s")
    assert text.splitlines()[:2] == ["--- A s", "+++ B s"] and "-two" in text and "+three" in text
    assert output_text({"b": 1, "a": [1]}) == '{\n "a": [\n  1\n ],\n "b": 1\n}'
    assert output_text(None) == ""
