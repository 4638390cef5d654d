"""The README's quickstart examples, run exactly as printed (inputs included) through the real `baton`
command, each asserted to take the path the README describes: a research question goes through the
fan-out, the writer's review and the gate; a simple question gets the quick answer and nothing to review.

A terminal would be needed to answer checkpoints, so `--auto approve` (and `--json`, where the example has
no viewer flag of its own) is appended; the path taken is read back with `baton show --json`.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, baton_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

README = ROOT / "README.md"
RESEARCH = "research"
QUICK = "quick"
EXPECTED = {
    'baton run demo --input topic="heat pumps in cold climates"': RESEARCH,
    'baton run demo --input topic="what is a heat pump?"': QUICK,
    "baton run demo --line": RESEARCH,
    "baton run demo --auto approve --json": RESEARCH,
    "baton step demo": RESEARCH,
    "baton run demo --detach": RESEARCH,
}
"""Every example in the quickstart block that starts a session of the demo, and the path it takes."""


def quickstart_commands() -> list[str]:
    """The commands of the README's quickstart block that start a demo session, as printed."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            command = line.split(" #", 1)[0].strip()
            if re.match(r"^baton (run|step) demo\b", command):
                commands.append(command)
    return commands


def test_every_quickstart_run_is_covered() -> None:
    assert sorted(quickstart_commands()) == sorted(EXPECTED)


def _argv(command: str) -> list[str]:
    args = shlex.split(command)[1:]
    if "--auto" not in args:
        args += ["--auto", "approve"]
    if not {"--json", "--line"} & set(args) and "--detach" not in args:
        args.append("--json")
    return args


def _session_of(command: str, out: str) -> str:
    if "--detach" in command:
        return out.strip().splitlines()[-1]
    if "--line" in command:
        found = re.search(r"session ([0-9a-f]{8})", out)
        assert found, out
        return found.group(1)
    return str(json.loads(out.splitlines()[0])["session_id"])


def _assert_path(view: dict[str, Any], path: str, command: str) -> None:
    steps = {s["path"]: s for s in view["steps"].values()}
    status = {p: s["status"] for p, s in steps.items()}
    reasons = sorted(c["reason"] for c in view["checkpoints"].values())
    assert view["status"] == "completed", (command, view["status"], view["error"])
    if path == RESEARCH:
        assert status["triage"] == "completed" and view["state"]["route"] == "complex", command
        assert status["quick_answer"] == "skipped", command
        assert [status[f"research/{b}"] for b in ("papers", "news", "critics")] == ["completed"] * 3, command
        assert status["write"] == "completed" and status["publish"] == "completed", command
        assert "review" in reasons and "tool_call" in reasons, (command, reasons)
        assert view["state"]["draft"] and not view["state"].get("answer"), command
    else:
        assert view["state"]["route"] == "simple", command
        assert status["quick_answer"] == "completed", command
        assert all(status[s] == "skipped" for s in ("research", "write", "publish")), (command, status)
        assert reasons == [], (command, reasons)
        assert view["state"]["answer"], command


def test_quickstart_examples_take_the_documented_path(private_home: Path, db_path: Path, tmp_path: Path) -> None:
    env = {**baton_env(private_home, db_path), "PYTHONPATH": str(ROOT)}
    env.pop("BATON_LINE", None)

    def baton(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "baton", *args],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    # Started together: each example paces its offline model like a real one, and they are independent.
    running = {command: baton(*_argv(command)) for command in EXPECTED}
    sessions: dict[str, str] = {}
    for command, process in running.items():
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, (command, err)
        sessions[command] = _session_of(command, out)
    for command in EXPECTED:
        if "--detach" in command:
            attached = baton("attach", sessions[command], "--json")
            _, err = attached.communicate(timeout=240)
            assert attached.returncode == 0, (command, err)
    for command, path in EXPECTED.items():
        shown = baton("show", sessions[command], "--json")
        out, err = shown.communicate(timeout=60)
        assert shown.returncode == 0, err
        _assert_path(json.loads(out), path, command)

    # The brief is the result, as the README's `baton result <session> > brief.md` prints it.
    research = sessions['baton run demo --input topic="heat pumps in cold climates"']
    result = baton("result", research)
    brief, _ = result.communicate(timeout=60)
    assert result.returncode == 0 and "heat pumps in cold climates" in brief
