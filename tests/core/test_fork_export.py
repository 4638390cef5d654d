"""Forks start from another session's record (nothing before the fork point re-runs, unchanged requests
replay at $0) and sessions export as OpenTelemetry GenAI spans."""

from __future__ import annotations

import json

import pytest

from baton.core.export import messages, spans
from baton.core.runner import RunOptions
from baton.sessions.fork import fork_session
from baton.sessions.store import Store, StoreError
from tests.helpers import Session, run, workflow


async def test_fork_copies_the_prefix_and_runs_the_rest(store: Store) -> None:
    status, parent = await run(store, workflow("demo", instant=True), options=RunOptions(auto="approve"))
    assert status == "completed"
    fork_id = await fork_session(store, parent.session_id, "write", {"topic": "tidal power"})
    forked = Session(store, fork_id, None)  # type: ignore[arg-type]
    await forked.resume(RunOptions(auto="approve"))
    assert await forked.finish() == "completed"
    view = await forked.view()
    assert view.parent == parent.session_id and view.fork_step == "write"
    # Steps before the fork point were copied, not re-run: the fork made calls only for write onwards.
    own_calls = [c for c in view.calls.values() if not c.inherited]
    assert {c.step for c in own_calls} == {"write", "publish"}
    assert "tidal power" in own_calls[0].request["messages"][-1]["content"]
    rerun = parent.steps["write"].cost_usd + parent.steps["publish"].cost_usd
    assert view.inherited_usd == pytest.approx(parent.cost_usd - rerun)
    assert view.cost_usd == pytest.approx(sum(c.cost_usd or 0 for c in own_calls))
    assert view.state["topic"] == "tidal power"


async def test_a_fork_without_changes_replays_recorded_answers_at_no_cost(store: Store) -> None:
    status, parent = await run(store, workflow("demo", instant=True), options=RunOptions(auto="approve"))
    fork_id = await fork_session(store, parent.session_id, "research", {})
    forked = Session(store, fork_id, None)  # type: ignore[arg-type]
    await forked.resume(RunOptions(auto="approve"))
    assert await forked.finish() == "completed"
    view = await forked.view()
    own = [c for c in view.calls.values() if not c.inherited]
    assert own and all(c.replayed for c in own)
    assert view.cost_usd == 0.0
    assert view.state["draft"] == parent.state["draft"]


async def test_fork_refuses_a_step_that_never_ran(store: Store) -> None:
    _, parent = await run(store, workflow("demo", instant=True), options=RunOptions(auto="approve"))
    with pytest.raises(StoreError, match="never ran"):
        await fork_session(store, parent.session_id, "quick_answer", {})
    with pytest.raises(StoreError, match="not a top-level step"):
        await fork_session(store, parent.session_id, "nope", {})


async def test_export_spans_follow_genai_names_and_hide_content_unless_asked(store: Store) -> None:
    _, view = await run(store, workflow("demo", instant=True), options=RunOptions(auto="approve"))
    out = list(spans(view))
    names = {s["attributes"]["gen_ai.operation.name"] for s in out}
    assert {"invoke_workflow", "invoke_agent", "chat", "step"} <= names
    ids = {s["span_id"] for s in out}
    assert all(s["parent_span_id"] in ids for s in out if s["parent_span_id"] is not None)
    chats = [s for s in out if s["attributes"]["gen_ai.operation.name"] == "chat"]
    assert sum(s["attributes"]["gen_ai.usage.output_tokens"] for s in chats) == view.tokens_out
    assert all("gen_ai.input.messages" not in s["attributes"] for s in chats)
    with_content = [s for s in spans(view, content=True) if s["attributes"]["gen_ai.operation.name"] == "chat"]
    assert "solid-state" in json.dumps(with_content)


async def test_export_content_has_one_message_shape_and_every_step_span_a_start(store: Store) -> None:
    _, view = await run(store, workflow("demo", instant=True), options=RunOptions(auto="approve"))
    out = list(spans(view, content=True))
    skipped = [s for s in out if s["attributes"].get("baton.step.status") == "skipped"]
    assert skipped, "the demo's router passes over a step"
    for span in out:
        start, end = span["start_time_unix_nano"], span["end_time_unix_nano"]
        assert isinstance(start, int) and isinstance(end, int) and start <= end, span["name"]
    for span in skipped:
        assert span["start_time_unix_nano"] == span["end_time_unix_nano"], "a step that never ran takes no time"
    chats = [s for s in out if s["attributes"]["gen_ai.operation.name"] == "chat"]
    for call, chat in zip(view.calls.values(), chats, strict=True):
        inputs = json.loads(chat["attributes"]["gen_ai.input.messages"])
        outputs = json.loads(chat["attributes"]["gen_ai.output.messages"])
        shapes = {
            "text": {"type", "content"},
            "tool_call": {"type", "id", "name", "arguments"},
            "tool_call_response": {"type", "id", "response"},
        }
        for message in inputs + outputs:
            assert set(message) == {"role", "parts"}, message
            assert all(set(p) == shapes[p["type"]] for p in message["parts"]), message
        sent = call.request["messages"]
        assert [m["role"] for m in inputs] == [m["role"] for m in sent]
        for given, m in zip(inputs, sent, strict=True):
            if m["role"] == "tool":
                response = {"type": "tool_call_response", "id": m["tool_call_id"], "response": m["content"]}
                assert given["parts"] == [response]
            elif m.get("content"):
                assert given["parts"][0] == {"type": "text", "content": m["content"]}
            calls = [p for p in given["parts"] if p["type"] == "tool_call"]
            assert [c["id"] for c in calls] == [c["id"] for c in m.get("tool_calls") or []]
        answered = [{"type": "text", "content": call.text}] if call.text else []
        answered += [
            {"type": "tool_call", "id": c["id"], "name": c["name"], "arguments": json.loads(c["arguments"])}
            for c in call.tool_calls
        ]
        assert outputs == [{"role": "assistant", "parts": answered}]


def test_request_messages_in_parts_keep_every_text_piece() -> None:
    raw = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}}]},
        "not a message",
    ]
    assert messages(raw) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {
            "role": "user",
            "parts": [{"type": "text", "content": "a"}, {"type": "image_url", "image_url": {"url": "u"}}],
        },
    ]
    assert messages(None) == []
