"""`baton validate` imports a workflow's tools (the workflow's folder first on the import path, as the
runner has it) and reports one that cannot be loaded at its `call:` field, exit 2 — before, such a file
passed and its run failed at the start. A run refuses it the same way, before creating a session."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from baton.core.spec.load import load_workflow
from baton.core.spec.tool_check import tool_findings
from tests.conftest import ROOT, baton_env

FLOW = """\
name: tools
state:
  text: {type: str, default: "hello"}
  a: {type: any}
  b: {type: any}
  c: {type: any}
  d: {type: any}
  e: {type: any}
steps:
  - {id: missing_module, kind: tool, call: "nosuchmod:fn", side_effects: false, writes: [a]}
  - {id: typo, kind: tool, call: "shop_tools:publsh", side_effects: false, writes: [b]}
  - {id: broken, kind: tool, call: "broken_tools:run", side_effects: false, writes: [c]}
  - {id: fine, kind: tool, call: "shop_tools:publish", side_effects: false, writes: [d]}
  - {id: value, kind: tool, call: "shop_tools:RATE", side_effects: false, writes: [e]}
"""


def folder_with_tools(tmp_path: Path) -> Path:
    (tmp_path / "shop_tools.py").write_text("RATE = 3\n\ndef publish(text=''):\n    return text\n", encoding="utf-8")
    (tmp_path / "broken_tools.py").write_text("import json\nraise ValueError('no config found')\n", encoding="utf-8")
    (tmp_path / "tools.yaml").write_text(FLOW, encoding="utf-8")
    return tmp_path / "tools.yaml"


def baton(home: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baton", *args],
        cwd=ROOT,
        env={**baton_env(home, tmp_path / "baton.db"), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_validate_reports_each_tool_that_cannot_be_loaded(private_home: Path, tmp_path: Path) -> None:
    flow = folder_with_tools(tmp_path)
    out = baton(private_home, tmp_path, "validate", str(flow))
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout.splitlines() == [
        f"{flow}:10:44: tool 'nosuchmod:fn' cannot be loaded: no module named 'nosuchmod' "
        f"(looked in {tmp_path} and the installed packages)",
        f"{flow}:11:34: tool 'shop_tools:publsh' cannot be loaded: 'shop_tools' has no 'publsh' "
        "(did you mean 'publish'?)",
        f"{flow}:12:36: tool 'broken_tools:run' cannot be loaded: importing 'broken_tools' raised ValueError: "
        "no config found",
        f"{flow}:14:35: tool 'shop_tools:RATE' cannot be loaded: 'RATE' in 'shop_tools' is not a function (it is int)",
    ]
    assert "shop_tools" not in sys.modules, "tools are imported in a child process"


def test_a_run_refuses_it_before_creating_a_session(private_home: Path, tmp_path: Path) -> None:
    flow = folder_with_tools(tmp_path)
    out = baton(private_home, tmp_path, "run", str(flow), "--auto", "approve", "--json")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"{flow}:10:44: tool 'nosuchmod:fn' cannot be loaded")
    assert not (tmp_path / "baton.db").exists()


def test_a_tool_module_that_hangs_or_exits_does_not_take_validate_with_it(tmp_path: Path) -> None:
    (tmp_path / "slow_tools.py").write_text("import time\ntime.sleep(600)\ndef go(): pass\n", encoding="utf-8")
    (tmp_path / "exit_tools.py").write_text("import os\nos._exit(7)\n", encoding="utf-8")
    (tmp_path / "t.yaml").write_text(
        "name: t\nstate: {a: any}\nsteps:\n"
        "  - {id: slow, kind: tool, call: 'slow_tools:go', side_effects: false, writes: [a]}\n",
        encoding="utf-8",
    )
    spec = load_workflow(tmp_path / "t.yaml").spec
    started = time.monotonic()
    ((path, message),) = tool_findings(spec, str(tmp_path), timeout_s=1.0)
    assert time.monotonic() - started < 30
    assert path == ("steps", 0, "call")
    assert message == (
        "tool 'slow_tools:go' cannot be loaded: importing it took more than 1s "
        "(a tool module should not do work when imported)"
    )
    (tmp_path / "t.yaml").write_text(
        "name: t\nstate: {a: any}\nsteps:\n"
        "  - {id: gone, kind: tool, call: 'exit_tools:go', side_effects: false, writes: [a]}\n",
        encoding="utf-8",
    )
    ((_, message),) = tool_findings(load_workflow(tmp_path / "t.yaml").spec, str(tmp_path))
    assert message == "tool 'exit_tools:go' cannot be loaded: importing it stopped the process (exit code 7)"


def test_the_bundled_tools_load(private_home: Path, tmp_path: Path) -> None:
    out = baton(private_home, tmp_path, "validate", "tool", "map")
    assert out.returncode == 0, out.stdout
