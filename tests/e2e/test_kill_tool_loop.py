"""The commit contract of agent tool loops under SIGKILL: real runner processes, killed at random moments.

Three agents run at once, then a fourth; each calls tools for three turns — a side-effecting `count`
(approved at a checkpoint, recorded in an external file with its idempotency key) and a read-only
`peek` — then answers. The model is litellm's real OpenAI path against a fake server in this process,
which answers from the conversation it is sent and counts every request. The test kills runner
processes (the RNG seed is printed; BATON_KILL_SEED replays one), resumes each session with a new
runner, and checks:

- a tool call whose result committed before a kill never runs again, and every call ran exactly once,
  except one whose intent committed without its result: that one stops the session for a person
  (`baton decide … approve`, the real command, runs it again) — never a silent re-run;
- a model turn whose answer committed before a kill is never sent to the server again;
- the final state and outputs equal an uninterrupted run's.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from baton.core.runner import RunOptions
from tests.conftest import baton_env
from tests.e2e.kill_flow import harness as h
from tests.fakes.openai_server import Answer, FakeOpenAI, Seen, ToolCall

KILLS = int(os.environ.get("BATON_KILL_TRIALS", "20"))
MAX_KILLS_PER_SESSION = 4
WORKERS = 2
TURNS = 3
AGENTS = ("a1", "a2", "a3", "wrap")

FLOW = """\
name: loop-kill
state:
  tag: {{type: str}}
  a1: {{type: str}}
  a2: {{type: str}}
  a3: {{type: str}}
  wrap: {{type: str}}
inputs: [tag]
models:
  m: {{model: openai/fake-agent, api_base: "{base}", api_key_env: FAKE_AGENT_KEY}}
defaults:
  model: m
  retry: {{attempts: 2, backoff_s: [0.05], jitter: false}}
steps:
  - id: team
    kind: parallel
    branches:
{branches}
  - id: wrap
    kind: agent
    reads: [tag, a1, a2, a3]
    writes: [wrap]
    prompt: "agent wrap @{{tag}}: sum up {{a1}} {{a2}} {{a3}}"
    tools: {tools}
"""
TOOLS = '[{call: "loop_tools:count"}, {call: "loop_tools:peek", side_effects: false}]'
BRANCH = """\
      - id: {agent}
        kind: agent
        reads: [tag]
        writes: [{agent}]
        prompt: "agent {agent} @{{tag}}: count three things"
        tools: {tools}
"""


def respond(seen: Seen) -> Answer:
    """The model: three turns of tool calls, then an answer quoting every result it was given."""
    who, turn = turn_of(seen)
    agent = who.split(" @", 1)[0]
    if turn < TURNS:
        tag = f"{agent}-{turn}"
        return Answer(
            tool_calls=(
                ToolCall(f"{agent}c{turn}", "count", json.dumps({"tag": tag})),
                ToolCall(f"{agent}p{turn}", "peek", json.dumps({"tag": tag})),
            )
        )
    results = [str(m.get("content")) for m in seen.messages if m.get("role") == "tool"]
    return Answer(text=f"{agent} done: " + "; ".join(results))


def turn_of(seen: Seen) -> tuple[str, int]:
    """(`agent @session-tag`, turn) a request asks for."""
    first = next(str(m.get("content")) for m in seen.messages if m.get("role") == "user")
    return first.split(":", 1)[0].removeprefix("agent "), sum(1 for m in seen.messages if m.get("role") == "assistant")


class ServerThread:
    """The fake OpenAI server on an event loop of its own thread (the runners are other processes)."""

    def __init__(self) -> None:
        self.fake = FakeOpenAI(responder=respond)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self.loop).result(10)

    def requests(self) -> Counter[tuple[str, int]]:
        """How often each (agent, turn) was asked, so far."""
        seen = asyncio.run_coroutine_threadsafe(_copy(self.fake.seen), self.loop).result(10)
        return Counter(turn_of(s) for s in seen)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def _copy(seen: list[Seen]) -> list[Seen]:
    return list(seen)


def counted(path: Path) -> list[tuple[int, str]]:
    """(pid, idempotency key) of every run of `count`."""
    if not path.exists():
        return []
    return [(int(line.split()[0]), line.split()[1]) for line in path.read_text().splitlines() if line.strip()]


def committed(stored: list[h.Row], tag: str) -> tuple[set[str], set[tuple[str, int]], set[str]]:
    """(keys of count calls with a committed result, (agent, turn) answers committed live, keys with an
    intent and no result)."""
    results, turns, intents = set(), set(), set()
    for r in stored:
        if r.kind == "ToolCallFinished" and r.event().tool == "count":  # type: ignore[attr-defined]
            results.add(r.event().idempotency_key)  # type: ignore[attr-defined]
        elif r.kind == "ToolCallIntent":
            intents.add(r.event().idempotency_key)  # type: ignore[attr-defined]
        elif r.kind == "LLMCallFinished":
            e: Any = r.event()
            if e.status == "ok" and not e.replayed:
                turns.add((f"{r.step.rsplit('/', 1)[-1]} @{tag}", e.turn - 1))
    return results, turns, intents - results


def decide_ambiguous(db: Path, session_id: str, stored: list[h.Row], env: dict[str, str]) -> list[str]:
    """Answer every open ambiguous checkpoint as a person would, with the real `baton decide`."""
    decided = {r.event().checkpoint_id for r in stored if r.kind == "DecisionMade"}  # type: ignore[attr-defined]
    open_ids = [
        r.event().checkpoint_id  # type: ignore[attr-defined]
        for r in stored
        if r.kind == "CheckpointOpened" and r.event().reason == "ambiguous"  # type: ignore[attr-defined]
    ]
    todo = [cp for cp in open_ids if cp not in decided]
    for cp in todo:
        done = subprocess.run(
            [sys.executable, "-m", "baton.tui.cli", "--db", str(db), "decide", session_id, cp, "approve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return todo


def kill_at_an_intent(db: Path, session_id: str, proc: subprocess.Popen[bytes]) -> bool:
    """Kill the runner the moment a side-effecting call's intent is committed without its result."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        _, _, open_intents = committed(h.rows(db, session_id), "")
        if open_intents:
            os.kill(proc.pid, signal.SIGKILL)
            return True
        time.sleep(0.002)
    return False


