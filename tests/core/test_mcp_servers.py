"""baton's MCP client against real servers: the SDK-built fixture (`tests/fixtures/mcp_server.py`) over
stdio and streamable HTTP, and the published `mcp-server-time` run as a user runs it. Real processes,
real signals; waits are on conditions (a log line, a port that accepts, a process gone)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
import time
import warnings
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mcp.types as types
import pytest

from baton.core.mcp import PROTOCOL_VERSIONS, McpCallError, McpServers, ServerTool
from baton.core.mcp.results import UnsetReference, expand, result_json, secrets_in, server_tool
from baton.core.spec.agent_tools import McpServer
from tests.fixtures.mcp_http import FIXTURE, HttpFixture, Log

ROOT = Path(__file__).resolve().parent.parent.parent
ERAS = {"2026-07-28": {}, "2025-11-25": {"MCP_FIXTURE_ERA": "handshake"}}
"""The fixture speaking the per-request revision, and speaking only the `initialize` handshake."""


def fixture(env: dict[str, str] | None = None, **kwargs: Any) -> McpServer:
    return McpServer(command=[sys.executable, str(FIXTURE)], env=env or {}, name="fixture", **kwargs)


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def alive(pid: int) -> bool:
    """Whether a process exists at all (a zombie counts: it was not reaped)."""
    return Path(f"/proc/{pid}").exists()


def children() -> set[int]:
    """This process's child processes, zombies included."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
                    found.add(int(entry.name))
    return found


@pytest.fixture
async def log() -> Log:
    return Log()


@pytest.fixture
async def servers(log: Log) -> AsyncIterator[McpServers]:
    running = McpServers(log=log.append)
    yield running
    await running.aclose()


@pytest.fixture
async def http() -> AsyncIterator[HttpFixture]:
    server = HttpFixture()
    await server.start()
    yield server
    await server.kill()


def names(tools: list[ServerTool]) -> set[str]:
    return {tool.name for tool in tools}


BATON_ENTRY = "baton: defined in the glossary (entry 47)"
FIXTURE_TOOLS = {"lookup", "delete_record", "slow", "explode", "ask_name", "forecast", "whoami", "ping", "shout"}


# Listing tools


def check_fixture_listing(tools: list[ServerTool]) -> None:
    assert names(tools) == FIXTURE_TOOLS
    by_name = {tool.name: tool for tool in tools}
    lookup = by_name["lookup"]
    assert lookup.description == "Look a term up in the fixture's glossary."
    assert lookup.annotations == {"title": "Look up a term", "readOnlyHint": True}
    assert lookup.input_schema["required"] == ["term"]
    assert lookup.input_schema["properties"]["term"]["type"] == "string"
    assert by_name["delete_record"].annotations == {"destructiveHint": True, "idempotentHint": False}
    assert by_name["slow"].annotations == {}
    assert by_name["forecast"].annotations == {"readOnlyHint": True, "openWorldHint": False}


@pytest.mark.parametrize("era", ERAS)
async def test_lists_tools_over_stdio(servers: McpServers, log: Log, era: str) -> None:
    check_fixture_listing(await servers.list_tools(fixture(ERAS[era])))
    assert f"mcp fixture: connected (MCP {era})" in log


async def test_lists_and_calls_tools_over_http(servers: McpServers, log: Log, http: HttpFixture) -> None:
    server = McpServer(url=http.url, name="remote")
    check_fixture_listing(await servers.list_tools(server))
    assert await servers.call_tool(server, "lookup", {"term": "baton"}, 10) == BATON_ENTRY
    assert await servers.call_tool(server, "forecast", {"city": "Oslo"}, 10) == {
        "city": "Oslo", "high_c": 14, "conditions": ["dry", "windy"],
    }  # fmt: skip
    with pytest.raises(McpCallError, match="exploded on purpose"):
        await servers.call_tool(server, "explode", {}, 10)
    assert "mcp remote: connected (MCP 2026-07-28)" in log


# Calling tools


