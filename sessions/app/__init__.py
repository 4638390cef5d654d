"""The application layer: start, resume, attach, decide, fork, list and delete sessions, once for every
front end (the CLI, the Home screen, line mode). It never imports a UI.
"""

from __future__ import annotations

from baton.sessions.app.inputs import (
    decided_from,
    load_decisions,
    missing_inputs,
    model_overrides,
    parse_inputs,
    read_text_file,
    run_options,
    text_value,
    user_name,
)
from baton.sessions.app.runners import (
    EXIT_CODES,
    InProcessRunners,
    ProcessRunners,
    Runners,
    Started,
    exit_code,
    spawn_runner,
    wait_started,
)
from baton.sessions.app.service import (
    Decided,
    Forked,
    Opened,
    Plan,
    SessionEntry,
    Sessions,
    load_for_run,
    plan_run,
)
from baton.sessions.app.workflows import bundled_dir, bundled_flows, config, load_flow, local_flows, resolve_flow

__all__ = [
    "EXIT_CODES",
    "Decided",
    "Forked",
    "InProcessRunners",
    "Opened",
    "Plan",
    "ProcessRunners",
    "Runners",
    "SessionEntry",
    "Sessions",
    "Started",
    "bundled_dir",
    "bundled_flows",
    "config",
    "decided_from",
    "exit_code",
    "load_decisions",
    "load_flow",
    "local_flows",
    "model_overrides",
    "missing_inputs",
    "parse_inputs",
    "load_for_run",
    "plan_run",
    "read_text_file",
    "resolve_flow",
    "run_options",
    "spawn_runner",
    "text_value",
    "user_name",
    "wait_started",
]
