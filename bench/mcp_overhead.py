"""What baton's MCP layer adds to a tool call, against the SDK's bare `ClientSession.call_tool`, in the same run.

Both talk over stdio to their own process of the fixture server (`tests/fixtures/mcp_server.py`) and call
its cheapest tool (`ping`), on the same protocol revision (2026-07-28: the bare session probes
`server/discover` as `McpServers` does). The baton path is `McpServers.call_tool`: its own stdio
transport, the SDK's `Client`, a pausable deadline and the conversion of the result to JSON. Calls go in
pairs, one of each side, alternating which goes first, so drift and noise hit both alike. Prints, per
round, the median wall time of a call on each side and the client process's CPU time per call (the
servers' own CPU is the same work on both sides), then the range over the rounds.

    .venv/bin/python bench/mcp_overhead.py [--calls 500] [--rounds 6] [--timeout 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcp import ClientSession, StdioServerParameters, stdio_client

from baton.core.mcp import McpServers
from baton.core.spec.agent_tools import McpServer

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "mcp_server.py"
TARGET_MS = 1.0


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    await fn()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


async def run(calls: int, rounds: int, timeout_s: float | None) -> bool:
    params = StdioServerParameters(command=sys.executable, args=[str(FIXTURE)])
    server = McpServer(command=[sys.executable, str(FIXTURE)], name="fixture")
    servers = McpServers()
    try:
        with open(os.devnull, "w") as quiet:
            async with stdio_client(params, errlog=quiet) as (read, write), ClientSession(read, write) as session:
                await session.discover()
                await session.list_tools()
                await servers.list_tools(server)

                async def bare() -> Any:
                    result = await session.call_tool("ping", {})
                    assert not result.is_error
                    return result

                async def baton() -> Any:
                    result = await servers.call_tool(server, "ping", {}, timeout_s)
                    assert result == "pong"
                    return result

                print(f"protocol {session.protocol_version}; {calls} calls of 'ping' per side per round")
                walls, cpus = await alternate({"bare": bare, "baton": baton}, calls, rounds)
    finally:
        await servers.aclose()
    return report(walls, cpus)


async def alternate(
    sides: dict[str, Callable[[], Awaitable[Any]]], calls: int, rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per round, each side's median wall and mean CPU ms per call. Calls are paired (one of each side,
    the first side alternating), so a slow moment of the machine hits both sides."""
    pairs = [list(sides.items()), list(reversed(sides.items()))]
    for i in range(max(20, calls // 10)):  # warm up
        for _, fn in pairs[i % 2]:
            await fn()
    walls: dict[str, list[float]] = {name: [] for name in sides}
    cpus: dict[str, list[float]] = {name: [] for name in sides}
    print(f"{'round':>5} {'bare ms':>9} {'baton ms':>9} {'added ms':>9}   {'bare cpu':>9} {'baton cpu':>9}")
    for round_ in range(rounds):
        wall: dict[str, list[float]] = {name: [] for name in sides}
        cpu: dict[str, list[float]] = {name: [] for name in sides}
        for i in range(calls):
            for name, fn in pairs[i % 2]:
                w, c = await timed(fn)
                wall[name].append(w)
                cpu[name].append(c)
        for name in sides:
            walls[name].append(statistics.median(wall[name]))
            cpus[name].append(statistics.fmean(cpu[name]))
        print(
            f"{round_ + 1:>5} {walls['bare'][-1]:9.3f} {walls['baton'][-1]:9.3f} "
            f"{walls['baton'][-1] - walls['bare'][-1]:9.3f}   {cpus['bare'][-1]:9.3f} {cpus['baton'][-1]:9.3f}"
        )
    return walls, cpus


def report(walls: dict[str, list[float]], cpus: dict[str, list[float]]) -> bool:
    added = [b - a for a, b in zip(walls["bare"], walls["baton"], strict=True)]
    added_cpu = [b - a for a, b in zip(cpus["bare"], cpus["baton"], strict=True)]
    print("\nper call, over the rounds (min … median … max, ms):")
    for label, values in (
        ("bare ClientSession", walls["bare"]),
        ("McpServers", walls["baton"]),
        ("added (wall)", added),
        ("added (client CPU)", added_cpu),
    ):
        print(f"  {label:20} {min(values):7.3f} … {statistics.median(values):7.3f} … {max(values):7.3f}")
    met = statistics.median(added) <= TARGET_MS
    print(f"target: ≤ {TARGET_MS:g} ms added per call — {'met' if met else 'NOT met'} (median of the rounds)")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per side per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=60.0, help="timeout_s given to McpServers.call_tool")
    args = parser.parse_args()
    met = asyncio.run(run(args.calls, args.rounds, args.timeout))
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
