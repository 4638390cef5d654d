"""`baton policy` end to end through the real command: sessions on the offline model answered by a scripted
person (`--decisions`) → `suggest` proposes a rule with its evidence → an edit that would cover a rejected
call is refused → `accept` writes it into the config file → a new session's matching call is approved by
the rule (`rule:ID` in `baton show`) → `revoke` takes it out → `dismiss` stops it being proposed again."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import baton_env
from tests.e2e.hitl_e2e import baton_argv

pytestmark = pytest.mark.slow

TOOLS = '''
def read_file(path: str) -> str:
    """Read a file."""
    return "text of " + path
'''


def _flow(tmp_path: Path, name: str, paths: list[str]) -> Path:
    replies: list[dict[str, Any]] = [
        {"turn": turn, "tool_calls": [{"name": "read_file", "args": {"path": path}, "id": f"c{turn}"}]}
        for turn, path in enumerate(paths, 1)
    ]
    replies.append({"turn": len(paths) + 1, "text": "done"})
    model = {"model": "mock/fast", "mock": {"latency_s": 0, "tokens_per_s": 0, "replies": replies}}
    flow = tmp_path / f"{name}.yaml"
    flow.write_text(
        f"""name: {name}
state:
  report: {{type: str}}
models:
  m: {json.dumps(model)}
steps:
  - id: research
    kind: agent
    model: m
    writes: [report]
    prompt: "Read the docs."
    tools:
      - {{call: "ptools:read_file"}}
""",
        encoding="utf-8",
    )
    return flow


def _run(env: dict[str, str], tmp_path: Path, name: str, paths: list[str], answers: list[Any]) -> str:
    decisions = tmp_path / f"{name}.decisions.json"
    decisions.write_text(
        json.dumps({f"research:tool_call:1:t{turn}:c{turn}": a for turn, a in enumerate(answers, 1)}),
        encoding="utf-8",
    )
    flow = _flow(tmp_path, name, paths)
    done = _baton(env, "run", str(flow), "--decisions", str(decisions), "--json")
    assert done.returncode == 0, done.stderr
    started = [json.loads(line) for line in done.stdout.splitlines() if '"SessionStarted"' in line]
    return str(started[0]["session_id"])


def _baton(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*baton_argv(), *args], env=env, capture_output=True, text=True, timeout=120)


def test_suggest_accept_apply_revoke_and_dismiss(tmp_path: Path, private_home: Path) -> None:
    (tmp_path / "ptools.py").write_text(TOOLS, encoding="utf-8")
    env = baton_env(private_home, tmp_path / "b.db")
    _run(env, tmp_path, "first", ["docs/a.md", "docs/b.md", "docs/c.md"], ["approve"] * 3)
    reject = {"decision": "reject", "feedback": "not the secrets"}
    _run(env, tmp_path, "second", ["docs/d.md", "secret/k.md", "docs/e.md"], ["approve", reject, "approve"])

    shown = _baton(env, "policy", "suggest")
    assert shown.returncode == 0, shown.stderr
    assert "approve read_file (path=docs/*.md) without asking" in shown.stdout
    assert "approved 5 of 5 times with path under docs/ ending .md, in 2 sessions" in shown.stdout
    found = json.loads(_baton(env, "policy", "suggest", "--json").stdout)
    assert found["decisions"] == 6
    (proposal,) = found["suggestions"]
    assert (proposal["pattern"], proposal["approvals"]) == ({"path": "docs/*.md"}, 5)
    assert json.loads(_baton(env, "policy", "suggest", "--json", "--min", "6").stdout)["suggestions"] == []

    wide = _baton(env, "policy", "accept", proposal["id"], "--pattern", "path=*.md")
    assert wide.returncode == 2
    assert "would approve a call that was rejected" in wide.stderr
    assert _baton(env, "policy", "accept", "nope").returncode == 2

    accepted = _baton(env, "policy", "accept", proposal["id"])
    assert accepted.returncode == 0, accepted.stderr
    assert f"accepted rule {proposal['id']}: approve read_file (path=docs/*.md)" in accepted.stdout
    config = tomllib.loads((private_home / "xdg_config_home" / "baton" / "config.toml").read_text())
    assert config["rules"][proposal["id"]]["pattern"] == {"path": "docs/*.md"}
    listed = json.loads(_baton(env, "policy", "list", "--json").stdout)
    rules = [(r["id"], r["tool"], r["accepted_by"]) for r in listed["rules"]]
    assert rules == [(proposal["id"], "read_file", "tester")]
    assert json.loads(_baton(env, "policy", "suggest", "--json").stdout)["suggestions"] == []

    third = _run(env, tmp_path, "third", ["docs/z.md"], [])  # nobody scripted: the rule answers
    state = json.loads(_baton(env, "show", third, "--json").stdout)
    assert state["status"] == "completed"
    (decision,) = [c["decision"] for c in state["checkpoints"].values()]
    assert (decision["decision"], decision["by"]) == ("approve", f"rule:{proposal['id']}")
    said = f"approve read_file by rule:{proposal['id']} from approval rule (path=docs/*.md)"
    assert said in state["steps"]["research"]["timeline"]

    revoked = _baton(env, "policy", "revoke", proposal["id"])
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(_baton(env, "policy", "list", "--json").stdout)["rules"] == []
    assert _baton(env, "policy", "revoke", proposal["id"]).returncode == 2

    again = json.loads(_baton(env, "policy", "suggest", "--json").stdout)["suggestions"]
    assert [s["id"] for s in again] == [proposal["id"]]  # the rule's own decision added no evidence
    dismissed = _baton(env, "policy", "dismiss", proposal["id"])
    assert dismissed.returncode == 0, dismissed.stderr
    assert json.loads(_baton(env, "policy", "suggest", "--json").stdout)["suggestions"] == []
    assert json.loads(_baton(env, "policy", "list", "--json").stdout)["dismissed"] == [proposal["id"]]
