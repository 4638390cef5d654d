"""Replaying a recorded 1,000-step session as a regression test: `baton test` on its case file.

    python bench/replay.py [--items 1000] [--repeat 3]

Records one session of a map over `--items` items on the offline model (zero latency) in memory,
saves it as a case file with `baton test save`'s own code, then times `baton test CASE --json` — the
real command in a subprocess, start-up included — `--repeat` times, and the replay alone in this
process. Target: ≤ 2 s for 1,000 steps. Every run must pass with no model call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for _key, _value in (("LITELLM_LOCAL_MODEL_COST_MAP", "True"), ("LITELLM_MODE", "PRODUCTION"), ("HF_HUB_OFFLINE", "1")):
    os.environ.setdefault(_key, _value)

from baton.core.llm.gateway import LiteLLMGateway  # noqa: E402
from baton.core.runner import RunOptions  # noqa: E402
from baton.core.spec.load import load_workflow  # noqa: E402
from baton.sessions.cases import case_from_session, read_case, replay, write_case  # noqa: E402
from baton.sessions.create import create_session  # noqa: E402
from baton.sessions.host import SessionHost  # noqa: E402
from baton.sessions.memory import MemoryStore  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FLOW = """\
name: replay-bench
state:
  items: {type: "list[str]"}
  summaries: {type: "list[str]", reducer: append}
inputs:
  items: {}
models:
  fast: {model: mock/fast, mock: {latency_s: 0, tokens_per_s: 0, min_tokens: 8, max_tokens: 12}}
defaults:
  concurrency: 16
steps:
  - id: each
    kind: map
    over: items
    as: item
    concurrency: 16
    max_items: 5000
    step:
      id: summarise
      kind: agent
      model: fast
      writes: [summaries]
      prompt: "Summarise {item} in one line"
"""


async def record(folder: Path, items: int) -> Path:
    """Run the map once on the offline model and save the session as a case file; returns its path."""
    flow = folder / "flow.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    workflow = load_workflow(flow)
    store = MemoryStore()
    inputs = {"items": [f"item {i}" for i in range(items)]}
    session_id = await create_session(store, workflow, inputs, RunOptions())
    t0 = time.perf_counter()
    status = await SessionHost(store, session_id, llm=LiteLLMGateway(), workflow=workflow).run()
    print(f"recorded {items} steps in {time.perf_counter() - t0:.1f}s ({status})")
    if status != "completed":
        raise SystemExit(f"the recording did not complete: {(await store.view(session_id)).error}")
    target = folder / "baton-tests" / "bench.jsonl"
    view = await store.view(session_id)
    write_case(case_from_session(view, await store.events(session_id), "bench", target), target)
    print(f"case file: {target.stat().st_size / 1e6:.1f} MB, {len(view.steps)} steps")
    return target


def time_command(folder: Path, case: Path) -> tuple[float, float]:
    """Wall and CPU seconds of `baton test CASE --json` (it must pass with no model call). On a shared
    machine the wall time includes waiting for a core; the CPU time does not."""
    argv = [str(ROOT / ".venv" / "bin" / "baton"), "test", str(case), "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = json.loads(done.stdout.splitlines()[0]) if done.stdout else {}
    if done.returncode != 0 or result.get("verdict") != "pass" or result.get("model_calls") != 0:
        raise SystemExit(f"baton test did not pass: {done.stdout[:2000]} {done.stderr[:2000]}")
    return seconds, cpu


async def time_in_process(case_path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of the replay alone (the case read, the workflow loaded, replayed, compared)."""
    t0, c0 = time.perf_counter(), time.process_time()
    case = read_case(case_path)
    outcome = await replay(case)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert outcome.passed and outcome.model_calls == 0 and outcome.steps == len(case.expect.steps)
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        case = asyncio.run(record(folder, args.items))
        for run in range(1, args.repeat + 1):
            wall, cpu = time_command(folder, case)
            alone, alone_cpu = asyncio.run(time_in_process(case))
            print(
                f"run {run}: baton test {wall:.2f}s wall, {cpu:.2f}s CPU (the command, start-up included)"
                f" · replay alone {alone:.2f}s wall, {alone_cpu:.2f}s CPU"
            )


if __name__ == "__main__":
    main()
