"""The viewer's pure parts: the feed (fold + live text buffers), the tail view's incremental wrapping, and
line mode's stream of the followed agent's text."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.text import Text

from baton.core import events as ev
from baton.core.bus import RunnerLost
from baton.core.runner import RunOptions
from baton.sessions.store import Store
from baton.tui.feed import Feed
from baton.tui.line.stream import GUTTER, Stream, wrap
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


class _Log:
    """Envelopes with increasing sequence numbers, as the store hands them out."""

    def __init__(self) -> None:
        self.seq = 0

    def __call__(self, *events: ev.Event) -> list[ev.Envelope]:
        out = []
        for event in events:
            self.seq += 1
            out.append(ev.Envelope("s1", self.seq, 1000.0 + self.seq, event))
        return out


def _printed(rows: list[Text]) -> list[str]:
    return [r.plain for r in rows]


def _body(rows: list[str]) -> str:
    """The model's text as printed: the rows without the gutter, joined as the terminal shows them."""
    return "".join(r[len(GUTTER) :] + "\n" for r in rows if r.startswith(GUTTER))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b ", "cd", " ", "界", "word ", "x" * 15]), max_size=80).map("".join),
    st.integers(min_value=1, max_value=25),
)
def test_a_line_wraps_into_rows_that_give_it_back(line: str, width: int) -> None:
    rows = wrap(line, width)
    assert "".join(rows) == line
    for r in rows:
        assert cell_len(r.rstrip(" ")) <= width or len(r.rstrip(" ")) == 1, (r, width)
    assert all(r for r in rows)


def test_the_followed_text_is_printed_row_by_row_and_once() -> None:
    log, feed = _Log(), Feed("s1")
    stream = Stream(feed, width=12)
    feed.apply(log(ev.SessionStarted(workflow="w"), ev.StepStarted(step="a", step_kind="agent", model="fast")))
    feed.apply(log(ev.LLMCallStarted(step="a", call_id="c1", model="mock/fast", alias="fast")))
    assert stream.take() == [] and stream.partial() == []
    text = "one two three four\nfive six seven eight nine"
    printed: list[str] = []
    partials: list[str] = []
    for i in range(0, len(text), 3):
        feed.apply([ev.TokenDelta("a", "c1", text[i : i + 3])])
        printed += _printed(stream.take())
        partials.append("".join(_printed(stream.partial())))
    assert printed[0].startswith("  ▸ a · fast"), printed
    assert stream.step == "a" and printed[1:3] == [GUTTER + "one two", GUTTER + "three four"]
    assert printed[-1] == GUTTER + "seven eight", "complete rows of the last line are printed already"
    assert partials[-1] == GUTTER + "nine", "the row being written waits below them"
    feed.apply(log(ev.LLMCallFinished(step="a", call_id="c1", model="mock/fast", alias="fast", text=text)))
    printed += _printed(stream.flow())
    feed.apply(log(ev.StepCompleted(step="a", output=text)))
    printed += _printed(stream.take())
    assert _body(printed) == "one two\nthree four\nfive six\nseven eight\nnine\n", printed
    assert stream.printed == {"a": text} and stream.step == "" and stream.partial() == []
    assert stream.take() == [] and stream.finish() == [], "nothing is printed twice"


def test_without_a_terminal_whole_lines_are_printed_as_their_newline_arrives() -> None:
    log, feed = _Log(), Feed("s1")
    stream = Stream(feed, width=None)
    feed.apply(log(ev.StepStarted(step="a", step_kind="agent"), ev.LLMCallStarted(step="a", call_id="c1")))
    feed.apply([ev.TokenDelta("a", "c1", "a long first line that is never wrapped\nsec")])
    assert _printed(stream.take())[1:] == [GUTTER + "a long first line that is never wrapped"]
    feed.apply([ev.TokenDelta("a", "c1", "ond")])
    assert stream.take() == [] and stream.partial() == []
    feed.apply(log(ev.LLMCallFinished(step="a", call_id="c1", text="a long first line that is never wrapped\nsecond")))
    assert _printed(stream.flow()) == [GUTTER + "second"]