@pytest.mark.parametrize("era", ERAS)
async def test_calls_each_kind_of_tool(servers: McpServers, era: str, tmp_path: Path) -> None:
    effects = tmp_path / "effects.log"
    server = fixture({**ERAS[era], "MCP_FIXTURE_LOG": str(effects)})
    assert await servers.call_tool(server, "lookup", {"term": "baton"}, 10) == BATON_ENTRY
    assert await servers.call_tool(server, "forecast", {"city": "Oslo"}, 10) == {
        "city": "Oslo", "high_c": 14, "conditions": ["dry", "windy"],
    }  # fmt: skip
    assert await servers.call_tool(server, "delete_record", {"record_id": "r1"}, 10) == "deleted r1"
    assert await servers.call_tool(server, "delete_record", {"record_id": "r2"}, 10) == "deleted r2"
    assert effects.read_text().splitlines() == ["delete r1", "delete r2"]
    assert await servers.call_tool(server, "slow", {"seconds": 0.01}, 10) == "waited 0.01s"

    with pytest.raises(McpCallError) as failed:
        await servers.call_tool(server, "explode", {}, 10)
    assert failed.value.what == "failed: Error executing tool explode: the fixture exploded on purpose"

    with pytest.raises(McpCallError) as unknown:
        await servers.call_tool(server, "no_such_tool", {}, 10)
    assert unknown.value.what.startswith("failed: ") and "no_such_tool" in unknown.value.what

    assert await servers.call_tool(server, "ping", {}, 10) == "pong"  # still the same, healthy server
    assert effects.read_text().count("delete") == 2


async def test_a_timeout_leaves_the_server_usable(servers: McpServers, log: Log) -> None:
    server = fixture()
    before = await servers.call_tool(server, "whoami", {}, 10)
    started = time.monotonic()
    with pytest.raises(McpCallError) as timed_out:
        await servers.call_tool(server, "slow", {"seconds": 30}, 0.5)
    assert timed_out.value.what == "timed out after 0.5s"
    assert time.monotonic() - started < 10
    assert await servers.call_tool(server, "ping", {}, 10) == "pong"
    assert (await servers.call_tool(server, "whoami", {}, 10))["pid"] == before["pid"]
    assert sum("starting" in line for line in log) == 1


async def test_parallel_calls_from_several_tasks_share_one_server(servers: McpServers, log: Log) -> None:
    server = fixture()
    # Several tasks ask a server that is not started yet: one process serves them all.
    first = await asyncio.gather(*(servers.call_tool(server, "whoami", {}, 20) for _ in range(4)))
    assert len({answer["pid"] for answer in first}) == 1
    assert sum("starting" in line for line in log) == 1

    # A long call in flight does not hold up the others, and cancelling it leaves the server usable.
    long = asyncio.create_task(servers.call_tool(server, "slow", {"seconds": 60}, 120))
    await log.wait_for("slow: waiting 60")
    quick = await asyncio.gather(*(servers.call_tool(server, "lookup", {"term": t}, 10) for t in "abc"))
    assert quick == [f"{t}: defined in the glossary (entry {ord(t) % 97})" for t in "abc"]
    assert not long.done()
    long.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long
    assert await servers.call_tool(server, "ping", {}, 10) == "pong"
    assert (await servers.call_tool(server, "whoami", {}, 10))["pid"] == first[0]["pid"]


# A server that dies


async def test_sigkill_during_a_call_fails_that_call_and_the_next_call_restarts(
    servers: McpServers, log: Log, tmp_path: Path
) -> None:
    effects = tmp_path / "effects.log"
    server = fixture({"MCP_FIXTURE_LOG": str(effects)})
    pid = (await servers.call_tool(server, "whoami", {}, 10))["pid"]
    assert servers.pid(server) == pid
    in_flight = asyncio.create_task(servers.call_tool(server, "slow", {"seconds": 60}, 120))
    await log.wait_for("slow: waiting 60")
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(McpCallError) as lost:
        await in_flight
    assert lost.value.what == "server 'fixture' was killed (SIGKILL) during the call"
    assert not alive(pid)

    assert await servers.call_tool(server, "delete_record", {"record_id": "after"}, 10) == "deleted after"
    new_pid = (await servers.call_tool(server, "whoami", {}, 10))["pid"]
    assert new_pid != pid and servers.pid(server) == new_pid
    assert effects.read_text() == "delete after\n"
    assert "mcp fixture: was killed (SIGKILL)" in log and "mcp fixture: restarting" in log


