"""The MCP servers of one runner: started when first needed, shared by every call, restarted after they
die, stopped together at the end.

The SDK's client lives in anyio task groups that must be entered and left by the same task, and a
stream-transport failure unwinds them from inside. So each server has one owner task that holds the
`async with` of its transport and session and does nothing else; calls are made from whatever task
needs them (several at once when a model asks for parallel calls) and only send and await messages.
A server that dies — its process exits, its HTTP connection breaks — ends its owner task; the call in
flight (or the next call, when it died idle) fails with `McpCallError`, and the call after that starts
a fresh server.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
import httpx2
import mcp.types as types
from mcp import Client, InputRequiredRoundsExceededError
from mcp.client import ClientRequestContext, Transport
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from baton.core.mcp.results import (
    McpCallError,
    ServerTool,
    UnsetReference,
    expand,
    result_json,
    secrets_in,
    server_tool,
)
from baton.core.mcp.stdio import StdioProcess
from baton.core.secrets import REDACTED, redact
from baton.core.spec.agent_tools import McpServer

__all__ = ["ElicitHandler", "McpCallError", "McpServers", "ServerTool"]

ElicitHandler = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any] | None]]
"""(server label, message, requested JSON schema) -> the person's answer (content), or None to decline."""

START_TIMEOUT_S = 30.0
"""How long a server has to answer the handshake (and a tool listing) before it counts as not started."""
END_WAIT_S = 10.0
"""How long a call that lost its server waits to learn how the server ended."""


def _client_info() -> types.Implementation:
    try:
        return types.Implementation(name="baton", version=version("baton"))
    except PackageNotFoundError:
        return types.Implementation(name="baton", version="0")


class _Deadline:
    """A call's timeout, which stands still while its server waits for a person's answer."""

    def __init__(self, seconds: float | None) -> None:
        self.scope = anyio.CancelScope(deadline=math.inf if seconds is None else anyio.current_time() + seconds)
        self._paused = 0
        self._left = 0.0

    def pause(self) -> None:
        if not self._paused:
            self._left = self.scope.deadline - anyio.current_time()
            self.scope.deadline = math.inf
        self._paused += 1

    def resume(self) -> None:
        self._paused -= 1
        if not self._paused:
            self.scope.deadline = anyio.current_time() + self._left


