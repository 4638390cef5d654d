"""A tool-calling agent's transcript without a terminal: the lines the panes and line mode print, the text an
agent pane follows, a tool-call checkpoint's sections and decisions, and `--json` commands. Everything a
model or a tool wrote stays inert."""

from __future__ import annotations

import io
from typing import Any, cast

import pytest
from rich.console import Console

from baton.core import events as ev
from baton.core.view import SessionView
from baton.tui import decisions
from baton.tui.feed import Feed, PaneText
from baton.tui.jsonl import _command
from baton.tui.line import ask
from baton.tui.line.checkpoint import CheckpointDialog
from baton.tui.line.lines import EventLines
from baton.tui.line.render import follow_header
from baton.tui.sanitize import inert
from baton.tui.tool_checkpoint import parse_pattern, pattern_arguments
from baton.tui.transcript import PaneTranscript, call_detail, call_line, compact_args, took, transcript_lines
from baton.tui.values import ValueInvalid
from tests.tui.tool_session import EXTRA, REPORT, STEP, call_ended, finished_loop, tool_loop

HOSTILE_TOOL = "evil[bold]\x1b]52;c;aGFja2Vk\x07"
HOSTILE_RESULT = "[red]loud[/red] \x1b[2J cleared \u202eevil\u202c\nsecond line"


def envelopes(events: list[ev.Event]) -> list[ev.Envelope]:
    return [ev.Envelope("s1", i + 1, 1000.0 + i, e) for i, e in enumerate(events)]


def folded(events: list[ev.Event]) -> SessionView:
    return SessionView("s1").apply_all(envelopes(events))


def test_each_call_is_a_line_with_its_status_and_duration() -> None:
    loop = folded(tool_loop()).tools.loops[STEP]
    lines = transcript_lines(loop)
    assert lines[:7] == [
        "I will search the notes first.",
        '✓ search(q="grid storage") · done in 12 ms',
        "    │ 3 notes found:",
        "    │ note-1 grid batteries",
        "    │ note-2 pumped hydro",
        "    │ … 2 more lines",
        '✗ read_file(path="notes/x.md") · failed in 12 ms: file not found: notes/x.md',
    ]
    assert lines[7:9] == ["── turn 2 ──", "Writing the report now."]
    grid = '⏸ write_file(path="reports/grid.md", text="# Grid storage\\n\\nBatteries lead.")'
    assert lines[9] == grid + " · waiting for approval"
    assert lines[10] == '⏸ write_file(path="reports/extra.md", text="More.") · waiting for approval'
    assert (took(0.0123), took(1.25), took(None)) == ("12 ms", "1.2s", "")


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        ([], '⏸ write_file(path="reports/extra.md", text="More.") · waiting for approval'),
        (
            [ev.DecisionMade(step=STEP, checkpoint_id=f"{STEP}:tool_call:1:t2:c4", decision="approve", by="ann")],
            '⋯ write_file(path="reports/extra.md", text="More.") · running',
        ),
        (
            [
                ev.DecisionMade(
                    step=STEP,
                    checkpoint_id=f"{STEP}:tool_call:1:t2:c4",
                    decision="edit",
                    by="ann",
                    edited={"path": "drafts/x.md", "text": "More."},
                ),
                call_ended("c4", "write_file", "done", "ok"),
            ],
            '✓ write_file(path="drafts/x.md", text="More.") · done in 12 ms (edited arguments)',
        ),
        (
            [
                ev.DecisionMade(
                    step=STEP, checkpoint_id=f"{STEP}:tool_call:1:t2:c4", decision="reject", by="ann", feedback="no"
                )
            ],
            '↩ write_file(path="reports/extra.md", text="More.") · rejected: no',
        ),
        (
            [ev.DecisionMade(step=STEP, checkpoint_id=f"{STEP}:tool_call:1:t2:c4", decision="deny", by="ann")],
            '⊘ write_file(path="reports/extra.md", text="More.") · denied by ann',
        ),
        (
            [call_ended("c4", "write_file", "supplied", "typed")],
            '✓ write_file(path="reports/extra.md", text="More.") · result supplied by a person',
        ),
        (
            [call_ended("c4", "write_file", "invalid", error="'text' is required")],
            "! write_file(path=\"reports/extra.md\", text=\"More.\") · invalid: 'text' is required",
        ),
        (
            [ev.StepSkipped(step=STEP, reason="skipped by ann")],
            '◌ write_file(path="reports/extra.md", text="More.") · interrupted',
        ),
    ],
)
def test_every_status_reads_as_a_person_says_it(extra: list[ev.Event], line: str) -> None:
    call = folded([*tool_loop(), *extra]).tools.loops[STEP].calls["c4"]
    assert call_line(call) == line


