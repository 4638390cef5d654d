"""The hostile-input-safe YAML reader: caps, tags, aliases, nesting, and the positions of every key and value."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baton.core.spec.yaml_source import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_NODES,
    Positions,
    SourceError,
    decode,
    parse_yaml,
)


def refused(text: str) -> tuple[int, int, str]:
    with pytest.raises(SourceError) as info:
        parse_yaml(text)
    return info.value.line, info.value.col, info.value.message


def test_plain_data_and_positions() -> None:
    text = "name: x\nsteps:\n  - id: a\n    tags: [p, q]\n"
    data, pos = parse_yaml(text)
    assert data == {"name": "x", "steps": [{"id": "a", "tags": ["p", "q"]}]}
    assert pos.key(("name",)) == (1, 1)
    assert pos.value(("name",)) == (1, 7)
    assert pos.value(("steps",)) == (3, 3)
    assert pos.value(("steps", 0)) == (3, 5)
    assert pos.key(("steps", 0, "tags")) == (4, 5)
    assert pos.value(("steps", 0, "tags", 1)) == (4, 15)


def test_positions_fall_back_to_the_nearest_ancestor() -> None:
    _, pos = parse_yaml("a:\n  b: 1\n")
    assert pos.value(("a", "b", "missing", 3)) == (2, 6)
    assert pos.key(("a", "nope")) == (2, 3)
    assert Positions().value(("x",)) == (1, 1)


def test_crlf_line_endings_and_a_bom_keep_positions_right() -> None:
    data, pos = parse_yaml(decode(b"\xef\xbb\xbfname: x\r\nsteps:\r\n  - id: a\r\n"))
    assert data == {"name": "x", "steps": [{"id": "a"}]}
    assert pos.value(("steps", 0, "id")) == (3, 9)


def test_not_utf8_names_the_line_and_column_of_the_first_bad_byte() -> None:
    with pytest.raises(SourceError) as info:
        decode(b"name: x\nsteps: [\xff]\n")
    assert (info.value.line, info.value.col) == (2, 9)
    assert info.value.message == "not valid UTF-8 (byte 0xff): save the file as UTF-8"


def test_python_and_other_tags_are_refused_where_they_stand() -> None:
    assert refused("a: !!python/object/apply:os.system [ls]\n") == (
        1,
        4,
        "unsupported YAML tag '!!python/object/apply:os.system': workflow files are plain data",
    )
    assert refused("a: !!python/name:os.system x\n")[:2] == (1, 4)
    assert refused("a:\n  - !!binary aGVsbG8=\n")[:2] == (2, 5)
    assert refused("a: !!set {x: null}\n")[2] == "unsupported YAML tag '!!set': workflow files are plain data"
    assert refused("a: !local x\n")[2] == "unsupported YAML tag '!local': workflow files are plain data"
    assert refused("!!python/object:os.system\n? a\n")[:2] == (1, 1)
    assert refused("!!python/name:os.system a: b\n")[2] == "unsupported YAML tag '!!python/name:os.system' on a key"


def test_core_tags_are_plain_data_and_bad_tagged_values_are_problems_not_crashes() -> None:
    data, _ = parse_yaml("a: !!str 5\nb: !!int '7'\nc: !!float 1\nd: !!bool true\ne: !!null ''\n")
    assert data == {"a": "5", "b": 7, "c": 1.0, "d": True, "e": None}
    assert refused("a: !!int abc\n") == (1, 4, "'abc' is not a valid '!!int' value")
    assert refused("a: !!float x\n") == (1, 4, "'x' is not a valid '!!float' value")
    assert refused("a: !!bool maybe\n") == (1, 4, "'maybe' is not a valid '!!bool' value")
    assert refused("a: !!map x\n") == (1, 4, "'!!map' cannot tag a plain value")
    assert refused("a: !!seq x\n") == (1, 4, "'!!seq' cannot tag a plain value")
    assert refused("a: !!str [x]\n") == (1, 4, "'!!str' cannot tag a list")


def test_dates_and_equals_signs_stay_text_while_yaml_booleans_stay_booleans() -> None:
    data, _ = parse_yaml("when: 2024-01-31\nat: 2024-01-31 10:00:00\nop: =\nyes_no: [yes, no, on, off]\n")
    assert data == {"when": "2024-01-31", "at": "2024-01-31 10:00:00", "op": "=", "yes_no": [True, False, True, False]}


def test_keys_are_the_text_written() -> None:
    data, pos = parse_yaml("on: 1\n1: 2\n~: 3\n'quoted': 4\n1.50: 5\n")
    assert list(data) == ["on", "1", "~", "quoted", "1.50"]
    assert pos.key(("quoted",)) == (4, 1)


def test_duplicate_keys_are_refused_at_the_second_one() -> None:
    assert refused("a: 1\nb: 2\na: 3\n") == (3, 1, "duplicate key 'a'")
    assert refused("x: {k: 1, k: 2}\n") == (1, 11, "duplicate key 'k'")
    assert refused("on: 1\n'on': 2\n") == (2, 1, "duplicate key 'on'")


def test_merge_keys_merge_and_own_keys_win() -> None:
    text = "base: &b {kind: agent, model: fast}\nstep:\n  <<: *b\n  id: a\n  model: strong\n"
    data, pos = parse_yaml(text)
    assert data["step"] == {"kind": "agent", "model": "strong", "id": "a"}
    assert pos.value(("step", "model")) == (5, 10)
    assert pos.value(("step", "kind")) == (1, 17)
    many, _ = parse_yaml("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n")
    assert many["c"] == {"x": 1, "y": 2}
    assert refused("a:\n  <<: 5\n") == (
        2,
        7,
        "'<<' merges only mappings: expected a mapping or list of mappings for merging, but found scalar",
    )
    assert refused("a: &a {x: 1}\nb:\n  <<: *a\n  y: 1\n  y: 2\n") == (5, 3, "duplicate key 'y'")
    reused, _ = parse_yaml("b: &b {kind: agent, model: fast}\ns: &s {<<: *b, id: a, model: strong}\nt: *s\n")
    assert reused["t"] == reused["s"] == {"kind": "agent", "model": "strong", "id": "a"}


def test_complex_keys_are_refused() -> None:
    assert refused("? [a, b]\n: c\n") == (1, 3, "mapping keys must be plain scalars, not a list or mapping")
    assert refused("? {a: 1}\n: c\n")[2] == "mapping keys must be plain scalars, not a list or mapping"


def _alias_chain(uses: int) -> str:
    lines = ["base: &x v"] + [f"k{i}: *x" for i in range(uses)]
    return "\n".join(lines) + "\n"


def test_aliases_up_to_the_cap_are_fine_and_one_more_is_refused_at_its_position() -> None:
    data, _ = parse_yaml(_alias_chain(MAX_ALIASES))
    assert len(data) == MAX_ALIASES + 1
    assert refused(_alias_chain(MAX_ALIASES + 1)) == (
        MAX_ALIASES + 2,
        6,
        f"more than {MAX_ALIASES} YAML aliases: refusing a possible alias bomb",
    )


def test_an_expansion_bomb_within_the_alias_cap_is_stopped_by_the_node_cap() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 6)]
    line, col, message = refused("\n".join(lines) + "\n")
    assert message == f"document expands to more than {MAX_NODES} values: refusing a possible alias bomb"
    assert line >= 1 and col >= 1


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth + "\n"


def test_nesting_up_to_the_cap_is_fine_and_deeper_is_refused() -> None:
    data, _ = parse_yaml(_nested(MAX_DEPTH))
    for _ in range(MAX_DEPTH - 1):
        data = data[0]
    assert data == []
    assert refused(_nested(MAX_DEPTH + 1)) == (
        1,
        MAX_DEPTH + 1,
        f"nested more than {MAX_DEPTH} levels deep (the limit for a workflow file)",
    )
    assert refused("a: " + "{b: " * 5000 + "1" + "}" * 5000 + "\n")[2].startswith("nested more than")
    assert refused("- " * 3000 + "x\n")[2].startswith("nested more than")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (1, 1, "empty file: a workflow is a mapping with at least 'name' and 'steps'")),
        ("# just a comment\n", (1, 1, "empty file: a workflow is a mapping with at least 'name' and 'steps'")),
        ("a: 1\n---\nb: 2\n", (2, 1, "a workflow file holds one YAML document, but a second one starts here ('---')")),
        ("a:\n\tb: 1\n", (2, 1, "a tab character: indent YAML with spaces, not tabs")),
        ("a: \x00\n", (1, 4, "NUL byte in file: a workflow file is text")),
        ("a: b\x07\n", (1, 5, "control character #x0007 is not allowed in a workflow file")),
        ("a: *nope\n", (1, 4, "unknown alias 'nope' (define '&name' before '*name')")),
        ("a: 'open\n", (1, 4, "a quoted string is never closed (it runs to the end of the file)")),
        (
            "prompt: Answer this: {topic}\n",
            (1, 20, "unexpected ':' — quote a value that contains ': ' (prompt: \"Answer this: {topic}\")"),
        ),
        ("a: [b?]\n", (1, 6, "expected ',' or ']', but got '?' (inside [ ] quote optional reads: ['key?'])")),
        (
            "a: {type: list[str]}\n",
            (1, 15, "expected ',' or '}', but got '[' (inside { } quote types with brackets: 'list[str]')"),
        ),
        (
            "- a\nb: 1\n",
            (
                2,
                1,
                "indentation: line 2 starts a 'key:' among list items: a list and a mapping cannot share one level "
                "(indent it under a key, or make it match the lines above)",
            ),
        ),
        # One space too many before a key, after an unquoted value: indentation, not a quoting problem.
        (
            "step:\n  prompt: Summarise {q}\n   reads: [q]\n",
            (
                3,
                9,
                "indentation: 'reads:' is indented 3 spaces, but 'prompt:' on line 2 is indented 2; the keys of one "
                "mapping line up (or, if line 3 continues the value of 'prompt', quote that value)",
            ),
        ),
        (
            "steps:\n  - id: one\n     kind: agent\n",
            (
                3,
                10,
                "indentation: 'kind:' is indented 5 spaces, but 'id:' on line 2 is indented 4; the keys of one "
                "mapping line up (or, if line 3 continues the value of 'id', quote that value)",
            ),
        ),
        (
            'steps:\n  - id: one\n    prompt: "x"\n   writes: [a]\n',
            (
                4,
                4,
                "indentation: 'writes:' is indented 3 spaces, but 'prompt:' on line 3 is indented 4; the keys "
                "of one mapping line up",
            ),
        ),
        ("step:\n  prompt: x\n  reads [q]\n", (3, 3, "'reads [q]' has no ':' after its key (write 'reads: [q]')")),
    ],
)
def test_broken_yaml_is_one_problem_with_a_position(text: str, expected: tuple[int, int, str]) -> None:
    assert refused(text) == expected


# --- every key and value position points at the right text -----------------------------------------

_SAFE_TEXT = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp", "Co", "Cn"), exclude_characters="\ufeff"
    )
    | st.sampled_from([" ", "\n", ":", "#", "-", "'", '"', "[", "{", "&", "*", "!", "?"]),
    max_size=12,
)
_SCALARS = st.one_of(
    _SAFE_TEXT,
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
_DATA = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_SAFE_TEXT, inner, max_size=4),
    max_leaves=20,
)


def _offset(text: str, line: int, col: int) -> int:
    lines = text.split("\n")
    return sum(len(lines[i]) + 1 for i in range(line - 1)) + col - 1


def _scalars_by_position(text: str) -> dict[tuple[int, int], Any]:
    """Every scalar token of the document by where it starts (an anchor's position leads to its scalar)."""
    out: dict[tuple[int, int], Any] = {}
    anchor: tuple[int, int] | None = None
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        where = (token.start_mark.line + 1, token.start_mark.column + 1)
        if isinstance(token, yaml.AnchorToken):
            anchor = where
        elif isinstance(token, yaml.ScalarToken):
            value: Any = yaml.safe_load(token.value) if token.plain else token.value
            out[where] = value
            if anchor is not None:
                out[anchor] = value
            anchor = None
    return out


def _walk(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], Any]]:
    out = [(path, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _walk(v, (*path, i))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(_SAFE_TEXT, _DATA, min_size=1, max_size=5), style=st.sampled_from([False, True, None]))
def test_every_key_and_value_position_points_at_its_text(data: dict[str, Any], style: bool | None) -> None:
    text = yaml.safe_dump(data, default_flow_style=style, allow_unicode=True, sort_keys=False, width=40)
    parsed, pos = parse_yaml(text)
    assert parsed == data
    scalars = _scalars_by_position(text)
    for path, value in _walk(parsed):
        if not path:
            continue
        line, col = pos.value(path)
        at = text[_offset(text, line, col) :]
        if isinstance(value, dict):
            first_key = pos.key((*path, next(iter(value)))) if value else None
            assert at.startswith(("{", "?")) or pos.value(path) == first_key, (path, at[:10])
        elif isinstance(value, list):
            assert at.startswith(("[", "-")), (path, at[:10])
        else:
            assert (line, col) in scalars, (path, at[:10])
            assert scalars[(line, col)] == value, (path, value, at[:20])
        if isinstance(path[-1], str):
            assert scalars.get(pos.key(path)) == path[-1], (path, text)


def test_positions_point_at_values_in_a_hand_written_workflow() -> None:
    text = textwrap.dedent(
        """\
        name: demo
        steps:
          - id: first
            kind: agent
            prompt: "Say {topic}"
            reads: [topic, 'notes?']
          - {id: second, kind: gate}
          - id: third
            message: >
              folded text
        """
    )
    _, pos = parse_yaml(text)
    lines = text.splitlines()

    def at(path: tuple[str | int, ...]) -> str:
        line, col = pos.value(path)
        return lines[line - 1][col - 1 :]

    assert at(("steps", 0, "prompt")).startswith('"Say {topic}"')
    assert at(("steps", 0, "reads", 1)).startswith("'notes?'")
    assert at(("steps", 1)).startswith("{id: second")
    assert pos.key(("steps", 1, "kind")) == (7, 18)
    assert at(("steps", 2, "message")).startswith(">")
    assert pos.key(("steps", 2, "message")) == (9, 5)
