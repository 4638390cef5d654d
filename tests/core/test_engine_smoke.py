"""Every bundled workflow runs to completion on the offline model through the real litellm path."""

from __future__ import annotations

import pytest

from baton.core.runner import RunOptions
from baton.sessions.store import Store
from tests.helpers import run, workflow

BUNDLED = ["demo", "agent", "parallel", "map", "router", "supervisor", "loop", "tool", "gate"]


@pytest.mark.parametrize("name", BUNDLED)
async def test_bundled_flow_completes_unattended(store: Store, name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BATON_PUBLISH_FILE", str(tmp_path / "published.jsonl"))
    status, view = await run(store, workflow(name, instant=True), options=RunOptions(auto="approve"))
    assert status == "completed", view.error
    assert view.status == "completed"
    assert all(s.status in ("completed", "skipped") for s in view.steps.values()), {
        p: s.status for p, s in view.steps.items()
    }
    assert view.events == view.last_seq


EIGHT = """
name: eight
state:
  q: {type: str}
  notes: {type: "list[str]", reducer: append}
inputs:
  q: {default: "storage"}
models:
  slow: {model: mock/fast, mock: {latency_s: 0.3, min_tokens: 3, max_tokens: 3}}
defaults:
  concurrency: 8
steps:
  - id: fan
    kind: parallel
    branches:
""" + "".join(
    f"      - {{id: b{i}, kind: agent, model: slow, reads: [q], writes: [notes], prompt: 'part {i} of {{q}}'}}\n"
    for i in range(8)
)


async def test_parallel_branches_really_overlap(store: Store) -> None:
    """Every branch's call has started before the first one finishes (the wall time of 8 × 1 s is in
    bench/parallel_wall.py); the fan-in keeps the declared branch order."""
    from baton.core import events as ev

    status, view = await run(store, workflow(EIGHT), options=RunOptions(auto="approve"))
    assert status == "completed"
    kinds = [env.event for env in await store.events(view.session_id)]
    first_finish = next(i for i, e in enumerate(kinds) if isinstance(e, ev.LLMCallFinished))
    started = [e.step for e in kinds[:first_finish] if isinstance(e, ev.LLMCallStarted)]
    assert sorted(started) == [f"fan/b{i}" for i in range(8)]
    texts = {e.step: e.text for e in kinds if isinstance(e, ev.LLMCallFinished)}
    assert view.state["notes"] == [texts[f"fan/b{i}"] for i in range(8)]