def test_tool_names_arguments_and_results_are_inert() -> None:
    view = folded(tool_loop(tool=HOSTILE_TOOL, query="[b]x[/b]\x1b[31m", result=HOSTILE_RESULT))
    text = "\n".join(transcript_lines(view.tools.loops[STEP]))
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "evil[bold]␛]52;c;aGFja2Vk␇(" in text and '"[b]x[/b]\\u001b[31m"' in text, "JSON escapes it, too"
    assert "    │ [red]loud[/red] ␛[2J cleared ⟨RLO⟩evil⟨PDF⟩" in text
    detail = call_detail(view.tools.loops[STEP].calls["c1"])
    assert "── result ──\n[red]loud[/red] ␛[2J" in detail and "\x1b" not in detail


def test_arguments_are_cut_each_and_as_a_whole() -> None:
    view = folded(tool_loop(query="x" * 500))
    args = compact_args(view.tools.loops[STEP].calls["c1"])
    assert args.startswith('q="xxx') and args.endswith("…") and len(args) <= 100


def test_a_pane_follows_its_transcript_and_only_the_live_text_grows() -> None:
    events = tool_loop()
    feed = Feed("s1")
    plain = [ev.LLMCallStarted(step="plain", call_id="p1"), ev.TokenDelta("plain", "p1", "no tools")]
    feed.apply([*envelopes([*events[:3], plain[0]]), plain[1]])
    assert feed.source("plain") is feed.panes["plain"], "an agent without tools: its pane is its text"
    feed.apply(envelopes([*events[:3], plain[0], *events[3:]])[4:])
    source = feed.source(STEP)
    assert isinstance(source, PaneTranscript) and isinstance(feed.panes[STEP], PaneText)
    assert source.text.startswith("I will search the notes first.\n✓ search")
    assert source.text.endswith('text="More.") · waiting for approval\n')
    assert STEP in feed.take().text, "a tool event redraws the pane"
    generation = source.generation
    turn3 = ev.LLMCallStarted(step=STEP, call_id="t3", model="mock/fast", turn=3)
    feed.apply([ev.Envelope("s1", len(events) + 2, 2000.0, turn3)])
    live = feed.source(STEP)
    assert live.generation != generation, "a new turn starts over"
    before = live.length
    feed.apply([ev.TokenDelta(STEP, "t3", "Final ")])
    feed.apply([ev.TokenDelta(STEP, "t3", "answer.")])
    assert feed.source(STEP).generation == live.generation and live.length == before + len("Final answer.")
    assert live.text.endswith("── turn 3 ──\nFinal answer.")


def test_line_mode_prints_the_transcript_as_lines() -> None:
    feed = Feed("s1")
    printed: list[str] = []
    lines = EventLines(feed.view, asking=True, bell=lambda: None)

    def heard(env: ev.Envelope, history: bool) -> None:
        printed.extend(t.plain for t in lines.lines(env))

    feed.on_event = heard
    events = [
        *finished_loop()[:-3],
        ev.ToolGrantChanged(step=STEP, tool="write_file", pattern={"path": "reports/*"}, granted=True, by="ann"),
    ]
    feed.apply(envelopes(events))
    body = [p for p in printed if p.startswith("  ")]
    assert body == [
        '  ⚙ research: search(q="grid storage") requested',
        '  ⚙ research: read_file(path="notes/x.md") requested',
        "  ✓ research: search done in 12 ms",
        "    │ 3 notes found:",
        "    │ … 4 more lines",
        "  ✗ research: read_file failed in 12 ms: file not found: notes/x.md",
        '  ⚙ research: write_file(path="reports/grid.md", text="# Grid storage\\n\\nBatteries lead.") requested — asks'
        " first",
        '  ⚙ research: write_file(path="reports/extra.md", text="More.") requested — asks first',
        '  ⏸ research: write_file(path="reports/grid.md", text="# Grid storage\\n\\nBatteries lead.") — waiting for'
        " approval",
        '  ⏸ research: write_file(path="reports/extra.md", text="More.") — waiting for approval',
        "  ✎ research: approve by ann",
        "  ✓ research: write_file done in 12 ms",
        "    │ wrote reports/grid.md",
        "  ✎ research: reject by ann: one file",
        "  ↩ research: write_file rejected: one file",
        "  ✓ write_file (path=reports/*): always allowed for this session — by ann",
    ]
    assert follow_header(feed.view, feed.view.steps[STEP]).plain == "  ▸ research · fast · turn 3"


