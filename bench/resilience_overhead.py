"""What the resilience layer adds to one model call, against a bare gateway stream call, in the same run.

The layered call goes through `core.runner.calls.call` (circuit breaker, budget forecast with litellm's token
counter, ledger reservation, call events, output validation); the bare call is `LiteLLMGateway.stream` alone.
Both stream the same answer from the same provider — the fake OpenAI-compatible server over HTTP on
127.0.0.1, or the offline `mock/` provider — in alternating order, so drift and noise hit both alike.
Prints wall and CPU time per call (median, p90, mean) and the difference.

    .venv/bin/python bench/resilience_overhead.py [--calls 300] [--chunks 20] [--prompt-words 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baton.core import events as ev
from baton.core.llm.gateway import LiteLLMGateway
from baton.core.llm.types import LLMRequest
from baton.core.runner.calls import CallPlan, call
from baton.core.runner.context import RealClock, RunOptions
from baton.core.runner.history import History
from baton.core.runner.runtime import Runtime
from baton.core.spec.load import load_text
from baton.core.spec.model import ModelSpec, RetryPolicy, TimeoutPolicy
from tests.fakes.openai_server import FakeOpenAI

FLOW = """\
name: bench
state: {topic: {type: str}, answer: {type: str}}
inputs: {topic: {default: "x"}}
models: {m: mock/fast}
steps:
  - {id: write, kind: agent, model: m, reads: [topic], writes: [answer], prompt: "{topic}"}
"""


class CountingSink:
    """The runner's sink, minus persistence: keeps the events so their construction is paid for."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self.deltas = 0

    async def commit(self, events: Sequence[ev.Event], *, command_id: int = 0) -> None:
        self.events.extend(events)

    def post(self, events: Sequence[ev.Event]) -> None:
        self.events.extend(events)

    def delta(self, step: str, call_id: str, text: str) -> None:
        self.deltas += 1

    async def reject_command(self, command_id: int, reason: str) -> None:
        return None


def stats(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return statistics.median(ordered), p90, statistics.fmean(ordered)


async def measure(fn: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    await fn()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


async def run(provider: str, calls: int, chunks: int, prompt_words: int) -> None:
    llm = LiteLLMGateway()
    await llm.warm_up()
    server: FakeOpenAI | None = None
    prompt = " ".join(f"word{i % 97}" for i in range(prompt_words))
    if provider == "http":
        server = await FakeOpenAI(words=[f"w{i} " for i in range(chunks)]).start()
        llm.register_price("openai/bench", 1e-6, 2e-6)
        model = ModelSpec(model="openai/bench", api_base=server.base_url, max_tokens=chunks + 10)
    else:
        model = ModelSpec(model="mock/fast", mock={"min_tokens": chunks, "max_tokens": chunks}, max_tokens=chunks + 10)
    request = LLMRequest(
        model=model.model,
        alias="m",
        messages=[{"role": "user", "content": prompt}],
        max_tokens=model.max_tokens,
        api_base=model.api_base,
        api_key_env=None,
        mock=model.mock.model_dump() if model.mock else None,
    )
    if provider == "http":
        import os

        os.environ.setdefault("OPENAI_API_KEY", "bench-not-a-key")
    sink = CountingSink()
    rt = Runtime(
        "bench",
        load_text(FLOW, "<bench>"),
        {"m": model},
        llm,
        sink,
        RealClock(),
        RunOptions(max_usd=1e9),
        History(),
    )
    plan = CallPlan(request, [], None, RetryPolicy(), TimeoutPolicy())

    def validate(text: str) -> str:
        if not text.strip():
            raise ValueError("empty")
        return text

    async def bare() -> Any:
        return await llm.stream(request, lambda text: None, first_token_s=30, idle_s=30)

    async def layered() -> Any:
        return await call(rt, "write", plan, validate)

    for _ in range(max(10, calls // 10)):
        await bare()
        await layered()
    walls: dict[str, list[float]] = {"bare": [], "layered": []}
    cpus: dict[str, list[float]] = {"bare": [], "layered": []}
    for i in range(calls):
        order = (("bare", bare), ("layered", layered)) if i % 2 == 0 else (("layered", layered), ("bare", bare))
        for name, fn in order:
            wall, cpu = await measure(fn)
            walls[name].append(wall)
            cpus[name].append(cpu)
    forecast_ms = []
    for _ in range(calls):
        t = time.perf_counter()
        llm.forecast(request)
        forecast_ms.append((time.perf_counter() - t) * 1000)
    if server is not None:
        await server.stop()

    tokens = llm.count_tokens(request)
    print(f"\nprovider={provider}  calls={calls} each way  chunks/call={chunks}  prompt≈{tokens} tokens")
    print(f"{'':10} {'wall median':>12} {'wall p90':>10} {'wall mean':>10} {'cpu median':>11} {'cpu mean':>9}  (ms)")
    for name in ("bare", "layered"):
        wm, wp, wa = stats(walls[name])
        cm, _, ca = stats(cpus[name])
        print(f"{name:10} {wm:12.3f} {wp:10.3f} {wa:10.3f} {cm:11.3f} {ca:9.3f}")
    dw = stats(walls["layered"])[0] - stats(walls["bare"])[0]
    dc = stats(cpus["layered"])[0] - stats(cpus["bare"])[0]
    dwm = stats(walls["layered"])[2] - stats(walls["bare"])[2]
    print(f"{'overhead':10} {dw:12.3f} {'':10} {dwm:10.3f} {dc:11.3f}")
    fm, fp, _ = stats(forecast_ms)
    print(f"of which the forecast (litellm token counter + prices): median {fm:.3f} ms, p90 {fp:.3f} ms")
    per_call = len(sink.events) / (calls + max(10, calls // 10))
    print(f"events per layered call: {per_call:.1f} (LLMCallStarted; the finished event rides with the step)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--prompt-words", type=int, nargs="+", default=[50, 2000])
    parser.add_argument("--provider", choices=["http", "offline", "both"], default="both")
    args = parser.parse_args()
    providers = ["http", "offline"] if args.provider == "both" else [args.provider]
    for provider in providers:
        for words in args.prompt_words:
            asyncio.run(run(provider, args.calls, args.chunks, words))


if __name__ == "__main__":
    main()
