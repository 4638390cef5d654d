"""Runner hosts: how soon a session starts, and what a running session costs in memory.

    python bench/hosts.py [--repeat 5] [--start anchor,cold,warm] [--sessions 1,10,100] [--skip-memory]

1. **First event.** Wall time from starting `baton run demo --json --auto approve` to the moment its
   first `LLMCallStarted` line is printed, with (a) one runner process per session (`BATON_HOST=off`:
   the anchor), (b) a cold host (none running: `baton run` starts one), (c) a warm host (already
   running). Target for (c): ≤ 0.5 s. For the warm host it also shows when the first line
   (`SessionStarted`) is printed: what comes before is the `baton run` process itself (start-up, loading
   and checking the workflow, recording and queueing the session) and the host claiming it; what comes
   after, the host starting its first step. `python -X importtime -m baton.tui.cli run demo --json`
   shows where the process's own time goes.
2. **Memory.** Resident memory of one host (`/proc/PID/status` VmRSS) running 1, 10 and 100 sessions at
   once (a workflow whose agents stream slowly, so every session is mid-call when measured), and the cost
   per additional session. Target: ≤ 10 MB per additional session.

Everything runs in a throwaway home and SQLite database, with Python's bytecode cache on (as on a
person's machine; `PYTHONDONTWRITEBYTECODE` would make every command compile baton's modules again). The
machine is shared: the script reports min / median / max over `--repeat` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SLOW = """\
name: slow-stream
state:
  topic: {type: str}
  text: {type: str}
inputs:
  topic: {default: "tides"}
models:
  slow: {model: mock/slow, mock: {tokens_per_s: 5, min_tokens: 400, max_tokens: 400}}
steps:
  - {id: write, kind: agent, model: slow, reads: [topic], writes: [text], prompt: "Write about {topic}"}