def test_line_mode_lines_are_plain_text_even_for_hostile_tools() -> None:
    feed = Feed("s1")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system="truecolor")
    lines = EventLines(feed.view, asking=True, bell=lambda: None)
    feed.on_event = lambda env, history: [console.print(t) for t in lines.lines(env)]
    feed.apply(envelopes(tool_loop(tool=HOSTILE_TOOL, result=HOSTILE_RESULT)))
    written = out.getvalue()
    assert "]52;" not in written.replace("␛]52;", "") and "\x07" not in written
    assert "\x1b[2J" not in written and "[red]loud[/red]" in written


def checkpoint(events: list[ev.Event] | None = None, call: str = "c3") -> Any:
    view = folded(events or tool_loop())
    return view, view.checkpoints[f"{STEP}:tool_call:1:t2:{call}"]


def test_a_tool_call_checkpoint_shows_the_tool_its_origin_why_arguments_annotations_and_forecast() -> None:
    view, cp = checkpoint()
    head = decisions.context_lines(cp, view)
    assert head == [
        "tool call · research · turn 2",
        "tool      write_file — MCP server files",
        "why       its approval is 'always'",
        "effects   side effects (it changes something)",
        "next turn forecast $0.0012–$0.0034",
    ]
    sections = {s.title: s.text for s in decisions.sections(cp, view)}
    assert list(sections) == ["arguments", "annotations", "forecast cost of a call, per model"]
    assert sections["arguments"] == decisions.editable_text(cp, view), "pretty-printed as it is edited"
    assert sections["arguments"].startswith('{\n  "path": "reports/grid.md",\n  "text": "# Grid storage\\n')
    assert sections["annotations"] == "destructiveHint: true\ntitle: Write a file"
    assert view.steps[STEP].output is None


def test_a_tool_call_is_decided_with_the_review_screens_words_and_keys() -> None:
    _, cp = checkpoint()
    words = {o: decisions.option_label(o, cp) for o in cp.options}
    assert words == {
        "approve": "run",
        "edit": "edit arguments",
        "reject": "reject",
        "deny": "deny",
        "always": "always",
        "pause": "pause",
    }
    hint = ask.choice_hint(cp, 2, {})
    assert hint == (
        "[a] run  [e] edit arguments  [r] reject  [d] deny  [A] always  [p] pause  [n] next  [1-2] pick  [esc] later"
    )
    assert [ask.read_choice(t, cp, 2, {}) for t in ("a", "d", "deny", "A", "always")] == [
        "approve",
        "deny",
        "deny",
        "always",
        "always",
    ]
    assert ask.read_choice("always path=reports/*", cp, 1, {}) == "always path=reports/*"
    assert ask.read_choice("A path=reports/*, text=*", cp, 1, {}) == "always path=reports/*, text=*"


def test_the_arguments_are_edited_as_one_json_object() -> None:
    view, cp = checkpoint()
    text = decisions.editable_text(cp, view)
    assert text == '{\n  "path": "reports/grid.md",\n  "text": "# Grid storage\\n\\nBatteries lead."\n}'
    assert decisions.edit_suffix(cp) == ".json"
    changed, payload = decisions.parse_edit(cp, text.replace("reports/grid.md", "drafts/grid.md"), view)
    assert changed and payload == {**REPORT, "path": "drafts/grid.md"}
    with pytest.raises(ValueInvalid, match=r"^arguments: line 1, column 2: .* \(JSON\)$"):
        decisions.parse_edit(cp, "{path: x}", view)
    with pytest.raises(ValueInvalid, match="a JSON object"):
        decisions.parse_edit(cp, '["a"]', view)
    assert decisions.edited_value(cp, "not json", view) == "not json", "baton decide sends it; the runner says why not"


