"""Good workflows: every bundled flow and every good fixture loads; a spec built in Python is the same
spec, checked the same way; what the loader accepts, the runner runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from baton.core.runner import RunOptions
from baton.core.spec.agent_tools import FunctionTool
from baton.core.spec.load import Workflow, from_spec, load_text, load_workflow, spec_text, text_hash
from baton.core.spec.model import (
    AgentStep,
    InputSpec,
    MapStep,
    MockSpec,
    ModelSpec,
    ParallelStep,
    ReviewSpec,
    RouterStep,
    StateKey,
    WorkflowSpec,
)
from baton.core.spec.problems import WorkflowInvalid
from baton.sessions.store import Store
from tests.helpers import run

ROOT = Path(__file__).resolve().parent.parent.parent
FLOWS = sorted((ROOT / "flows").glob("*.yaml"))
GOOD = sorted((ROOT / "tests" / "fixtures" / "workflows" / "good").glob("*.yaml"))
BUILTIN = ["fast", "strong"]


def test_the_bundled_flows_are_all_there() -> None:
    names = {p.stem for p in FLOWS}
    assert {"demo", "agent", "parallel", "map", "router", "supervisor", "loop", "tool", "gate"} <= names


@pytest.mark.parametrize("path", FLOWS + GOOD, ids=lambda p: p.stem)
def test_good_workflow_loads_without_problems(path: Path) -> None:
    workflow = load_workflow(path, BUILTIN)
    assert workflow.spec.steps
    assert workflow.warnings == []
    assert workflow.path == str(path)
    assert workflow.text == path.read_text(encoding="utf-8")
    assert workflow.hash == text_hash(workflow.text)
    assert len(workflow.hash) == 16


@pytest.mark.parametrize("path", FLOWS + GOOD, ids=lambda p: p.stem)
def test_from_spec_checks_and_its_text_loads_back_to_the_same_spec(path: Path) -> None:
    loaded = load_workflow(path, BUILTIN)
    built = from_spec(loaded.spec, BUILTIN)
    assert built.spec == loaded.spec
    assert built.warnings == loaded.warnings
    assert built.text == spec_text(loaded.spec)
    again = load_text(built.text, built.path, BUILTIN)
    assert again.spec == loaded.spec
    assert again.hash == built.hash


def demo_spec() -> WorkflowSpec:
    """flows/demo.yaml, written in Python."""
    topic = "{topic}"
    return WorkflowSpec(
        name="research-brief",
        description=(
            "A cheap model routes the question. Simple ones get a quick answer; complex ones get a parallel "
            "research fan-out (one researcher searches the bundled notes with tools), a strong writer, a human "
            "review, and a publisher whose save asks a person first.\n"
        ),
        state={
            "topic": StateKey(type="str", max_chars=200, description="What to research"),
            "route": StateKey(type="str"),
            "answer": StateKey(type="str"),
            "notes": StateKey(type="list[str]", reducer="append", max_tokens=3000),
            "draft": StateKey(type="str", max_chars=20000),
            "published": StateKey(type="str"),
        },
        inputs={
            "topic": InputSpec(
                description="The question or topic to brief on",
                default="the economics of solid-state batteries for grid storage",
            )
        },
        models={
            "fast": ModelSpec(model="mock/fast", mock=MockSpec(tokens_per_s=60, latency_s=0.3)),
            "strong": ModelSpec(
                model="mock/strong", mock=MockSpec(tokens_per_s=40, latency_s=0.6, min_tokens=120, max_tokens=220)
            ),
        },
        defaults={"model": "fast"},  # type: ignore[arg-type]
        outputs=["draft", "answer"],
        steps=[
            RouterStep(
                id="triage",
                description="A cheap model decides how much work the question needs",
                model="fast",
                reads=["topic"],
                writes=["route"],
                prompt=f"How much work does this need? {topic}",
                routes={"simple": "quick_answer", "complex": "research"},
            ),
            AgentStep(
                id="quick_answer",
                description="Answer a simple question directly",
                reads=["topic"],
                writes=["answer"],
                prompt=f"Answer briefly and precisely: {topic}",
                next="end",
            ),
            ParallelStep(
                id="research",
                description="Three researchers work at once",
                branches=[
                    AgentStep(
                        id="papers",
                        description="Searches the notes bundled with baton, with a tool",
                        model="strong",
                        reads=["topic"],
                        writes=["notes"],
                        prompt=f"Summarise the key research on {topic}. Use search_notes on the bundled notes.",
                        tools=[
                            FunctionTool(call="baton_tools:search_notes", side_effects=False),
                            FunctionTool(call="baton_tools:read_note", side_effects=False),
                        ],
                    ),
                    AgentStep(
                        id="news", reads=["topic"], writes=["notes"], prompt=f"Summarise recent news about {topic}."
                    ),
                    AgentStep(
                        id="critics",
                        reads=["topic"],
                        writes=["notes"],
                        prompt=f"What do critics and sceptics say about {topic}?",
                    ),
                ],
            ),
            AgentStep(
                id="write",
                description="The strong model writes the brief from the notes",
                model="strong",
                reads=["topic", "notes"],
                writes=["draft"],
                system="You write clear, sourced one-page briefs for busy readers.",
                prompt=f"Write a one-page brief on {topic} using these notes:\n\n{{notes}}",
                review=ReviewSpec(mode="always"),
            ),
            AgentStep(
                id="publish",
                description="The publisher saves the brief; saving has side effects, so it asks you first",
                reads=["topic", "draft"],
                writes=["published"],
                prompt=f"Publish the brief on {topic} with save_report.",
                tools=[FunctionTool(call="baton_tools:save_report", args={"text": "{draft}"})],
            ),
        ],
    )


def test_demo_built_in_python_equals_the_yaml_file() -> None:
    from_yaml = load_workflow(ROOT / "flows" / "demo.yaml", BUILTIN)
    built = from_spec(demo_spec(), BUILTIN)
    assert built.spec == from_yaml.spec
    assert built.name == "research-brief"
    assert built.path == "<research-brief>"
    assert load_text(built.text, built.path, BUILTIN).spec == from_yaml.spec


def test_review_shorthand_and_mapping_mean_the_same() -> None:
    short = load_text(
        "name: r\nsteps: [{id: a, kind: agent, model: fast, review: always}]\n", "w.yaml", BUILTIN
    ).spec.steps[0]
    long = load_text(
        "name: r\nsteps: [{id: a, kind: agent, model: fast, review: {mode: always}}]\n", "w.yaml", BUILTIN
    ).spec.steps[0]
    assert short == long
    assert short.review == ReviewSpec(mode="always")


def test_python_spec_with_a_graph_problem_is_refused_with_the_same_message_as_yaml() -> None:
    yaml_text = textwrap.dedent(
        """\
        name: broken
        state:
          items: {type: "list[str]"}
          out: {type: str}
        inputs: [items]
        steps:
          - id: each
            kind: map
            over: items
            step: {id: one, kind: agent, model: fast, writes: [out], prompt: "{item} {missing}"}
          - {id: after, kind: agent, model: fast, reads: [out]}
        """
    )
    with pytest.raises(WorkflowInvalid) as from_yaml:
        load_text(yaml_text, "broken.yaml", BUILTIN)
    spec = WorkflowSpec(
        name="broken",
        state={"items": StateKey(type="list[str]"), "out": StateKey(type="str")},
        inputs={"items": InputSpec()},
        steps=[
            MapStep.model_validate(
                {
                    "id": "each",
                    "over": "items",
                    "step": {
                        "id": "one",
                        "kind": "agent",
                        "model": "fast",
                        "writes": ["out"],
                        "prompt": "{item} {missing}",
                    },
                }
            ),
            AgentStep(id="after", model="fast", reads=["out"]),
        ],
    )
    with pytest.raises(WorkflowInvalid) as from_python:
        from_spec(spec, BUILTIN)
    messages = sorted(p.message for p in from_yaml.value.problems)
    assert messages == sorted(p.message for p in from_python.value.problems)
    assert len(messages) == 2
    assert messages[0].startswith("'{missing}' is used but step 'one' does not read 'missing'")
    assert messages[1].startswith("every item of map 'each' writes 'out'")
    # Problems of a Python-built spec point into its canonical text, which names the file `<name>`.
    text_lines = spec_text(spec).splitlines()
    for problem in from_python.value.problems:
        assert problem.file == "<broken>"
        assert 1 <= problem.line <= len(text_lines)


def test_the_hash_follows_the_text() -> None:
    a = load_text("name: h\nsteps: [{id: a, kind: agent, model: fast}]\n", "w.yaml", BUILTIN)
    b = load_text("name: h\nsteps: [{id: a, kind: agent, model: fast}]\n", "other.yaml", BUILTIN)
    c = load_text("name: h\nsteps: [{id: a, kind: agent, model: strong}]\n", "w.yaml", BUILTIN)
    assert a.hash == b.hash != c.hash


def test_a_long_chain_of_agents_is_a_warning_not_an_error() -> None:
    steps = "\n".join(f"  - {{id: s{i}, kind: agent, model: fast}}" for i in range(5))
    workflow = load_text(f"name: chain\nsteps:\n{steps}\n", "w.yaml", BUILTIN)
    assert [str(w) for w in workflow.warnings] == [
        "w.yaml:3:10: warning: 5 agents in a chain: each hop adds latency and cost; consider fewer, broader steps"
    ]


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
async def test_what_the_loader_accepts_the_runner_runs(store: Store, path: Path) -> None:
    workflow: Workflow = load_workflow(path, BUILTIN)
    inputs = {"question": "why is the sky blue?"} if "question" in workflow.spec.inputs else {}
    status, view = await run(store, workflow, inputs=inputs, options=RunOptions(auto="approve"))
    assert status == "completed", (view.error, {p: (s.status, s.error) for p, s in view.steps.items()})
    assert {s.status for s in view.steps.values()} <= {"completed", "skipped"}
    top = {s.id for s in workflow.spec.steps}
    assert top <= set(view.steps)
