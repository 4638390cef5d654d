"""Wall time of a parallel fan-out whose branches each wait on a slow model (target: 8 × 1 s in ≤ 1.1 s).

    python bench/parallel_wall.py [--branches 8] [--latency 1.0] [--repeat 5]

Each branch makes one offline-model call that waits `--latency` seconds before its first token; the
session runs through the real runner and store on a SQLite file (durable commits, the litellm path).
Printed: the session's wall time (start of the runner host to its end) per run, min / median / max, and
what the branches would take one after another.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for _key, _value in (("LITELLM_LOCAL_MODEL_COST_MAP", "True"), ("LITELLM_MODE", "PRODUCTION"), ("HF_HUB_OFFLINE", "1")):
    os.environ.setdefault(_key, _value)

from baton.core.llm.gateway import LiteLLMGateway  # noqa: E402
from baton.core.runner import RunOptions  # noqa: E402
from baton.core.spec.load import load_text  # noqa: E402
from baton.sessions.create import create_session  # noqa: E402
from baton.sessions.host import SessionHost  # noqa: E402
from baton.sessions.store import Store  # noqa: E402


def flow(branches: int, latency: float) -> str:
    """`branches` agents in one parallel step, each waiting `latency` s for its first token."""
    lines = [
        "name: parallel-wall",
        "state:",
        "  q: {type: str}",
        "  notes: {type: 'list[str]', reducer: append}",
        "inputs:",
        "  q: {default: storage}",
        f"models: {{slow: {{model: mock/fast, mock: {{latency_s: {latency}, min_tokens: 5, max_tokens: 5}}}}}}",
        f"defaults: {{concurrency: {branches}}}",
        "steps:",
        "  - id: fan",
        "    kind: parallel",
        "    branches:",
    ]
    lines += [
        f"      - {{id: b{i}, kind: agent, model: slow, reads: [q], writes: [notes], prompt: 'part {i} of {{q}}'}}"
        for i in range(branches)
    ]
    return "\n".join(lines) + "\n"


async def measure(branches: int, latency: float, repeat: int) -> list[float]:
    """Seconds per session, `repeat` sessions after one warm-up."""
    llm = LiteLLMGateway()
    await llm.warm_up()
    wf = load_text(flow(branches, latency), "parallel-wall.yaml")
    out: list[float] = []
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as tmp:
        store = await Store.open(Path(tmp) / "baton.db")
        try:
            for run in range(repeat + 1):
                options = RunOptions(auto="approve")
                sid = await create_session(store, wf, {"q": "storage"}, options)
                host = SessionHost(store, sid, llm=llm, options=options, workflow=wf)
                t0 = time.perf_counter()
                status = await host.run()
                elapsed = time.perf_counter() - t0
                if status != "completed":
                    raise SystemExit(f"session {sid} ended {status}")
                if run:
                    out.append(elapsed)
        finally:
            await store.close()
    return out


def main() -> None:
    """Parse options, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--branches", type=int, default=8)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds before each call's first token")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    times = asyncio.run(measure(args.branches, args.latency, args.repeat))
    print(
        f"{args.branches} branches × {args.latency:g} s model latency: wall min {min(times):.3f} s, "
        f"median {statistics.median(times):.3f} s, max {max(times):.3f} s over {len(times)} sessions "
        f"(one after another: {args.branches * args.latency:g} s) — target ≤ {args.latency * 1.1:.2f} s: "
        f"{'yes' if statistics.median(times) <= args.latency * 1.1 else 'NO'}"
    )


if __name__ == "__main__":
    main()