"""


def baton() -> list[str]:
    """The command line that starts baton."""
    found = Path(sys.executable).with_name("baton")
    return [str(found)] if found.exists() else [sys.executable, "-m", "baton.tui.cli"]


def home_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A private home and database."""
    env = dict(os.environ)
    env.update(
        {
            "XDG_DATA_HOME": str(tmp / "data"),
            "XDG_STATE_HOME": str(tmp / "state"),
            "XDG_CONFIG_HOME": str(tmp / "config"),
            "BATON_DB": str(tmp / "baton.db"),
            "BATON_HOST_IDLE_EXIT": "600",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.pop("BATON_HOST", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a person's machine: modules load from their bytecode
    env.update(extra)
    return env


def first_call_s(env: dict[str, str], cwd: Path) -> float:
    """Seconds from `baton run demo --json` starting to its first `LLMCallStarted` line."""
    return first_lines_s(env, cwd)[1]


def first_lines_s(env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Seconds from `baton run demo --json` starting to its first line, and to its first `LLMCallStarted`
    line (the run is then watched to its end, so the next run finds the host idle)."""
    t0 = time.perf_counter()
    first = None
    proc = subprocess.Popen(
        [*baton(), "run", "demo", "--json", "--auto", "approve"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if first is None:
                first = time.perf_counter() - t0
            if '"kind": "LLMCallStarted"' in line:
                return first, time.perf_counter() - t0
        raise RuntimeError("the run printed no LLMCallStarted")
    finally:
        proc.wait()


def stop_hosts(env: dict[str, str], cwd: Path) -> None:
    """SIGTERM every live host of the store, and wait until none is listed."""
    out = subprocess.run([*baton(), "hosts", "--json"], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        os.kill(int(json.loads(line)["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = subprocess.run([*baton(), "hosts", "--json"], env=env, cwd=cwd, capture_output=True, text=True)
        if not out.stdout.strip():
            return
        time.sleep(0.1)


ANCHOR, COLD, WARM, WARM_FIRST = (
    "runner process per session (anchor)",
    "cold host",
    "warm host",
    "  warm host: its first line",
)
START_KINDS = {"anchor": ANCHOR, "cold": COLD, "warm": WARM}


def first_event(repeat: int, kinds: list[str]) -> None:
    """Part 1: per-process runner, cold host, warm host (those of `kinds`)."""
    rows: dict[str, list[float]] = {START_KINDS[kind]: [] for kind in START_KINDS if kind in kinds}
    if WARM in rows:
        rows[WARM_FIRST] = []
    with tempfile.TemporaryDirectory(prefix="baton-hosts-bench-") as name:
        tmp = Path(name)
        env = home_env(tmp)
        first_call_s(env, tmp)  # create the store, warm the disk cache
        if kinds != ["warm"]:
            stop_hosts(env, tmp)
        for _ in range(repeat):
            if ANCHOR in rows:
                rows[ANCHOR].append(first_call_s(home_env(tmp, BATON_HOST="off"), tmp))
                stop_hosts(env, tmp)
            if COLD in rows:
                rows[COLD].append(first_call_s(env, tmp))
            if WARM in rows:
                if COLD not in rows and kinds != ["warm"]:
                    first_call_s(env, tmp)  # start a host
                first, call = first_lines_s(env, tmp)
                rows[WARM].append(call)
                rows[WARM_FIRST].append(first)
            if kinds != ["warm"]:
                stop_hosts(env, tmp)
        stop_hosts(env, tmp)
    print(f"{'run demo → first LLMCallStarted':40} {'min s':>7} {'median s':>9} {'max s':>7}")
    for label, samples in rows.items():
        print(f"{label:40} {min(samples):7.3f} {statistics.median(samples):9.3f} {max(samples):7.3f}")
    print("target: warm host ≤ 0.5 s\n")


def rss_mb(pid: int) -> float:
    """Resident memory of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def start_sessions(db: Path, flow: Path, count: int) -> list[str]:
    """Record `count` sessions of `flow` and queue them for the host."""
    from baton.core.runner import RunOptions
    from baton.core.spec.load import load_workflow
    from baton.sessions.create import create_session
    from baton.sessions.store import Store

    workflow = load_workflow(flow)
    store = await Store.open(db)
    try:
        sids = [await create_session(store, workflow, {}, RunOptions(auto="approve"), {}) for _ in range(count)]
        for sid in sids:
            await store.enqueue(sid)
        return sids
    finally:
        await store.close()


async def streaming(db: Path, sids: list[str]) -> int:
    """How many of the sessions are mid-call (started a model call that has not finished)."""
    from baton.sessions.store import Store

    store = await Store.open(db)
    try:
        busy = 0
        for sid in sids:
            kinds = [type(e.event).__name__ for e in await store.events(sid)]
            busy += "LLMCallStarted" in kinds and "LLMCallFinished" not in kinds
        return busy
    finally:
        await store.close()


def memory(counts: list[int]) -> None:
    """Part 2: a host's resident memory with N sessions streaming at once."""
    results: list[tuple[int, float]] = []
    for count in counts:
        with tempfile.TemporaryDirectory(prefix="baton-hosts-mem-") as name:
            tmp = Path(name)
            env = home_env(tmp)
            flow = tmp / "slow.yaml"
            flow.write_text(SLOW, encoding="utf-8")
            host = subprocess.Popen(
                [*baton(), "host", "--max-sessions", str(max(counts) + 10)],
                env=env,
                cwd=tmp,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            try:
                assert host.stdout is not None and host.stdout.readline().endswith("ready\n")
                db = tmp / "baton.db"
                sids = asyncio.run(start_sessions(db, flow, count))
                deadline = time.monotonic() + 120
                while asyncio.run(streaming(db, sids)) < count:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"only {asyncio.run(streaming(db, sids))} of {count} sessions streaming")
                    time.sleep(0.2)
                time.sleep(1.0)  # let every stream settle into its steady state
                results.append((count, rss_mb(host.pid)))
            finally:
                host.send_signal(signal.SIGTERM)
                host.wait(timeout=60)
    print(f"{'sessions streaming on one host':32} {'RSS MB':>8} {'per added session MB':>21}")
    base_count, base = results[0]
    for count, mb in results:
        per = (mb - base) / (count - base_count) if count > base_count else float("nan")
        print(f"{count:32d} {mb:8.1f} {per:21.2f}")
    print("target: ≤ 10 MB per additional session (a runner process per session: ~220 MB each)")


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sessions", default="1,10,100")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-start", action="store_true")
    parser.add_argument("--start", default="anchor,cold,warm", help="which first-event figures to measure")
    args = parser.parse_args()
    kinds = [kind for kind in args.start.split(",") if kind]
    unknown = set(kinds) - set(START_KINDS)
    if unknown or not kinds:
        parser.error(f"--start: one or more of {', '.join(START_KINDS)}")
    if not args.skip_start:
        first_event(args.repeat, kinds)
    if not args.skip_memory:
        memory([int(n) for n in args.sessions.split(",")])


if __name__ == "__main__":
    main()
