"""How soon an open inbox shows a checkpoint that a runner in another process opened, on PostgreSQL
(woken by `LISTEN/NOTIFY`) and on SQLite (its `data_version` looked at every 25 ms), in one run.

    python bench/inbox_latency.py [--samples 40] [--pg postgresql://…] [--only postgresql|sqlite]

For each store: a workflow of N agent steps, each reviewed, runs in a real runner (`SessionHost`) in a
child process of this script. This process watches the inbox the way the Inbox screen does
(`sessions.app.inbox.watch`: the list read again when the store says something was committed), and for
every checkpoint measures from its `CheckpointOpened` commit (the event's timestamp, the runner's wall
clock) to the moment the watched list first holds it; it then approves it as the Inbox's `a` does, and
the runner goes on to the next step and its checkpoint. Prints the median, p95, min and max in ms.
Target: median ≤ 50 ms on PostgreSQL.

Without `--pg` a throwaway PostgreSQL server is started as the tests start theirs (initdb into a
temporary folder; needs the `postgresql` package). Numbers on a shared machine are noisy.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for _key, _value in (("LITELLM_LOCAL_MODEL_COST_MAP", "True"), ("LITELLM_MODE", "PRODUCTION"), ("HF_HUB_OFFLINE", "1")):
    os.environ.setdefault(_key, _value)

from baton.core.commands import decide  # noqa: E402
from baton.sessions.app.inbox import InboxItem, watch  # noqa: E402
from baton.sessions.interface import SessionStore  # noqa: E402
from baton.sessions.open import location_of, open_store, shown_location  # noqa: E402

TARGET_MS = 50.0
DB_ENV = "BATON_BENCH_DB"


def workflow(steps: int) -> str:
    """N agents in a row, each reviewed; the offline model answers at once."""
    lines = [
        "name: inbox-latency",
        "state:",
        "  topic: {type: str}",
        *[f"  out{i}: {{type: str}}" for i in range(steps)],
        "inputs:",
        "  topic: {default: latency}",
        "models:",
        "  fast: {model: mock/fast, mock: {latency_s: 0, tokens_per_s: 0, min_tokens: 8, max_tokens: 12}}",
        "steps:",
    ]
    for i in range(steps):
        lines += [
            f"  - id: step{i}",
            "    kind: agent",
            "    model: fast",
            "    reads: [topic]",
            f"    writes: [out{i}]",
            '    prompt: "Say something about {topic}."',
            "    review: always",
        ]
    return "\n".join(lines) + "\n"


# --- the runner's process --------------------------------------------------------------------------


async def child(session_id: str) -> None:
    """Run the session to its end (the checkpoints are answered from the parent)."""
    from baton.core.llm.gateway import LiteLLMGateway
    from baton.sessions.host import SessionHost

    store = await open_store(location_of(os.environ[DB_ENV]))
    try:
        status = await SessionHost(store, session_id, llm=LiteLLMGateway()).run()
        print(status, flush=True)
    finally:
        await store.close()


# --- the inbox's process ---------------------------------------------------------------------------


async def measure(db: str, samples: int, folder: Path) -> list[float]:
    """Latencies (seconds) from each checkpoint's commit to the watched inbox holding it."""
    from baton.core.runner import RunOptions
    from baton.core.spec.load import load_workflow
    from baton.sessions.create import create_session

    flow = folder / "inbox-latency.yaml"
    flow.write_text(workflow(samples), encoding="utf-8")
    store = await open_store(location_of(db))
    runner: asyncio.subprocess.Process | None = None
    try:
        wf = load_workflow(str(flow))
        session_id = await create_session(store, wf, options=RunOptions())
        runner = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--child", session_id, env={**os.environ, DB_ENV: db}, cwd=folder
        )
        latencies: list[float] = []
        seen: set[str] = set()
        items = watch(store)
        try:
            async for listed in items:
                now = time.time()
                fresh = [item for item in listed if item.key not in seen]
                for item in fresh:
                    seen.add(item.key)
                    latencies.append(now - item.opened_at)
                    await _approve(store, item)
                if len(latencies) >= samples:
                    break
        finally:
            await items.aclose()
        await asyncio.wait_for(runner.wait(), 60)
        return latencies
    finally:
        if runner is not None and runner.returncode is None:
            runner.kill()
            await runner.wait()
        await store.close()


async def _approve(store: SessionStore, item: InboxItem) -> None:
    """What the Inbox's `a` sends (the runner polls its commands and goes on)."""
    await store.send(item.session_id, decide(item.checkpoint_id, "approve", by="bench", where="bench"))


def summary(name: str, where: str, latencies: list[float]) -> str:
    """One line: median, p95, min, max in ms."""
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return (
        f"{name:11} {len(ms):4d} samples  median {statistics.median(ms):7.1f} ms  p95 {p95:7.1f} ms"
        f"  min {ms[0]:6.1f}  max {ms[-1]:7.1f}   ({where})"
    )


def main() -> None:
    """Parse options, measure each store, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=40, help="checkpoints per store")
    parser.add_argument("--pg", default="", help="a PostgreSQL URL (default: start a throwaway server)")
    parser.add_argument("--only", choices=["postgresql", "sqlite"], help="measure one store")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child))
        return
    with tempfile.TemporaryDirectory(prefix="baton-inbox-bench-") as tmp:
        folder = Path(tmp)
        stores: list[tuple[str, str]] = []
        if args.only in (None, "postgresql"):
            stores.append(("postgresql", args.pg or _throwaway_server()))
        if args.only in (None, "sqlite"):
            stores.append(("sqlite", str(folder / "bench.db")))
        lines = []
        for name, db in stores:
            lines.append(summary(name, shown_location(db), asyncio.run(measure(db, args.samples, folder))))
    print("checkpoint opened (runner's commit) → listed by a watching inbox in another process")
    print("\n".join(lines))
    print(f"\ntarget: median ≤ {TARGET_MS:.0f} ms on PostgreSQL")


def _throwaway_server() -> str:
    from tests.sessions.pg_server import shared_server

    return shared_server().create_database()


if __name__ == "__main__":
    main()
