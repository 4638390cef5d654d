"""Test harness around the fake OpenAI server: a recording clock, a bus recorder, a canary key, a workflow
that points at the server, and a session driver that subscribes to the live channel before the runner starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from baton.core import events as ev
from baton.core.bus import RunnerLost
from baton.core.llm.gateway import LiteLLMGateway
from baton.core.runner import RunOptions
from baton.core.spec.load import Workflow
from baton.sessions.create import create_session
from baton.sessions.host import SessionHost
from baton.sessions.store import Store
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import Session, workflow

CANARY = "cnry-4f7e1d9b2a6c83e5"
KEY_ENV = "FAKE_PROVIDER_CRED_VALUE"  # a name the environment-wide redactor does not recognise
# Prices registered for the fake models (USD per token); `big` also has the largest context window.
PRICES = {
    "openai/fake-primary": (1e-6, 2e-6, 8_000),
    "openai/fake-backup": (0.5e-6, 1e-6, 8_000),
    "openai/fake-big": (2e-6, 4e-6, 200_000),
}


class RecordingClock:
    """The runner's clock seam: real monotonic time plus every wait it was asked for (skipped, not slept),
    and a fixed jitter draw (`fraction` of the range), so backoff waits are exact in assertions."""

    def __init__(self, fraction: float = 0.5) -> None:
        self.fraction = fraction
        self.offset = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return time.monotonic() + self.offset

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.offset += max(0.0, seconds)
        await asyncio.sleep(0)

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.fraction


@dataclass
class Recorder:
    """Everything a viewer receives on the bus: persisted events and live text."""

    events: list[ev.Envelope] = field(default_factory=list)
    live: list[ev.TokenDelta] = field(default_factory=list)
    lost: list[RunnerLost] = field(default_factory=list)

    def shown(self, call_id: str) -> str:
        """The live text a viewer showed for one call."""
        return "".join(t.text for t in self.live if t.call_id == call_id)

    def of(self, kind: type[ev.Event]) -> list[Any]:
        return [e.event for e in self.events if isinstance(e.event, kind)]


async def _record(host: SessionHost, recorder: Recorder, ready: asyncio.Event) -> None:
    assert host.bus is not None
    updates = host.bus.updates()
    first = asyncio.ensure_future(updates.__anext__())
    await asyncio.sleep(0)
    ready.set()
    try:
        batch = await first
        while True:
            for item in batch:
                if isinstance(item, ev.Envelope):
                    recorder.events.append(item)
                elif isinstance(item, ev.TokenDelta):
                    recorder.live.append(item)
                else:
                    recorder.lost.append(item)
            batch = await updates.__anext__()
    except (asyncio.CancelledError, StopAsyncIteration):
        pass
    finally:
        with contextlib.suppress(Exception):
            await updates.aclose()


_LIVE: list[Run] = []


async def stop_all() -> None:
    """Cancel whatever a failed test left running (its runner, its recorder)."""
    while _LIVE:
        run = _LIVE.pop()
        task = run.session.task
        if task is not None and not task.done():
            runner = run.session.host.runner
            if runner is not None:
                runner.cancel("cancelled: the test ended")
            try:
                await asyncio.wait_for(asyncio.shield(task), 10)
            except BaseException:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        run.task.cancel()
        await asyncio.gather(run.task, return_exceptions=True)


@dataclass
class Run:
    """A session under test, its bus recorder and the clock it runs on."""

    session: Session
    recorder: Recorder
    clock: RecordingClock
    task: asyncio.Task[None]

    async def finish(self, timeout: float = 60.0) -> str:
        status = await self.session.finish(timeout)
        await asyncio.sleep(0.05)
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        return status

    async def stop(self) -> None:
        """Pause the session if it still runs (a person answering `pause`), then stop recording."""
        if self.session.task is not None and not self.session.task.done():
            view = await self.session.view()
            for cp in view.open_checkpoints:
                if "pause" in cp.options:
                    await self.session.decide(cp, "pause")
                    break
            await self.session.finish(30)
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def start(
    store: Store,
    flow: Workflow,
    llm: LiteLLMGateway,
    options: RunOptions | None = None,
    clock: RecordingClock | None = None,
    inputs: dict[str, Any] | None = None,
) -> Run:
    """Create a session and run it in-process on `clock`, recording its bus from the very first event."""
    opts = options or RunOptions()
    clock = clock or RecordingClock()
    session_id = await create_session(store, flow, inputs, opts)
    host = SessionHost(store, session_id, llm=llm, options=opts, local=True, clock=clock)
    session = Session(store, session_id, host)
    recorder = Recorder()
    ready = asyncio.Event()
    task = asyncio.ensure_future(_record(host, recorder, ready))
    await ready.wait()
    session.task = asyncio.ensure_future(host.run())
    run = Run(session, recorder, clock, task)
    _LIVE.append(run)
    return run


def fake_flow(server: FakeOpenAI, step: str = "", extra_models: str = "", budget: str = "") -> Workflow:
    """A one-step workflow on the fake provider; `step` adds YAML lines to the `write` step."""
    base = server.base_url
    text = f"""\
name: resilience
state:
  topic: {{type: str, max_chars: 200}}
  answer: {{type: str}}
inputs:
  topic: {{default: "grid storage"}}
models:
  primary: {{model: openai/fake-primary, api_base: "{base}", api_key_env: {KEY_ENV}, max_tokens: 200}}
  backup: {{model: openai/fake-backup, api_base: "{base}", api_key_env: {KEY_ENV}, max_tokens: 200}}
  big: {{model: openai/fake-big, api_base: "{base}", api_key_env: {KEY_ENV}, max_tokens: 200}}
{extra_models}{budget}steps:
  - id: write
    kind: agent
    model: primary
    reads: [topic]
    writes: [answer]
    prompt: "Write about {{topic}}"
"""
    if "timeout:" not in step:
        text += "    timeout: {first_token_s: 1, idle_s: 1}\n"
    if "retry:" not in step:
        text += "    retry: {attempts: 3, backoff_s: [1, 2, 4]}\n"
    for line in step.splitlines():
        if line.strip():
            text += f"    {line.strip()}\n"
    return workflow(text)


def register_prices(llm: LiteLLMGateway) -> None:
    """Known prices and context windows for the fake models."""
    for model, (pin, pout, window) in PRICES.items():
        llm.register_price(model, pin, pout, max_input_tokens=window)


@contextlib.contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Every log line any logger emits at any level while the block runs."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                lines.append(self.format(record))
            except Exception:
                lines.append(str(record.msg))

    root = logging.getLogger()
    handler = Keep(level=logging.DEBUG)
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def db_bytes(db: Path) -> bytes:
    """The database file and its WAL, as raw bytes (a key must not be anywhere in them)."""
    out = b""
    for suffix in ("", "-wal", "-shm"):
        path = Path(str(db) + suffix)
        if path.exists():
            out += path.read_bytes()
    return out


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    """A fresh fake provider on a random port."""
    server = await FakeOpenAI().start()
    try:
        yield server
    finally:
        await stop_all()
        await server.stop()


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch) -> str:
    """The fake provider's key, only in the environment (under a name no pattern recognises)."""
    monkeypatch.setenv(KEY_ENV, CANARY)
    return CANARY


@pytest.fixture
async def gateway() -> LiteLLMGateway:
    """A real gateway with the fake models priced."""
    llm = LiteLLMGateway()
    await llm.warm_up()
    register_prices(llm)
    return llm
