"""The fold (core/view.py) from synthetic envelopes: statuses, costs, the inbox, superseded checkpoints."""

from __future__ import annotations

import json

import pytest

from baton.core import events as ev
from baton.core.view import SessionView, status_text


class Log:
    """Envelopes with increasing sequence numbers and timestamps, as the store would hand them out."""

    def __init__(self) -> None:
        self.envelopes: list[ev.Envelope] = []
        self.ts = 1000.0

    def add(self, event: ev.Event, after_s: float = 1.0) -> ev.Envelope:
        self.ts += after_s
        env = ev.Envelope("s1", len(self.envelopes) + 1, self.ts, event)
        self.envelopes.append(env)
        return env

    def view(self) -> SessionView:
        return SessionView("s1").apply_all(self.envelopes)


def call(
    step: str, call_id: str, cost: float | None, tin: int = 10, tout: int = 20, status: str = "ok"
) -> list[ev.Event]:
    return [
        ev.LLMCallStarted(step=step, call_id=call_id, model="mock/fast", alias="fast"),
        ev.LLMCallFinished(
            step=step,
            call_id=call_id,
            model="mock/fast",
            alias="fast",
            status=status,
            text="hi",
            tokens_in=tin,
            tokens_out=tout,
            cost_usd=cost,
        ),
    ]


def test_a_new_view_is_new() -> None:
    view = SessionView("s1")
    assert (view.status, view.state, view.steps, view.open_checkpoints, view.cost_usd) == ("new", {}, {}, [], 0.0)
    assert not view.finished


def test_session_statuses_through_pause_cancel_resume_and_completion() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w", inputs={"topic": "t"}, options={"step_mode": True, "breakpoints": ["b"]}))
    view = log.view()
    assert (view.status, view.inputs, view.step_mode, view.breakpoints) == ("running", {"topic": "t"}, True, {"b"})
    log.add(ev.StepStarted(step="a", step_kind="agent"), after_s=2)
    log.add(ev.SessionPaused(reason="paused by ann"), after_s=3)
    view = log.view()
    assert (view.status, view.reason) == ("paused", "paused by ann")
    assert view.steps["a"].status == "cancelled"
    assert view.elapsed(now=log.ts + 100) == pytest.approx(5.0)
    log.add(ev.SessionResumed(pid=42), after_s=50)
    view = log.view()
    assert (view.status, view.reason, view.steps["a"].status) == ("running", "", "pending")
    assert view.elapsed(now=log.ts + 4) == pytest.approx(9.0)
    log.add(ev.SessionPaused(reason="cancelled by bob"), after_s=1)
    assert log.view().status == "cancelled"
    log.add(ev.SessionResumed(pid=43))
    log.add(ev.StepCompleted(step="a", status="completed", output="x"))
    log.add(ev.SessionCompleted(status="completed"))
    view = log.view()
    assert view.status == "completed" and view.finished
    assert view.ended_at == log.ts


def test_a_degraded_step_makes_the_session_degraded_and_failure_is_failed() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w"))
    log.add(ev.StepCompleted(step="a", status="degraded", output="fallback"))
    log.add(ev.SessionCompleted(status="completed"))
    view = log.view()
    assert view.status == "degraded" and view.steps["a"].degraded
    failed = Log()
    failed.add(ev.SessionStarted(workflow="w"))
    failed.add(ev.StepStarted(step="fan/b", step_kind="agent"))
    failed.add(ev.StepFailed(step="a", error="boom", error_type="server"))
    failed.add(ev.SessionFailed(error="step 'a' failed: boom"))
    view = failed.view()
    assert view.steps["fan/b"].status == "cancelled", "a step interrupted by the failure is not left running"
    assert (view.status, view.error, view.steps["a"].status, view.steps["a"].error) == (
        "failed",
        "step 'a' failed: boom",
        "failed",
        "boom",
    )


