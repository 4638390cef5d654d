"""What gets imported where, checked in fresh interpreters (never with mocks):

- `core` and `sessions` (every module) never load textual, rich or prompt_toolkit;
- nothing but the gateway's lazy loader pulls in litellm;
- `baton --help`, `baton validate`, `baton run --detach` and viewers attaching to a session (line mode
  and `--json`) never import litellm: `python -X importtime` lists every module the real command
  imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, baton_env

UI = ("textual", "rich", "prompt_toolkit")
PROBE = """
import importlib, json, pkgutil, sys
names = []
for package in ("baton.core", "baton.sessions"):
    root = importlib.import_module(package)
    names.append(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        if info.name in sys.argv[1:]:
            continue
        importlib.import_module(info.name)
        names.append(info.name)
loaded = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"imported": names, "loaded": loaded}))
"""


def _probe(*skip: str) -> dict[str, list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *skip], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return dict(json.loads(out.stdout))


def test_core_and_sessions_never_import_a_ui_library_nor_litellm() -> None:
    result = _probe("baton.core.llm.offline_provider")
    assert "baton.sessions.store" in result["imported"] and "baton.core.runner.engine" in result["imported"]
    assert "baton.core.llm.gateway" in result["imported"] and "baton.sessions.runner_main" in result["imported"]
    for name in (*UI, "litellm"):
        assert name not in result["loaded"], f"{name} was imported by core/sessions"


def test_the_offline_provider_loads_litellm_but_no_ui() -> None:
    """The provider is loaded only by the gateway's lazy loader, with litellm. (litellm's httpx pulls in
    rich through its own command-line module, so rich is not checked here.)"""
    result = _probe()
    assert "baton.core.llm.offline_provider" in result["imported"] and "litellm" in result["loaded"]
    for name in ("textual", "prompt_toolkit"):
        assert name not in result["loaded"], f"{name} was imported with the offline provider"


def _imported_by(args: list[str], env: dict[str, str], cwd: Path = ROOT, timeout: float = 120) -> tuple[set[str], str]:
    """Top-level modules the real `baton` command imported (from `-X importtime`), and its stdout."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "baton.tui.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode in (0, 4), (args, out.returncode, out.stderr[-2000:])
    modules = set()
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                modules.add(name.split(".")[0])
    assert "click" in modules, "importtime output was not captured"
    return modules, out.stdout


def test_help_and_validate_never_import_litellm(db_path: Path, private_home: Path, tmp_path: Path) -> None:
    env = baton_env(private_home, db_path)
    for args in (["--help"], ["run", "--help"], ["validate", "demo"], ["validate", str(ROOT / "flows" / "map.yaml")]):
        modules, _ = _imported_by(args, env, cwd=tmp_path)
        assert "litellm" not in modules, f"baton {' '.join(args)} imported litellm"
        assert "textual" not in modules, f"baton {' '.join(args)} imported textual"


@pytest.mark.slow
def test_viewers_never_import_litellm(db_path: Path, private_home: Path, tmp_path: Path) -> None:
    env = baton_env(private_home, db_path, BATON_LINE="1")
    modules, stdout = _imported_by(["run", "agent", "--auto", "approve", "--detach"], env, cwd=tmp_path)
    assert "litellm" not in modules, "baton run --detach imported litellm"
    session = stdout.strip().splitlines()[-1]

    modules, stdout = _imported_by(["attach", session, "--line"], env, cwd=tmp_path)
    assert "litellm" not in modules, "the line viewer imported litellm"
    assert "rich" in modules, "the line viewer did not run"
    assert "completed" in stdout

    modules, stdout = _imported_by(["attach", session, "--json"], env, cwd=tmp_path)
    assert "litellm" not in modules, "the --json viewer imported litellm"
    assert json.loads(stdout.splitlines()[-1])["kind"] == "SessionCompleted"

    for args in (["sessions"], ["show", session], ["show", session, "--json"]):
        modules, _ = _imported_by(args, env, cwd=tmp_path)
        assert "litellm" not in modules, f"baton {' '.join(args)} imported litellm"


RUN_PATH = (
    "baton.tui.cli",
    "baton.tui.commands.run",
    "baton.tui.commands.common",
    "baton.tui.line.inputs",
    "baton.tui.jsonl",
    "baton.sessions.app",
    "baton.sessions.app.hosting",
    "baton.sessions.open",
)
"""What `baton run FLOW --json` imports before it hands its session to a runner host and views it."""
NOT_ON_RUN_PATH = (*UI, "litellm", "jsonschema", "baton.core.runner.engine", "baton.sessions.host")
"""Loaded by the host that runs the session, or by a terminal prompt, never by the command that starts it."""


def test_starting_a_run_loads_neither_the_runner_nor_a_terminal_library() -> None:
    probe = (
        "import importlib, json, sys\n"
        f"for name in {RUN_PATH!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(out.stdout))
    assert "baton.core.runner" in loaded and "baton.core.spec.load" in loaded
    for name in NOT_ON_RUN_PATH:
        assert name not in loaded, f"importing the modules of `baton run --json` loaded {name}"


@pytest.mark.slow
def test_run_json_imports_neither_the_runner_nor_a_terminal_library(
    db_path: Path, private_home: Path, tmp_path: Path
) -> None:
    """The real command, to its end: what it imports while it starts, hands over and views a session."""
    env = baton_env(private_home, db_path)
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "baton.tui.cli", "run", "agent", "--json", "--auto", "approve"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1])["kind"] == "SessionCompleted"
    imported = {line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "baton.tui.jsonl" in imported, "importtime output was not captured"
    for name in NOT_ON_RUN_PATH:
        assert name not in imported, f"baton run --json imported {name}"
