"""`baton decide` answers a checkpoint from anywhere — also when the session's runner host was killed (a new
host takes the session over and applies the decision), and, with a runner process per session
(`BATON_HOST=off`), while no runner holds it: the decision is queued and applied when the session resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from baton.sessions.leases import pid_alive
from tests.conftest import baton_env
from tests.e2e.hitl_e2e import baton_argv

FLOW = """\
name: sign
state:
  request: {type: str}
  draft: {type: str}
inputs:
  request: {default: "a short reply"}
models:
  fast: {model: mock/fast, mock: {min_tokens: 5, max_tokens: 20}}
steps:
  - {id: draft, kind: agent, model: fast, reads: [request], writes: [draft], prompt: "{request}"}
  - {id: sign_off, kind: gate, reads: [draft], message: "Send it?"}
"""


def _baton(env: dict[str, str], *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*baton_argv(), *args], env=env, capture_output=True, text=True, timeout=90, check=check)


def _wait_open(env: dict[str, str], session: str, deadline_s: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        shown = json.loads(_baton(env, "show", session, "--json").stdout)
        open_ = [c for c in shown["checkpoints"].values() if c["decision"] is None]
        if open_:
            return shown
        time.sleep(0.2)
    raise AssertionError("no checkpoint opened")


def _kill_runner(pattern: str) -> None:
    runner = subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True, text=True).stdout.split()
    assert runner, "the background runner should be running"
    for pid in runner:
        os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while any(pid_alive(int(pid)) for pid in runner):
        assert time.monotonic() < deadline, "the killed runner is still alive"
        time.sleep(0.02)


def test_decide_after_the_host_was_killed_is_applied_by_a_new_host(tmp_path: Path, private_home: Path) -> None:
    flow = tmp_path / "sign.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    db = tmp_path / "b.db"
    env = baton_env(private_home, db)
    session = _baton(env, "run", str(flow), "--detach", check=True).stdout.strip()
    shown = _wait_open(env, session)
    assert shown["status"] == "waiting"
    _kill_runner(f"baton.sessions.host_main .*--db {db}")
    decided = _baton(env, "decide", session, "sign_off", "approve")
    assert decided.returncode == 0, decided.stderr
    assert "queued" not in decided.stdout
    deadline = time.monotonic() + 60
    while json.loads(_baton(env, "show", session, "--json").stdout)["status"] != "completed":
        assert time.monotonic() < deadline, "the new host did not finish the session"
        time.sleep(0.2)
    final = json.loads(_baton(env, "show", session, "--json").stdout)
    assert [c["decision"]["decision"] for c in final["checkpoints"].values() if c["decision"]] == ["approve"]
    assert final["steps"]["draft"]["attempts"] == 1


def test_decide_while_no_runner_is_queued_and_applied_on_resume(tmp_path: Path, private_home: Path) -> None:
    flow = tmp_path / "sign.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    env = {**baton_env(private_home, tmp_path / "b.db"), "BATON_HOST": "off"}
    session = _baton(env, "run", str(flow), "--detach", check=True).stdout.strip()
    shown = _wait_open(env, session)
    _kill_runner(f"--session {session}")
    decided = _baton(env, "decide", session, "sign_off", "approve")
    assert decided.returncode == 0, decided.stderr
    assert "queued" in decided.stdout and f"baton resume {session}" in decided.stdout
    assert shown["status"] == "waiting", "a runner waiting only on a checkpoint is waiting for a person"
    resumed = _baton(env, "resume", session, "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    kinds = [json.loads(line)["kind"] for line in resumed.stdout.splitlines()]
    assert "DecisionMade" in kinds and kinds[-1] == "SessionCompleted"
    final = json.loads(_baton(env, "show", session, "--json").stdout)
    decisions = [c["decision"] for c in final["checkpoints"].values()]
    assert [d["decision"] for d in decisions if d] == ["approve"]
    assert final["steps"]["draft"]["attempts"] == 1


def test_a_run_without_a_terminal_says_how_to_answer_and_that_answer_works(tmp_path: Path, private_home: Path) -> None:
    flow = tmp_path / "sign.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    env = baton_env(private_home, tmp_path / "b.db")
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        run = subprocess.Popen(
            [*baton_argv(), "run", str(flow)], env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while "baton decide" not in out.read_text(encoding="utf-8"):
            assert run.poll() is None, out.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, out.read_text(encoding="utf-8")
            time.sleep(0.1)
        hint = next(line for line in out.read_text(encoding="utf-8").splitlines() if "baton decide" in line)
        assert "no terminal to ask on" in hint and "baton attach " in hint
        command = hint.split("`baton decide ", 1)[1].split("`", 1)[0].split()
        assert command[1:] == ["sign_off", "approve"]
        decided = _baton(env, "decide", *command)
        assert decided.returncode == 0, decided.stdout + decided.stderr
        assert run.wait(timeout=60) == 0
        assert "✎ sign_off: approve by" in out.read_text(encoding="utf-8")
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