def test_step_statuses_from_scheduled_to_done() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w"))
    log.add(ev.StepScheduled(step="fan/a", step_kind="agent"))
    assert log.view().steps["fan/a"].status == "pending"
    log.add(ev.StepStarted(step="fan/a", step_kind="agent", model="fast", reads=["topic"], input_chars=12))
    view = log.view()
    assert (view.steps["fan/a"].status, view.steps["fan/a"].reads, view.steps["fan/a"].input_chars) == (
        "running",
        ["topic"],
        12,
    )
    log.add(ev.CheckpointOpened(step="fan/a", checkpoint_id="fan/a:review:1", reason="review", output="draft"))
    assert log.view().steps["fan/a"].status == "awaiting"
    log.add(ev.DecisionMade(checkpoint_id="fan/a:review:1", decision="approve", by="ann"))
    assert log.view().steps["fan/a"].status == "running"
    log.add(ev.StateUpdated(step="fan/a", ops=[{"key": "notes", "op": "append", "value": "n1"}]))
    log.add(ev.StepCompleted(step="fan/a", status="completed", output="draft", writes={"notes": "n1"}))
    log.add(ev.StepSkipped(step="fan/b", reason="skipped by ann", supplied={"notes": ["typed"]}))
    view = log.view()
    assert view.steps["fan/a"].status == "completed"
    assert view.steps["fan/a"].writes == {"notes": "n1"}
    assert (view.steps["fan/b"].status, view.steps["fan/b"].writes) == ("skipped", {"notes": ["typed"]})
    assert view.state == {"notes": ["n1"]}


def test_costs_add_up_and_an_unknown_price_is_unknown_never_zero() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w"))
    for event in [*call("a", "c1", 0.001), *call("a", "c2", 0.002, tin=5, tout=5), *call("b", "c3", None, 7, 8)]:
        log.add(event)
    view = log.view()
    a, b = view.steps["a"], view.steps["b"]
    assert (a.cost_usd, a.cost_unknown, a.tokens_in, a.tokens_out, a.attempts) == (
        pytest.approx(0.003),
        False,
        15,
        25,
        2,
    )
    assert (b.cost_unknown, b.tokens_in, b.tokens_out) == (True, 7, 8)
    assert view.calls["c3"].cost_usd is None
    assert view.cost_usd == pytest.approx(0.003)
    assert view.cost_unknown_calls == 1
    assert (view.tokens_in, view.tokens_out) == (22, 33)


def test_a_composite_completion_carries_its_childrens_totals_without_counting_them_twice() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w"))
    for event in [*call("fan/a", "c1", 0.01), *call("fan/b", "c2", 0.02)]:
        log.add(event)
    log.add(ev.StepCompleted(step="fan", status="completed", tokens_in=20, tokens_out=40, cost_usd=0.03))
    log.add(ev.StepCompleted(step="loop", status="completed", tokens_in=3, tokens_out=4, cost_usd=None))
    view = log.view()
    assert (view.steps["fan"].cost_usd, view.steps["fan"].tokens_in) == (pytest.approx(0.03), 20)
    assert view.cost_usd == pytest.approx(0.03)
    assert (view.tokens_in, view.tokens_out) == (20, 40)
    assert view.steps["loop"].cost_unknown is True
    assert view.steps["loop"].cost_usd == 0.0


def test_a_failed_or_discarded_attempt_still_costs_what_it_cost() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w"))
    for event in [*call("a", "c1", 0.004, status="discarded"), *call("a", "c2", 0.001)]:
        log.add(event)
    view = log.view()
    assert view.calls["c1"].status == "discarded"
    assert view.steps["a"].cost_usd == pytest.approx(0.005)
    assert view.cost_usd == pytest.approx(0.005)


