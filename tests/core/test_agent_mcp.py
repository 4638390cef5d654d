"""Agents whose tools live on MCP servers: the fixture server (built with the official SDK) over stdio and
streamable HTTP, called from the real runner's tool loop on a scripted model."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from baton.core import events as ev
from baton.core.llm.scripted import Reply
from baton.core.llm.types import LLMRequest, ModelToolCall
from baton.core.runner import RunOptions
from tests.core.runner_kit import flow, run
from tests.fixtures.mcp_http import FIXTURE, HttpFixture

FLOW = """
name: remote
state:
  report: str
models:
  cheap: test/cheap
defaults:
  model: cheap
steps:
  - id: clerk
    kind: agent
    writes: [report]
    prompt: "Tidy the records."
    tools:
      - mcp: {server}
        prefix: "fx_"
        exclude: [shout]
"""


def stdio(log: Path) -> str:
    return json.dumps({"command": [sys.executable, str(FIXTURE)], "env": {"MCP_FIXTURE_LOG": str(log)}})


def turn_of(request: LLMRequest) -> int:
    return sum(1 for m in request.messages if m.get("role") == "assistant")


def results(request: LLMRequest) -> list[str]:
    return [str(m["content"]) for m in request.messages if m.get("role") == "tool"]


def calls(*pairs: tuple[str, dict[str, Any]]) -> Reply:
    return Reply("", tool_calls=tuple(ModelToolCall(f"k{i}", n, json.dumps(a)) for i, (n, a) in enumerate(pairs)))


def tidy(request: LLMRequest) -> Reply:
    """Look a term up, delete a record (destructive: asks), trip the failing tool, then report."""
    turn = turn_of(request)
    if turn == 0:
        return calls(("fx_lookup", {"term": "baton"}), ("fx_delete_record", {"record_id": "r7"}))
    if turn == 1:
        return calls(("fx_explode", {}), ("fx_forecast", {"city": "Oslo"}))
    return Reply(" | ".join(results(request)))


@pytest.fixture
async def http() -> AsyncIterator[HttpFixture]:
    server = HttpFixture()
    await server.start()
    yield server
    await server.kill()


async def test_an_agent_calls_a_stdio_servers_tools_with_the_servers_annotations_as_policy(tmp_path: Path) -> None:
    log = tmp_path / "side-effects.log"
    done = await run(flow(FLOW.replace("{server}", stdio(log))), tidy)
    assert done.status == "completed"
    listed = {t["name"]: t for t in done.of(ev.ToolsListed)[0].tools}
    assert "fx_shout" not in listed and {"fx_lookup", "fx_delete_record", "fx_slow"} <= set(listed)
    assert listed["fx_lookup"]["approval"] == "never" and listed["fx_delete_record"]["approval"] == "always"
    assert listed["fx_delete_record"]["why"] == "the server marks it destructive"
    policies = [(r.tool, r.policy) for r in done.of(ev.ToolCallRequested)]
    assert policies == [
        ("fx_lookup", "run"),
        ("fx_delete_record", "ask"),
        ("fx_explode", "ask"),
        ("fx_forecast", "run"),
    ]
    assert log.read_text() == "delete r7\n"
    report = done.state["report"]
    assert "baton: defined in the glossary" in report and "deleted r7" in report
    assert "error: tool 'fx_explode' failed: Error executing tool explode: the fixture exploded on purpose" in report
    assert '"high_c": 14' in report
    assert [o.context["origin"] for o in done.of(ev.CheckpointOpened)] == ["mcp_server", "mcp_server"]


async def test_a_resumed_session_offers_the_recorded_tools_and_starts_no_server_for_recorded_calls(
    tmp_path: Path,
) -> None:
    log = tmp_path / "side-effects.log"
    workflow = flow(FLOW.replace("{server}", stdio(log)))
    first = await run(workflow, tidy, options=RunOptions(decisions={"clerk:tool_call:fx_explode": "pause"}))
    assert first.status == "paused"
    again = await run(workflow, tidy, history=first.history(), options=RunOptions(auto="approve"))
    assert again.status == "completed"
    assert again.of(ev.ToolsListed) == []  # the recorded list is offered again
    assert log.read_text() == "delete r7\n"  # the destructive call is not made twice


async def test_a_server_killed_during_a_call_is_a_tool_error_and_the_next_call_restarts_it(tmp_path: Path) -> None:
    pids: list[int] = []

    def script(request: LLMRequest) -> Reply:
        turn = turn_of(request)
        if turn == 0:
            return calls(("fx_whoami", {}))
        if turn == 1:
            pids.append(json.loads(results(request)[-1])["pid"])
            return calls(("fx_slow", {"seconds": 60}), ("kill", {"pid": pids[0]}))
        if turn == 2:
            return calls(("fx_whoami", {}))
        return Reply(" | ".join(results(request)))

    workflow = flow(
        FLOW.replace("{server}", stdio(tmp_path / "log")).replace(
            '        exclude: [shout]\n',
            '        exclude: [shout]\n      - call: "tests.core.test_agent_mcp:kill"\n        side_effects: false\n',
        )
    )
    done = await run(workflow, script, options=RunOptions(auto="approve"))
    assert done.status == "completed"
    seen = results(done.llm.requests[-1])
    assert seen[1].startswith("error: tool 'fx_slow' server 'mcp_server' was killed (SIGKILL) during the call")
    assert json.loads(seen[3])["pid"] != pids[0]


def kill(pid: int) -> str:
    """Kill a process (the test's way of crashing a server mid-call)."""
    os.kill(pid, signal.SIGKILL)
    return f"killed {pid}"


async def test_an_agent_calls_a_server_over_streamable_http(http: HttpFixture) -> None:
    server = json.dumps({"url": http.url, "name": "remote"})
    done = await run(flow(FLOW.replace("{server}", server)), tidy, options=RunOptions(auto="approve"))
    assert done.status == "completed"
    assert {r.origin for r in done.of(ev.ToolCallRequested)} == {"remote"}
    assert "deleted r7" in done.state["report"]


def ask_name(request: LLMRequest) -> Reply:
    if turn_of(request) == 0:
        return calls(("fx_ask_name", {}))
    return Reply(results(request)[-1])


async def test_a_servers_question_mid_call_is_a_checkpoint_and_the_answer_reaches_the_tool(tmp_path: Path) -> None:
    workflow = flow(FLOW.replace("{server}", stdio(tmp_path / "log")))
    answers = {
        "clerk:tool_call": "approve",
        "clerk:elicitation": {"decision": "edit", "edited": {"name": "Ada"}},
    }
    done = await run(workflow, ask_name, options=RunOptions(decisions=answers))
    assert done.status == "completed"
    assert done.state["report"] == "Hello, Ada!"
    question = [o for o in done.of(ev.CheckpointOpened) if o.reason == "elicitation"]
    assert len(question) == 1 and question[0].context["question"] == "What is your name?"
    assert question[0].context["schema"]["properties"]["name"]["type"] == "string"

    unattended = await run(workflow, ask_name, options=RunOptions(auto="approve"))
    assert unattended.status == "completed"
    assert unattended.state["report"] == "no name given (decline)"
    assert [d.decision for d in unattended.of(ev.DecisionMade) if "elicitation" in d.checkpoint_id] == ["reject"]

    wrong = {**answers, "clerk:elicitation": {"decision": "edit", "edited": {"name": 7}}}
    refused = await run(workflow, ask_name, options=RunOptions(decisions=wrong))
    assert refused.status == "failed"
    assert "the answer does not fit the question" in refused.of(ev.SessionFailed)[-1].error
