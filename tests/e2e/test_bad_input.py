"""Bad input through the real `baton` command: each case is one line on stderr (or stdout for `validate`)
with the documented exit code, never a traceback or a hang, and nothing of the person's is changed."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from baton.core.runner import RunOptions
from baton.sessions.schema import LATEST
from tests.conftest import baton_env
from tests.e2e.hitl_e2e import baton_argv
from tests.e2e.kill_flow import harness as h
from tests.helpers import FLOWS

pytestmark = pytest.mark.e2e
TIMEOUT = 120  # a command that hangs (reading a FIFO, say) fails here instead of stalling the suite

Arg = str | bytes


def baton(env: dict[str, str], *args: Arg, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed `baton` command; arguments may be bytes (as a shell passes them, undecoded)."""
    return subprocess.run(
        [*baton_argv(), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=TIMEOUT,
    )


def one_line(out: subprocess.CompletedProcess[str], code: int, stream: str = "stderr") -> str:
    """The command's exit code is `code` and it said exactly one line, with no traceback."""
    assert out.returncode == code, out
    text = getattr(out, stream)
    assert "Traceback" not in out.stdout + out.stderr, out
    lines = text.strip().splitlines()
    assert len(lines) == 1, out
    return lines[0]


def snapshot(path: Path) -> tuple[bytes, int, int]:
    """What a file is: its bytes, its modification time, its mode."""
    info = path.stat()
    return path.read_bytes(), info.st_mtime_ns, stat.S_IMODE(info.st_mode)


# --- a store that is not a baton store -----------------------------------------------------------


def _random_bytes(path: Path) -> str:
    path.write_bytes(b"not SQLite at all\x00" + os.urandom(4096))
    return f"{path}: not a baton store (file is not a database)"


def _other_program(path: Path) -> str:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.close()
    return f"{path}: not a baton store (a SQLite database of another program: 1 table, none of them baton's)"


def _newer_baton(path: Path) -> str:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY)")
        conn.execute("CREATE TABLE events (session_id TEXT, seq INTEGER)")
    conn.execute(f"PRAGMA user_version={LATEST + 3}")
    conn.close()
    return f"{path} was written by a newer baton (schema version {LATEST + 3}; this baton knows up to {LATEST})"


@pytest.mark.parametrize("make", [_random_bytes, _other_program, _newer_baton], ids=["random", "other", "newer"])
def test_a_file_that_is_not_a_baton_store_is_refused_and_left_untouched(
    make: object, tmp_path: Path, private_home: Path
) -> None:
    path = tmp_path / "notadb.bin"
    expected = make(path)  # type: ignore[operator]
    os.chmod(path, 0o644)
    before = snapshot(path)
    env = baton_env(private_home, path)
    env.pop("BATON_DB")
    for args in (["sessions"], ["show", "abc"], ["run", "gate", "--auto", "approve", "--json"]):
        line = one_line(baton(env, "--db", str(path), *args), 2)
        assert line.startswith(expected), line
    line = one_line(baton({**env, "BATON_DB": str(path)}, "sessions"), 2)
    assert line.startswith(expected)
    assert snapshot(path) == before, "the file was changed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notadb.bin"], "no journal was left beside it"


def test_a_store_path_that_is_a_fifo_or_a_folder_is_refused_without_opening_it(
    tmp_path: Path, private_home: Path
) -> None:
    fifo = tmp_path / "store.fifo"
    os.mkfifo(fifo)
    out = baton(baton_env(private_home, fifo), "sessions")
    assert one_line(out, 2) == f"{fifo}: not a regular file"
    folder = tmp_path / "folder"
    folder.mkdir()
    out = baton(baton_env(private_home, folder), "--db", str(folder), "sessions")
    assert one_line(out, 2) == f"{folder}: not a regular file"


# --- places this user cannot write -----------------------------------------------------------------


