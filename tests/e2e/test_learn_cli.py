"""`baton lessons` and `baton routes` end to end through the real command, on stores built by real sessions
on the offline model answered by a scripted person (`--decisions`): a rejection with feedback becomes a
lesson that a later session's learning step carries in its system prompt; lessons are added, edited and
removed; retries on a cheaper model that is then approved make `routes` suggest it, and `--apply` points
the step's alias at it in the config file, which the next session uses."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

from tests.conftest import baton_env
from tests.e2e.hitl_e2e import baton_argv

FLOW = """name: brief
state:
  topic: {type: str}
  draft: {type: str}
inputs:
  topic: {default: owls}
models:
  cheap: {model: mock/fast, mock: {latency_s: 0, tokens_per_s: 0}}
  dear: {model: mock/strong, mock: {latency_s: 0, tokens_per_s: 0}}
steps:
  - id: write
    kind: agent
    model: dear
    learn: true
    review: always
    reads: [topic]
    writes: [draft]
    system: "You write briefs."
    prompt: "Write a brief about {topic}."
"""


def _baton(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*baton_argv(), *args], env=env, capture_output=True, text=True, timeout=120)


def _run(env: dict[str, str], tmp_path: Path, answers: list[Any], topic: str) -> list[dict[str, Any]]:
    decisions = tmp_path / f"{topic}.decisions.json"
    decisions.write_text(json.dumps({"write": answers}), encoding="utf-8")
    flow = str(tmp_path / "brief.yaml")
    done = _baton(env, "run", flow, "-i", f"topic={topic}", "--decisions", str(decisions), "--json")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _write_calls(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["kind"] == "LLMCallFinished" and e["step"] == "write"]


def test_lessons_from_feedback_and_routes_from_decisions(tmp_path: Path, private_home: Path) -> None:
    (tmp_path / "brief.yaml").write_text(FLOW, encoding="utf-8")
    env = baton_env(private_home, tmp_path / "b.db")
    assert "no lessons" in _baton(env, "lessons").stdout

    _run(env, tmp_path, [{"decision": "reject", "feedback": "Cite two sources."}, "approve"], "owls")
    listed = json.loads(_baton(env, "lessons", "brief", "--json").stdout)["lessons"]
    assert [(x["step"], x["text"], x["source"] != "added") for x in listed] == [("write", "Cite two sources.", True)]
    lesson_id = listed[0]["id"]
    shown = _baton(env, "lessons")
    assert "brief · write" in shown.stdout and f"{lesson_id}  Cite two sources." in shown.stdout

    added = _baton(env, "lessons", "add", "brief", "write", "Name the audience.")
    assert added.returncode == 0, added.stderr
    assert _baton(env, "lessons", "add", "brief", "nope", "x").returncode == 2
    edited = _baton(env, "lessons", "edit", lesson_id[:6], "Cite at least two sources.")
    assert edited.returncode == 0 and "Cite at least two sources." in edited.stdout
    assert _baton(env, "lessons", "edit", "zzzz", "x").returncode == 2

    # A later session's learning step carries the lessons, and its call names them.
    events = _run(env, tmp_path, ["approve"], "bats")
    (call,) = _write_calls(events)
    system = call["request"]["messages"][0]["content"]
    assert "- Cite at least two sources." in system and "- Name the audience." in system
    (started,) = [e for e in events if e["kind"] == "LLMCallStarted"]
    assert lesson_id in started["lessons"] and len(started["lessons"]) == 2

    removed = _baton(env, "lessons", "rm", lesson_id)
    assert removed.returncode == 0, removed.stderr
    assert [x["text"] for x in json.loads(_baton(env, "lessons", "--json").stdout)["lessons"]] == ["Name the audience."]
    (call,) = _write_calls(_run(env, tmp_path, ["approve"], "eels"))
    assert "Cite" not in call["request"]["messages"][0]["content"]

    # The person retries the dear model's answers on the cheap one, and approves those.
    for topic in ("moles", "voles", "stoats"):
        _run(env, tmp_path, [{"decision": "retry_model", "model": "cheap"}, "approve"], topic)
    report = json.loads(_baton(env, "routes", "brief", "--json").stdout)
    (step,) = report["steps"]
    by_alias = {m["alias"]: m for m in step["models"]}
    assert (by_alias["cheap"]["approved"], by_alias["cheap"]["decisions"]) == (3, 3)
    assert (by_alias["dear"]["approved"], by_alias["dear"]["retried"]) == (3, 3)
    assert (by_alias["dear"]["rejected"], step["current"], step["volume"]) == (1, "dear", 10)
    suggestion = step["suggestion"]
    assert (suggestion["alias"], suggestion["model"], suggestion["instead_of"]) == ("cheap", "mock/fast", "dear")
    assert suggestion["projected_savings_usd"] > 0
    text = _baton(env, "routes").stdout
    assert "→ use cheap (mock/fast) instead of dear" in text
    assert json.loads(_baton(env, "routes", "brief", "--json", "--min", "4").stdout)["steps"][0]["suggestion"] is None

    # A shadow run: the newest recorded request of the step, sent to the suggested model; recorded nowhere.
    before = _baton(env, "sessions", "--json").stdout.count("\n")
    live = _baton(env, "routes", "brief", "--live", "write", "--json")
    assert live.returncode == 0, live.stderr
    shadow = json.loads(live.stdout)
    assert (shadow["recorded"]["alias"], shadow["shadow"]["alias"], shadow["shadow"]["model"]) == (
        "dear",
        "cheap",
        "mock/fast",
    )
    assert shadow["recorded"]["text"] and shadow["shadow"]["text"]
    assert "stoats" in shadow["shadow"]["text"].lower(), "the same request: about the newest session's topic"
    side = _baton(env, "routes", "brief", "--live", "write", "--candidate", "dear").stdout
    assert "dear (mock/strong)" in side and "│" in side
    assert _baton(env, "sessions", "--json").stdout.count("\n") == before
    assert _baton(env, "routes", "--live", "write").returncode == 2

    applied = _baton(env, "routes", "brief", "--apply")
    assert applied.returncode == 0, applied.stderr
    assert "applied: alias dear → mock/fast" in applied.stdout
    config = tomllib.loads((private_home / "xdg_config_home" / "baton" / "config.toml").read_text())
    assert config["models"]["dear"] == "mock/fast"
    (call,) = _write_calls(_run(env, tmp_path, ["approve"], "newts"))
    assert (call["alias"], call["model"]) == ("dear", "mock/fast")
