"""Runner unit tests without SQLite or litellm: the real `Runner` on a scripted model (`ScriptedLLM`),
an in-memory sink and a virtual clock. The offline `mock/` provider and the real store stay for the
integration and end-to-end tests."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from baton.core import events as ev
from baton.core.llm.scripted import Script, ScriptedLLM
from baton.core.runner import History, Runner, RunOptions
from baton.core.runner.history import History as _History
from baton.core.spec.load import Workflow, load_text
from tests.fakes.memory_sink import MemorySink

PRICES = {"test/cheap": (1e-6, 2e-6), "test/dear": (1e-5, 3e-5)}


class VirtualClock:
    """Time that passes only when the runner sleeps (backoff, breaker cooldowns): waits cost nothing."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)

    def uniform(self, low: float, high: float) -> float:
        return (low + high) / 2


def flow(text: str) -> Workflow:
    """A workflow from YAML text (dedented)."""
    return load_text(textwrap.dedent(text), "<unit>", ["cheap", "dear"])


@dataclass
class Run:
    """A finished (or paused, failed) run and everything it handed out."""

    status: str
    sink: MemorySink
    llm: ScriptedLLM
    runner: Runner
    clock: VirtualClock = field(default_factory=VirtualClock)

    def of(self, kind: type[Any], step: str | None = None) -> list[Any]:
        """Committed events of one kind."""
        return self.sink.of(kind, step)

    @property
    def state(self) -> dict[str, Any]:
        """The session state at the end."""
        return dict(self.runner.state.state)

    def history(self) -> History:
        """What a resumed runner would read back."""
        return _History.from_envelopes(self.sink.envelopes())


async def run(
    workflow: Workflow,
    script: Script,
    *,
    options: RunOptions | None = None,
    history: History | None = None,
    inputs: dict[str, Any] | None = None,
    sink: MemorySink | None = None,
    commands: Sequence[Any] = (),
    llm: ScriptedLLM | None = None,
) -> Run:
    """Run `workflow` to an end with `script` answering every model call. `commands` are handed to the
    runner before it walks (decisions a person queued while no runner held the session)."""
    sink = sink or MemorySink()
    llm = llm or ScriptedLLM(script, prices=PRICES)
    clock = VirtualClock()
    runner = Runner(
        "s",
        workflow,
        sink=sink,
        llm=llm,
        models={a: m for a, m in workflow.spec.models.items()},
        inputs=inputs or {},
        options=options or RunOptions(auto="approve"),
        history=history,
        clock=clock,
    )
    for command in commands:
        await runner.submit(command)
    status = await asyncio.wait_for(runner.run(), 30)
    return Run(status, sink, llm, runner, clock)


def calls_of(events: Sequence[ev.Event], step: str) -> list[ev.LLMCallFinished]:
    """The model calls a step made, in order."""
    return [e for e in events if isinstance(e, ev.LLMCallFinished) and e.step == step]


# --- tools for tool steps (imported by `module:function`) -----------------------------------------


def returns_set() -> set[int]:
    """A result JSON cannot hold."""
    return {1, 2}


def returns_number() -> int:
    """A result that does not fit a `str` key."""
    return 42


def returns_text(text: str = "done") -> str:
    """A plain result."""
    return text
