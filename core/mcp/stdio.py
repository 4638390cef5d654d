"""An MCP server started as a child process, its stdin/stdout bridged to the SDK's message streams.

The SDK's own `stdio_client` hides the process: its stderr can only go to a file and its exit code is
never seen. baton needs both — stderr goes line by line to the runner log, and a server that dies is
reported with how it ended ("exited (code 1)", "was killed (SIGKILL)") — so the process is spawned
here. The shutdown follows the specification's order, as the SDK does: close stdin, give the server
time to exit, then terminate its whole process group (SIGTERM, then SIGKILL), every wait bounded.
"""

from __future__ import annotations

import signal
import subprocess
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from anyio.streams.text import TextReceiveStream
from mcp.os.posix.utilities import terminate_posix_process_tree
from mcp.shared.message import SessionMessage
from mcp.types import jsonrpc_message_adapter

EXIT_GRACE_S = 2.0
"""How long a server has to exit by itself once its stdin is closed."""
KILL_GRACE_S = 2.0
"""How long after SIGTERM before SIGKILL."""
EXIT_CODE_WAIT_S = 1.0
"""How long to wait for the exit code once the server's output has ended."""
MAX_LOG_LINE = 2000
"""Longer stderr lines are cut (a server dumping a blob should not flood the log)."""

Streams = tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]
"""What a transport hands the SDK's session: messages from the server, messages to it."""

_PIPE_ERRORS = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError)


def describe_exit(returncode: int | None) -> str:
    """How a process ended, as the end of a sentence about it."""
    if returncode is None:
        return "closed its output"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed ({name})"
    return f"exited (code {returncode})"


class StdioProcess:
    """One start of a server command. `open()` is the transport handed to the SDK's `Client`; `on_end`
    hears how the process ended when its output stops by itself (a crash, a kill, an exit), not when
    the transport is being closed."""

    def __init__(
        self,
        command: list[str],
        env: Mapping[str, str],
        cwd: str | None,
        on_stderr: Callable[[str], None],
        on_end: Callable[[str], None],
    ) -> None:
        self.command = command
        self.env = dict(env)
        self.cwd = cwd
        self.on_stderr = on_stderr
        self.on_end = on_end
        self.process: anyio.abc.Process | None = None
        self.last_stderr: deque[str] = deque(maxlen=5)
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Streams]:
        process = await anyio.open_process(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )
        self.process = process
        # No await between the spawn and the task group: a cancellation there would leak the process.
        to_session, from_server = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        to_server, from_session = anyio.create_memory_object_stream[SessionMessage](0)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._read_stdout, process, to_session)
            tg.start_soon(self._write_stdin, process, from_session, to_session)
            tg.start_soon(self._read_stderr, process)
            try:
                yield from_server, to_server
            finally:
                self._stopping = True
                with anyio.CancelScope(shield=True):
                    from_server.close()
                    to_server.close()
                    await _stop(process)
                    tg.cancel_scope.cancel()

    async def _read_stdout(
        self, process: anyio.abc.Process, sink: MemoryObjectSendStream[SessionMessage | Exception]
    ) -> None:
        assert process.stdout is not None
        async with sink:
            buffer = ""
            with suppress(*_PIPE_ERRORS):
                async for chunk in TextReceiveStream(process.stdout, errors="replace"):
                    lines = (buffer + chunk).split("\n")
                    buffer = lines.pop()
                    for line in lines:
                        if line.strip():
                            await sink.send(self._parse(line))
            if self._stopping:
                return
            # The end is known before the session hears of it, so a call that fails on it can say why.
            with anyio.move_on_after(EXIT_CODE_WAIT_S):
                await process.wait()
            self.on_end(describe_exit(process.returncode))

    def _parse(self, line: str) -> SessionMessage | Exception:
        try:
            return SessionMessage(jsonrpc_message_adapter.validate_json(line, by_name=False))
        except ValueError as exc:
            self.on_stderr(f"(not a JSON-RPC message on stdout) {line[:200]}")
            return exc

    async def _write_stdin(
        self,
        process: anyio.abc.Process,
        source: MemoryObjectReceiveStream[SessionMessage],
        sink: MemoryObjectSendStream[SessionMessage | Exception],
    ) -> None:
        assert process.stdin is not None
        try:
            async with source:
                async for message in source:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                    await process.stdin.send(data.encode())
        except _PIPE_ERRORS:
            # The server stopped reading: end the session rather than leave a request waiting forever.
            await sink.aclose()

    async def _read_stderr(self, process: anyio.abc.Process) -> None:
        assert process.stderr is not None
        buffer = ""
        with suppress(*_PIPE_ERRORS):
            async for chunk in TextReceiveStream(process.stderr, errors="replace"):
                lines = (buffer + chunk).split("\n")
                buffer = lines.pop()
                for line in lines:
                    self._stderr_line(line)
        if buffer:
            self._stderr_line(buffer)

    def _stderr_line(self, line: str) -> None:
        line = line.rstrip()[:MAX_LOG_LINE]
        if line.strip():
            self.last_stderr.append(line)
            self.on_stderr(line)


async def _stop(process: anyio.abc.Process) -> None:
    """Close stdin, wait, then terminate the process group (whatever the server left running in it too);
    release the pipes."""
    if process.stdin is not None:
        with suppress(*_PIPE_ERRORS):
            await process.stdin.aclose()
    with anyio.move_on_after(EXIT_GRACE_S):
        await process.wait()
    await terminate_posix_process_tree(process, KILL_GRACE_S)
    with anyio.move_on_after(KILL_GRACE_S):
        await process.aclose()
