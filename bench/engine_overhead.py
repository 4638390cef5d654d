"""Durable per-step overhead of baton's engine, next to LangGraph with AsyncSqliteSaver, in one run.

    python bench/engine_overhead.py [--steps 200] [--branches 50] [--concurrency N] [--repeat 5]
                                    [--stat median|min] [--clock wall|cpu] [--only sequential/trivial ...]
                                    [--profile]
                                    [--pg [postgresql://…]] [--no-langgraph]

Two graphs, each in two flavours, each run by both engines on a real SQLite file:

- sequential: N nodes one after another; fan-out: M concurrent branches, then one join node.
- llm: every node makes the same offline model call (`mock/bench`, zero latency) through the same
  litellm gateway. The requests are exactly the ones baton recorded, so both engines send identical
  calls; their bare cost is measured on its own (the same calls, in the same shape, no engine) and
  subtracted: overhead = total − bare model time.
- trivial: no model; a baton `tool` step calling an async no-op, a LangGraph node returning a value.

Both engines run the same shape: LangGraph (and the bare calls) send every branch's call at once, so
baton's workflow lifts its default limit of 8 model calls at a time (`defaults.concurrency`) to the
number of branches. `--concurrency 8` keeps baton's default instead: with a zero-latency model every
call is CPU work in this one process, and fewer calls in flight leave the event loop idle while
litellm finishes each stream on a worker thread, which shows up as overhead although no engine work
is done.

Per-step overhead = overhead / number of work nodes (N, or M + 1). baton is timed from the start of a
session's runner host to its end (lease, history, every step's durable commit, the final projections),
with the workflow already parsed, as LangGraph's graph is already compiled. baton commits each step's
completion before the next step runs; LangGraph is shown with `durability="sync"` (the same promise)
and with its default `"async"`. Each figure is the median (or the minimum) of `--repeat` runs. On a
shared machine the numbers are noisy, the llm flavour most (litellm's own per-call cost varies by more
than the engines' overhead): compare the trivial rows and the ratios. `--clock cpu` times both engines
by this process's CPU time (every thread's) instead of the wall clock: on a machine busy with other
work it leaves out the time the process waited for a core, though not the slowdown of sharing one.

`--pg` adds baton on a PostgreSQL store (`baton postgresql`) next to baton on SQLite, in the same run:
the given server, or (`--pg` alone) a throwaway one started as the tests start theirs (initdb into a
temporary folder, over its unix socket). Target: ≤ 1 ms per step over the local socket.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import operator
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for _key, _value in (("LITELLM_LOCAL_MODEL_COST_MAP", "True"), ("LITELLM_MODE", "PRODUCTION"), ("HF_HUB_OFFLINE", "1")):
    os.environ.setdefault(_key, _value)

from baton.core.llm.gateway import LiteLLMGateway  # noqa: E402
from baton.core.llm.types import LLMRequest  # noqa: E402
from baton.core.runner import RunOptions  # noqa: E402
from baton.core.spec.load import Workflow, load_workflow  # noqa: E402
from baton.sessions.create import create_session  # noqa: E402
from baton.sessions.host import SessionHost  # noqa: E402
from baton.sessions.interface import SessionStore  # noqa: E402
from baton.sessions.store import Store  # noqa: E402

MOCK = "{latency_s: 0, tokens_per_s: 0, min_tokens: 20, max_tokens: 20}"
TOOLS = '''
async def noop(i: int) -> str:
    """A step body that does nothing."""
    return str(i)
'''
TIMEOUTS = {"first_token_s": 30.0, "idle_s": 30.0}
CLOCK: list[Callable[[], float]] = [time.perf_counter]
"""What runs are timed by (`--clock`): the wall clock, or the process's CPU time."""


# --- workflows ---------------------------------------------------------------------------------


def _agent(step_id: str) -> str:
    return f'{{id: {step_id}, kind: agent, model: m, writes: [last], prompt: "Work on part {step_id}"}}'


