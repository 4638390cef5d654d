"""The offline model as a router: a deterministic classifier (greetings, sums and definitions are simple;
research questions and open topics are complex), matched to routes by what their labels and descriptions
say, answered through the same plan the provider streams."""

from __future__ import annotations

import json

import pytest

from baton.core.llm.offline import plan
from baton.core.llm.offline_routes import complexity, request_subject, route_reply
from baton.core.structured import json_schema, parse_reply, router_fields

DEMO_SYSTEM = (
    "You route requests to the step best suited to handle them. Pick exactly one route.\n\nRoutes:\n"
    "- simple: quick_answer — Answer a simple question directly\n"
    "- complex: research — Three researchers work at once"
)


def demo_route(topic: str) -> dict[str, str]:
    messages = [
        {"role": "system", "content": DEMO_SYSTEM},
        {"role": "user", "content": f"How much work does this need? {topic}"},
    ]
    fields = router_fields(["simple", "complex"])
    reply = plan("mock/fast", messages, {}, 1, 10, response_format=json_schema(fields, "triage"))
    return parse_reply("".join(reply.chunks), fields)


@pytest.mark.parametrize(
    "topic",
    [
        "heat pumps in cold climates",
        "the economics of solid-state batteries for grid storage",
        "Why do heat pumps lose efficiency in the cold?",
        "How should a small team compare event sourcing and CRUD for its next product?",
    ],
)
def test_research_questions_are_complex(topic: str) -> None:
    reply = demo_route(topic)
    assert reply["route"] == "complex"
    assert reply["reason"].startswith("an open research question (") and "more than a quick answer" in reply["reason"]


@pytest.mark.parametrize("topic", ["hello!", "thanks", "what is 2+2", "What is a heat pump?", "Who wrote Hamlet?"])
def test_greetings_sums_and_definitions_are_simple(topic: str) -> None:
    reply = demo_route(topic)
    assert reply["route"] == "simple"
    assert "short, direct answer" in reply["reason"]


def test_the_same_request_always_takes_the_same_route() -> None:
    assert {json.dumps(demo_route("heat pumps in cold climates")) for _ in range(5)} == {
        json.dumps(demo_route("heat pumps in cold climates"))
    }
    assert demo_route("What is a heat pump?")["reason"] == "a definition of 'heat pump': a short, direct answer will do"


def test_routes_are_matched_by_what_they_say_not_by_their_order() -> None:
    system = "Routes:\n- deep: expert — A senior reviewer, thorough\n- fast: quick — Brief answer\n- billing: billing"
    labels = ["deep", "fast", "billing"]
    hard = "Question: how do the pricing tiers compare over three years?"
    assert route_reply(labels, system, hard)["route"] == "deep"
    assert route_reply(labels, system, "Question: hi there")["route"] == "fast"
    assert route_reply(labels, system, "Question: a billing error on my invoice")["route"] == "billing"


def test_the_subject_is_what_the_template_asks_about() -> None:
    assert request_subject("How much work does this need? heat pumps") == "heat pumps"
    assert request_subject("Which route fits this request?\n\n## Inputs\n\n### topic\ngrid batteries") == (
        "grid batteries"
    )
    assert complexity("")[0] == 0


def test_other_structured_replies_are_unchanged() -> None:
    # An enum that is not a router's route stays a deterministic pick among its values.
    fields = {"category": "enum[bug, billing]", "confidence": "float"}
    messages = [{"role": "user", "content": "Classify: hi"}]
    reply = plan("mock/fast", messages, {}, 1, 10, response_format=json_schema(fields, "c"))
    assert parse_reply("".join(reply.chunks), fields)["category"] in ("bug", "billing")
