"""Starting, resuming and attaching to sessions: shared by the CLI, line mode and the TUI.

A session's runner runs in its own background process (so a viewer can come and go, like tmux); the
same host can also run in-process behind a `LocalBus`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from baton.core.config import Config, known_aliases, load_config
from baton.core.paths import log_path
from baton.core.runner import RunOptions, check_inputs
from baton.core.spec.load import Workflow, load_workflow
from baton.core.state import coerce_input
from baton.sessions.store import Store

EXIT_CODES = {"completed": 0, "failed": 1, "invalid": 2, "in_use": 3, "paused": 4, "cancelled": 4, "degraded": 5}


class LaunchError(Exception):
    """A session cannot be started as asked; `code` is the process exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def bundled_dir() -> Path:
    """Where the bundled workflows are installed."""
    return Path(str(resources.files("baton.flows")))


def bundled_flows() -> list[Path]:
    """The bundled workflow files."""
    return sorted(bundled_dir().glob("*.yaml"))


def local_flows(cwd: Path | None = None) -> list[Path]:
    """Workflow files in `./flows/` and the current directory."""
    base = cwd or Path.cwd()
    found = [*sorted((base / "flows").glob("*.yaml")), *sorted(base.glob("*.yaml"))]
    bundled = {p.resolve() for p in bundled_flows()}
    return [p for p in found if p.resolve() not in bundled]


def resolve_flow(name: str) -> Path:
    """A path, or the name of a bundled or local workflow (`demo`, `map`, ...)."""
    path = Path(name)
    if path.exists():
        return path
    for candidate in (bundled_dir() / f"{name}.yaml", Path("flows") / f"{name}.yaml", Path(f"{name}.yaml")):
        if candidate.exists():
            return candidate
    names = ", ".join(p.stem for p in bundled_flows())
    raise LaunchError(f"no workflow '{name}': not a file, and not a bundled one ({names})")


def missing_inputs(workflow: Workflow, values: Mapping[str, Any]) -> list[str]:
    """Required inputs that have no value and no default (what `baton run` asks for in a terminal)."""
    spec = workflow.spec
    return [
        key
        for key, decl in spec.inputs.items()
        if values.get(key) is None and decl.required and decl.default is None and spec.state[key].default is None
    ]


def parse_inputs(workflow: Workflow, pairs: list[str], allow_missing: bool = False) -> dict[str, Any]:
    """`key=value` pairs, typed by the workflow's state schema; every problem at once (a missing input is
    not one with `allow_missing`: the caller asks for it)."""
    spec = workflow.spec
    values: dict[str, Any] = {}
    problems: list[str] = []
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep:
            problems.append(f"--input {pair!r}: expected key=value")
            continue
        if key not in spec.state:
            problems.append(f"unknown input '{key}' (inputs: {', '.join(spec.inputs) or 'none'})")
            continue
        try:
            values[key] = coerce_input(raw, spec.state[key].type)
        except ValueError as exc:
            problems.append(f"input '{key}': {exc}")
    problems += [
        p
        for p in check_inputs(spec, values)
        if not p.startswith("unknown input") and not (allow_missing and p.startswith("missing input"))
    ]
    if problems:
        raise LaunchError("\n".join(problems))
    return values


def load_decisions(path: str) -> dict[str, Any]:
    """A decisions file: `{"step id": "approve" | {"decision": ..., ...} | [per round]}`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise LaunchError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise LaunchError(f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise LaunchError(f"{path}:1:1: a decisions file is a JSON object keyed by step id")
    return data


@dataclass
class Started:
    """A session that was created (and maybe started)."""

    session_id: str
    process: subprocess.Popen[bytes] | None = None


def spawn_runner(
    db: Path, session_id: str, options: RunOptions | None = None, models: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start the session's runner in the background, in its own process group, logging to its file."""
    args = [sys.executable, "-m", "baton.sessions.runner_main", "--db", str(db), "--session", session_id]
    if options is not None:
        args += ["--options", json.dumps(options.to_json())]
    for alias, model in (models or {}).items():
        args += ["--model", f"{alias}={model}"]
    log = open(log_path(session_id), "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    finally:
        log.close()


async def wait_started(
    store: Store, session_id: str, process: subprocess.Popen[bytes] | None, after_seq: int = 0, wait_s: float = 30.0
) -> None:
    """Wait until the runner has recorded its start (an event after `after_seq`), or say why it did not."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while loop.time() < deadline:
        if await store.last_seq(session_id) > after_seq:
            return
        if process is not None and process.poll() is not None:
            raise LaunchError(
                f"the runner exited with code {process.returncode} before starting; see {log_path(session_id)}", 1
            )
        await asyncio.sleep(0.03)
    raise LaunchError(f"the runner did not start within {wait_s:.0f}s; see {log_path(session_id)}", 1)


def config_or_exit() -> Config:
    """The config file, or a `LaunchError` naming its problem."""
    from baton.core.config import ConfigInvalid

    try:
        return load_config()
    except ConfigInvalid as exc:
        raise LaunchError(str(exc)) from None


def load_flow(name: str, config: Config) -> Workflow:
    """Resolve and load a workflow, or raise `LaunchError` with every problem."""
    from baton.core.spec.problems import WorkflowInvalid

    path = resolve_flow(name)
    try:
        return load_workflow(path, known_aliases(config))
    except WorkflowInvalid as exc:
        raise LaunchError(str(exc)) from None


def user_name() -> str:
    """Who decisions are recorded as made by."""
    return os.environ.get("BATON_USER") or os.environ.get("USER") or "user"