def _tool(step_id: str, i: int) -> str:
    call = "call: 'bench_tools:noop', side_effects: false"
    return f"{{id: {step_id}, kind: tool, {call}, args: {{i: {i}}}, writes: [last]}}"


def baton_yaml(shape: str, body: str, n: int, m: int, concurrency: int | None = None) -> str:
    """A workflow of `shape` (sequential | fanout) whose nodes are `body` (llm | trivial); at most
    `concurrency` model calls at a time (default: one per branch, as LangGraph runs them)."""
    node = _agent if body == "llm" else (lambda sid: _tool(sid, int(sid[1:]) if sid[1:].isdigit() else 0))
    head = [
        f"name: bench-{shape}-{body}",
        "state:",
        "  last: {type: str}",
        "  parts: {type: 'list[str]', reducer: append}",
        f"models: {{m: {{model: mock/bench, mock: {MOCK}}}}}",
        f"defaults: {{concurrency: {concurrency or min(max(m, 1), 256)}}}",
        "steps:",
    ]
    if shape == "sequential":
        steps = [f"  - {node(f's{i}')}" for i in range(n)]
    else:
        leaf = (
            (lambda i: f'{{id: b{i}, kind: agent, model: m, writes: [parts], prompt: "Work on part b{i}"}}')
            if body == "llm"
            else (
                lambda i: (
                    f"{{id: b{i}, kind: tool, call: 'bench_tools:noop', side_effects: false,"
                    f" args: {{i: {i}}}, writes: [parts]}}"
                )
            )
        )
        steps = ["  - id: fan", "    kind: parallel", "    branches:"]
        steps += [f"      - {leaf(i)}" for i in range(m)]
        steps.append(f"  - {node('join')}")
    return "\n".join(head + steps) + "\n"


def write_flow(tmp: Path, shape: str, body: str, n: int, m: int, concurrency: int | None = None) -> Workflow:
    """Save the workflow (and its tools module) and load it as `baton run` would."""
    (tmp / "bench_tools.py").write_text(TOOLS, encoding="utf-8")
    path = tmp / f"{shape}-{body}.yaml"
    path.write_text(baton_yaml(shape, body, n, m, concurrency), encoding="utf-8")
    return load_workflow(path)


# --- baton -------------------------------------------------------------------------------------


async def run_baton(store: SessionStore, wf: Workflow, llm: LiteLLMGateway) -> tuple[float, str]:
    """One durable session, start to end, in this process; returns (seconds, session id)."""
    sid = await create_session(store, wf, options=RunOptions(auto="approve"))
    host = SessionHost(store, sid, llm=llm, options=RunOptions(auto="approve"), workflow=wf)
    t0 = CLOCK[0]()
    status = await host.run()
    elapsed = CLOCK[0]() - t0
    if status != "completed":
        raise SystemExit(f"baton session {sid} ended {status}")
    return elapsed, sid


async def recorded_requests(store: Store, sid: str) -> dict[str, LLMRequest]:
    """The exact requests baton sent, by step path."""
    out: dict[str, LLMRequest] = {}
    for env in await store.events(sid):
        e = env.event
        if e.kind == "LLMCallFinished" and e.status == "ok":  # type: ignore[attr-defined]
            req = e.request  # type: ignore[attr-defined]
            out[e.step] = LLMRequest(
                model=req["model"],
                alias="m",
                messages=req["messages"],
                max_tokens=req.get("max_tokens"),
                temperature=req.get("temperature"),
                mock={"latency_s": 0, "tokens_per_s": 0, "min_tokens": 20, "max_tokens": 20},
            )
    return out


# --- the bare model calls ----------------------------------------------------------------------


async def call(llm: LiteLLMGateway, request: LLMRequest) -> str:
    """One model call, nothing around it."""
    result = await llm.stream(request, lambda _text: None, **TIMEOUTS)
    return result.text