@dataclass
class Drill:
    """What the test shares between its workers."""

    db: Path
    flow: Path
    base: dict[str, str]
    home: Path
    tmp: Path
    server: ServerThread
    ref_view: Any
    ref_wall: float
    lock: threading.Lock


def campaign(d: Drill, rng: random.Random, name: str, kills_left: int, first_at_intent: bool) -> tuple[int, int]:
    """One session driven through kills and resumes to its end, then checked. (kills, ambiguous decided)"""
    counter = d.tmp / f"{name}.counter"
    env = h.env_with(d.base, LOOP_COUNTER=str(counter))
    session_id = h.create_with_inputs(d.db, d.flow, RunOptions(auto="approve"), {"tag": name})
    at_kills: list[tuple[set[str], set[tuple[str, int]], set[str], list[tuple[int, str]], Counter[Any]]] = []
    killed: list[int] = []
    decided: list[str] = []
    while True:
        before = h.last_seq(d.db, session_id)
        proc = h.spawn(d.db, session_id, env)
        if len(killed) < min(MAX_KILLS_PER_SESSION, kills_left):
            h.wait_for_seq(d.db, session_id, before, proc)
            if first_at_intent and not killed:
                assert kill_at_an_intent(d.db, session_id, proc), "no intent was ever left open"
            else:
                try:
                    proc.wait(timeout=rng.uniform(0, 1.1 * d.ref_wall))
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
        if proc.wait(timeout=120) == -signal.SIGKILL:
            killed.append(proc.pid)
            stored = h.rows(d.db, session_id)
            assert h.integrity(d.db) == "ok"
            results, turns, open_intents = committed(stored, name)
            at_kills.append((results, turns, open_intents, counted(counter), d.server.requests()))
            continue
        stored = h.rows(d.db, session_id)
        if proc.returncode == 4:  # paused: a side effect may or may not have happened, a person decides
            todo = decide_ambiguous(d.db, session_id, stored, env)
            assert todo, f"paused with no ambiguous call to decide: {h.log_tail(d.home, session_id)}"
            decided += todo
            continue
        assert proc.returncode == 0, h.log_tail(d.home, session_id)
        break
    if first_at_intent:
        assert decided, "a call killed after its intent did not stop the session for a person"
    _check_session(d, session_id, name, counter, at_kills, decided, killed)
    return len(killed), len(decided)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_inside_tool_loops_never_reruns_a_committed_call_or_resends_a_committed_turn(
    tmp_path: Path, private_home: Path
) -> None:
    seed = int(os.environ.get("BATON_KILL_SEED", random.randrange(2**32)))
    print(f"tool-loop kill test seed: {seed} (BATON_KILL_SEED={seed} replays the same kill delays)")
    server = ServerThread()
    try:
        flow_dir = tmp_path / "flow"
        flow_dir.mkdir()
        shutil.copy(Path(h.__file__).with_name("loop_tools.py"), flow_dir / "loop_tools.py")
        branches = "".join(BRANCH.format(agent=a, tools=TOOLS) for a in AGENTS[:3])
        flow = flow_dir / "loop.yaml"
        flow.write_text(FLOW.format(base=server.fake.base_url, branches=branches, tools=TOOLS))
        db = tmp_path / "baton.db"
        base = baton_env(private_home, db)
        base["FAKE_AGENT_KEY"] = "sk-fake-loop-kill-0000"

        # An uninterrupted run.
        ref_counter = tmp_path / "reference.counter"
        ref_id = h.create_with_inputs(db, flow, RunOptions(auto="approve"), {"tag": "ref"})
        proc = h.spawn(db, ref_id, h.env_with(base, LOOP_COUNTER=str(ref_counter)))
        assert proc.wait(timeout=120) == 0, h.log_tail(private_home, ref_id)
        ref_rows = h.rows(db, ref_id)
        ref_view = h.fold(ref_id, ref_rows)
        assert ref_view.status == "completed"
        assert len(counted(ref_counter)) == len(AGENTS) * TURNS
        assert all(ref_view.state[a].startswith(f"{a} done: counted {a}-0") for a in AGENTS)
        assert server.requests() == Counter({(f"{a} @ref", t): 1 for a in AGENTS for t in range(TURNS + 1)})
        drill = Drill(db, flow, base, private_home, tmp_path, server, ref_view, ref_rows[-1].ts - ref_rows[0].ts,
                      threading.Lock())

        def worker(index: int) -> tuple[int, int]:
            rng = random.Random(seed * 31 + index)
            kills = ambiguous = sessions = 0
            share = -(-KILLS // WORKERS)
            while kills < share:
                sessions += 1
                assert sessions <= 3 * -(-share // MAX_KILLS_PER_SESSION), "too many runs finished before a kill"
                k, a = campaign(drill, rng, f"w{index}s{sessions}", share - kills, index == 0 and sessions == 1)
                kills, ambiguous = kills + k, ambiguous + a
            return kills, ambiguous

        with ThreadPoolExecutor(WORKERS) as pool:
            totals = list(pool.map(worker, range(WORKERS)))
        kills = sum(k for k, _ in totals)
        assert kills >= KILLS
        print(f"{kills} kills; {sum(a for _, a in totals)} ambiguous calls decided by a person")
    finally:
        server.stop()


def _check_session(
    d: Drill,
    session_id: str,
    name: str,
    counter: Path,
    at_kills: list[Any],
    decided: list[str],
    killed: list[int],
) -> None:
    stored = h.rows(d.db, session_id)
    view = h.fold(session_id, stored)
    context = f"session {session_id} (killed {killed})"
    assert view.status == "completed", f"{context}: {view.status} {view.error}"
    expected = {**d.ref_view.state, "tag": name}
    assert view.state == expected, f"{context}: final state differs"
    for path, step in d.ref_view.steps.items():
        assert view.steps[path].output == step.output, f"{context}: output of '{path}' differs"

    by_key: dict[str, list[int]] = {}
    for pid, key in counted(counter):
        by_key.setdefault(key, []).append(pid)
    results, _, _ = committed(stored, name)
    assert set(by_key) == results and len(results) == len(AGENTS) * TURNS, f"{context}: counted calls differ"
    ambiguous_keys = {cp.split(":ambiguous:1:", 1)[1] for cp in decided}
    for key, pids in by_key.items():
        if key in ambiguous_keys:
            # at most once in the runner killed after its intent, then once more when a person approved it
            assert len(pids) in (1, 2) and len(set(pids)) == len(pids), f"{context}: ambiguous '{key}' ran {pids}"
            assert all(p in killed for p in pids[:-1]), f"{context}: ambiguous '{key}' ran {pids}"
        else:
            assert len(pids) == 1, f"{context}: '{key}' ran {len(pids)}× ({pids})"
    now = d.server.requests()
    for results_then, turns_then, intents_then, counted_then, requests_then in at_kills:
        for key in results_then:
            then = sum(1 for _, k in counted_then if k == key)
            assert len(by_key[key]) == then, f"{context}: '{key}' committed before a kill and ran again after it"
        assert intents_then <= ambiguous_keys | results_then, (
            f"{context}: an intent without a result was not put to a person: {intents_then - ambiguous_keys}"
        )
        for turn in turns_then:
            assert now[turn] == requests_then[turn], f"{context}: committed turn {turn} was sent again"
    mine = {turn: n for turn, n in now.items() if turn[0].endswith(f" @{name}")}
    assert set(mine) == {(f"{a} @{name}", t) for a in AGENTS for t in range(TURNS + 1)}, f"{context}: {sorted(mine)}"
