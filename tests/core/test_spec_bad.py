"""Bad workflow files: every one is refused with exactly the expected `file:line:col: message` lines.

The files live in tests/fixtures/workflows/bad/ and `expected.txt` there lists, per file, what
`baton validate` prints. Besides the manifest, a few tests below build variants in place to pin the
rules the manifest cannot show on its own (optional reads, aliases from the config, the order of
problems).
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

from baton.core.spec.load import load_text, load_workflow
from baton.core.spec.problems import Problem, WorkflowInvalid

BAD = Path(__file__).resolve().parent.parent / "fixtures" / "workflows" / "bad"
BUILTIN = ["fast", "strong"]


def _manifest() -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for line in (BAD / "expected.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            out[line.split(":", 1)[0]].append(line)
    return dict(out)


EXPECTED = _manifest()


def problems(text: str, aliases: list[str] | None = None) -> list[str]:
    """The problem lines for workflow text (dedented), as `line:col: message`."""
    with pytest.raises(WorkflowInvalid) as info:
        load_text(textwrap.dedent(text), "w.yaml", BUILTIN if aliases is None else aliases)
    return [str(p).removeprefix("w.yaml:") for p in info.value.problems]


def test_every_bad_file_is_in_the_manifest() -> None:
    files = {p.name for p in BAD.glob("*.yaml")}
    assert files == set(EXPECTED), (files - set(EXPECTED), set(EXPECTED) - files)
    assert len(files) >= 50


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file_reports_exact_positions_and_messages(name: str) -> None:
    with pytest.raises(WorkflowInvalid) as info:
        load_workflow(BAD / name, BUILTIN)
    got = [f"{name}:{p.line}:{p.col}: {p.message}" for p in info.value.problems]
    assert got == EXPECTED[name]
    assert all(p.file == str(BAD / name) for p in info.value.problems)
    assert all(p.severity == "error" for p in info.value.problems)


def test_problem_prints_as_file_line_col_message() -> None:
    problem = Problem(3, 7, "something is wrong", "flows/x.yaml")
    assert str(problem) == "flows/x.yaml:3:7: something is wrong"
    warning = Problem(1, 2, "look here", "x.yaml", "warning")
    assert str(warning) == "x.yaml:1:2: warning: look here"
    invalid = WorkflowInvalid([Problem(9, 1, "b", "f"), Problem(2, 5, "a", "f"), Problem(2, 1, "c", "f")])
    assert [(p.line, p.col) for p in invalid.problems] == [(2, 1), (2, 5), (9, 1)]
    assert str(invalid).splitlines() == ["f:2:1: c", "f:2:5: a", "f:9:1: b"]


OPTIONAL_READ = """\
    name: optional
    state:
      q: {type: str}
      a: {type: str}
    inputs: [q]
    steps:
      - id: pick
        kind: router
        model: fast
        reads: [q]
        routes: {one: writes-a, two: skips-a}
      - id: writes-a
        kind: agent
        model: fast
        writes: [a]
        next: last
      - id: skips-a
        kind: agent
        model: fast
      - id: last
        kind: agent
        model: fast
        reads: [READ]
        prompt: "{a}"
    """


def test_read_on_one_route_only_is_refused_but_optional_read_is_accepted() -> None:
    assert problems(OPTIONAL_READ.replace("READ", "a")) == [
        "23:13: step 'last' reads 'a', which is not written on every path before it "
        "(write it earlier, make it an input, give it a default, or read it as 'a?')"
    ]
    workflow = load_text(textwrap.dedent(OPTIONAL_READ.replace("READ", '"a?"')), "w.yaml", BUILTIN)
    last = workflow.spec.steps[-1]
    assert last.read_keys == ["a"]
    assert last.optional_reads == {"a"}


def test_optional_read_of_an_undeclared_key_is_still_an_error() -> None:
    text = OPTIONAL_READ.replace("READ", '"b?"').replace('prompt: "{a}"', 'prompt: "{b}"')
    assert problems(text) == ["23:13: step 'last' reads 'b', which is not declared in state"]


def test_route_writing_on_both_paths_satisfies_the_read() -> None:
    text = OPTIONAL_READ.replace("READ", "a").replace(
        "      - id: skips-a\n        kind: agent\n        model: fast\n",
        "      - id: skips-a\n        kind: agent\n        model: fast\n        writes: [a]\n",
    )
    assert load_text(textwrap.dedent(text), "w.yaml", BUILTIN).spec.steps[-1].read_keys == ["a"]


def test_default_or_input_makes_a_key_available() -> None:
    base = """\
        name: avail
        state:
          a: {type: str DEFAULT}
        INPUTS
        steps:
          - {id: s, kind: agent, model: fast, reads: [a]}
        """
    assert problems(base.replace("DEFAULT", "").replace("INPUTS", "")) == [
        "6:47: step 's' reads 'a', which is not written on every path before it "
        "(write it earlier, make it an input, give it a default, or read it as 'a?')"
    ]
    for variant in (base.replace("DEFAULT", ", default: x").replace("INPUTS", ""), base.replace("DEFAULT", "")):
        text = variant.replace("INPUTS", "inputs: [a]")
        assert load_text(textwrap.dedent(text), "w.yaml", BUILTIN).spec.steps[0].read_keys == ["a"]


def test_accumulators_start_empty_so_reading_them_is_fine() -> None:
    text = """\
        name: acc
        state:
          notes: {type: "list[str]", reducer: append}
          facts: {type: dict, reducer: merge}
        steps:
          - {id: s, kind: agent, model: fast, reads: [notes, facts]}
        """
    assert load_text(textwrap.dedent(text), "w.yaml", BUILTIN).spec.steps[0].read_keys == ["notes", "facts"]


def test_model_aliases_come_from_the_workflow_the_config_or_a_provider_literal() -> None:
    text = """\
        name: models
        MODELS
        steps:
          - {id: s, kind: agent, model: house}
        """
    message = (
        "4:33: unknown model alias 'house': declare it under 'models:' or in the config file, "
        "or name a model as provider/model (mock/fast, openai/gpt-4o-mini)"
    )
    assert problems(text.replace("MODELS", ""), aliases=[]) == [message]
    assert load_text(textwrap.dedent(text.replace("MODELS", "")), "w.yaml", ["house"]).name == "models"
    declared = text.replace("MODELS", "models: {house: mock/fast}")
    assert load_text(textwrap.dedent(declared), "w.yaml", []).spec.models["house"].model == "mock/fast"
    literal = text.replace("MODELS", "").replace("model: house", "model: ollama/llama3")
    assert load_text(textwrap.dedent(literal), "w.yaml", []).spec.steps[0].model == "ollama/llama3"


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = """\
        name: many
        state:
          a: {type: str}
        steps:
          - {id: one, kind: agent, model: nope, reads: [zz]}
          - {id: one, kind: agent, model: fast, prompt: "{a}"}
        """
    got = problems(text)
    assert len(got) == 4, got
    assert [g.split(": ", 1)[0] for g in got] == ["5:35", "5:49", "6:10", "6:49"]


def test_parallel_branches_writing_an_append_key_are_fine_but_nested_replace_writes_clash() -> None:
    text = """\
        name: fan
        state:
          notes: {type: "list[str]", reducer: append}
          best: {type: str}
        steps:
          - id: fan
            kind: parallel
            branches:
              - {id: a, kind: agent, model: fast, writes: [notes]}
              - id: b
                kind: sequence
                steps:
                  - {id: b1, kind: agent, model: fast, writes: [notes]}
                  - {id: b2, kind: agent, model: fast, writes: [best]}
              - {id: c, kind: agent, model: fast, writes: [best]}
        """
    assert problems(text) == [
        "15:52: 'b' and 'c' both write 'best', whose reducer is replace: one value would overwrite the other "
        "(give 'best' reducer append or merge)"
    ]


def test_supervisor_workers_may_not_run_so_their_writes_are_not_guaranteed() -> None:
    text = """\
        name: boss
        state:
          reviews: {type: "list[str]", reducer: append}
          verdict: {type: str}
          extra: {type: str}
        steps:
          - id: review
            kind: supervisor
            manager: {model: fast}
            workers:
              - {id: w1, kind: agent, model: fast, writes: [extra]}
              - {id: w2, kind: agent, model: fast, writes: [reviews]}
          - {id: after, kind: agent, model: fast, reads: [extra]}
        """
    assert problems(text) == [
        "13:51: step 'after' reads 'extra', which is not written on every path before it "
        "(write it earlier, make it an input, give it a default, or read it as 'extra?')"
    ]


LABELLED = """\
name: labelled
state:
  names: {type: "list[str]", default: [a, b]}
  rows: {type: "list[dict]", default: [{file: a.py}]}
  out: {type: list, reducer: append}
steps:
  - id: each
    kind: map
    over: OVER
    label: LABEL
    step: {id: t, kind: tool, call: "json:dumps", args: {obj: "{item}"}, side_effects: false, writes: [out]}
"""


@pytest.mark.parametrize(
    ("over", "label", "problem"),
    [
        ("names", '"{file}"', "10:12: '{file}' cannot name an item of map 'each': its items are str values"),
        ("rows", '"{file"', "10:12: label '{file' has a stray brace"),
        ("rows", '"   "', "10:12: 'label' is empty"),
    ],
)
def test_a_map_label_is_checked_at_its_position(over: str, label: str, problem: str) -> None:
    found = problems(LABELLED.replace("OVER", over).replace("LABEL", label))
    assert len(found) == 1 and found[0].startswith(problem), found


@pytest.mark.parametrize(
    ("over", "label"), [("names", '"{item} #{index}"'), ("rows", '"{file} ({index}) {{x}}"'), ("rows", '"{any_field}"')]
)
def test_a_map_label_over_item_fields_loads(over: str, label: str) -> None:
    step = load_text(LABELLED.replace("OVER", over).replace("LABEL", label), "w.yaml").spec.steps[0]
    assert step.label == label.strip('"')  # type: ignore[union-attr]