def test_a_new_attempt_starts_over_under_a_new_header() -> None:
    log, feed = _Log(), Feed("s1")
    stream = Stream(feed, width=40)
    feed.apply(log(ev.StepStarted(step="a", step_kind="agent"), ev.LLMCallStarted(step="a", call_id="c1")))
    feed.apply([ev.TokenDelta("a", "c1", "half an ans\n")])
    first = _printed(stream.take())
    feed.apply(log(ev.LLMCallFinished(step="a", call_id="c1", status="discarded", error_type="cut")))
    assert stream.take() == [], "nothing to print until the next attempt streams"
    feed.apply(log(ev.LLMCallStarted(step="a", call_id="c2", attempt=2)))
    feed.apply([ev.TokenDelta("a", "c2", "the whole answer\n")])
    again = _printed(stream.take())
    assert first[1:] == [GUTTER + "half an ans"]
    assert again[0].endswith("started again") and again[1:] == [GUTTER + "the whole answer"]


def test_agents_print_one_at_a_time_each_once_and_never_what_came_before() -> None:
    log, feed = _Log(), Feed("s1")
    old = [
        ev.StepStarted(step="old", step_kind="agent"),
        ev.LLMCallStarted(step="old", call_id="c0"),
        ev.LLMCallFinished(step="old", call_id="c0", text="from before\n"),
        ev.StepCompleted(step="old"),
        ev.StepStarted(step="route", step_kind="router", orchestration=True),
        ev.LLMCallStarted(step="route", call_id="r1"),
    ]
    feed.apply(log(*old))
    stream = Stream(feed, width=40)
    feed.apply([ev.TokenDelta("route", "r1", '{"route": "x"}\n')])
    assert stream.take() == [], "a router's reply is a decision line, not text to follow"
    feed.apply(
        log(ev.LLMCallFinished(step="route", call_id="r1", text='{"route": "x"}\n'), ev.StepCompleted(step="route"))
    )
    for step, call in (("fan/a", "ca"), ("fan/b", "cb")):
        feed.apply(log(ev.StepStarted(step=step, step_kind="agent"), ev.LLMCallStarted(step=step, call_id=call)))
    feed.apply([ev.TokenDelta("fan/a", "ca", "a1\n"), ev.TokenDelta("fan/b", "cb", "b1\n")])
    printed = _printed(stream.take())
    feed.apply(log(ev.LLMCallFinished(step="fan/b", call_id="cb", text="b1\nb2\n"), ev.StepCompleted(step="fan/b")))
    printed += _printed(stream.take())
    feed.apply([ev.TokenDelta("fan/a", "ca", "a2\n")])
    printed += _printed(stream.take())
    feed.apply(log(ev.LLMCallFinished(step="fan/a", call_id="ca", text="a1\na2\n")))
    printed += _printed(stream.flow())
    assert stream.take() == [], "the next text waits until the followed step has ended"
    feed.apply(log(ev.StepCompleted(step="fan/a")))
    printed += _printed(stream.take())
    headers = [p.split(" · ")[0].strip() for p in printed if not p.startswith(GUTTER)]
    assert headers == ["▸ fan/a", "▸ fan/b"]
    assert _body(printed) == "a1\na2\nb1\nb2\n"
    assert "from before" not in "".join(printed) and stream.finish() == []


def test_the_feed_tells_its_listener_each_event_once_after_folding_it() -> None:
    log = _Log()
    heard: list[tuple[int, bool, str]] = []
    feed = Feed("s1", on_event=lambda env, history: heard.append((env.seq, history, feed.view.steps["a"].status)))
    first = log(ev.StepStarted(step="a", step_kind="agent"))
    feed.apply(first)
    again = log(ev.StepCompleted(step="a"))
    feed.apply(first + again + again)
    assert heard == [(1, True, "running"), (2, False, "completed")]