async def bare(llm: LiteLLMGateway, shape: str, requests: dict[str, LLMRequest]) -> float:
    """The same calls in the same shape (sequential, or branches concurrently then the join)."""
    t0 = CLOCK[0]()
    if shape == "sequential":
        for request in requests.values():
            await call(llm, request)
    else:
        branches = [r for p, r in requests.items() if p.startswith("fan/")]
        await asyncio.gather(*(call(llm, r) for r in branches))
        await call(llm, requests["join"])
    return CLOCK[0]() - t0


# --- LangGraph ---------------------------------------------------------------------------------


class SeqState(TypedDict, total=False):
    last: str


class FanState(TypedDict, total=False):
    last: str
    parts: Annotated[list[str], operator.add]


def lg_graph(shape: str, body: str, n: int, m: int, llm: LiteLLMGateway, requests: dict[str, LLMRequest]) -> Any:
    """The same graph in LangGraph; llm nodes send baton's recorded requests."""
    from langgraph.graph import END, START, StateGraph

    def node(path: str, key: str) -> Callable[[Any], Awaitable[dict[str, Any]]]:
        if body == "llm":
            request = requests[path]

            async def work(_state: Any) -> dict[str, Any]:
                text = await call(llm, request)
                return {key: [text] if key == "parts" else text}

        else:

            async def work(_state: Any) -> dict[str, Any]:
                return {key: [path] if key == "parts" else path}

        return work

    if shape == "sequential":
        g: Any = StateGraph(SeqState)
        names = [f"s{i}" for i in range(n)]
        for name in names:
            g.add_node(name, node(name, "last"))
        g.add_edge(START, names[0])
        for a, b in zip(names, names[1:], strict=False):
            g.add_edge(a, b)
        g.add_edge(names[-1], END)
        return g
    g = StateGraph(FanState)
    for i in range(m):
        g.add_node(f"b{i}", node(f"fan/b{i}", "parts"))
        g.add_edge(START, f"b{i}")
        g.add_edge(f"b{i}", "join")
    g.add_node("join", node("join", "last"))
    g.add_edge("join", END)
    return g