async def test_a_server_that_died_between_calls_fails_the_next_call_once(servers: McpServers, log: Log) -> None:
    server = fixture()
    pid = (await servers.call_tool(server, "whoami", {}, 10))["pid"]
    os.kill(pid, signal.SIGTERM)
    await until(lambda: servers.pid(server) is None)
    with pytest.raises(McpCallError) as lost:
        await servers.call_tool(server, "ping", {}, 10)
    assert lost.value.what == "server 'fixture' was killed (SIGTERM) before the call"
    assert await servers.call_tool(server, "ping", {}, 10) == "pong"
    assert (await servers.call_tool(server, "whoami", {}, 10))["pid"] != pid


async def test_a_listing_restarts_a_dead_server_without_failing(servers: McpServers) -> None:
    server = fixture()
    pid = (await servers.call_tool(server, "whoami", {}, 10))["pid"]
    os.kill(pid, signal.SIGKILL)
    await until(lambda: servers.pid(server) is None)
    assert names(await servers.list_tools(server)) == FIXTURE_TOOLS
    assert servers.pid(server) not in (None, pid)


async def test_http_server_lost_during_a_call_then_back(servers: McpServers, log: Log, http: HttpFixture) -> None:
    server = McpServer(url=http.url, name="remote")
    assert await servers.call_tool(server, "ping", {}, 10) == "pong"
    in_flight = asyncio.create_task(servers.call_tool(server, "slow", {"seconds": 60}, 120))
    await http.stderr.wait_for("slow: waiting 60")
    await http.kill()
    with pytest.raises(McpCallError) as lost:
        await in_flight
    assert lost.value.what.startswith("server 'remote' lost the connection (")
    assert lost.value.what.endswith(") during the call")

    with pytest.raises(McpCallError, match=r"^server 'remote' could not start: ConnectError"):
        await servers.call_tool(server, "ping", {}, 10)
    await http.start()
    assert await servers.call_tool(server, "ping", {}, 10) == "pong"


@pytest.mark.parametrize(
    ("server", "what"),
    [
        (
            McpServer(command=["/nonexistent/mcp-server"], name="gone"),
            "server 'gone' could not start: FileNotFoundError",
        ),
        (
            McpServer(
                command=[sys.executable, "-c", "import sys; print('no config', file=sys.stderr); sys.exit(3)"],
                name="broken",
            ),
            "server 'broken' could not start: exited (code 3): no config",
        ),
        (
            McpServer(command=["cat"], env={"TOKEN": "${BATON_TEST_SURELY_UNSET}"}, name="cat"),
            "server 'cat' could not start: 'TOKEN' refers to ${BATON_TEST_SURELY_UNSET}, which is not set",
        ),
    ],
    ids=["no-such-command", "exits-at-once", "unset-reference"],
)
async def test_a_server_that_cannot_start(servers: McpServers, server: McpServer, what: str) -> None:
    for _ in range(2):  # each call tries again, and says why it could not
        with pytest.raises(McpCallError) as failed:
            await servers.call_tool(server, "anything", {}, 10)
        assert failed.value.what.startswith(what)
    with pytest.raises(McpCallError, match="could not start"):
        await servers.list_tools(server)


# What the server sees and says


async def test_stderr_goes_to_the_log_not_the_terminal(
    servers: McpServers, log: Log, capfd: pytest.CaptureFixture[str]
) -> None:
    assert await servers.call_tool(fixture(), "shout", {"text": "a line for the runner log"}, 10) == "said"
    assert await log.wait_for("mcp fixture: a line for the runner log")
    assert "mcp fixture: fixture server up" in " ".join(log)
    out, err = capfd.readouterr()
    assert "a line for the runner log" not in out + err
    assert "fixture server up" not in out + err


