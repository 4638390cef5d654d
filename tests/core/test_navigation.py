"""Where control may go: reroute targets, jumps and the next step, as pure functions over the spec and
the state (no event loop, no runner)."""

from __future__ import annotations

from baton.core import events as ev
from baton.core.runner.navigation import jump, next_step, reroute_targets
from tests.core.runner_kit import flow

LINE = flow(
    """
    name: line
    state:
      topic: {type: str}
      draft: {type: str}
      facts: {type: str}
      final: {type: str}
    inputs:
      topic: {default: tides}
    models:
      cheap: test/cheap
    steps:
      - {id: research, kind: agent, model: cheap, reads: [topic], writes: [facts], prompt: "r"}
      - {id: write, kind: agent, model: cheap, reads: [topic, facts], writes: [draft], prompt: "w"}
      - {id: polish, kind: agent, model: cheap, reads: [draft], writes: [final], prompt: "p"}
      - {id: wrap, kind: agent, model: cheap, reads: [topic], writes: [final], prompt: "x"}
    """
).spec

PINNED = flow(
    """
    name: pinned
    state:
      topic: {type: str}
      draft: {type: str}
    inputs:
      topic: {default: tides}
    models:
      cheap: test/cheap
    steps:
      - {id: a, kind: agent, model: cheap, reads: [topic], writes: [draft], prompt: "a", reroute: [c, end]}
      - {id: b, kind: agent, model: cheap, reads: [draft], writes: [draft], prompt: "b"}
      - {id: c, kind: agent, model: cheap, reads: [draft], writes: [draft], prompt: "c"}
    """
).spec


def test_targets_are_later_steps_whose_reads_are_met_and_not_the_default_next() -> None:
    state = {"topic": "tides"}
    # write is the default next step (not a reroute); polish reads a draft nobody has written yet
    assert reroute_targets(LINE, state, "research") == ["wrap", "end"]
    assert reroute_targets(LINE, {**state, "facts": "f"}, "write") == ["wrap", "end"]
    assert reroute_targets(LINE, {**state, "facts": "f", "draft": "d"}, "research") == ["polish", "wrap", "end"]


def test_a_declared_reroute_list_is_the_whole_choice() -> None:
    assert reroute_targets(PINNED, {"topic": "t"}, "a") == ["c", "end"]


def test_before_a_step_runs_its_own_writes_do_not_count() -> None:
    assert reroute_targets(PINNED, {"topic": "t"}, "a", ran=False) == ["end"], "c reads draft, which a writes"
    assert reroute_targets(PINNED, {"topic": "t", "draft": "d"}, "a", ran=False) == ["c", "end"]


def test_a_nested_step_has_no_reroute_targets() -> None:
    assert reroute_targets(LINE, {}, "research/inner") == []
    assert reroute_targets(LINE, {}, "each[2]") == []


def test_a_jump_records_every_step_it_passes_over_that_has_not_finished() -> None:
    events, passed = jump(LINE, {"polish"}, "research", "wrap", {"route": "short", "reason": "r"}, "router")
    assert passed == ["write"]
    rerouted, skipped = events
    assert isinstance(rerouted, ev.Rerouted)
    assert (rerouted.target, rerouted.route, rerouted.reason, rerouted.skipped) == ("wrap", "short", "r", ["write"])
    assert isinstance(skipped, ev.StepSkipped) and skipped.step == "write"
    assert skipped.reason == "passed over: route 'short' from 'research' to 'wrap'"


def test_a_persons_jump_to_the_end_says_who() -> None:
    events, passed = jump(LINE, set(), "write", "end", None, "ana")
    assert passed == ["polish", "wrap"]
    assert [e.reason for e in events[1:]] == ["passed over: ana rerouted from 'write' to 'end'"] * 2


def test_next_step_follows_the_jump_or_the_flow() -> None:
    assert next_step(LINE, "research", None).id == "write"
    assert next_step(LINE, "research", "wrap").id == "wrap"
    assert next_step(LINE, "wrap", None) is None
    assert next_step(LINE, "write", "end") is None
    nested = next_step(LINE, "research/inner", "wrap")
    assert nested is not None and nested.id == "write", "a nested step's jump is not the top step's"
