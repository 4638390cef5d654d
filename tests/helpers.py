"""Driving real sessions in tests: real store (SQLite file), real runner, real litellm gateway with the
offline model. Nothing here is a mock; `Session` just gives tests handles to wait and decide."""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from baton.core.commands import Command, decide
from baton.core.llm.gateway import LiteLLMGateway
from baton.core.runner import RunOptions
from baton.core.spec.load import Workflow, load_text, load_workflow
from baton.core.view import CheckpointView, SessionView
from baton.sessions.create import create_session
from baton.sessions.host import SessionHost
from baton.sessions.store import Store

FLOWS = Path(__file__).resolve().parent.parent / "flows"


def workflow(text_or_name: str, instant: bool = False) -> Workflow:
    """A bundled workflow by name (`demo`), or workflow YAML text (dedented). `instant` drops the offline
    model's latency and pacing (its text is the same) so tests do not wait for human-speed streaming."""
    if "\n" not in text_or_name:
        path = FLOWS / f"{text_or_name}.yaml"
        if not instant:
            return load_workflow(path)
        return load_text(_instant(path.read_text(encoding="utf-8")), str(path))
    text = textwrap.dedent(text_or_name)
    return load_text(_instant(text) if instant else text, "<test>")


def _instant(text: str) -> str:
    text = re.sub(r"tokens_per_s:\s*[\d.]+", "tokens_per_s: 0", text)
    return re.sub(r"latency_s:\s*[\d.]+", "latency_s: 0", text)


class Session:
    """A session running in this process (its runner is the real one)."""

    def __init__(self, store: Store, session_id: str, host: SessionHost) -> None:
        self.store = store
        self.id = session_id
        self.host = host
        self.task: asyncio.Task[str] | None = None

    @classmethod
    async def start(
        cls,
        store: Store,
        flow: str | Workflow,
        inputs: dict[str, Any] | None = None,
        options: RunOptions | None = None,
        llm: Any = None,
        **host_kwargs: Any,
    ) -> Session:
        """Create a session and start its runner in the background."""
        wf = flow if isinstance(flow, Workflow) else workflow(flow)
        opts = options or RunOptions()
        session_id = await create_session(store, wf, inputs, opts)
        host = SessionHost(store, session_id, llm=llm or LiteLLMGateway(), options=opts, local=True, **host_kwargs)
        session = cls(store, session_id, host)
        session.task = asyncio.ensure_future(host.run())
        return session

    async def resume(self, options: RunOptions | None = None, llm: Any = None, **host_kwargs: Any) -> Session:
        """Run the same session again (after a pause, a stop or a crash)."""
        if self.task is not None and not self.task.done():
            raise RuntimeError("still running")
        self.host = SessionHost(
            self.store, self.id, llm=llm or LiteLLMGateway(), options=options, local=True, **host_kwargs
        )
        self.task = asyncio.ensure_future(self.host.run())
        return self

    async def view(self) -> SessionView:
        """The session folded from the store."""
        return await self.store.view(self.id)

    async def wait_for(self, predicate: Callable[[SessionView], bool], timeout: float = 30.0) -> SessionView:
        """Poll the folded session until `predicate` holds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            view = await self.view()
            if predicate(view):
                return view
            if self.task is not None and self.task.done():
                self.task.result()
                view = await self.view()
                if predicate(view):
                    return view
                raise AssertionError(f"session ended ({view.status}) before the condition held")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out; status {view.status}, steps {_statuses(view)}")
            await asyncio.sleep(0.02)

    async def checkpoint(self, step: str | None = None, timeout: float = 30.0) -> CheckpointView:
        """Wait for an open checkpoint (at `step`, if given) and return it."""

        def found(view: SessionView) -> bool:
            return any(step is None or c.step == step for c in view.open_checkpoints)

        view = await self.wait_for(found, timeout)
        return next(c for c in view.open_checkpoints if step is None or c.step == step)

    async def decide(
        self, checkpoint: CheckpointView | str, decision: str, by: str = "tester", **details: Any
    ) -> tuple[str, str]:
        """Send a decision as a viewer would; returns the runner's verdict (status, reason)."""
        cp_id = checkpoint if isinstance(checkpoint, str) else checkpoint.checkpoint_id
        return await self.command(decide(cp_id, decision, by=by, **details))

    async def command(self, command: Command, timeout: float = 15.0) -> tuple[str, str]:
        """Send any command through the store (as another process would) and wait for its verdict."""
        command_id = await self.store.send(self.id, command)
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            status, reason = await self.store.command_status(command_id)
            if status != "new":
                return status, reason
            await asyncio.sleep(0.02)
        raise AssertionError(f"command {command.kind} not handled within {timeout}s")

    async def finish(self, timeout: float = 60.0) -> str:
        """Wait for the runner to end; returns its final status."""
        assert self.task is not None
        return await asyncio.wait_for(self.task, timeout)


def _statuses(view: SessionView) -> dict[str, str]:
    return {p: s.status for p, s in view.steps.items()}


async def run(store: Store, flow: str | Workflow, **kwargs: Any) -> tuple[str, SessionView]:
    """Run a session to its end (checkpoints must be answered by options)."""
    session = await Session.start(store, flow, **kwargs)
    status = await session.finish()
    return status, await session.view()


def fan_out(n: int = 16, tokens_per_s: float = 40.0, tokens: int = 60, max_tokens: int | None = None) -> str:
    """A parallel step with `n` agents, each streaming `tokens` tokens at `tokens_per_s` (a `max_tokens`
    default when given)."""
    branches = "\n".join(
        f"      - {{id: a{i:02d}, kind: agent, model: fast, reads: [q], writes: [notes], prompt: 'agent {i} on {{q}}'}}"
        for i in range(n)
    )
    limit = f"  max_tokens: {max_tokens}\n" if max_tokens is not None else ""
    return f"""
name: fan-out
state:
  q: {{type: str}}
  notes: {{type: "list[str]", reducer: append}}
inputs:
  q: {{default: "grid storage"}}
models:
  fast: {{model: mock/fast, mock: {{tokens_per_s: {tokens_per_s}, min_tokens: {tokens}, max_tokens: {tokens}}}}}
defaults:
  concurrency: {n}
{limit}steps:
  - id: fan
    kind: parallel
    branches:
{branches}
"""


def wait_for(check: Callable[[], Any], what: str, timeout: float = 120.0, every: float = 0.05) -> Any:
    """`check()`'s first truthy value, polled until `timeout` (then an AssertionError naming `what`)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