def test_an_always_grant_is_scoped_by_argument_globs() -> None:
    _, cp = checkpoint(call="c4")
    assert pattern_arguments(cp) == [("path", EXTRA["path"]), ("text", EXTRA["text"])]
    assert parse_pattern(["path=reports/*", "text=*, mode = w "]) == {"path": "reports/*", "text": "*", "mode": "w"}
    assert parse_pattern([]) == {}
    with pytest.raises(ValueError, match="'argument=glob', not 'reports'"):
        parse_pattern(["reports"])


def test_json_commands_take_the_same_decisions() -> None:
    view, cp = checkpoint()
    deny = _command({"checkpoint_id": cp.checkpoint_id, "decision": "deny"}, view, "prog")
    assert (deny.decision, deny.checkpoint_id, deny.by) == ("deny", cp.checkpoint_id, "prog")
    always = _command({"call_id": "c4", "decision": "always", "pattern": {"path": "reports/*"}}, view, "prog")
    assert (always.checkpoint_id, always.edited) == (f"{STEP}:tool_call:1:t2:c4", {"path": "reports/*"})
    edit = _command({"step": STEP, "decision": "edit", "edited": {"path": "a", "text": "b"}}, view, "prog")
    assert (edit.checkpoint_id, edit.edited) == (cp.checkpoint_id, {"path": "a", "text": "b"})
    with pytest.raises(ValueError, match="no open checkpoint for tool call 'c9'"):
        _command({"call_id": "c9", "decision": "approve"}, view, "prog")


def test_inert_is_what_the_transcript_uses() -> None:
    assert inert(HOSTILE_TOOL) in call_line(folded(tool_loop(tool=HOSTILE_TOOL)).tools.loops[STEP].calls["c1"])


async def test_line_mode_shows_a_tool_call_and_takes_its_decisions() -> None:
    view, cp = checkpoint()
    out = io.StringIO()
    dialog = CheckpointDialog(Console(file=out, width=140), cast(Any, None), view, "ann", {})
    dialog.show(cp, view.open_checkpoints, 0)
    shown = out.getvalue()
    for line in (
        "checkpoint 1/2",
        "tool call · research · turn 2",
        "tool      write_file — MCP server files",
        "next turn forecast $0.0012–$0.0034",
        "── arguments ──",
        '"path": "reports/grid.md",',
        "destructiveHint: true",
        "[a] run  [e] edit arguments  [r] reject  [d] deny  [A] always  [p] pause  [n] next  [1-2] pick  [esc] later",
    ):
        assert line in shown, line
    assert await dialog._details(cp, "always", "path=reports/*") == {"edited": {"path": "reports/*"}}
    assert await dialog._details(cp, "deny") == {}
    assert await dialog._details(cp, "always", "reports") is None
    assert "a grant pattern is 'argument=glob', not 'reports'" in out.getvalue()


def test_a_servers_question_is_answered_with_a_json_object() -> None:
    schema = {"type": "object", "properties": {"confirm": {"type": "boolean"}}}
    cp = folded(
        [
            ev.CheckpointOpened(
                step=STEP,
                checkpoint_id=f"{STEP}:elicitation:1:q1",
                reason="elicitation",
                message="the MCP server files asks, during the call of write_file: Overwrite?\x1b[2J",
                context={"tool": "write_file", "server": "files", "question": "Overwrite?\x1b[2J", "schema": schema},
                options=["edit", "reject", "pause"],
            )
        ]
    ).checkpoints[f"{STEP}:elicitation:1:q1"]
    sections = {s.title: s.text for s in decisions.sections(cp)}
    assert sections["question"] == "Overwrite?␛[2J"
    assert sections["answer as"].startswith('{\n  "type": "object"')
    assert decisions.option_label("edit", cp) == "answer"
    assert decisions.editable_text(cp) == "{}"
    assert decisions.parse_edit(cp, '{"confirm": true}') == (True, {"confirm": True})
    assert ask.choice_hint(cp, 1, {}) == "[e] answer  [r] reject  [p] pause  [esc] later"
