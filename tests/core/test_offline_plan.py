"""The offline model's planning (pure): deterministic text, schema-true structured replies, scripted
replies and faults, and streams litellm accepts (it aborts a stream that repeats one chunk 100 times)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.core.llm.offline import FAULT_KINDS, Fault, no_repeats, plan, split_chunks, topic_phrase
from baton.core.spec.model import MockSpec
from baton.core.structured import JUDGE_FIELDS, json_schema, manager_fields, parse_reply, router_fields, validate


def ask(prompt: str, system: str = "") -> list[dict[str, Any]]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]


def text_of(prompt: str, behaviour: dict[str, Any] | None = None, call: int = 1, **kwargs: Any) -> str:
    return "".join(plan("mock/fast", ask(prompt), behaviour or {}, call, 10, **kwargs).chunks)


def max_run(chunks: list[str]) -> int:
    """The longest run of identical consecutive chunks."""
    best = run = 0
    previous: str | None = None
    for chunk in chunks:
        run = run + 1 if chunk == previous else 1
        previous = chunk
        best = max(best, run)
    return best


def test_same_request_same_reply() -> None:
    a = plan("mock/fast", ask("Summarise the news about tidal power."), {}, 1, 12)
    b = plan("mock/fast", ask("Summarise the news about tidal power."), {}, 7, 12)
    assert a.chunks == b.chunks
    assert a.prompt_tokens == 12
    assert a.fault is None


def test_model_and_seed_change_the_reply() -> None:
    base = text_of("Summarise the news about tidal power.")
    assert "".join(plan("mock/strong", ask("Summarise the news about tidal power."), {}, 1, 1).chunks) != base
    assert text_of("Summarise the news about tidal power.", {"seed": 1}) != base


@settings(max_examples=200, deadline=None)
@given(a=st.text(min_size=1, max_size=60), b=st.text(min_size=1, max_size=60))
def test_different_prompts_give_different_replies(a: str, b: str) -> None:
    if a != b:
        assert text_of(a) != text_of(b)


def test_the_reply_is_about_the_prompt_and_within_the_token_range() -> None:
    chunks = plan(
        "mock/fast", ask("Write a brief on solid-state batteries."), {"min_tokens": 30, "max_tokens": 50}, 1, 5
    )
    text = "".join(chunks.chunks)
    assert "solid-state batteries" in text
    assert 1 <= len(chunks.chunks) <= 50
    capped = plan("mock/fast", ask("Write a brief on solid-state batteries."), {}, 1, 5, max_tokens=8)
    assert len(capped.chunks) <= 8


def test_timing_comes_from_the_behaviour() -> None:
    p = plan("mock/fast", ask("x"), {"latency_s": 0.25, "tokens_per_s": 50}, 1, 1)
    assert (p.latency_s, p.interval_s) == (0.25, 0.02)
    assert plan("mock/fast", ask("x"), {}, 1, 1).interval_s == 0.0


def test_topic_phrase() -> None:
    assert topic_phrase("Summarise recent news about tidal power in Wales.") == "tidal power in Wales"
    assert topic_phrase("Answer briefly: why is the sky blue?") == "why is the sky blue"
    assert topic_phrase("") == "the topic"


# --- structured replies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        router_fields(["simple", "complex", "billing"]),
        manager_fields(["security", "legal", "ops", "ux"]),
        JUDGE_FIELDS,
        {"label": "enum[bug, billing, how-to]", "confidence": "float", "score": "float", "urgency": "int"},
        {"tags": "list[enum[a, b, c]]", "notes": "list[str]", "facts": "dict", "maybe": "str?", "anything": "any"},
    ],
)
@pytest.mark.parametrize("prompt", ["Classify this ticket: CSV export fails", "Which reviews does this need?", ""])
def test_structured_replies_satisfy_the_schema(fields: dict[str, str], prompt: str) -> None:
    p = plan("mock/fast", ask(prompt), {}, 1, 1, response_format=json_schema(fields))
    assert max_run(p.chunks) == 1
    value = parse_reply("".join(p.chunks), fields)
    assert set(value) == {k for k in fields if not fields[k].endswith("?")} | (set(value) & set(fields))
    if "confidence" in fields:
        assert 0.55 <= value["confidence"] <= 0.99
        assert 0.55 <= value["score"] <= 0.99
    if "workers" in fields:
        workers = value["workers"]
        assert workers and len(set(workers)) == len(workers)
        order = ["security", "legal", "ops", "ux"]
        assert workers == sorted(workers, key=order.index)


def test_json_object_mode_gives_an_object() -> None:
    p = plan("mock/fast", ask("x"), {}, 1, 1, response_format={"type": "json_object"})
    assert json.loads("".join(p.chunks)) == {}
    p = plan("mock/fast", ask("x"), {}, 1, 1, response_format={"type": "text"})
    assert not "".join(p.chunks).startswith("{")


def test_enum_choices_spread_over_prompts() -> None:
    # (A router's route is not a spread but a classification: see test_offline_routes.)
    fields = {"category": "enum[a, b, c]", "note": "str"}
    seen = {
        parse_reply(
            "".join(plan("mock/fast", ask(f"q{i}"), {}, 1, 1, response_format=json_schema(fields)).chunks), fields
        )["category"]
        for i in range(40)
    }
    assert seen == {"a", "b", "c"}


# --- scripted replies and faults ---------------------------------------------------------------


def test_scripted_replies_match_by_regex_and_call_number() -> None:
    behaviour = MockSpec.model_validate(
        {
            "replies": [
                {"call": 2, "text": "second call"},
                {"match": r"refund|money back", "text": "billing"},
                {"match": "^Classify", "call": 3, "json": {"route": "simple", "reason": "scripted"}},
                {"match": "nothing", "json": None},
            ]
        }
    ).model_dump()
    assert text_of("any prompt", behaviour, call=2) == "second call"
    assert text_of("I want my money back", behaviour, call=1) == "billing"
    assert text_of("I want my money back", behaviour, call=2) == "second call"
    assert json.loads(text_of("Classify: x", behaviour, call=3)) == {"route": "simple", "reason": "scripted"}
    assert text_of("Classify: x", behaviour, call=1) == text_of("Classify: x")
    assert text_of("there is nothing here", behaviour) == "null"
    multi = plan("mock/fast", [{"role": "system", "content": "refund desk"}, *ask("hi")], behaviour, 1, 1)
    assert "".join(multi.chunks) == "billing", "match sees the whole prompt, system included"


def test_scripted_json_wins_over_the_schema_and_is_streamed_whole() -> None:
    behaviour = {"replies": [{"json": {"route": "complex", "reason": "why"}}]}
    p = plan("mock/fast", ask("x"), behaviour, 1, 1, response_format=json_schema(router_fields(["simple", "complex"])))
    assert json.loads("".join(p.chunks)) == {"route": "complex", "reason": "why"}


def test_faults_match_by_call_calls_or_regex() -> None:
    behaviour = MockSpec.model_validate(
        {
            "faults": [
                {"on_call": 1, "error": "rate_limit", "retry_after": 2},
                {"calls": [3, 4], "error": "cut", "after_chunks": 5},
                {"match": "stall me", "error": "stall", "stall_s": 0.5, "after_chunks": 2},
                {"on_call": 9, "match": "only with nine", "kind": "auth", "message": "nope"},
            ]
        }
    ).model_dump()

    def fault(prompt: str, call: int) -> Fault | None:
        return plan("mock/fast", ask(prompt), behaviour, call, 1).fault

    assert fault("x", 1) == Fault("rate_limit", retry_after=2.0)
    assert fault("x", 2) is None
    assert fault("x", 3) == Fault("cut", after_chunks=5)
    assert fault("x", 4) == Fault("cut", after_chunks=5)
    assert fault("please stall me", 5) == Fault("stall", after_chunks=2, stall_s=0.5)
    assert fault("x", 9) is None
    assert fault("only with nine", 9) == Fault("auth", message="nope")
    assert plan("mock/fast", ask("x"), behaviour, 1, 1).chunks, "a fault still plans the text (for cut streams)"


def test_unknown_fault_kinds_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"^unknown offline fault 'explode'; one of rate_limit, server_error"):
        plan("mock/fast", ask("x"), {"faults": [{"error": "explode"}]}, 1, 1)
    with pytest.raises(ValueError, match="unknown offline fault 'boom'"):
        plan("mock/fast", ask("x"), {"faults": [{"kind": "boom"}]}, 1, 1)
    for kind in FAULT_KINDS:
        assert plan("mock/fast", ask("x"), {"faults": [{"error": kind}]}, 1, 1).fault == Fault(kind)
    assert plan("mock/fast", ask("x"), {"faults": [{}]}, 1, 1).fault == Fault("server_error")


# --- streams litellm accepts -------------------------------------------------------------------


def test_a_scripted_reply_that_repeats_itself_never_streams_identical_chunks_in_a_row() -> None:
    text = "ha " * 500 + "done"
    p = plan("mock/fast", ask("x"), {"replies": [{"text": text}]}, 1, 1)
    assert "".join(p.chunks) == text
    assert max_run(p.chunks) == 1
    looping_json = {"items": ["same"] * 300}
    p = plan("mock/fast", ask("x"), {"replies": [{"json": looping_json}]}, 1, 1)
    assert json.loads("".join(p.chunks)) == looping_json
    assert max_run(p.chunks) == 1


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.sampled_from(["ha ", "ha", "\n", "  ", "x ", "abc"]), max_size=300),
    size=st.sampled_from([0, 1, 3, 6]),
)
def test_no_repeats_keeps_the_text_and_never_repeats_a_chunk(words: list[str], size: int) -> None:
    text = "".join(words)
    chunks = no_repeats(split_chunks(text, size))
    assert "".join(chunks) == text
    assert max_run(chunks) <= 1
    assert all(chunks)


@settings(max_examples=100, deadline=None)
@given(prompt=st.text(max_size=80), lo=st.integers(1, 50), extra=st.integers(0, 400), seed=st.integers(0, 5))
def test_generated_prose_never_repeats_a_chunk(prompt: str, lo: int, extra: int, seed: int) -> None:
    behaviour = {"min_tokens": lo, "max_tokens": lo + extra, "seed": seed}
    p = plan("mock/fast", ask(f"Write about {prompt}"), behaviour, 1, 1)
    assert p.chunks
    assert max_run(p.chunks) == 1
    assert len(p.chunks) <= lo + extra


def test_split_chunks() -> None:
    assert split_chunks("") == []
    assert split_chunks("one two  three\n") == ["one ", "two  ", "three\n"]
    assert split_chunks("  lead") == ["  ", "lead"]
    assert split_chunks("abcdefg", 3) == ["abc", "def", "g"]


def test_validate_accepts_what_plan_says_for_every_schema_kind() -> None:
    fields = {"n": "int", "f": "float", "b": "bool", "l": "list[int]", "e": "enum[x]"}
    value = json.loads(text_of("q", response_format=json_schema(fields)))
    assert validate(value, fields) == value | {"f": float(value["f"])}


async def test_a_repetitive_scripted_reply_streams_whole_through_litellm() -> None:
    """litellm aborts a stream after 100 identical chunks in a row; the offline model never sends that."""
    from baton.core.llm.gateway import LiteLLMGateway
    from baton.core.llm.types import LLMRequest

    text = "ok " * 300 + "done"
    pieces: list[str] = []
    request = LLMRequest(model="mock/fast", alias="fast", messages=ask("say ok"), mock={"replies": [{"text": text}]})
    result = await LiteLLMGateway().stream(request, pieces.append, first_token_s=30, idle_s=30)
    assert result.text == text
    assert "".join(pieces) == text
