"""A hostile model against the real terminal: every byte the app writes to the pty is captured
(tmux pipe-pane) and none of the model's escape sequences is among them; the app stays alive."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.test_tui_journeys import BATON, Terminal, _ended, _sessions, _wait_file, pytestmark, terminal
from tests.tui.drive import hostile_flow

__all__ = ["pytestmark", "terminal"]

HOSTILE = (
    "plain start [/bold] and [link=http://x]y[/link] then \x1b]52;c;aGFja2Vk\x07 and \x1b]0;title\x07 "
    "and \x1b[2J cleared? \x1b[31mred\x1b[0m \u202eevil\u202c [bold red]loud[/]"
)


def test_no_escape_sequence_from_the_model_reaches_the_terminal(
    terminal: Terminal, db_path: Path, tmp_path: Path
) -> None:
    flow = tmp_path / "hostile.yaml"
    flow.write_text(hostile_flow(HOSTILE, tokens_per_s=60))
    capture = tmp_path / "pty.bin"
    ready = tmp_path / "ready"
    exit_file = tmp_path / "exit"
    w = terminal.start(f"while [ ! -e {ready} ]; do sleep 0.05; done; {BATON} run {flow}", exit_file)
    terminal.tmux("pipe-pane", "-o", "-t", w, f"cat >> {capture}")
    ready.touch()
    screen = terminal.wait(w, "checkpoint 1/1 · review · evil", timeout=90)
    screen = terminal.wait(w, "[bold red]loud[/]", timeout=30)
    for literal in ("[/bold]", "[link=http://x]y[/link]", "␛]52;c;aGFja2Vk␇", "␛]0;title␇", "␛[2J", "⟨RLO⟩evil"):
        assert literal in screen, literal
    terminal.keys(w, "Escape")
    screen = terminal.wait(w, lambda s: "[a] approve" not in s)
    assert "hostile [bold]name[/bold]" in screen.splitlines()[0]
    assert "␛[31mred␛[0m" in screen
    terminal.keys(w, "t")
    terminal.wait(w, "step / call")
    terminal.keys(w, "Escape", "v")
    terminal.wait(w, "[a] approve")
    terminal.keys(w, "a")
    terminal.wait(w, lambda s: "completed" in s.splitlines()[0], timeout=60)
    deadline = time.monotonic() + 30
    while b"completed" not in capture.read_bytes():  # tmux copies what the app drew a moment later
        assert time.monotonic() < deadline, "the capture never showed the completed run"
        time.sleep(0.05)
    data = capture.read_bytes()
    assert len(data) > 10_000, "the capture holds what the app drew"
    for bad in (b"\x1b]52", b"\x1b]0;", b"\x1b]2;", b"\x1b[2J", b"\x1b]8;", b"aGFja2Vk\x07", b"\xe2\x80\xae"):
        assert bad not in data, bad
    assert "␛]52;c;aGFja2Vk␇".encode() in data, "the sequence was shown as text"
    terminal.keys(w, "q")
    assert _wait_file(exit_file) == "0"
    ((session_id, _),) = _sessions(db_path)
    assert _ended(db_path, session_id) == "SessionCompleted"