def test_a_finish_without_a_start_is_still_counted() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w"))
    log.add(call("a", "c1", 0.002)[1])
    view = log.view()
    assert view.calls["c1"].status == "ok"
    assert view.steps["a"].calls == ["c1"]
    assert (view.steps["a"].attempts, view.cost_usd) == (1, pytest.approx(0.002))


def opened(step: str, reason: str = "review", rnd: int = 1) -> ev.CheckpointOpened:
    return ev.CheckpointOpened(
        step=step, checkpoint_id=f"{step}:{reason}:{rnd}", reason=reason, output=f"out {step}", round=rnd
    )


def test_the_inbox_is_open_checkpoints_oldest_first() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w"))
    for step in ("fan/c", "fan/a", "fan/b"):
        log.add(opened(step))
    assert [c.step for c in log.view().open_checkpoints] == ["fan/c", "fan/a", "fan/b"]
    log.add(ev.DecisionMade(checkpoint_id="fan/a:review:1", decision="approve", by="ann"))
    log.add(ev.DecisionMade(checkpoint_id="fan/c:review:1", decision="pause", by="ann"))
    log.add(ev.DecisionMade(checkpoint_id="nope:review:1", decision="approve", by="ann"))
    view = log.view()
    assert [c.checkpoint_id for c in view.open_checkpoints] == ["fan/c:review:1", "fan/b:review:1"]
    decided = view.checkpoints["fan/a:review:1"]
    assert (decided.decision.decision, decided.decision.by) == ("approve", "ann")  # type: ignore[union-attr]
    assert "nope:review:1" not in view.checkpoints


def test_a_checkpoint_reopened_after_a_resume_is_one_entry_at_its_new_place() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w"))
    log.add(opened("a"))
    log.add(opened("b"))
    log.add(ev.SessionPaused(reason="paused by ann"))
    view = log.view()
    assert [c.step for c in view.open_checkpoints] == ["a", "b"]
    assert view.steps["a"].status == "awaiting", "a pause leaves waiting steps waiting"
    log.add(ev.SessionResumed(pid=2))
    log.add(opened("b"))
    log.add(opened("a"))
    view = log.view()
    assert [c.step for c in view.open_checkpoints] == ["b", "a"]
    assert len(view.checkpoints) == 2


def test_a_step_that_ends_supersedes_its_open_checkpoints_only() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w"))
    log.add(opened("a"))
    log.add(opened("a", "cost", 2))
    log.add(opened("ab"))
    log.add(opened("c"))
    log.add(ev.StepCompleted(step="a", status="completed", output="done elsewhere"))
    log.add(ev.StepSkipped(step="c", reason="skipped by runner"))
    view = log.view()
    assert [c.step for c in view.open_checkpoints] == ["ab"]
    for cp_id in ("a:review:1", "a:cost:2", "c:review:1"):
        decision = view.checkpoints[cp_id].decision
        assert decision is not None and (decision.decision, decision.by) == ("superseded", "runner")
    assert view.steps["a"].status == "completed"


def test_an_event_seen_twice_is_folded_once() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w"))
    for event in call("a", "c1", 0.5):
        log.add(event)
    log.add(ev.StateUpdated(step="a", ops=[{"key": "n", "op": "append", "value": 1}]))
    view = SessionView("s1")
    for env in log.envelopes + log.envelopes:
        view.apply(env)
    assert view.cost_usd == pytest.approx(0.5)
    assert view.state == {"n": [1]}
    assert view.events == view.last_seq == len(log.envelopes)


def test_the_json_lines_shape_folds_to_the_same_view() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w", inputs={"t": "x"}))
    for event in [*call("a", "c1", None), *call("a", "c2", 0.25)]:
        log.add(event)
    log.add(opened("a"))
    log.add(ev.StateUpdated(step="a", ops=[{"key": "k", "op": "merge", "value": {"x": 1}}]))
    log.add(ev.StepCompleted(step="a", status="completed", output={"k": 1}))
    log.add(ev.SessionCompleted(status="completed"))
    lines = [json.dumps(env.to_json()) for env in log.envelopes]
    again = SessionView("s1").apply_all([ev.envelope_from_json(json.loads(line)) for line in lines])
    direct = log.view()
    assert again == direct
    assert again.cost_unknown_calls == 1 and again.cost_usd == pytest.approx(0.25)


