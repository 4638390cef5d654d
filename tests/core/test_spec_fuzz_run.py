"""What the loader accepts, the runner runs without crashing: random workflows (every step kind, nesting,
routers, reviews, structured outputs, unpriced models, scripted faults) on the offline model, unattended.

A run may complete, degrade, pause or fail for a person, but always through a recorded event and never
with an internal error.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from baton.core.llm.gateway import LiteLLMGateway
from baton.core.runner import RunOptions
from baton.core.spec.load import load_text
from baton.core.spec.problems import WorkflowInvalid
from baton.sessions.store import Store
from tests.helpers import run

STATE = {
    "topic": {"type": "str"},
    "items": {"type": "list[str]", "default": ["alpha", "beta", "gamma"]},
    "score": {"type": "float", "default": 0.5},
    "flag": {"type": "bool", "default": False},
    "notes": {"type": "list[str]", "reducer": "append"},
    "facts": {"type": "dict", "reducer": "merge"},
    "text": {"type": "str"},
    "label": {"type": "str"},
}
READABLE = ["topic", "items", "score", "flag", "notes", "facts", "text?", "label?"]
FAULTS = [
    "rate_limit",
    "server_error",
    "unavailable",
    "cut",
    "bad_request",
    "auth",
    "context_window",
    "content_policy",
    "timeout",
    "stall",
    "stall_first",
]
LIMITS = {
    "text": {"max_chars": 40, "on_overflow": "truncate"},
    "notes": {"max_items": 4},
    "facts": {"max_tokens": 30},
}


class Ids:
    def __init__(self) -> None:
        self._n = itertools.count()

    def next(self, kind: str) -> str:
        return f"{kind}{next(self._n)}"


def _agent(draw: st.DrawFn, ids: Ids, sequential: bool) -> dict[str, Any]:
    reads = draw(st.lists(st.sampled_from(READABLE), unique=True, max_size=3))
    names = [r.rstrip("?") for r in reads]
    step: dict[str, Any] = {
        "id": ids.next("agent"),
        "kind": "agent",
        "model": draw(st.sampled_from(["fast", "strong", "mock/unpriced"])),
        "reads": reads,
        "prompt": "Write about " + " ".join(f"{{{n}}}" for n in names) if names else "Write about anything",
    }
    choices = ["none", "notes", "facts"] + (["label", "text"] if sequential else [])
    writes = draw(st.sampled_from(choices))
    if writes == "notes":
        step["writes"] = ["notes"]
    elif writes == "facts":
        step["output"] = {"facts": "dict"}
        step["writes"] = ["facts"]
    elif writes == "label":
        step["output"] = {"label": "enum[yes, no, maybe]", "score": "float", "tags": "list[enum[a, b]]", "why": "str?"}
        step["writes"] = ["label", "score"]
    elif writes == "text":
        step["writes"] = ["text"]
    review = draw(st.sampled_from(["none", "always", "on_failure", "when", "sample", "cost"]))
    if review == "when" and ("score" in names or writes == "label"):
        step["review"] = {"when": "score < 0.8"}
    elif review == "sample":
        step["review"] = {"sample": 0.5}
    elif review == "cost":
        step["review"] = {"cost_over": 0.0}
    elif review in ("always", "on_failure"):
        step["review"] = review
    if draw(st.booleans()):
        step["fallback"] = ["strong"]
    if draw(st.booleans()):
        step["fallback_static"] = {
            "facts": {"facts": {"static": True}},
            "label": {"label": "maybe", "score": 0.1, "tags": []},
        }.get(writes, "static answer")
    return step


def _tool(draw: st.DrawFn, ids: Ids, sequential: bool) -> dict[str, Any]:
    step: dict[str, Any] = {"id": ids.next("tool"), "kind": "tool", "side_effects": draw(st.booleans())}
    review = draw(st.sampled_from([None, "before_tools", "never", "always"]))
    if review is not None:
        step["review"] = review
    if sequential and draw(st.booleans()):
        step.update(call="json:loads", args={"s": '["p", "q"]'}, writes=["items"])
    else:
        step.update(call="json:dumps", reads=["topic"], args={"obj": "{topic}"})
        if sequential:
            step["writes"] = ["text"]
    return step


@st.composite
def _step(draw: st.DrawFn, ids: Ids, depth: int, sequential: bool) -> dict[str, Any]:
    kinds = ["agent", "agent", "tool", "gate"] + (
        ["parallel", "map", "supervisor", "loop", "sequence"] if depth else []
    )
    kind = draw(st.sampled_from(kinds))
    if kind == "agent":
        return _agent(draw, ids, sequential)
    if kind == "tool":
        return _tool(draw, ids, sequential)
    if kind == "gate":
        return {"id": ids.next("gate"), "kind": "gate", "reads": ["topic"], "message": "Go on with {topic}?"}
    if kind == "parallel":
        branches = draw(st.lists(_step(ids, depth - 1, False), min_size=1, max_size=3))
        return {"id": ids.next("fan"), "kind": "parallel", "branches": branches}
    if kind == "map":
        inner = _agent(draw, ids, False)
        inner["prompt"] = "Item {index}: {item}"
        return {"id": ids.next("each"), "kind": "map", "over": "items", "concurrency": 2, "step": inner}
    if kind == "supervisor":
        workers = [_agent(draw, ids, False) for _ in range(draw(st.integers(1, 3)))]
        step = {"id": ids.next("boss"), "kind": "supervisor", "manager": {"model": "fast"}, "workers": workers}
        if draw(st.booleans()):
            step["synthesis"] = _agent(draw, ids, sequential)
        return step
    if kind == "loop":
        body = draw(st.lists(_step(ids, depth - 1, sequential), min_size=1, max_size=2))
        loop: dict[str, Any] = {
            "id": ids.next("loop"),
            "kind": "loop",
            "steps": body,
            "max_iterations": draw(st.integers(1, 3)),
        }
        exit_by = draw(st.sampled_from(["judge", "structured_judge", "until"]))
        if exit_by == "until":
            loop["until"] = "score > 0.3"
        elif exit_by == "judge":
            loop["judge"] = {"id": ids.next("judge"), "kind": "agent", "model": "fast"}
        else:
            loop["judge"] = {
                "id": ids.next("judge"),
                "kind": "agent",
                "model": "fast",
                "output": {"pass": "bool", "feedback": "str"},
            }
        return loop
    steps = draw(st.lists(_step(ids, depth - 1, sequential), min_size=1, max_size=3))
    return {"id": ids.next("seq"), "kind": "sequence", "steps": steps}


@st.composite
def workflows(draw: st.DrawFn) -> str:
    ids = Ids()
    top: list[dict[str, Any]] = draw(st.lists(_step(ids, 2, True), min_size=1, max_size=5))
    if len(top) > 1 and draw(st.booleans()):
        at = draw(st.integers(0, len(top) - 2))
        later = [s["id"] for s in top[at + 2 :]] + ["end"]
        router: dict[str, Any] = {
            "id": ids.next("route"),
            "kind": "router",
            "reads": ["topic"],
            "routes": {"near": top[at + 1]["id"], "far": draw(st.sampled_from(later))},
        }
        if draw(st.booleans()):
            router["model"] = "fast"
        else:
            router["rules"] = [{"when": "len(topic) > 1000", "route": "far"}]
            router["default"] = "near"
        if draw(st.booleans()):
            router["writes"] = ["label"]
        if draw(st.booleans()):
            router["fallback_static"] = {"route": "near", "reason": "static"}
        top.insert(at + 1, router)
    fault = draw(st.sampled_from(["none", *FAULTS]))
    fast: dict[str, Any] = {"model": "mock/fast", "mock": {"min_tokens": 3, "max_tokens": 8}}
    if fault != "none":
        fast["mock"]["faults"] = [
            {"calls": draw(st.lists(st.integers(1, 6), min_size=1, max_size=3, unique=True)), "error": fault}
            | ({"after_chunks": 1} if fault == "cut" else {})
            | ({"stall_s": 0.05} if fault in ("stall", "stall_first") else {})
            | ({"retry_after": 0} if fault == "rate_limit" else {})
        ]
    limited = draw(st.booleans())
    state = {k: v | (LIMITS.get(k, {}) if limited else {}) for k, v in STATE.items()}
    spec = {
        "name": "fuzz",
        "state": state,
        "inputs": {"topic": {"default": "tidal power"}},
        "models": {
            "fast": fast,
            "strong": {"model": "mock/strong", "mock": {"min_tokens": 3, "max_tokens": 8}},
        },
        "defaults": {
            "retry": {"attempts": 2, "backoff_s": [0.0], "jitter": False},
            "timeout": {"first_token_s": 5, "idle_s": 5},
        },
        "steps": top,
    }
    return yaml.safe_dump(spec, sort_keys=False)


async def _run(text: str, folder: Path) -> None:
    try:
        workflow = load_text(text, str(folder / "fuzz.yaml"), ["fast", "strong"])
    except WorkflowInvalid:
        assume(False)
        return
    store = await Store.open(folder / "baton.db")
    try:
        status, view = await run(
            store, workflow, options=RunOptions(auto="approve", escalation_limit=2), llm=LiteLLMGateway()
        )
    finally:
        await store.close()
    assert status in ("completed", "degraded", "paused", "failed"), status
    assert view.status == status or (status == "paused" and view.status == "cancelled")
    assert view.events == view.last_seq
    assert not [p for p, s in view.steps.items() if s.status == "running"]
    if status == "failed":
        assert view.error and not view.error.startswith("internal error"), view.error
    if status in ("completed", "degraded"):
        open_steps = {p: s.status for p, s in view.steps.items() if s.status in ("pending", "running", "awaiting")}
        assert not open_steps, open_steps
        assert not view.open_checkpoints


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
@given(text=workflows())
def test_the_runner_never_crashes_on_a_workflow_the_loader_accepts(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(asyncio.wait_for(_run(text, Path(folder)), timeout=90))


FAILING_MAP = """\
name: failing-map
state:
  items: {type: "list[str]", default: [a, b, c]}
  out: {type: "list[str]", reducer: append}
steps:
  - id: each
    kind: map
    over: items
    concurrency: 1
    step: {id: parse, kind: tool, call: "json:loads", side_effects: false, args: {s: "not json {item}"}, writes: [out]}
"""


async def test_a_failing_item_of_a_bounded_map_stops_cleanly(store: Store) -> None:
    """Items still waiting for a slot when a sibling fails never start and leave nothing behind (pytest turns
    a never-awaited child coroutine into an error here)."""
    status, view = await run(store, load_text(FAILING_MAP, "failing-map.yaml"), options=RunOptions(auto="approve"))
    assert status == "failed"
    assert view.error.startswith("tool 'json:loads' at 'each[0]' failed: JSONDecodeError")
    assert view.steps["each[0]"].status != "completed"
    assert {view.steps[p].status for p in ("each[1]", "each[2]")} <= {"pending", "cancelled"}
    gc.collect()
