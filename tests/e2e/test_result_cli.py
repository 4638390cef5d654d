"""The result comes out, through the real `baton` command: `baton result` (raw, one key, several under
headings, `--json`), `baton run -o FILE` (0600, the same text), the end of a line-mode run, and
`baton show --full` — and a clear exit 2 when there is no result or no such output."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, baton_env

pytestmark = pytest.mark.e2e

FLOW = """\
name: reply-desk
state:
  request: {type: str}
  draft: {type: str}
  final: {type: str}
inputs:
  request: {default: "A reply to a customer asking when the outage will be fixed."}
models:
  fast: {model: mock/fast, mock: {min_tokens: 150, max_tokens: 160}}
outputs: [final, draft]
steps:
  - {id: draft, kind: agent, model: fast, reads: [request], writes: [draft], prompt: "{request}"}
  - {id: polish, kind: agent, model: fast, reads: [draft], writes: [final], prompt: "Polish: {draft}"}
  - {id: sign, kind: gate, reads: [final], message: "Send it?"}
"""


class Baton:
    """`baton …` in a subprocess with a private home and database (line mode, no terminal)."""

    def __init__(self, home: Path, db: Path, cwd: Path) -> None:
        self.env = {**baton_env(home, db, BATON_LINE="1"), "PYTHONPATH": str(ROOT)}
        self.cwd = cwd

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "baton", *args],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def last_session(self) -> str:
        rows = [json.loads(line) for line in self("sessions", "--json").stdout.splitlines()]
        return str(rows[0]["session_id"])


@pytest.fixture
def baton(private_home: Path, db_path: Path, tmp_path: Path) -> Baton:
    work = tmp_path / "work"
    work.mkdir()
    (work / "reply.yaml").write_text(FLOW, encoding="utf-8")
    return Baton(private_home, db_path, work)


@pytest.mark.slow
def test_result_printed_written_and_shown_in_full(baton: Baton) -> None:
    out = baton.cwd / "reply.md"
    ran = baton("run", "reply.yaml", "--line", "--auto", "approve", "-o", str(out))
    assert ran.returncode == 0, ran.stderr
    sid = baton.last_session()
    state = json.loads(baton("show", sid, "--json").stdout)["state"]
    final, draft = state["final"], state["draft"]
    assert len(final) > 300 and "\n\n" in final  # long enough that a one-line view would cut it

    # `baton result`: both outputs under headings; one key raw (unquoted, whole); --json for programs
    both = baton("result", sid)
    assert both.returncode == 0 and both.stderr == ""
    assert both.stdout == f"# final\n\n{final.rstrip(chr(10))}\n\n# draft\n\n{draft.rstrip(chr(10))}\n"
    one = baton("result", sid[:5], "final")
    assert one.returncode == 0 and one.stdout == final.rstrip("\n") + "\n"
    as_json = baton("result", sid, "--json")
    assert json.loads(as_json.stdout) == {"final": final, "draft": draft}
    assert as_json.stdout.count("\n") == 1

    # -o wrote the same text as `baton result`, private to the user
    assert out.read_text(encoding="utf-8") == both.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert f"result (final, draft) written to {out}" in ran.stderr

    # the end of the line-mode run printed the result whole (every line of it)
    for row in final.splitlines():
        assert row.strip() in ran.stdout
    # show: one line per value and a pointer to the result; --full: every value whole
    shown = baton("show", sid)
    assert "…" in shown.stdout and f"`baton result {sid}` prints it" in shown.stdout
    assert final.splitlines()[-1].strip() not in shown.stdout
    full = baton("show", sid, "--full")
    assert full.returncode == 0
    for row in final.splitlines():
        assert row.strip() in full.stdout

    # an unknown key: exit 2, naming the outputs there are
    unknown = baton("result", sid, "finall")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert f"session {sid} has no output 'finall' (its result: final, draft;" in unknown.stderr


@pytest.mark.slow
def test_no_result_yet_is_exit_2_and_says_what_to_do(baton: Baton) -> None:
    decisions = baton.cwd / "pause.json"
    decisions.write_text(json.dumps({"sign": "pause"}), encoding="utf-8")
    out = baton.cwd / "reply.md"
    paused = baton("run", "reply.yaml", "--json", "--decisions", str(decisions), "-o", str(out))
    assert paused.returncode == 4, paused.stderr
    sid = baton.last_session()
    assert not out.exists()
    assert f"no result written to {out}: session {sid} is paused at sign" in paused.stderr
    asked = baton("result", sid)
    assert asked.returncode == 2 and asked.stdout == ""
    assert asked.stderr.strip() == (
        f"session {sid} is paused at sign and has no result yet: `baton resume {sid}` continues it"
    )


def test_output_file_is_checked_before_anything_runs(baton: Baton) -> None:
    missing_dir = baton("run", "reply.yaml", "--auto", "approve", "-o", "no/such/dir/out.md")
    assert missing_dir.returncode == 2 and "-o no/such/dir/out.md: no directory no/such/dir" in missing_dir.stderr
    detached = baton("run", "reply.yaml", "--detach", "-o", "out.md")
    assert detached.returncode == 2 and "cannot be used with --detach" in detached.stderr
    assert baton("sessions", "--json").stdout == ""