def test_a_running_session_that_only_waits_on_checkpoints_is_waiting_for_you() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w"))
    log.add(ev.StepStarted(step="fan", step_kind="parallel"))
    for branch in ("fan/a", "fan/b"):
        log.add(ev.StepScheduled(step=branch, step_kind="agent", label=branch[4:]))
        log.add(ev.StepStarted(step=branch, step_kind="agent"))
    assert log.view().shown_status == "running"
    log.add(opened("fan/a"))
    view = log.view()
    assert (view.blocked_on_person, view.shown_status) == (False, "running"), "fan/b still runs"
    log.add(opened("fan/b"))
    view = log.view()
    assert view.steps["fan"].status == "running", "the parallel step runs while its branches wait"
    assert (view.blocked_on_person, view.shown_status) == (True, "waiting")
    assert status_text(view.shown_status) == "waiting for you"
    log.add(ev.DecisionMade(step="fan/a", checkpoint_id="fan/a:review:1", decision="approve", by="ann"))
    assert log.view().shown_status == "running", "a decided branch runs again"
    log.add(ev.SessionPaused(reason="paused by ann"))
    assert log.view().shown_status == "paused", "only a running session can be waiting"


def test_a_step_that_runs_beside_a_checkpoint_keeps_the_session_running_even_with_a_similar_name() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w"))
    log.add(ev.StepStarted(step="write", step_kind="agent"))
    log.add(ev.StepStarted(step="writer", step_kind="agent"))
    log.add(opened("write"))
    assert log.view().shown_status == "running", "'writer' is not inside 'write'"
    log.add(ev.StepCompleted(step="writer"))
    assert log.view().shown_status == "waiting"


def test_map_items_are_titled_by_their_labels() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w"))
    log.add(ev.StepStarted(step="files", step_kind="map"))
    for i, label in enumerate(["src/app.py", "README.md", "src/app.py", "", "x" * 60]):
        log.add(ev.StepScheduled(step=f"files[{i}]", step_kind="sequence", label=label))
    log.add(ev.StepScheduled(step="files[1]/lint", step_kind="agent", label="lint"))
    view = log.view()
    assert view.title("files[1]") == "files[README.md]"
    assert view.title("files[1]/lint") == "files[README.md]/lint"
    assert view.title("files[0]") == "files[0: src/app.py]", "a label two items share keeps the index"
    assert view.title("files[2]") == "files[2: src/app.py]"
    assert view.title("files[3]") == "files[3]", "no label: the index"
    assert view.title("files[4]") == f"files[{'x' * 39}…]"
    assert view.title("files[9]") == "files[9]" and view.title("plain/step") == "plain/step"
    assert view.steps["files[1]"].label == "README.md"


def test_a_session_answered_unattended_follows_its_latest_options() -> None:
    log = Log()
    log.add(ev.SessionStarted(workflow="w", options={"step_mode": False}))
    assert not log.view().answered_unattended
    log.add(ev.SessionPaused(reason="paused by ann"))
    log.add(ev.SessionResumed(pid=2, options={"auto": "approve", "step_mode": False}))
    assert log.view().answered_unattended
    log.add(ev.SessionPaused(reason="paused by ann"))
    log.add(ev.SessionResumed(pid=3, options={"decisions": {}, "decisions_file": "d.json"}))
    assert log.view().answered_unattended, "a decisions file answers too (or pauses the session)"
    log.add(ev.SessionPaused(reason="paused by ann"))
    log.add(ev.SessionResumed(pid=4, options={"step_mode": True}))
    assert not log.view().answered_unattended
