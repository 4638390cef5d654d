"""Durable overhead per tool call of an agent tool loop, next to LangGraph's prebuilt agent, in one run.

    python bench/tool_loop.py [--turns 50] [--rounds 5] [--profile] [--agents-python PYTHON]

One agent, one loop: model turn → one tool call → its result → next turn, `--turns` times, then a final
answer. The model answers at once and the tool does nothing, so what is timed is each engine's own work:

- baton: the real `Runner` hosted as a session runs it (`SessionHost` on the SQLite store: lease,
  history, the writer, the final projections), answered by `ScriptedLLM`. Each turn builds the request
  (the whole transcript), hashes it for replay, checks the call against the tool's schema and policy,
  runs it and records the turn (`LLMCallFinished`, with the request), `ToolCallRequested` and
  `ToolCallFinished`. Two variants: a tool with `side_effects: false`, whose records ride with the
  session's next transaction (the writer's group commit: at the latest its ~50 ms tick, so a loop
  this fast commits a handful of times, not once a turn); and one with `side_effects: true` under
  `--auto approve`, where each call opens an approval checkpoint (committed), is decided (committed)
  and commits its intent, synced to disk, before it runs.
- LangGraph: `create_react_agent` with `AsyncSqliteSaver` on a file and a zero-latency chat model that
  calls the same tool turn after turn: `durability="sync"` (each step's checkpoint committed before the
  next), its default `"async"`, `"sync"` without the fsync SQLite's default `synchronous=FULL` does on
  every commit in WAL mode (`NORMAL`, as baton's ordinary commits), and, next to baton's approval
  variant, `interrupt_before=["tools"]`: every call stops the graph and a new `ainvoke` resumes it,
  which is how a person approves a call there.
- OpenAI Agents SDK (`openai-agents`), when an interpreter that has it is given (`--agents-python`, or
  this one if it imports `agents`): `Runner.run` with a fake `Model` and a no-op `function_tool`, with a
  `SQLiteSession` on a file (the conversation items, written as the run goes) and without one. From
  0.21 on the SDK needs `openai>=3` while litellm 1.106 (and so baton) needs `openai<3`; 0.20 is the
  last that shares this environment. So it is installed apart (`python -m venv /tmp/oai-venv &&
  /tmp/oai-venv/bin/pip install openai-agents`) and runs in a child process (this script,
  `--agents-worker`) that imports nothing of baton: why the other engines' imports sit in the
  functions that use them.

Per tool call = run time / turns: the whole run counts (start, end, the final answer), so a run's fixed
cost is spread over its calls. baton's scripted model time (measured on its own: the same requests, no
engine) is taken off. Wall and CPU time are both shown: CPU time (every thread of the process, the
database threads too) is what a busy shared machine disturbs least. The engines take turns within a
round, after one warm-up run each.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from baton.core.llm.scripted import Reply, Script, ScriptedLLM
    from baton.core.llm.types import LLMRequest
    from baton.core.spec.load import Workflow
    from baton.sessions.store import Store

TARGET_MS = 0.5
TARGET_RATIO = 5.0
TOOLS = '''
async def noop(i: int) -> str:
    """Look at item i (does nothing)."""
    return str(i)


async def touch(i: int) -> str:
    """Change item i (does nothing, but says it has side effects)."""
    return str(i)
'''


class Timed:
    """Wall and CPU seconds of what runs inside (CPU: every thread of this process, so the database
    threads count; it is what a busy shared machine disturbs least)."""

    wall = 0.0
    cpu = 0.0

    def __enter__(self) -> Timed:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


# --- baton -------------------------------------------------------------------------------------


def baton_yaml(turns: int, side_effects: bool) -> str:
    """One agent whose single tool is a no-op, with room for `turns` calls and the final answer."""
    tool = "touch" if side_effects else "noop"
    return "\n".join(
        [
            f"name: bench-tool-loop-{tool}",
            "state:",
            "  answer: {type: str}",
            "models: {m: mock/bench}",
            "steps:",
            "  - id: agent",
            "    kind: agent",
            "    model: m",
            "    writes: [answer]",
            '    prompt: "Call the tool until you are done."',
            f"    max_turns: {turns + 1}",
            "    tools:",
            f"      - call: 'tool_loop_tools:{tool}'",
            f"        side_effects: {'true' if side_effects else 'false'}",
            "",
        ]
    )


def write_flow(tmp: Path, turns: int, side_effects: bool) -> Workflow:
    """Save the workflow and its tools module side by side, and load it as `baton run` would."""
    from baton.core.spec.load import load_workflow

    (tmp / "tool_loop_tools.py").write_text(TOOLS, encoding="utf-8")
    path = tmp / f"tool-loop-{'touch' if side_effects else 'noop'}.yaml"
    path.write_text(baton_yaml(turns, side_effects), encoding="utf-8")
    return load_workflow(path)


def script(turns: int, tool: str) -> Script:
    """The model: one call of `tool` a turn until `turns` calls are answered, then a final text."""
    from baton.core.llm.scripted import Reply
    from baton.core.llm.types import ModelToolCall

    def answer(request: LLMRequest) -> Reply:
        done = sum(1 for m in request.messages if m.get("role") == "tool")
        if done < turns:
            return Reply("", tool_calls=(ModelToolCall(f"c{done}", tool, json.dumps({"i": done})),))
        return Reply(f"done after {done} calls")

    return answer


async def run_baton(
    store: Store, wf: Workflow, turns: int, side_effects: bool, profiler: cProfile.Profile | None = None
) -> tuple[float, float]:
    """One durable session, start to end, in this process; returns (wall, CPU) seconds less the scripted
    model's own time. A `profiler` watches the session's run only."""
    from baton.core.llm.scripted import ScriptedLLM
    from baton.core.runner import RunOptions
    from baton.sessions.create import create_session
    from baton.sessions.host import SessionHost

    llm = ScriptedLLM(script(turns, "touch" if side_effects else "noop"))
    options = RunOptions(auto="approve")
    sid = await create_session(store, wf, options=options)
    host = SessionHost(store, sid, llm=llm, options=options, workflow=wf)
    if profiler is not None:
        profiler.enable()
    with Timed() as timed:
        status = await host.run()
    if profiler is not None:
        profiler.disable()
    if status != "completed":
        raise SystemExit(f"baton session {sid} ended {status}")
    if len(llm.requests) != turns + 1:
        raise SystemExit(f"baton sent {len(llm.requests)} model calls, expected {turns + 1}")
    await check_baton_record(store, sid, turns, side_effects)
    model = await bare_model(llm)
    return timed.wall - model, timed.cpu - model


async def check_baton_record(store: Store, sid: str, turns: int, side_effects: bool) -> None:
    """The session recorded every call, and (with side effects) asked and committed an intent for each."""
    kinds = [env.event.kind for env in await store.events(sid)]
    expected = {"ToolCallRequested": turns, "ToolCallFinished": turns, "LLMCallFinished": turns + 1}
    if side_effects:
        expected |= {"ToolCallIntent": turns, "CheckpointOpened": turns}
    counted = {kind: kinds.count(kind) for kind in expected}
    if counted != expected:
        raise SystemExit(f"baton session {sid} recorded {counted}, expected {expected}")


async def bare_model(llm: ScriptedLLM) -> float:
    """The scripted model's own time: the same requests, answered again with no engine around (all
    CPU, so it is taken off both the wall and the CPU time)."""
    from baton.core.llm.scripted import ScriptedLLM

    again = ScriptedLLM(llm.script)
    t0 = time.perf_counter()
    for request in llm.requests:
        await again.stream(request, lambda _text: None, first_token_s=30.0, idle_s=30.0)
    return time.perf_counter() - t0


# --- LangGraph ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LgVariant:
    """How LangGraph runs: `durability`; `fsync`: SQLite's default `synchronous=FULL` in WAL mode (every
    commit synced to disk), else `NORMAL` as baton's ordinary commits; `interrupt`: stop before every
    call and resume with a new `ainvoke`."""

    durability: str = "sync"
    fsync: bool = True
    interrupt: bool = False



def lg_agent(turns: int, saver: Any, interrupt: bool) -> Any:
    """`create_react_agent` on a zero-latency model that calls a no-op tool `turns` times."""
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.tools import tool
    from langgraph.prebuilt import create_react_agent

    @tool
    async def noop(i: int) -> str:
        """Look at item i (does nothing)."""
        return str(i)

    class LoopModel(BaseChatModel):
        """Answers with one call of `noop` a turn, then a final text; nothing awaits."""

        turns: int

        @property
        def _llm_type(self) -> str:
            return "bench-tool-loop"

        def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
            return self

        def _answer(self, messages: list[BaseMessage]) -> ChatResult:
            done = sum(1 for m in messages if isinstance(m, ToolMessage))
            if done < self.turns:
                call = {"name": "noop", "args": {"i": done}, "id": f"c{done}", "type": "tool_call"}
                message = AIMessage(content="", tool_calls=[call])
            else:
                message = AIMessage(content=f"done after {done} calls")
            return ChatResult(generations=[ChatGeneration(message=message)])

        def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
            return self._answer(messages)

        async def _agenerate(
            self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> Any:
            return self._answer(messages)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent is deprecated in favour of langchain's
        return create_react_agent(
            LoopModel(turns=turns), [noop], checkpointer=saver, interrupt_before=["tools"] if interrupt else None
        )


async def run_langgraph(db: Path, turns: int, thread: str, variant: LgVariant) -> tuple[float, float]:
    """One durable LangGraph run with AsyncSqliteSaver on a file; returns (wall, CPU) seconds."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
        await saver.setup()
        if not variant.fsync:
            await saver.conn.execute("PRAGMA synchronous=NORMAL")
        app = lg_agent(turns, saver, variant.interrupt)
        config = {"configurable": {"thread_id": thread}, "recursion_limit": 2 * turns + 10}
        first: Any = {"messages": [("user", "Call the tool until you are done.")]}
        resumes = 0
        with Timed() as timed:
            out = await app.ainvoke(first, config, durability=variant.durability)
            while variant.interrupt and (await app.aget_state(config)).next:
                resumes += 1
                out = await app.ainvoke(None, config, durability=variant.durability)
    calls = sum(1 for m in out["messages"] if m.type == "tool")
    if calls != turns or (variant.interrupt and resumes != turns):
        raise SystemExit(f"LangGraph made {calls} calls ({resumes} resumes), expected {turns}")
    return timed.wall, timed.cpu


