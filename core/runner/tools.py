"""Calling a workflow's Python tools: loading them, running them, and checking what they return.

A side-effecting call commits its intent before it runs. A synchronous tool runs on a daemon thread of
its own: a thread cannot be killed, so a tool that never returns must not be one the interpreter waits
for at exit (the default executor's threads are) — a timed-out or cancelled call is abandoned, and the
runner process still ends. What a tool returns must be JSON (it is stored in the session); anything
else is a tool failure that names the type, handled like any other failure.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import inspect
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from baton.core import events as ev
from baton.core.runner.context import Clock, ConfigError, Paused, SessionStop
from baton.core.runner.journal import Journal
from baton.core.secrets import Redactor
from baton.core.spec.agent_tools import FunctionTool
from baton.core.spec.graph import iter_steps
from baton.core.spec.model import AgentStep, DelegateTool, ToolStep, WorkflowSpec


@dataclass(frozen=True)
class ToolCall:
    """One call of a tool: `key` is its idempotency key (`session:step:argument-hash`)."""

    path: str
    tool: str
    args: dict[str, Any]
    key: str
    side_effects: bool
    timeout_s: float | None = None
    call_id: str = ""
    """The model's id for the call, when an agent made it."""
    target: str = ""
    """The callable (`module:function`) when `tool` is the name a model calls it by."""
    work: Callable[[dict[str, Any]], Awaitable[Any]] | None = None
    """How to run it when it is not a Python callable of the workflow (an MCP server's tool)."""

    @property
    def args_hash(self) -> str:
        """The argument hash part of the key."""
        return self.key.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class ToolDone:
    """A tool's result; `finished` is the event that records it (None when served from the record)."""

    result: Any
    finished: ev.ToolCallFinished | None = None


class ToolError(Exception):
    """A tool call failed (raised, timed out, or returned what cannot be stored); the failure is recorded.
    `what` completes a sentence about the tool (`failed: ValueError: boom`, `timed out after 3s`,
    `returned a set, which cannot be stored as JSON`); `detail` is the error itself."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(what)
        self.what = what
        self.detail = detail


class ToolInvoker(Protocol):
    """Runs tool calls (the live runner, perhaps wrapped by replay)."""

    async def invoke(self, call: ToolCall) -> ToolDone:
        """The call's result, or `ToolError`."""
        ...


def function_tools(step: AgentStep) -> Iterator[FunctionTool]:
    """An agent's Python tools, and those of the agents it delegates to."""
    for entry in step.tools:
        if isinstance(entry, FunctionTool):
            yield entry
        elif isinstance(entry, DelegateTool):
            yield from function_tools(entry.step)


def resolve_tools(spec: WorkflowSpec, base_dir: str | None) -> dict[str, Callable[..., Any]]:
    """Import every tool callable before the first step runs (a missing one fails the start, not step 7)."""
    calls = sorted(
        {info.step.call for info in iter_steps(spec) if isinstance(info.step, ToolStep)}
        | {
            tool.call
            for info in iter_steps(spec)
            if isinstance(info.step, AgentStep)
            for tool in function_tools(info.step)
        }
    )
    if not calls:
        return {}
    if base_dir and base_dir not in sys.path:
        sys.path.insert(0, base_dir)
    out: dict[str, Callable[..., Any]] = {}
    for call in calls:
        module_name, _, attr = call.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                target = getattr(target, part)
        except Exception as exc:
            raise ConfigError(f"tool '{call}' cannot be loaded: {type(exc).__name__}: {exc}") from None
        if not callable(target):
            raise ConfigError(f"tool '{call}' is not callable")
        out[call] = target
    return out


