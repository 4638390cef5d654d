"""What `baton sessions` and `baton show` say about a session, through the real command: a run that can
only wait for a person says so, and map items go by their labels."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import baton_env
from tests.e2e.hitl_e2e import baton_argv, write_flow

pytestmark = pytest.mark.e2e

GATED_MAP = """
name: gated-map
state:
  files: {type: "list[str]", default: ["src/app.py", "README.md"]}
  notes: {type: "list[str]", reducer: append}
models:
  fast: {model: mock/fast, mock: {latency_s: 0, tokens_per_s: 0, min_tokens: 4, max_tokens: 8}}
steps:
  - id: each
    kind: map
    over: files
    as: file
    step: {id: note, kind: agent, model: fast, writes: [notes], prompt: "Note on {file}"}
  - {id: sign_off, kind: gate, reads: [notes], message: "Done?"}
"""


def _baton(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*baton_argv(), *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90
    )


def _listed(env: dict[str, str]) -> dict[str, str]:
    lines = _baton(env, "sessions", "--json").stdout.splitlines()
    return {x["session_id"]: x["status"] for x in map(json.loads, lines)}


def test_a_run_waiting_at_a_gate_is_waiting_for_you_and_its_map_items_go_by_label(
    tmp_path: Path, private_home: Path, db: Path
) -> None:
    flow = write_flow(tmp_path, GATED_MAP)
    env = baton_env(private_home, db)
    started = _baton(env, "run", str(flow), "--detach")
    assert started.returncode == 0, started.stderr
    sid = started.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 60
    while _listed(env).get(sid) != "waiting":
        assert time.monotonic() < deadline, _baton(env, "sessions").stdout
        time.sleep(0.2)
    table = _baton(env, "sessions").stdout
    row = next(line for line in table.splitlines() if line.startswith(sid))
    assert "waiting for you" in row and "running" not in row
    shown = _baton(env, "show", sid)
    assert shown.returncode == 0, shown.stderr
    head = shown.stdout.splitlines()[0]
    assert head.endswith("· waiting for you"), head
    assert "each[src/app.py]" in shown.stdout and "each[README.md]" in shown.stdout
    assert "each[0]" not in shown.stdout and "each[1]" not in shown.stdout
    assert json.loads(_baton(env, "show", sid, "--json").stdout)["status"] == "waiting"
    decided = _baton(env, "decide", sid, "sign_off", "approve")
    assert decided.returncode == 0, decided.stdout + decided.stderr
    deadline = time.monotonic() + 60
    while _listed(env).get(sid) != "completed":
        assert time.monotonic() < deadline, _baton(env, "sessions").stdout
        time.sleep(0.2)
    assert "completed" in next(line for line in _baton(env, "sessions").stdout.splitlines() if line.startswith(sid))
