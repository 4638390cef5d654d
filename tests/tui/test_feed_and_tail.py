"""The viewer's pure parts: the feed (fold + live text buffers) and the tail view's incremental wrapping."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from baton.core import events as ev
from baton.core.bus import RunnerLost
from baton.core.runner import RunOptions
from baton.sessions.store import Store
from baton.tui.feed import Feed
from baton.tui.widgets.tail import TailView
from tests.conftest import ROOT
from tests.helpers import run, workflow
from tests.tui.drive import REVIEWED, fan_out


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


async def test_live_text_then_final_text_without_a_redraw(store: Store) -> None:
    _, view = await run(store, workflow(fan_out(3, tokens_per_s=0)), options=RunOptions(auto="approve"))
    envelopes = await store.events(view.session_id)
    feed = Feed(view.session_id)
    feed.apply(envelopes[:1])
    for env in envelopes[1:]:
        if isinstance(env.event, ev.LLMCallFinished):
            for piece in _split(env.event.text, 7):
                feed.apply([ev.TokenDelta(env.event.step, env.event.call_id, piece)])
            generation = feed.panes[env.event.step].generation
            feed.apply([env])
            pane = feed.panes[env.event.step]
            assert pane.generation == generation, "a final text equal to what streamed is not redrawn"
            assert pane.final and pane.text == env.event.text and pane.live_chars == len(env.event.text)
            feed.apply([ev.TokenDelta(env.event.step, env.event.call_id, "late")])
            assert pane.text == env.event.text, "text read after its call finished is ignored"
        else:
            feed.apply([env])
    changes = feed.take()
    assert changes.structure and changes.text == {"fan/a00", "fan/a01", "fan/a02"}
    assert [p.step for p in feed.ordered_panes()] == changes.new_panes
    assert not feed.take().any


async def test_attaching_late_gets_the_final_text_and_the_inbox(store: Store) -> None:
    from tests.helpers import Session

    session = await Session.start(store, workflow(REVIEWED))
    cp = await session.checkpoint("draft")
    envelopes = await store.events(session.id)
    feed = Feed(session.id)
    feed.apply(envelopes)
    changes = feed.take()
    assert changes.opened == [cp.checkpoint_id], "the history's open checkpoints are announced once"
    assert feed.panes["draft"].text == "DRAFT v1: all systems nominal."
    assert feed.panes["draft"].live_chars == 0
    feed.apply([RunnerLost("gone")])
    assert feed.lost == "gone" and feed.take().lost == "gone"
    assert await session.decide(cp, "reject", feedback="again") == ("done", "")
    await session.checkpoint("draft")
    feed.apply(await store.events(session.id, after=envelopes[-1].seq))
    changes = feed.take()
    assert len(changes.opened) == 1 and changes.opened[0].endswith(":2")
    assert feed.view.steps["draft"].round == 2
    await session.decide(changes.opened[0], "approve")
    assert await session.finish() == "completed"


async def test_a_discarded_attempt_starts_over(store: Store) -> None:
    flaky = """
    name: cut
    state: {q: {type: str}, a: {type: str}}
    inputs: {q: {default: x}}
    models:
      fast:
        model: mock/fast
        mock: {min_tokens: 30, max_tokens: 30, faults: [{on_call: 1, error: cut, after_chunks: 5}]}
    steps:
      - id: answer
        kind: agent
        model: fast
        reads: [q]
        writes: [a]
        prompt: "{q}"
        retry: {attempts: 2, backoff_s: [0.01]}
    """
    status, view = await run(store, workflow(flaky), options=RunOptions(auto="approve"))
    assert status in ("completed", "degraded")
    feed = Feed(view.session_id)
    generations = []
    for env in await store.events(view.session_id):
        feed.apply([env])
        if isinstance(env.event, ev.LLMCallFinished):
            generations.append((env.event.status, feed.panes["answer"].generation, feed.panes["answer"].note))
    assert generations[0][0] == "discarded" and "discarded" in generations[0][2]
    assert generations[-1][0] == "ok" and generations[-1][1] > generations[0][1]
    assert feed.panes["answer"].text == view.calls[feed.panes["answer"].call_id].text


def _wrap_all(text: str, width: int) -> list[str]:
    view = TailView()
    view._wrap = width
    view.set_text(text)
    return view.lines


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(list("ab cd\n界 ") + ["word ", "x" * 12]), max_size=120).map("".join),
    st.integers(min_value=2, max_value=30),
    st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=40),
)
def test_tail_wraps_incrementally_like_all_at_once(text: str, width: int, cuts: list[int]) -> None:
    view = TailView()
    view._wrap = width
    at, i = 0, 0
    while at < len(text):
        size = cuts[i % len(cuts)]
        view.append(text[at : at + size])
        at, i = at + size, i + 1
    assert view.lines == _wrap_all(text, width)
    assert all(cell_len(line) <= width for line in view.lines)
    assert [c for c in "".join(view.lines) if not c.isspace()] == [c for c in text if not c.isspace()]
    assert view.text == text


def test_the_viewer_never_loads_litellm() -> None:
    code = (
        "import sys, tui.app, tui.screens.home, tui.screens.run, tui.screens.review, tui.screens.trace\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'litellm')\n"
        "print(bad)\nsys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