class ToolRunner:
    """The live tool invoker of one run."""

    def __init__(self, journal: Journal, clock: Clock, redact: Redactor) -> None:
        self.journal = journal
        self.clock = clock
        self.redact = redact
        self.functions: dict[str, Callable[..., Any]] = {}
        self._shapes: dict[str, tuple[bool, bool]] = {}

    def load(self, spec: WorkflowSpec, base_dir: str | None) -> None:
        """Import the workflow's tools (`ConfigError` names one that does not load)."""
        self.functions = resolve_tools(spec, base_dir)

    async def invoke(self, call: ToolCall) -> ToolDone:
        """Commit the intent (side effects), run the tool, check its result can be stored."""
        if call.side_effects:
            await self.journal.intent(
                ev.ToolCallIntent(
                    step=call.path,
                    tool=call.tool,
                    idempotency_key=call.key,
                    args_hash=call.args_hash,
                    args=call.args,
                    side_effects=True,
                )
            )
        t0 = self.clock.now()
        try:
            result = stored_form(call.tool, await self._run(call))
        except (Paused, SessionStop):
            raise  # a person's pause or a stop while the call ran (a server's question): not the tool's failure
        except Exception as exc:
            what, detail = _failure(call, exc)
            detail = self.redact(detail)
            self.journal.note(
                [
                    ev.ToolCallFinished(
                        step=call.path,
                        tool=call.tool,
                        idempotency_key=call.key,
                        ok=False,
                        error=detail,
                        latency_s=round(self.clock.now() - t0, 6),
                        call_id=call.call_id,
                        outcome="failed" if call.call_id else "",
                    )
                ]
            )
            raise ToolError(self.redact(what), detail) from None
        finished = ev.ToolCallFinished(
            step=call.path,
            tool=call.tool,
            idempotency_key=call.key,
            ok=True,
            result=result,
            latency_s=round(self.clock.now() - t0, 6),
            call_id=call.call_id,
            outcome="done" if call.call_id else "",
        )
        return ToolDone(result, finished)

    async def _run(self, call: ToolCall) -> Any:
        work: Awaitable[Any]
        if call.work is not None:
            work = call.work(dict(call.args))
        else:
            fn = self.functions[call.target or call.tool]
            takes_key, is_async = self._shape(call.target or call.tool, fn)
            kwargs = dict(call.args)
            if takes_key:
                kwargs["idempotency_key"] = call.key
            work = fn(**kwargs) if is_async else in_daemon_thread(fn, kwargs, call.tool)
        if not call.timeout_s:
            return await work
        limit = asyncio.timeout(call.timeout_s)
        try:
            async with limit:
                return await work
        except TimeoutError:
            if limit.expired():
                raise ToolTimedOut(f"timed out after {call.timeout_s:g}s") from None
            raise

    def _shape(self, tool: str, fn: Callable[..., Any]) -> tuple[bool, bool]:
        """(takes an idempotency key, is async) of a tool, worked out once per run."""
        shape = self._shapes.get(tool)
        if shape is None:
            try:
                params: Mapping[str, Any] = inspect.signature(fn).parameters
            except (TypeError, ValueError):
                params = {}
            shape = self._shapes[tool] = ("idempotency_key" in params, inspect.iscoroutinefunction(fn))
        return shape


class ToolResultInvalid(Exception):
    """A tool returned a value JSON cannot hold."""


class ToolTimedOut(Exception):
    """A tool did not return within its `timeout_s`."""


def _failure(call: ToolCall, exc: BaseException) -> tuple[str, str]:
    """(what happened, as the end of a sentence about the tool; the error itself)."""
    if isinstance(exc, ToolTimedOut | ToolResultInvalid):
        return str(exc), str(exc)
    what = getattr(exc, "what", None)
    if isinstance(what, str) and what:  # a failure that already says what happened (an MCP server's)
        return what, what
    detail = f"{type(exc).__name__}: {exc}"
    return f"failed: {detail}", detail


async def in_daemon_thread(fn: Callable[..., Any], kwargs: dict[str, Any], name: str) -> Any:
    """`fn(**kwargs)` on a daemon thread of its own, awaited without blocking the loop. Abandoning the
    await (timeout, cancellation) leaves the thread to finish on its own or die with the process."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def work() -> None:
        try:
            outcome: tuple[bool, Any] = (True, context.run(fn, **kwargs))
        except Exception as exc:
            outcome = (False, exc)
        except BaseException as exc:  # the tool called sys.exit() or the like: a failed call, not the runner's end
            outcome = (False, RuntimeError(f"the tool raised {type(exc).__name__}"))
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:
            pass  # the loop has closed: nobody is waiting any more

    threading.Thread(target=work, name=f"baton-tool {name}", daemon=True).start()
    return await future


def stored_form(tool: str, value: Any) -> Any:
    """`value` as it will be stored and read back (tuples become lists), or `ToolResultInvalid` naming
    what JSON cannot hold and where."""
    try:
        return _stored(value, ())
    except _NotJson as problem:
        where = "".join(f"[{step!r}]" for step in problem.where)
        inside = f" at {where}" if where else ("" if problem.key is None else " at the top level")
        what = f"{_a(problem.key)} as a key" if problem.key is not None else _a(problem.value)
        raise ToolResultInvalid(f"returned {what}{inside}, which cannot be stored as JSON") from None


class _NotJson(Exception):
    """A value (or a dict key) JSON cannot hold, and the keys and indexes that lead to it."""

    def __init__(self, value: Any, where: tuple[Any, ...], key: Any = None) -> None:
        super().__init__(type(value).__name__)
        self.value = value
        self.where = where
        self.key = key


def _stored(value: Any, where: tuple[Any, ...]) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_stored(item, (*where, i)) for i, item in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _NotJson(value, where, key=key)
            out[key] = _stored(item, (*where, key))
        return out
    raise _NotJson(value, where)


def _a(value: Any) -> str:
    """`a set`, `bytes`, `an Item object`: a value's type in words."""
    name = type(value).__name__
    if isinstance(value, bytes):
        return "bytes"
    noun = name if isinstance(value, set | frozenset | bytearray | complex | int | float) else f"{name} object"
    return f"{'an' if noun[0].lower() in 'aeiou' else 'a'} {noun}"