def _nobody() -> list[str]:
    """Run as `nobody`. It keeps the right to read and search (not to write) what root owns, so it can
    start the interpreter under root's home; writing is checked as for any user."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as another user")
    argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    argv += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    probe = subprocess.run([*argv, "id", "-u"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0 or probe.stdout.strip() != "65534":
        pytest.skip(f"cannot run as nobody here: {probe.stderr.strip()}")
    return argv


def as_nobody(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`baton …` run as the user nobody."""
    return subprocess.run(
        [*_nobody(), *baton_argv(), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    """`open` (anyone may write), `closed` (nobody may not), and a home for nobody."""
    made = {name: tmp_path / name for name in ("open", "closed", "home")}
    for name, path in made.items():
        path.mkdir()
        os.chmod(path, 0o555 if name == "closed" else 0o777)
    return made


def nobody_env(places: dict[str, Path], **xdg: Path) -> dict[str, str]:
    """An environment for nobody: its own home and config; data and state where the test says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "BATON_"))}
    env.update(HOME=str(places["home"]), BATON_USER="tester", XDG_CONFIG_HOME=str(places["open"] / "config"))
    env.update({name: str(path) for name, path in xdg.items()})
    return env


@pytest.mark.slow
def test_a_non_root_user_runs_baton_with_writable_folders(places: dict[str, Path]) -> None:
    """The other tests of this section would pass for a user who could run nothing at all."""
    env = nobody_env(places, XDG_DATA_HOME=places["open"] / "data", XDG_STATE_HOME=places["open"] / "state")
    out = as_nobody(env, "run", "gate", "--auto", "approve", "--json")
    assert out.returncode == 0, out
    assert (places["open"] / "data" / "baton" / "baton.db").stat().st_uid == 65534


def test_the_default_store_in_a_data_folder_nobody_may_write_is_refused(places: dict[str, Path]) -> None:
    env = nobody_env(places, XDG_DATA_HOME=places["closed"], XDG_STATE_HOME=places["open"] / "state")
    line = one_line(as_nobody(env, "sessions"), 2)
    folder = places["closed"] / "baton"
    assert line == (
        f"{folder}: cannot create the session store's folder (permission denied); set XDG_DATA_HOME to a"
        " writable folder, or choose another place with --db PATH or BATON_DB"
    )


def test_a_store_in_a_folder_nobody_may_write_is_refused(places: dict[str, Path]) -> None:
    env = nobody_env(places, XDG_DATA_HOME=places["open"] / "data", XDG_STATE_HOME=places["open"] / "state")
    db = places["closed"] / "baton.db"
    line = one_line(as_nobody(env, "--db", str(db), "run", "gate", "--auto", "approve", "--json"), 2)
    assert (
        line
        == f"{db}: cannot create the session store (permission denied); choose another place with --db PATH or BATON_DB"
    )


def test_an_existing_store_in_a_folder_nobody_may_write_is_refused(places: dict[str, Path], tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    db = shared / "baton.db"
    h.create(db, FLOWS / "gate.yaml", RunOptions())
    os.chmod(db, 0o666)
    os.chmod(shared, 0o755)
    env = nobody_env(places, XDG_DATA_HOME=places["open"] / "data", XDG_STATE_HOME=places["open"] / "state")
    line = one_line(as_nobody(env, "--db", str(db), "sessions"), 2)
    assert line.startswith(f"{db}: the session store's folder {shared} is not writable by this user")
    assert line.endswith("choose another place with --db PATH or BATON_DB")


def test_a_log_folder_nobody_may_write_is_refused_before_a_session_is_recorded(places: dict[str, Path]) -> None:
    env = nobody_env(places, XDG_DATA_HOME=places["open"] / "data", XDG_STATE_HOME=places["closed"])
    line = one_line(as_nobody(env, "run", "gate", "--auto", "approve", "--json"), 2)
    logs = places["closed"] / "baton" / "logs"
    assert line == (
        f"{logs}: cannot create the folder for runner logs (permission denied); set XDG_STATE_HOME to a writable folder"
    )
    listed = as_nobody(env, "sessions", "--json")
    assert listed.returncode == 0 and listed.stdout == "", "no session was left behind"


# --- text that is not UTF-8 --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["run", "demo", "--auto", "approve", "--json", "-i", b"topic=caf\xe9 \xff"],
            "input 'topic' is not valid UTF-8 text",
        ),
        (
            ["run", "demo", "--auto", "approve", "--json", "-i", b"to\xffpic=x"],
            "input 'to\\xffpic' is not valid UTF-8 text",
        ),
        (["estimate", "demo", "-i", b"topic=caf\xe9"], "input 'topic' is not valid UTF-8 text"),
        (["run", "demo", "--json", "--model", b"fast=mock/\xff"], "--model 'fast=mock/\\xff' is not valid UTF-8 text"),
        (["run", "gate", "--json", "--break", b"dr\xffaft"], "--break is not valid UTF-8 text"),
    ],
    ids=["input-value", "input-key", "estimate", "model", "break"],
)
def test_text_that_is_not_utf8_is_refused_by_name(
    args: Sequence[Arg], expected: str, db_path: Path, private_home: Path
) -> None:
    out = baton(baton_env(private_home, db_path), *args)
    assert one_line(out, 2) == expected
    listed = baton(baton_env(private_home, db_path), "sessions", "--json")
    assert listed.returncode == 0 and listed.stdout == "", "no session was recorded"


def test_a_session_id_that_is_not_utf8_is_no_session(db_path: Path, private_home: Path) -> None:
    env = baton_env(private_home, db_path)
    out = baton(env, "show", b"ab\xff")
    assert one_line(out, 2) == f"no session 'ab\\xff' in {db_path}"


# --- paths that are not regular files ----------------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A FIFO with no writer: opening it for reading blocks forever."""
    path = tmp_path / "flow.yaml"
    os.mkfifo(path)
    return path


def test_validate_and_run_refuse_a_fifo_instead_of_hanging(fifo: Path, db_path: Path, private_home: Path) -> None:
    env = baton_env(private_home, db_path)
    assert one_line(baton(env, "validate", str(fifo)), 2, "stdout") == f"{fifo}: not a regular file"
    assert one_line(baton(env, "run", str(fifo), "--auto", "approve", "--json"), 2) == f"{fifo}: not a regular file"
    assert one_line(baton(env, "estimate", str(fifo)), 2) == f"{fifo}: not a regular file"
    assert one_line(baton(env, "validate", "/dev/null"), 2, "stdout") == "/dev/null: not a regular file"
    listed = baton(env, "sessions", "--json")
    assert listed.returncode == 0 and listed.stdout == ""


def test_a_local_workflow_name_that_is_a_fifo_is_refused(tmp_path: Path, db_path: Path, private_home: Path) -> None:
    work = tmp_path / "work"
    (work / "flows").mkdir(parents=True)
    os.mkfifo(work / "flows" / "mine.yaml")
    out = baton(baton_env(private_home, db_path), "validate", "mine", cwd=work)
    assert one_line(out, 2, "stdout") == "flows/mine.yaml: not a regular file"


def test_decisions_edited_and_config_files_that_are_fifos_are_refused(
    fifo: Path, db_path: Path, private_home: Path
) -> None:
    env = baton_env(private_home, db_path)
    run = baton(env, "run", "gate", "--json", "--decisions", str(fifo))
    assert one_line(run, 2) == f"{fifo}: not a regular file"
    decide = baton(env, "decide", "abcd", "approve_draft", "edit", "--edited", str(fifo))
    assert one_line(decide, 2) == f"{fifo}: not a regular file"
    for args in (["validate", "demo"], ["run", "gate", "--json"]):
        out = baton({**env, "BATON_CONFIG": str(fifo)}, *args)
        assert one_line(out, 2) == f"{fifo}: not a regular file"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_theme_file_that_is_a_fifo_costs_one_notification_not_the_app(
    private_home: Path, db_path: Path, tmp_path: Path
) -> None:
    from tests.e2e.test_tui_journeys import BATON, Terminal

    themes = private_home / "xdg_config_home" / "baton" / "themes"
    themes.mkdir(parents=True)
    os.mkfifo(themes / "broken.toml")
    term = Terminal(baton_env(private_home, db_path))
    try:
        w = term.start(BATON, tmp_path / "exit")
        screen = term.wait(w, "not a regular file", timeout=60)
        assert "sessions" in screen
        term.keys(w, "q")
    finally:
        term.close()


# --- two resumes of one session at the same instant ---------------------------------------------------

_AT_THE_BARRIER = (
    "import os, sys\n"
    "ready, go = int(sys.argv[1]), int(sys.argv[2])\n"
    "os.write(ready, b'.')\n"
    "os.read(go, 1)\n"  # returns when the test closes the other end: every waiter starts at once
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


@pytest.mark.slow
def test_two_resumes_at_once_one_runs_the_other_is_told_who_holds_the_session(db: Path, private_home: Path) -> None:
    sid = h.create(db, FLOWS / "gate.yaml", RunOptions())
    env = baton_env(private_home, db)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    argv = [*baton_argv(), "resume", sid, "--detach"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _AT_THE_BARRIER, str(ready_w), str(go_r), *argv],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            pass_fds=(ready_w, go_r),
        )
        for _ in range(2)
    ]
    os.close(ready_w)
    os.close(go_r)
    try:
        assert os.read(ready_r, 1) and os.read(ready_r, 1), "both are at the barrier"
        os.close(go_w)
        results = [p.communicate(timeout=TIMEOUT) for p in procs]
    finally:
        os.close(ready_r)
        for p in procs:
            if p.poll() is None:
                p.kill()
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 3], results
    winner = next(out for p, (out, _) in zip(procs, results, strict=True) if p.returncode == 0)
    loser = next(err for p, (_, err) in zip(procs, results, strict=True) if p.returncode == 3)
    assert winner.strip() == sid
    (pid,) = h.table(db, "SELECT pid FROM leases WHERE session_id = ?", sid)[0]
    assert loser.strip() == f"session {sid} in use by pid {pid}"
