"""Every bundled workflow runs to completion on the offline model through the real litellm path."""

from __future__ import annotations

import pytest

from core.runner import RunOptions
from sessions.store import Store
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