class _Connection:
    """One start of one server: the owner task that holds the SDK client, and how the start ended."""

    def __init__(self, server: McpServer, log: Callable[[str], None], on_elicit: ElicitHandler | None) -> None:
        self.server = server
        self.label = server.label
        self._log = log
        self._on_elicit = on_elicit
        self._secrets: list[str] = []
        self._stop = asyncio.Event()
        self.stopping = False
        self.end: str | None = None
        """How the server ended on its own ("exited (code 1)", "lost the connection (…)"); None while it runs."""
        self.end_reported = False
        self._gone: str | None = None
        self.calls: set[_Deadline] = set()
        self.stdio: StdioProcess | None = None
        self._start = anyio.CancelScope(deadline=anyio.current_time() + START_TIMEOUT_S)
        self._ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
        self._ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.task = asyncio.create_task(self._own(), name=f"mcp server {self.label}")

    def log(self, line: str) -> None:
        for secret in self._secrets:
            line = line.replace(secret, REDACTED)
        self._log(f"mcp {self.label}: {redact(line)}")

    @property
    def running(self) -> bool:
        return self.end is None and not self.task.done()

    async def client(self) -> Client:
        if self._ready.done():
            return self._ready.result()
        return await asyncio.shield(self._ready)

    def stop(self) -> None:
        self.stopping = True
        self._stop.set()
        if not self._ready.done():
            self._start.cancel()  # a server still starting (or hanging in its start) is not waited for

    async def ended(self, within_s: float) -> None:
        """Wait (bounded) for the owner task to finish; stop it if it does not."""
        done, _ = await asyncio.wait({self.task}, timeout=within_s)
        if not done:
            self.stop()
            await asyncio.wait({self.task})

    # The owner task.

    async def _own(self) -> None:
        # The start's deadline is a scope around the whole life (scopes must nest with the SDK's task
        # groups), lifted once the server has answered the handshake.
        start = self._start
        try:
            with start:
                async with AsyncExitStack() as stack:
                    client = Client(
                        await self._transport(stack),
                        mode="auto",
                        elicitation_callback=self._elicit,
                        client_info=_client_info(),
                        cache=None,
                    )
                    await stack.enter_async_context(client)
                    start.deadline = math.inf
                    self.log(f"connected (MCP {client.protocol_version})")
                    self._ready.set_result(client)
                    await self._stop.wait()
            if start.cancelled_caught:
                self._end(f"did not answer the handshake within {START_TIMEOUT_S:g}s")
            else:
                self._end(self._gone or "closed the connection")
        except Exception as exc:  # whatever ended this start becomes the reason the calls are given
            self._end(self._failure(exc))
        finally:
            if not self._ready.done():
                self.end_reported = True  # the calls waiting for the start hear of it
                failed = f"could not start: {self.end}" if self.end else "was stopped while it started"
                self._ready.set_exception(McpCallError(f"server '{self.label}' {failed}"))
            if self.stopping:
                self.log("stopped")

    async def _transport(self, stack: AsyncExitStack) -> Transport:
        server = self.server
        if server.command is not None:
            env = expand(server.env)
            self._secrets = secrets_in(server.env)
            self.stdio = StdioProcess(
                server.command, {**os.environ, **env}, server.cwd, on_stderr=self.log, on_end=self._process_ended
            )
            self.log(f"starting {' '.join(server.command)}")
            return self.stdio.open()
        assert server.url is not None
        headers = expand(server.headers)
        self._secrets = secrets_in(server.headers)
        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
        )
        self.log(f"connecting to {server.url}")
        return streamable_http_client(server.url, http_client=http)

    def _process_ended(self, how: str) -> None:
        """The process ended by itself: remember how, and let the owner task go."""
        self._gone = how
        self._stop.set()

    def _end(self, how: str) -> None:
        if not self.stopping and self.end is None:
            self.end = how
            self.log(how)

    def _failure(self, exc: BaseException) -> str:
        if isinstance(exc, UnsetReference):
            return str(exc)
        if self._gone is not None:
            last = self.stdio.last_stderr[-1] if self.stdio and self.stdio.last_stderr else ""
            return f"{self._gone}: {last}" if last and not self._ready.done() else self._gone
        cause = root_cause(exc)
        return f"lost the connection ({cause})" if self._ready.done() else cause

    # Elicitation: the server asks the person something in the middle of a call.

    async def _elicit(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        if self._on_elicit is None or not isinstance(params, types.ElicitRequestFormParams):
            return types.ElicitResult(action="decline")
        with self._waiting_on_a_person():
            try:
                answer = await self._on_elicit(self.label, params.message, dict(params.requested_schema))
                if answer is None:
                    return types.ElicitResult(action="decline")
                return types.ElicitResult(action="accept", content=answer)
            except Exception as exc:
                self.log(f"could not ask the person: {exc}")
                return types.ErrorData(code=types.INTERNAL_ERROR, message="the client could not ask the person")

    @contextmanager
    def _waiting_on_a_person(self) -> Iterator[None]:
        paused = list(self.calls)
        for deadline in paused:
            deadline.pause()
        try:
            yield
        finally:
            for deadline in paused:
                deadline.resume()


def root_cause(exc: BaseException) -> str:
    """The first leaf of an exception group, as `Type: message`."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class McpServers:
    """One process (or HTTP session) per distinct `McpServer` config (`McpServer.key()`) per runner;
    started when first needed.

    `log` gets one line per event of a server's life and per line it writes to stderr, each prefixed
    `mcp <label>: `, with the values of its env and headers (and of the variables they refer to)
    redacted. `on_elicit` answers a server's questions to the person; without it they are declined.
    Every method may be called from any task, concurrently."""

    def __init__(self, log: Callable[[str], None] = lambda line: None, on_elicit: ElicitHandler | None = None) -> None:
        self._log = log
        self._on_elicit = on_elicit
        self._connections: dict[str, _Connection] = {}
        self._all: list[_Connection] = []
        self._closed = False

    async def list_tools(self, server: McpServer) -> list[ServerTool]:
        """Every tool the server offers; starts the server if needed (and again if it died)."""
        connection = self._connection(server, restart_quietly=True)
        client = await connection.client()
        tools: list[ServerTool] = []
        cursor: str | None = None
        try:
            with anyio.fail_after(START_TIMEOUT_S):
                while True:
                    page = await client.list_tools(cursor=cursor)
                    tools.extend(server_tool(tool) for tool in page.tools)
                    cursor = page.next_cursor
                    if cursor is None:
                        return tools
        except TimeoutError:
            raise McpCallError(
                f"server '{connection.label}' did not list its tools within {START_TIMEOUT_S:g}s"
            ) from None
        except (MCPError, ValidationError, RuntimeError) as exc:
            what = f"server '{connection.label}' could not list its tools"
            raise await self._lost_or(connection, exc, what, during="the listing") from None

    async def call_tool(self, server: McpServer, name: str, args: dict[str, Any], timeout_s: float | None) -> Any:
        """Call a tool; its result as JSON: the structured content when the server gives it, else the text
        of its contents (non-text items as placeholders such as `[image: image/png]`). Every failure is an
        `McpCallError`: the tool reported an error, `timeout_s` ran out (the server stays up; time spent
        waiting for the person's answer to a question from the server does not count), or the server
        died before or during the call (the next call starts it again)."""
        connection = self._connection(server, restart_quietly=False)
        client = await connection.client()
        deadline = _Deadline(timeout_s)
        connection.calls.add(deadline)
        try:
            with deadline.scope:
                result = await client.call_tool(name, args)
        except (MCPError, ValidationError, RuntimeError) as exc:
            raise await self._lost_or(connection, exc, "failed") from None
        finally:
            connection.calls.discard(deadline)
        if deadline.scope.cancelled_caught:
            raise McpCallError(f"timed out after {timeout_s:g}s")
        return result_json(result)

    async def aclose(self) -> None:
        """Stop every server; returns once their processes are gone."""
        self._closed = True
        for connection in self._all:
            connection.stop()
        await asyncio.gather(*(connection.task for connection in self._all), return_exceptions=True)
        self._all.clear()
        self._connections.clear()

    def pid(self, server: McpServer) -> int | None:
        """The process id of a running stdio server (for diagnostics), else None."""
        connection = self._connections.get(server.key())
        if connection is None or not connection.running or connection.stdio is None:
            return None
        return connection.stdio.pid

    def _connection(self, server: McpServer, *, restart_quietly: bool) -> _Connection:
        if self._closed:
            raise McpCallError(f"server '{server.label}' was stopped")
        key = server.key()
        connection = self._connections.get(key)
        if connection is not None and not connection.running and connection.end is not None:
            if not connection.end_reported and not restart_quietly:
                connection.end_reported = True
                raise McpCallError(f"server '{connection.label}' {connection.end} before the call")
            connection.log("restarting")
        if connection is None or not connection.running:
            connection = _Connection(server, self._log, self._on_elicit)
            self._connections[key] = connection
            self._all = [c for c in self._all if not c.task.done()] + [connection]
        return connection

    async def _lost_or(
        self, connection: _Connection, exc: Exception, what: str, during: str = "the call"
    ) -> McpCallError:
        """A call that lost its server says how the server ended; any other error is the call's own."""
        if isinstance(exc, MCPError) and exc.code == types.CONNECTION_CLOSED:
            await connection.ended(END_WAIT_S)
            connection.end_reported = True
            how = connection.end or ("was stopped" if connection.stopping else "closed the connection")
            return McpCallError(f"server '{connection.label}' {how} during {during}")
        if isinstance(exc, MCPError) and exc.message == "Session terminated":
            connection.stop()
        if isinstance(exc, InputRequiredRoundsExceededError):
            return McpCallError(f"{what}: the server kept asking for input")
        return McpCallError(f"{what}: {exc}")

