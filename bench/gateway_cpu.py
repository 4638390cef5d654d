"""CPU of a model call inside baton's LLM gateway, per call and per chunk, and what one core sustains.

    .venv/bin/python bench/gateway_cpu.py [--calls 200] [--long-calls 50] [--short 20] [--long 200]
                                          [--rounds 5] [--plain] [--json]

Bare zero-latency calls of the offline model (`mock/fast`, priced, so cost is computed as for a real
model) stream a short and a long answer (`--short` / `--long` chunks of one token; the offline model
merges a few words, so the chunks really streamed are counted and used). Each variant runs its calls
one after another and is charged the process time they take (every thread of the process: litellm
finishes a stream on worker threads), after the event loop has run every task the calls left behind:

- gateway: `LiteLLMGateway.stream`, as a run calls it (watchdogs, tool-call assembly, usage, cost);
- plain (`--plain`): the same gateway with its trimming off (`lean=False`): the "before", in the same run;
- litellm: `litellm.acompletion` with the gateway's arguments, its stream read to the end: the anchor.

Per call = CPU / calls; per chunk = (long − short per call) / (long − short chunks). One agent streaming
at 50 tokens/s for a long answer keeps the CPU busy `per call × 50 / long` of each second, so one core
sustains `long / (50 × per call)` such agents. The variants take turns within a round (the order
rotates), after warm-up calls; the table shows min … median … max over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for _key, _value in (("LITELLM_LOCAL_MODEL_COST_MAP", "True"), ("LITELLM_MODE", "PRODUCTION"), ("HF_HUB_OFFLINE", "1")):
    os.environ.setdefault(_key, _value)

from baton.core.llm.gateway import LiteLLMGateway  # noqa: E402
from baton.core.llm.types import LLMRequest  # noqa: E402

MODEL = "mock/fast"
TOKENS_PER_S = 50.0
Call = Callable[[int], Awaitable[Any]]


def request(i: int, chunks: int) -> LLMRequest:
    mock = {"latency_s": 0, "tokens_per_s": 0, "min_tokens": chunks, "max_tokens": chunks}
    messages = [{"role": "user", "content": f"Write part {i} of the report on gateways."}]
    return LLMRequest(model=MODEL, alias="m", messages=messages, max_tokens=chunks, mock=mock)


def through_gateway(gateway: LiteLLMGateway, chunks: int) -> Call:
    async def call(i: int) -> Any:
        result = await gateway.stream(request(i, chunks), _ignore, first_token_s=60.0, idle_s=60.0)
        if not result.tokens_out or result.cost_usd is None:
            raise SystemExit(f"unexpected result: {result}")
        return result

    return call


def through_litellm(gateway: LiteLLMGateway, chunks: int) -> Call:
    lib = gateway.lib()

    async def call(i: int) -> Any:
        response = await lib.acompletion(**gateway._kwargs(request(i, chunks)))
        async for _ in response:
            pass
        return response

    return call


def _ignore(_: str) -> None:
    return None


async def settle() -> None:
    """Let the tasks the calls left behind (litellm's logging, its cache hook) run before the clock stops."""
    me = asyncio.current_task()
    for _ in range(1000):
        pending = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        if not pending:
            return
        await asyncio.wait(pending, timeout=1.0)


async def cpu_ms_per_call(call: Call, calls: int) -> float:
    await settle()
    start = time.process_time()
    for i in range(calls):
        await call(i)
    await settle()
    return (time.process_time() - start) * 1000.0 / calls


Samples = dict[str, dict[str, list[float]]]
"""variant → answer size → ms per call, one per round."""


async def measure(args: argparse.Namespace) -> tuple[Samples, dict[str, float]]:
    """The samples, and the mean chunks the short and the long calls really stream."""
    lean = LiteLLMGateway(lean=True)
    await lean.warm_up()
    variants: dict[str, LiteLLMGateway] = {"gateway": lean}
    if args.plain:
        variants["plain"] = LiteLLMGateway(lean=False)
    sizes = {"short": (args.short, args.calls), "long": (args.long, args.long_calls)}
    makers: dict[str, Callable[[int], Call]] = {name: partial(through_gateway, gw) for name, gw in variants.items()}
    makers["litellm"] = partial(through_litellm, lean)
    for make in makers.values():  # warm up every path
        for chunks, _ in sizes.values():
            call = make(chunks)
            for i in range(10):
                await call(i)
    streamed: dict[str, float] = {}
    for size, (chunks, calls) in sizes.items():  # the chunks the timed calls really stream (words merge)
        results = [await through_gateway(lean, chunks)(i) for i in range(calls)]
        streamed[size] = statistics.fmean(r.tokens_out for r in results)
    out: Samples = {name: {size: [] for size in sizes} for name in makers}
    names = list(makers)
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            for size, (chunks, calls) in sizes.items():
                out[name][size].append(await cpu_ms_per_call(makers[name](chunks), calls))
        if not args.json:
            line = "  ".join(f"{n} {out[n]['short'][-1]:.2f}/{out[n]['long'][-1]:.2f}" for n in names)
            print(f"round {round_ + 1}: ms per call short/long: {line}", file=sys.stderr)
    return out, streamed


def summary(out: Samples, streamed: dict[str, float], args: argparse.Namespace) -> dict[str, Any]:
    short, long_ = streamed["short"], streamed["long"]
    span = long_ - short
    rows: dict[str, Any] = {}
    for name, sizes in out.items():
        per_chunk = [(lg - sh) / span for sh, lg in zip(sizes["short"], sizes["long"], strict=True)]
        agents = [long_ / (TOKENS_PER_S * lg / 1000.0) for lg in sizes["long"]]
        rows[name] = {
            "short_ms_per_call": _stats(sizes["short"]),
            "long_ms_per_call": _stats(sizes["long"]),
            "ms_per_chunk": _stats(per_chunk),
            "agents_per_core": _stats(agents),
        }
    return {
        "model": MODEL,
        "short_chunks": round(short, 1),
        "long_chunks": round(long_, 1),
        "calls": {"short": args.calls, "long": args.long_calls},
        "rounds": args.rounds,
        "tokens_per_s": TOKENS_PER_S,
        "variants": rows,
    }


def _stats(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def table(result: dict[str, Any]) -> None:
    short, long_ = result["short_chunks"], result["long_chunks"]
    print(f"CPU (process time, all threads) per bare offline call, {result['rounds']} rounds: min … median … max")
    columns = (
        (f"ms/call ({short} chunks)", "short_ms_per_call", 2),
        (f"ms/call ({long_} chunks)", "long_ms_per_call", 2),
        ("ms/chunk", "ms_per_chunk", 3),
        (f"agents/core @{result['tokens_per_s']:g} tok/s", "agents_per_core", 0),
    )
    for name, row in result["variants"].items():
        print(f"{name}:")
        for label, key, digits in columns:
            s = row[key]
            print(f"  {label:26} {s['min']:9.{digits}f} … {s['median']:9.{digits}f} … {s['max']:9.{digits}f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="short calls per variant per round")
    parser.add_argument("--long-calls", type=int, default=50, help="long calls per variant per round")
    parser.add_argument("--short", type=int, default=20, help="chunks of a short answer")
    parser.add_argument("--long", type=int, default=200, help="chunks of a long answer")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--plain", action="store_true", help="also run the gateway with its trimming off")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    if args.long <= args.short:
        parser.error("--long must be more chunks than --short")
    samples, streamed = asyncio.run(measure(args))
    result = summary(samples, streamed, args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        table(result)


if __name__ == "__main__":
    main()