async def run_langgraph(db: Path, graph: Any, durability: str, thread: str, n_nodes: int) -> float:
    """One durable LangGraph run with AsyncSqliteSaver on a file; returns seconds."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
        await saver.setup()
        app = graph.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": thread}, "recursion_limit": n_nodes + 10}
        t0 = CLOCK[0]()
        await app.ainvoke({}, config, durability=durability)
        return CLOCK[0]() - t0


# --- the run -----------------------------------------------------------------------------------


async def measure(args: argparse.Namespace) -> list[tuple[str, str, int, float, float]]:
    """Rows: (workload, engine, nodes, median total s, median bare model s)."""
    llm = LiteLLMGateway()
    await llm.warm_up()
    rows: list[tuple[str, str, int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as tmp_name:
        tmp = Path(tmp_name)
        store = await Store.open(tmp / "baton.db")
        pg = await _pg_store(args.pg) if args.pg is not None else None
        try:
            for shape in ("sequential", "fanout"):
                for body in ("llm", "trivial"):
                    if args.only and f"{shape}/{body}" not in args.only:
                        continue
                    wf = write_flow(tmp, shape, body, args.steps, args.branches, args.concurrency)
                    nodes = args.steps if shape == "sequential" else args.branches + 1
                    # warm-up run (imports, caches), and the requests both engines will send
                    _, sid = await run_baton(store, wf, llm)
                    requests = await recorded_requests(store, sid) if body == "llm" else {}
                    graph = lg_graph(shape, body, args.steps, args.branches, llm, requests)
                    modes = () if args.no_langgraph else ("sync", "async")
                    if modes:
                        await run_langgraph(tmp / "lg.db", graph, "sync", f"warm-{shape}-{body}", nodes)
                    totals: dict[str, list[float]] = {"baton": [], **{f"langgraph {m}": [] for m in modes}}
                    if pg is not None:
                        await run_baton(pg, wf, llm)
                        totals["baton postgresql"] = []
                    bares: list[float] = []
                    for r in range(args.repeat):
                        if body == "llm":
                            bares.append(await bare(llm, shape, requests))
                        totals["baton"].append((await run_baton(store, wf, llm))[0])
                        if pg is not None:
                            totals["baton postgresql"].append((await run_baton(pg, wf, llm))[0])
                        for mode in modes:
                            seconds = await run_langgraph(
                                tmp / "lg.db", graph, mode, f"{shape}-{body}-{mode}-{r}", nodes
                            )
                            totals[f"langgraph {mode}"].append(seconds)
                    pick = min if args.stat == "min" else statistics.median
                    model = pick(bares) if bares else 0.0
                    for engine, values in totals.items():
                        rows.append((f"{shape}/{body}", engine, nodes, pick(values), model))
            if args.profile:
                shape, body = args.only[0].split("/") if args.only else ("sequential", "llm")
                wf = write_flow(tmp, shape, body, args.steps, args.branches, args.concurrency)
                profiler = cProfile.Profile()
                profiler.enable()
                await run_baton(store, wf, llm)
                profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
                print(out.getvalue())
        finally:
            await store.close()
            if pg is not None:
                await pg.close()
    return rows


async def _pg_store(dsn: str) -> SessionStore:
    """The PostgreSQL store at `dsn`, or on a throwaway server when `dsn` is empty."""
    from baton.sessions.pg_store import PgStore

    if not dsn:
        from tests.sessions.pg_server import shared_server

        dsn = shared_server().create_database()
    return await PgStore.open(dsn)


def report(rows: list[tuple[str, str, int, float, float]]) -> None:
    """Print the table and the baton vs LangGraph ratios."""
    print(f"{'workload':20} {'engine':16} {'nodes':>5} {'total ms':>10} {'model ms':>10} {'overhead ms/step':>17}")
    per_step: dict[tuple[str, str], float] = {}
    for workload, engine, nodes, total, model in rows:
        overhead = (total - model) / nodes * 1000
        per_step[(workload, engine)] = overhead
        print(f"{workload:20} {engine:16} {nodes:5d} {total * 1000:10.1f} {model * 1000:10.1f} {overhead:17.3f}")
    print()
    for workload in dict.fromkeys(w for w, *_ in rows):
        ours = per_step[(workload, "baton")]
        for mode in ("sync", "async"):
            theirs = per_step.get((workload, f"langgraph {mode}"))
            if theirs is None:
                continue
            ratio = theirs / ours if ours > 0 else float("inf")
            print(f"{workload:20} LangGraph ({mode}) / baton per-step overhead: {ratio:5.1f}×")
        on_pg = per_step.get((workload, "baton postgresql"))
        if on_pg is not None:
            print(f"{workload:20} baton on PostgreSQL − on SQLite, per step: {on_pg - ours:+.3f} ms")
    print("\ntargets: baton ≤ 0.3 ms per step; ≥ 10× less than LangGraph + AsyncSqliteSaver;")
    print("         baton on PostgreSQL ≤ 1 ms per step over the local socket")


def main() -> None:
    """Parse options, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=200, help="nodes of the sequential graph")
    parser.add_argument("--branches", type=int, default=50, help="branches of the fan-out graph")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="baton's model calls at once (default: one per branch)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--stat", choices=["median", "min"], default="median", help="how runs are summarised")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall", help="time runs by wall clock or CPU")
    parser.add_argument("--only", action="append", help="a workload to run (sequential/llm, fanout/trivial, ...)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one baton run of the first --only workload (sequential/llm)"
    )
    parser.add_argument(
        "--pg", nargs="?", const="", default=None, help="also baton on PostgreSQL (a URL; none: a throwaway server)"
    )
    parser.add_argument("--no-langgraph", action="store_true", help="baton only")
    args = parser.parse_args()
    if args.clock == "cpu":
        CLOCK[0] = time.process_time
    report(asyncio.run(measure(args)))


if __name__ == "__main__":
    main()
