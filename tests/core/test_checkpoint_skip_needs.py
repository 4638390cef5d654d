"""Which values a person must supply to skip a step: pure, from the workflow's shape and the state."""

from __future__ import annotations

import pytest

from baton.core.runner.navigation import chain, skip_needs, writes_of
from tests.helpers import workflow

NESTED = """
name: nested
state:
  topic: {type: str}
  notes: {type: "list[str]", reducer: append}
  facts: {type: dict, reducer: merge}
  plan: {type: str}
  draft: {type: str}
  verdict: {type: str}
  feedback: {type: str}
  summaries: {type: "list[str]", reducer: append}
  final: {type: str}
  out: {type: str}
inputs: [topic]
models: {fast: mock/fast}
defaults: {model: fast}
steps:
  - id: research
    kind: parallel
    branches:
      - {id: a, kind: agent, reads: [topic], writes: [notes], prompt: "a {topic}"}
      - {id: b, kind: agent, reads: [topic], writes: [notes], prompt: "b {topic}"}
      - {id: c, kind: agent, reads: [topic], writes: [facts], prompt: "c {topic}", output: {facts: dict}}
  - id: seq
    kind: sequence
    steps:
      - {id: outline, kind: agent, reads: [topic], writes: [plan], prompt: "o {topic}"}
      - {id: expand, kind: agent, reads: [plan], writes: [draft], prompt: "e {plan}"}
  - id: review
    kind: supervisor
    reads: [draft]
    manager: {prompt: "who? {draft}"}
    workers:
      - {id: legal, kind: agent, reads: [draft], writes: [notes], prompt: "l {draft}"}
    synthesis: {id: sum, kind: agent, reads: [draft, notes], writes: [verdict], prompt: "s {draft}"}
  - id: refine
    kind: loop
    max_iterations: 2
    steps:
      - {id: rewrite, kind: agent, reads: [draft], writes: [final], prompt: "r {draft}"}
    judge: {id: judge, kind: agent, reads: [final], writes: [feedback], prompt: "j {final}"}
  - id: each
    kind: map
    over: notes
    step: {id: one, kind: agent, writes: [summaries], prompt: "x {item}"}
  - id: last
    kind: agent
    reads: [facts, summaries, verdict, "feedback?"]
    writes: [out]
    prompt: "z {facts}"
"""


@pytest.fixture(scope="module")
def spec():  # type: ignore[no-untyped-def]
    return workflow(NESTED).spec


START = {"topic": "t", "notes": [], "summaries": []}


@pytest.mark.parametrize(
    ("path", "state", "needs"),
    [
        ("research/a", START, []),
        ("research/c", START, ["facts"]),
        ("research", START, ["facts"]),
        ("seq/outline", START, ["plan"]),
        ("seq/expand", {**START, "plan": "p"}, ["draft"]),
        ("seq/expand", {**START, "plan": "p", "draft": "old"}, []),
        ("review/manager", {**START, "draft": "d"}, []),
        ("review/legal", {**START, "draft": "d"}, []),
        ("review/sum", {**START, "draft": "d"}, ["verdict"]),
        ("refine#1/rewrite", {**START, "draft": "d"}, ["final"]),
        ("refine#2/rewrite", {**START, "draft": "d", "final": "f"}, []),
        ("refine#1/judge", {**START, "draft": "d", "final": "f"}, []),
        ("refine", {**START, "draft": "d"}, []),
        ("each[0]", START, []),
        ("last", START, []),
    ],
)
def test_skip_needs(spec, path: str, state: dict[str, object], needs: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert skip_needs(spec, state, path) == needs


def test_paths_resolve_to_the_step_that_runs_there(spec) -> None:  # type: ignore[no-untyped-def]
    assert [s.id for s, _ in chain(spec, "each[3]")] == ["each", "one"]
    assert [s.id for s, _ in chain(spec, "refine#2/judge")] == ["refine", "judge"]
    assert chain(spec, "review/manager") == []
    assert chain(spec, "nowhere") == []


def test_a_skip_may_supply_only_what_the_step_writes(spec) -> None:  # type: ignore[no-untyped-def]
    assert writes_of(spec, "research/c") == {"facts"}
    assert writes_of(spec, "research") == {"notes", "facts"}
    assert writes_of(spec, "each[1]") == {"summaries"}
    assert writes_of(spec, "review/manager") == set()