async def test_env_is_the_runners_plus_the_servers_with_references_expanded(
    servers: McpServers, log: Log, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BATON_TEST_MCP_TOKEN", "s3cret-token-4242")
    monkeypatch.setenv("BATON_TEST_INHERITED", "from the runner")
    server = fixture(
        {
            "FIXTURE_TOKEN": "Bearer ${BATON_TEST_MCP_TOKEN}",
            "PLAIN": "as written",
            "MCP_FIXTURE_ECHO": "FIXTURE_TOKEN,PLAIN,BATON_TEST_INHERITED",
        },
        cwd=str(tmp_path),
    )
    seen = await servers.call_tool(server, "whoami", {}, 10)
    assert seen["env"] == {
        "FIXTURE_TOKEN": "Bearer s3cret-token-4242",
        "PLAIN": "as written",
        "BATON_TEST_INHERITED": "from the runner",
    }
    assert seen["cwd"] == str(tmp_path)
    await servers.call_tool(server, "shout", {"text": "my token is s3cret-token-4242"}, 10)
    line = await log.wait_for("my token is")
    assert line == "mcp fixture: my token is [redacted]"
    assert not any("s3cret-token-4242" in entry for entry in log)


async def test_aclose_stops_every_server_and_leaves_no_child(log: Log) -> None:
    before = children()
    servers = McpServers(log=log.append)
    pids = [(await servers.call_tool(fixture(env), "whoami", {}, 10))["pid"] for env in ERAS.values()]
    assert set(pids) <= children()
    in_flight = asyncio.create_task(servers.call_tool(fixture(), "slow", {"seconds": 60}, 120))
    await log.wait_for("slow: waiting 60")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # From another task than the ones that started the servers and made the calls.
        await asyncio.create_task(servers.aclose())
        with pytest.raises(McpCallError) as stopped:
            await in_flight
        gc.collect()
    assert stopped.value.what == "server 'fixture' was stopped during the call"
    assert [str(w.message) for w in caught] == []
    assert not any(alive(pid) for pid in pids)
    assert children() <= before
    assert sum(line == "mcp fixture: stopped" for line in log) == 2
    with pytest.raises(McpCallError, match="was stopped"):
        await servers.call_tool(fixture(), "ping", {}, 10)


# Elicitation: the server asks the person


@pytest.mark.parametrize("era", ERAS)
async def test_elicitation_reaches_on_elicit_and_its_answer_reaches_the_tool(log: Log, era: str) -> None:
    asked: list[tuple[str, str, dict[str, Any]]] = []

    async def person(label: str, message: str, schema: dict[str, Any]) -> dict[str, Any] | None:
        asked.append((label, message, schema))
        return {"name": "Ada"} if len(asked) == 1 else None

    servers = McpServers(log=log.append, on_elicit=person)
    try:
        server = fixture(ERAS[era])
        assert await servers.call_tool(server, "ask_name", {}, 10) == "Hello, Ada!"
        assert await servers.call_tool(server, "ask_name", {}, 10) == "no name given (decline)"
    finally:
        await servers.aclose()
    label, message, schema = asked[0]
    assert (label, message) == ("fixture", "What is your name?")
    assert schema["properties"]["name"]["type"] == "string" and schema["required"] == ["name"]
    assert f"mcp fixture: connected (MCP {era})" in log


@pytest.mark.parametrize("era", ERAS)
async def test_the_persons_time_does_not_count_against_the_timeout(log: Log, era: str) -> None:
    async def slow_person(label: str, message: str, schema: dict[str, Any]) -> dict[str, Any] | None:
        await asyncio.sleep(1.5)  # the person thinks for longer than the call may take
        return {"name": "Grace"}

    servers = McpServers(log=log.append, on_elicit=slow_person)
    try:
        assert await servers.call_tool(fixture(ERAS[era]), "ask_name", {}, 0.75) == "Hello, Grace!"
    finally:
        await servers.aclose()


async def test_without_a_handler_the_question_is_declined(servers: McpServers) -> None:
    assert await servers.call_tool(fixture(), "ask_name", {}, 10) == "no name given (decline)"


async def test_a_failing_handler_fails_the_call_not_the_runner(log: Log) -> None:
    async def broken(label: str, message: str, schema: dict[str, Any]) -> dict[str, Any] | None:
        raise RuntimeError("the terminal went away")

    servers = McpServers(log=log.append, on_elicit=broken)
    try:
        with pytest.raises(McpCallError, match="^failed: "):
            await servers.call_tool(fixture(), "ask_name", {}, 10)
        assert await servers.call_tool(fixture(), "ping", {}, 10) == "pong"
    finally:
        await servers.aclose()
    assert "mcp fixture: could not ask the person: the terminal went away" in log


# A published server, run as a user runs it


@pytest.mark.parametrize(
    "command",
    [[str(Path(sys.executable).parent / "mcp-server-time")], [sys.executable, "-m", "mcp_server_time"]],
    ids=["console-script", "python-m"],
)
async def test_mcp_server_time(servers: McpServers, command: list[str]) -> None:
    server = McpServer(command=command, name="time")
    tools = {tool.name: tool for tool in await servers.list_tools(server)}
    assert {"get_current_time", "convert_time"} <= set(tools)
    assert tools["get_current_time"].annotations["readOnlyHint"] is True
    assert tools["get_current_time"].input_schema["required"] == ["timezone"]
    now = await servers.call_tool(server, "get_current_time", {"timezone": "UTC"}, 20)
    assert now["timezone"] == "UTC"
    assert abs((datetime.fromisoformat(now["datetime"]) - datetime.now(UTC)).total_seconds()) < 120
    with pytest.raises(McpCallError, match="^failed: .*Invalid timezone"):
        await servers.call_tool(server, "get_current_time", {"timezone": "Mars/Olympus_Mons"}, 20)


# Pure parts: listings, results, env references


def test_protocol_versions() -> None:
    assert PROTOCOL_VERSIONS == ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")


def test_a_listing_keeps_only_the_specified_annotations() -> None:
    tool = types.Tool(
        name="t",
        title="Fancy",
        input_schema={"type": "object"},
        annotations=types.ToolAnnotations(read_only_hint=False, destructive_hint=True),
    )
    assert server_tool(tool) == ServerTool(
        name="t", description="", input_schema={"type": "object"},
        annotations={"title": "Fancy", "readOnlyHint": False, "destructiveHint": True},
    )  # fmt: skip
    bare = server_tool(types.Tool(name="b", description="d", input_schema={"type": "object"}))
    assert bare.annotations == {} and bare.description == "d"


def test_results_as_json() -> None:
    text = types.TextContent(type="text", text="one")
    image = types.ImageContent(type="image", data="AAAA", mime_type="image/png")
    audio = types.AudioContent(type="audio", data="AAAA", mime_type="audio/wav")
    link = types.ResourceLink(type="resource_link", name="f", uri="file:///tmp/f.txt")
    embedded_text = types.EmbeddedResource(
        type="resource", resource=types.TextResourceContents(uri="file:///a", text="inside")
    )
    embedded_blob = types.EmbeddedResource(
        type="resource", resource=types.BlobResourceContents(uri="file:///b", blob="AAAA", mime_type="application/pdf")
    )
    assert result_json(types.CallToolResult(content=[text])) == "one"
    assert result_json(types.CallToolResult(content=[])) == ""
    assert result_json(types.CallToolResult(content=[text, image, audio, link, embedded_text, embedded_blob])) == (
        "one\n[image: image/png]\n[audio: audio/wav]\n[resource link: file:///tmp/f.txt]\ninside\n"
        "[resource: file:///b (application/pdf)]"
    )
    assert result_json(types.CallToolResult(content=[text], structured_content={"n": 1})) == {"n": 1}
    wrapped = types.CallToolResult(content=[text], structured_content={"result": "one"})
    assert result_json(wrapped) == "one"  # a plain return value, as SDK-built servers wrap it
    assert result_json(types.CallToolResult(content=[], structured_content={"result": 1, "n": 2})) == {
        "result": 1,
        "n": 2,
    }
    with pytest.raises(McpCallError) as failed:
        result_json(types.CallToolResult(content=[text], is_error=True))
    assert failed.value.what == "failed: one"
    with pytest.raises(McpCallError) as silent:
        result_json(types.CallToolResult(content=[], is_error=True))
    assert silent.value.what == "failed (the server gave no message)"


def test_env_references() -> None:
    environ = {"A": "alpha", "B": "beta"}
    assert expand({"X": "${A}-${B}", "Y": "$A ${A}", "Z": "plain"}, environ) == {
        "X": "alpha-beta", "Y": "$A alpha", "Z": "plain",
    }  # fmt: skip
    with pytest.raises(UnsetReference, match=r"'X' refers to \$\{C\}, which is not set"):
        expand({"X": "${C}"}, environ)
    secret = {"TOKEN": "tok-123456789", "URL": "https://x"}
    assert secrets_in({"H": "Bearer ${TOKEN}", "U": "${URL}", "N": "1"}, secret) == [
        "Bearer tok-123456789", "tok-123456789", "https://x",
    ]  # fmt: skip

