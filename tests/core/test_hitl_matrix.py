"""Every decision kind on every kind of checkpoint, as one matrix.

For each step kind (agent, router, gate, tool before it runs, step mode, breakpoint, map item, parallel
branch, loop body, supervisor manager) and each decision: where the decision applies it is offered, is
persisted as `DecisionMade` by its sender before the runner acts, and has its effect; where it does not
apply it is not offered and the runner refuses it with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from baton.core import events as ev
from baton.core.runner import RunOptions
from tests.core.hitl_support import (
    AGENT,
    calls,
    events,
    of_kind,
    start_fixture,  # noqa: F401 - the `start` fixture
)
from tests.core.test_hitl_steps import LOOP, MAP, PARALLEL, ROUTER, SUPERVISOR
from tests.helpers import Session

ALL = ("approve", "edit", "reject", "reroute", "retry_model", "skip", "pause")
REVIEWED = ("approve", "edit", "reject", "retry_model", "skip", "pause")
BEFORE = ("approve", "edit", "retry_model", "skip", "pause")
PLAIN = AGENT.replace("    review: always\n", "")


@dataclass(frozen=True)
class Kind:
    """A kind of checkpoint: the flow, where it opens, what it offers and what each decision carries."""

    flow: str
    path: str
    offered: tuple[str, ...]
    reason: str
    edited: Any = "Edited by a person."
    target: str = ""
    supplied: dict[str, Any] = field(default_factory=dict)
    options: RunOptions | None = None
    model_step: bool = True


KINDS = {
    "agent": Kind(AGENT, "write", ALL, "review", target="polish", supplied={"draft": "Supplied."}),
    "router": Kind(ROUTER, "triage", ALL, "review", edited={"route": "complex", "reason": "deep"}, target="archive"),
    "gate": Kind(
        "gate",
        "approve_draft",
        ("approve", "edit", "reject", "reroute", "pause"),
        "gate",
        edited={"draft": "Edited by a person."},
        target="end",
        model_step=False,
    ),
    "tool": Kind(
        "tool",
        "publish",
        ("approve", "edit", "skip", "pause"),
        "before_tool",
        edited={"text": "Edited by a person.", "words": 4},
        model_step=False,
    ),
    "step_mode": Kind(
        PLAIN,
        "write",
        (*BEFORE, "reroute"),
        "step_mode",
        edited="Write one line about tides",
        target="end",
        supplied={"draft": "Supplied."},
        options=RunOptions(step_mode=True),
    ),
    "breakpoint": Kind(
        PLAIN,
        "extra",
        (*BEFORE, "reroute"),
        "breakpoint",
        edited="Add one number about tides",
        target="end",
        options=RunOptions(breakpoints={"extra"}),
    ),
    "map_item": Kind(MAP, "each[1]", REVIEWED, "review"),
    "branch": Kind(PARALLEL, "views/slow", REVIEWED, "review"),
    "loop_body": Kind(LOOP, "refine#1/write", REVIEWED, "review", supplied={"draft": "Supplied."}),
    "manager": Kind(SUPERVISOR, "review/manager", REVIEWED, "review", edited={"workers": ["legal"], "reason": "EU"}),
}


@pytest.fixture(autouse=True)
def _publish_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_PUBLISH_FILE", str(tmp_path / "published.jsonl"))


async def _approve_the_rest(s: Session) -> str:
    """Approve whatever else asks, until the session ends."""
    while True:
        view = await s.wait_for(lambda v: v.status not in ("new", "running") or bool(v.open_checkpoints))
        if view.status not in ("new", "running"):
            return await s.finish()
        for cp in view.open_checkpoints:
            await s.decide(cp, "approve")


def _details(kind: Kind, decision: str) -> dict[str, Any]:
    return {
        "edit": {"edited": kind.edited},
        "reject": {"feedback": "Say it differently."},
        "reroute": {"target": kind.target},
        "retry_model": {"model": "strong"},
        "skip": {"supplied": kind.supplied} if kind.supplied else {},
    }.get(decision, {})


def _ended(log: list[ev.Envelope], path: str, after: int) -> int:
    """Seq of the first event after `after` that ends the step (or the session)."""
    for env in log:
        e = env.event
        if env.seq > after and (
            (isinstance(e, ev.StepCompleted | ev.StepSkipped | ev.StepFailed) and e.step == path)
            or isinstance(e, ev.SessionPaused | ev.SessionFailed)
        ):
            return env.seq
    raise AssertionError(f"'{path}' never ended")


@pytest.mark.parametrize("decision", ALL)
@pytest.mark.parametrize("name", list(KINDS))
async def test_decision_matrix(start: Any, name: str, decision: str) -> None:
    kind = KINDS[name]
    s = await start(kind.flow, options=kind.options)
    cp = await s.checkpoint(kind.path)
    assert cp.reason == kind.reason
    assert tuple(sorted(cp.options)) == tuple(sorted(kind.offered))
    calls_before = len(calls(await events(s), kind.path))
    if decision not in kind.offered:
        status, reason = await s.decide(cp, decision, **_details(kind, decision))
        assert status == "rejected" and reason.startswith(f"'{decision}' is not offered here")
        assert await _approve_the_rest(s) in ("completed", "degraded")
        return
    assert await s.decide(cp, decision, **_details(kind, decision)) == ("done", "")
    if decision == "pause":
        assert await s.finish() == "paused"
        await s.resume()
        again = await s.checkpoint(kind.path)
        assert (again.checkpoint_id, again.output) == (cp.checkpoint_id, cp.output)
        await s.wait_for(lambda v: v.status == "running")
        await s.decide(again, "approve")
    final = await _approve_the_rest(s)
    log = await events(s)
    made = [e for e in log if isinstance(e.event, ev.DecisionMade) and e.event.checkpoint_id == cp.checkpoint_id]
    assert [(m.event.decision, m.event.by) for m in made][0] == (decision, "tester")
    assert made[0].seq < _ended(log, kind.path, made[0].seq)
    path_calls = calls(log, kind.path)
    if decision == "pause":
        assert final in ("completed", "degraded")
        ran_after = 1 if kind.reason in ("step_mode", "breakpoint") else 0
        assert len(path_calls) == calls_before + ran_after
    elif decision == "approve":
        assert final in ("completed", "degraded")
        if kind.model_step and kind.reason == "review":
            assert of_kind(log, ev.StepCompleted, kind.path)[0].output == cp.output
    elif decision == "edit":
        assert made[0].event.diff
        if name == "tool":
            assert of_kind(log, ev.ToolCallIntent, kind.path)[0].args == kind.edited
        elif name == "gate":
            assert (await s.view()).state["draft"] == kind.edited["draft"]
        elif kind.reason in ("step_mode", "breakpoint"):
            assert path_calls[0].request["messages"][-1]["content"] == kind.edited
        else:
            assert of_kind(log, ev.StepCompleted, kind.path)[0].output == kind.edited
    elif decision == "reject":
        if kind.model_step:
            rounds = [o.round for o in of_kind(log, ev.CheckpointOpened, kind.path)]
            assert rounds == [1, 2]
            assert "Say it differently." in path_calls[1].request["messages"][-1]["content"]
        else:
            assert final == "failed"
    elif decision == "reroute":
        assert [r.target for r in of_kind(log, ev.Rerouted, kind.path)] == [kind.target]
    elif decision == "retry_model":
        assert path_calls[-1].model == "mock/strong"
        assert len(path_calls) == calls_before + 1
    elif decision == "skip":
        skipped = of_kind(log, ev.StepSkipped, kind.path)
        assert len(skipped) == 1 and skipped[0].supplied == kind.supplied
        assert len(path_calls) == calls_before
