"""`baton host` and `baton hosts` as a person uses them: a host in the foreground, a session handed to it by
`baton run --detach`, parked while it waits for a person, brought back by `baton decide`, and a drain on
SIGTERM; bad limits are refused with one line."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from tests.conftest import baton_env
from tests.e2e.hitl_e2e import baton_argv
from tests.helpers import wait_for as until

TIMEOUT = 120.0


def baton(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*baton_argv(), *args], env=env, capture_output=True, text=True, timeout=TIMEOUT)


def session_status(env: dict[str, str], sid: str) -> str:
    out = baton(env, "sessions", "--json")
    return next(json.loads(line)["status"] for line in out.stdout.splitlines() if sid in line)


def test_bad_limits_are_refused_with_one_line(db: Path, private_home: Path) -> None:
    env = baton_env(private_home, db)
    out = baton(env, "host", "--quota", "strong")
    assert out.returncode == 2 and "expected MODEL=N" in out.stderr and "Traceback" not in out.stderr
    out = baton(env, "hosts")
    assert out.returncode == 0 and "no runner host is running" in out.stdout


def test_a_parked_session_is_decided_and_finished_and_sigterm_drains(db: Path, private_home: Path) -> None:
    env = baton_env(private_home, db)
    host = subprocess.Popen(
        [*baton_argv(), "host", "--park-after", "0.5", "--quota", "fast=1"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert host.stdout is not None
        ready = host.stdout.readline()
        assert ready.startswith("host ") and ready.strip().endswith("ready")
        host_id = ready.split()[1]
        run = baton(env, "run", "gate", "--detach")
        assert run.returncode == 0, run.stderr
        sid = run.stdout.strip()

        def parked() -> bool:
            listed = [json.loads(line) for line in baton(env, "hosts", "--json").stdout.splitlines()]
            alone = [(h["id"], h["sessions"]) for h in listed] == [(host_id, [])]
            return alone and session_status(env, sid) == "waiting"

        until(parked, "the session to be parked on the only host")
        table = baton(env, "hosts").stdout
        assert host_id in table and "1 parked (waiting for a person)" in table
        decided = baton(env, "decide", sid, "approve_draft", "approve")
        assert decided.returncode == 0, decided.stderr
        until(lambda: session_status(env, sid) == "completed", "the session to complete")
        assert json.loads(baton(env, "hosts", "--json").stdout)["limits"]["quotas"] == {"fast": 1}
    finally:
        host.send_signal(signal.SIGTERM)
        code = host.wait(timeout=60)
    assert code == 0
    assert "no runner host is running" in baton(env, "hosts").stdout