# --- the OpenAI Agents SDK (in its own interpreter) ---------------------------------------------


async def agents_rounds(turns: int, rounds: int, db: Path) -> dict[str, Any]:
    """Runs of the SDK's agent loop, with and without a SQLite session on a file; (wall, CPU) seconds."""
    import agents
    from agents import Agent, Runner, SQLiteSession, function_tool, set_tracing_disabled
    from agents.items import ModelResponse
    from agents.models.interface import Model
    from agents.usage import Usage
    from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

    set_tracing_disabled(True)

    async def look(i: int) -> str:
        """Look at item i (does nothing)."""
        return str(i)

    noop = function_tool(look, name_override="noop")

    class LoopModel(Model):  # type: ignore[misc]
        """Answers with one call of `noop` a turn, then a final text; nothing awaits."""

        async def get_response(self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any) -> Any:
            items = [] if isinstance(input, str) else input
            done = sum(1 for item in items if _item_type(item) == "function_call_output")
            if done < turns:
                output: list[Any] = [
                    ResponseFunctionToolCall(
                        type="function_call", call_id=f"c{done}", name="noop", arguments=json.dumps({"i": done})
                    )
                ]
            else:
                text = ResponseOutputText(type="output_text", text=f"done after {done} calls", annotations=[])
                output = [
                    ResponseOutputMessage(
                        id="m", type="message", role="assistant", status="completed", content=[text]
                    )
                ]
            return ModelResponse(output=output, usage=Usage(), response_id=None)

        def stream_response(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

    agent = Agent(name="bench", instructions="Call the tool until you are done.", model=LoopModel(), tools=[noop])

    async def once(durable: bool, label: str) -> tuple[float, float]:
        session = SQLiteSession(label, db) if durable else None
        with Timed() as timed:
            result = await Runner.run(agent, "Call the tool until you are done.", session=session, max_turns=turns + 5)
        calls = sum(1 for item in result.new_items if item.type == "tool_call_output_item")
        if calls != turns:
            raise SystemExit(f"the Agents SDK made {calls} calls, expected {turns}")
        if session is not None:
            session.close()
        return timed.wall, timed.cpu

    await once(True, "warm")
    await once(False, "warm")
    out: dict[str, Any] = {"version": agents.__version__, "sqlite session": [], "no session": []}
    for r in range(rounds):
        out["sqlite session"].append(await once(True, f"r{r}"))
        out["no session"].append(await once(False, f"r{r}"))
    return out


def _item_type(item: Any) -> str | None:
    return item.get("type") if isinstance(item, dict) else getattr(item, "type", None)


def agents_python(given: str | None) -> str | None:
    """The interpreter to run the SDK with: the one given, else this one if it has the SDK."""
    if given:
        return given
    try:
        import agents  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def measure_agents(python: str, turns: int, rounds: int, tmp: Path) -> dict[str, Any] | str:
    """The SDK's rounds from a child process, or why there are none."""
    command = [python, __file__, "--agents-worker", "--turns", str(turns), "--rounds", str(rounds)]
    command += ["--db", str(tmp / "agents.db")]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the Agents SDK run failed: {exc}"
    if done.returncode != 0:
        return f"the Agents SDK run failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the run -----------------------------------------------------------------------------------


BATON = {"baton": False, "baton side effects + approval": True}
LANGGRAPH = {
    "langgraph sync": LgVariant("sync"),
    "langgraph async": LgVariant("async"),
    "langgraph sync, no fsync": LgVariant("sync", fsync=False),
    "langgraph sync + interrupt": LgVariant("sync", interrupt=True),
}
Rows = dict[str, list[tuple[float, float]]]
"""(wall, CPU) milliseconds per tool call, one pair a round, by engine."""


async def measure(args: argparse.Namespace) -> tuple[Rows, str]:
    """Every engine's rounds, and what became of the Agents SDK."""
    from baton.sessions.store import Store

    rows: Rows = {name: [] for name in [*BATON, *LANGGRAPH]}
    per_call = 1000 / args.turns
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as tmp_name:
        tmp = Path(tmp_name)
        store = await Store.open(tmp / "baton.db")
        try:
            flows = {name: write_flow(tmp, args.turns, side) for name, side in BATON.items()}
            for name, side in BATON.items():  # warm-up: imports, caches
                await run_baton(store, flows[name], args.turns, side)
            for name, variant in LANGGRAPH.items():
                await run_langgraph(tmp / "lg.db", args.turns, f"warm-{name}", variant)
            for r in range(args.rounds):
                for name, side in BATON.items():
                    wall, cpu = await run_baton(store, flows[name], args.turns, side)
                    rows[name].append((wall * per_call, cpu * per_call))
                for name, variant in LANGGRAPH.items():
                    wall, cpu = await run_langgraph(tmp / "lg.db", args.turns, f"{name}-{r}", variant)
                    rows[name].append((wall * per_call, cpu * per_call))
            if args.profile:
                for name, side in BATON.items():
                    await profile_baton(store, flows[name], args.turns, side, name)
        finally:
            await store.close()
        python = agents_python(args.agents_python)
        if python is None:
            return rows, "not measured: no interpreter with the SDK (see --agents-python)"
        sdk = measure_agents(python, args.turns, args.rounds, tmp)
    if isinstance(sdk, str):
        return rows, sdk
    for kind in ("sqlite session", "no session"):
        rows[f"openai-agents {kind}"] = [(wall * per_call, cpu * per_call) for wall, cpu in sdk[kind]]
    return rows, f"{sdk['version']}, in a child process on its own interpreter"


async def profile_baton(store: Store, wf: Workflow, turns: int, side_effects: bool, name: str) -> None:
    """cProfile one baton run: where the time goes (own time, then cumulative)."""
    profiler = cProfile.Profile()
    await run_baton(store, wf, turns, side_effects, profiler)
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(30)
        print(f"--- profile: {name}, {turns} turns, by {order} ---")
        print(out.getvalue())


def summary(values: Sequence[float]) -> str:
    """min–max and median."""
    return f"{min(values):7.3f}–{max(values):<7.3f} median {statistics.median(values):7.3f}"


def report(turns: int, rows: Rows, sdk: str) -> None:
    """Print every round, the ranges, and the ratios against baton, for wall and CPU time."""
    rounds = len(rows["baton"])
    for index, what in enumerate(("wall", "CPU")):
        print(f"{what} ms per tool call ({turns} calls a run, {rounds} rounds)")
        for name, pairs in rows.items():
            values = [pair[index] for pair in pairs]
            each = " ".join(f"{v:7.3f}" for v in values)
            print(f"  {name:30} {summary(values)}   rounds: {each}")
        print(f"  {what}: median per call of each / median of baton")
        for ours in BATON:
            base = statistics.median(pair[index] for pair in rows[ours])
            ratios = [
                f"{theirs.replace('langgraph', 'lg').replace('openai-agents', 'oai')} "
                f"{statistics.median(pair[index] for pair in pairs) / base:.1f}×"
                for theirs, pairs in rows.items()
                if theirs not in BATON
            ]
            print(f"    vs {ours}: " + ", ".join(ratios))
        print()
    print(f"openai-agents: {sdk}")
    target = f"≥ {TARGET_RATIO:.0f}× less than LangGraph + AsyncSqliteSaver"
    print(f"targets: baton ≤ {TARGET_MS} ms per tool call; {target}")


def main() -> None:
    """Parse options, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--turns", type=int, default=50, help="tool calls a run, one a turn (at most 199)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each engine")
    parser.add_argument("--profile", action="store_true", help="cProfile one baton run of each variant")
    parser.add_argument("--agents-python", help="an interpreter with openai-agents installed")
    parser.add_argument("--agents-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.turns <= 199:
        parser.error("--turns must be 1 to 199 (an agent's max_turns is at most 200)")
    if args.agents_worker:
        print(json.dumps(asyncio.run(agents_rounds(args.turns, args.rounds, Path(args.db)))))
        return
    rows, sdk = asyncio.run(measure(args))
    report(args.turns, rows, sdk)


if __name__ == "__main__":
    main()
