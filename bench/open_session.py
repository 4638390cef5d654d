"""Time to open a 10,000-event session (target ≤ 0.5 s).

    python bench/open_session.py [--events 10000] [--repeat 7]

The session is built from a real run: a 40-branch fan-out on the offline model runs through the real
runner and store, and its recorded step events are repeated under fresh step paths until the session
holds `--events` events (same kinds, same payload sizes). Then it measures:

- fold: `Store.open` + `store.view()` in a warm process (what every viewer and `baton show` does);
- `baton show ID --json` and `baton attach ID --json`: whole processes, start to exit;
- resume: a runner host on the finished session until its `SessionResumed` commits (history, fold,
  writer start; the model client is already warm).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for _key, _value in (("LITELLM_LOCAL_MODEL_COST_MAP", "True"), ("LITELLM_MODE", "PRODUCTION"), ("HF_HUB_OFFLINE", "1")):
    os.environ.setdefault(_key, _value)

from baton.core import events as ev  # noqa: E402
from baton.core.llm.gateway import LiteLLMGateway  # noqa: E402
from baton.core.runner import RunOptions  # noqa: E402
from baton.core.spec.load import load_text  # noqa: E402
from baton.sessions.create import create_session  # noqa: E402
from baton.sessions.host import SessionHost  # noqa: E402
from baton.sessions.store import Store  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BRANCHES = 40
FLOW = (
    "name: wide\nstate:\n  topic: {type: str}\n  notes: {type: 'list[str]', reducer: append}\n  summary: {type: str}\n"
    "inputs:\n  topic: {default: 'event sourcing'}\n"
    "models: {m: {model: mock/fast, mock: {min_tokens: 40, max_tokens: 120}}}\n"
    "steps:\n  - id: fan\n    kind: parallel\n    branches:\n"
    + "".join(
        f"      - {{id: b{i}, kind: agent, model: m, reads: [topic], writes: [notes],"
        f" prompt: 'Angle {i} on {{topic}}'}}\n"
        for i in range(BRANCHES)
    )
    + "  - {id: sum, kind: agent, model: m, reads: [notes], writes: [summary], prompt: 'Summarise {notes}'}\n"
)


async def build(store: Store, target: int) -> str:
    """A real run, then its step events repeated until the session holds `target` events."""
    llm = LiteLLMGateway()
    wf = load_text(FLOW, "<bench>")
    options = RunOptions(auto="approve")
    seed = await create_session(store, wf)
    assert await SessionHost(store, seed, llm=llm, options=options, workflow=wf).run() == "completed"
    recorded = [e.event for e in await store.events(seed)]
    head = [e for e in recorded if e.kind in ("SessionStarted",) or (e.kind == "StateUpdated" and not e.step)]
    body = [e for e in recorded if e.step and e.kind != "StepSkipped"]
    tail = [e for e in recorded if e.kind == "SessionCompleted"]
    events: list[ev.Event] = list(head)
    copy = 0
    while len(events) + len(tail) < target:
        for e in body:
            if len(events) + len(tail) >= target:
                break
            renamed = dataclasses.replace(e, step=f"r{copy}/{e.step}")
            if hasattr(e, "call_id"):
                renamed = dataclasses.replace(renamed, call_id=f"{e.call_id}-{copy}")  # type: ignore[call-arg]
            events.append(renamed)
        copy += 1
    events += tail
    sid = await create_session(store, wf)
    for start in range(0, len(events), 500):
        await store.append(sid, start + 1, events[start : start + 500])
    return sid


def timed_process(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from start to exit."""
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - t0


async def measure(db: Path, sid: str, repeat: int) -> dict[str, list[float]]:
    """Each way of opening the session, `repeat` times."""
    out: dict[str, list[float]] = {"fold (open + view)": [], "resume until SessionResumed": []}
    for _ in range(repeat):
        t0 = time.perf_counter()
        store = await Store.open(db)
        view = await store.view(sid)
        out["fold (open + view)"].append(time.perf_counter() - t0)
        await store.close()
        assert view.status in ("completed", "running"), view.status
    llm = LiteLLMGateway()
    await llm.warm_up()
    store = await Store.open(db)
    try:
        for _ in range(repeat):
            last = await store.last_seq(sid)
            host = SessionHost(store, sid, llm=llm, options=RunOptions(auto="approve"))
            t0 = time.perf_counter()
            task = asyncio.ensure_future(host.run())
            while await store.last_seq(sid) <= last:
                await asyncio.sleep(0.001)
            out["resume until SessionResumed"].append(time.perf_counter() - t0)
            assert await task == "completed"
    finally:
        await store.close()
    return out


def main() -> None:
    """Build, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="baton-open-bench-") as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "baton.db"

        async def setup() -> tuple[str, int]:
            store = await Store.open(db)
            try:
                sid = await build(store, args.events)
                return sid, await store.last_seq(sid)
            finally:
                await store.close()

        sid, count = asyncio.run(setup())
        print(f"session {sid}: {count} events, database {db.stat().st_size / 1e6:.1f} MB")
        results = asyncio.run(measure(db, sid, args.repeat))
        env = dict(os.environ)
        env.update({"BATON_DB": str(db), "XDG_STATE_HOME": str(tmp / "state"), "PYTHONPATH": str(ROOT)})
        for label, command in (
            ("baton show ID --json", ["show", sid, "--json"]),
            ("baton attach ID --json", ["attach", sid, "--json"]),
        ):
            argv = [sys.executable, "-m", "baton.tui.cli", *command]
            results[label] = [timed_process(argv, env) for _ in range(args.repeat)]
        print(f"{'how':32} {'min s':>8} {'median s':>9}")
        for label, samples in results.items():
            print(f"{label:32} {min(samples):8.3f} {statistics.median(samples):9.3f}")
    print("\ntarget: open a 10,000-event session ≤ 0.5 s")


if __name__ == "__main__":
    main()
