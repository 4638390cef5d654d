"""The live tool invoker: what may be stored, where a synchronous tool runs, and how a call fails."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from baton.core import events as ev
from baton.core.runner import History, RunOptions
from baton.core.runner.journal import Journal
from baton.core.runner.run_state import RunState
from baton.core.runner.tools import ToolCall, ToolError, ToolResultInvalid, ToolRunner, stored_form
from baton.core.secrets import default_redactor
from tests.core.runner_kit import VirtualClock, flow
from tests.fakes.memory_sink import MemorySink


class Thing:
    pass


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1, 2}, "returned a set, which cannot be stored as JSON"),
        (b"\x00", "returned bytes, which cannot be stored as JSON"),
        (Thing(), "returned a Thing object, which cannot be stored as JSON"),
        ({"a": [1, {2}]}, "returned a set at ['a'][1], which cannot be stored as JSON"),
        ({"a": {3: "x"}}, "returned an int as a key at ['a'], which cannot be stored as JSON"),
        (object(), "returned an object object, which cannot be stored as JSON"),
    ],
)
def test_a_result_json_cannot_hold_is_named(value: Any, message: str) -> None:
    with pytest.raises(ToolResultInvalid) as refused:
        stored_form("m:f", value)
    assert str(refused.value) == message


def test_what_json_holds_is_stored_as_it_will_be_read_back() -> None:
    value = {"a": (1, 2), "b": None, "c": [True, 1.5, "x"]}
    assert stored_form("m:f", value) == {"a": [1, 2], "b": None, "c": [True, 1.5, "x"]}


def _runner(sink: MemorySink, **functions: Any) -> ToolRunner:
    spec = flow("name: t\nstate: {x: {type: str}}\nsteps:\n  - {id: g, kind: gate}\n").spec
    runner = ToolRunner(Journal(sink, RunState.new(spec, RunOptions(), History())), VirtualClock(), default_redactor())
    runner.functions = {f"m:{name}": fn for name, fn in functions.items()}
    return runner


async def test_a_side_effecting_calls_intent_is_durable_before_the_tool_runs() -> None:
    sink = MemorySink()
    seen: list[int] = []

    def send(to: str) -> str:
        seen.append(len(sink.of(ev.ToolCallIntent)))
        return f"sent to {to}"

    done = await _runner(sink, send=send).invoke(ToolCall("t", "m:send", {"to": "ana"}, "s:t:abc", True))
    assert seen == [1], "the intent committed before the tool body ran"
    assert done.result == "sent to ana" and done.finished is not None and done.finished.ok
    (intent,) = sink.of(ev.ToolCallIntent)
    assert (intent.idempotency_key, intent.args_hash, intent.args) == ("s:t:abc", "abc", {"to": "ana"})


async def test_a_synchronous_tool_runs_on_a_daemon_thread_of_its_own() -> None:
    where: list[threading.Thread] = []

    def probe() -> str:
        where.append(threading.current_thread())
        return "ok"

    await _runner(MemorySink(), probe=probe).invoke(ToolCall("t", "m:probe", {}, "k", False))
    (thread,) = where
    assert thread.daemon and thread.name == "baton-tool m:probe"
    assert thread is not threading.main_thread()


async def test_a_tool_that_never_returns_times_out_and_is_abandoned() -> None:
    release = threading.Event()
    sink = MemorySink()
    try:
        with pytest.raises(ToolError) as failed:
            await _runner(sink, stuck=lambda: release.wait(60)).invoke(ToolCall("t", "m:stuck", {}, "k", False, 0.2))
        assert failed.value.what == "timed out after 0.2s"
        stuck = [t for t in threading.enumerate() if t.name == "baton-tool m:stuck"]
        assert stuck and all(t.daemon for t in stuck), "the abandoned thread cannot hold the process at exit"
        sink.post([])
        await sink.commit([])
        (finished,) = sink.of(ev.ToolCallFinished)
        assert not finished.ok and finished.error == "timed out after 0.2s"
    finally:
        release.set()


async def test_a_tool_that_raises_says_what_it_raised() -> None:
    def boom() -> None:
        raise ValueError("no such channel")

    with pytest.raises(ToolError) as failed:
        await _runner(MemorySink(), boom=boom).invoke(ToolCall("t", "m:boom", {}, "k", False))
    assert (failed.value.what, failed.value.detail) == (
        "failed: ValueError: no such channel",
        "ValueError: no such channel",
    )


async def test_a_tool_raising_its_own_timeout_is_not_reported_as_our_timeout() -> None:
    def slow() -> None:
        raise TimeoutError("socket read")

    with pytest.raises(ToolError) as failed:
        await _runner(MemorySink(), slow=slow).invoke(ToolCall("t", "m:slow", {}, "k", False, 30))
    assert failed.value.what == "failed: TimeoutError: socket read"


async def test_an_async_tool_gets_its_idempotency_key_when_it_asks_for_one() -> None:
    async def charge(amount: int, idempotency_key: str) -> dict[str, Any]:
        return {"amount": amount, "key": idempotency_key}

    done = await _runner(MemorySink(), charge=charge).invoke(ToolCall("t", "m:charge", {"amount": 3}, "s:t:9", True))
    assert done.result == {"amount": 3, "key": "s:t:9"}


async def test_a_synchronous_tool_that_exits_is_a_failed_call_not_the_runners_end() -> None:
    def leave() -> None:
        raise SystemExit(3)

    with pytest.raises(ToolError) as failed:
        await _runner(MemorySink(), leave=leave).invoke(ToolCall("t", "m:leave", {}, "k", False))
    assert failed.value.detail == "RuntimeError: the tool raised SystemExit"
