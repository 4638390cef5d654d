"""Finding workflows and starting runners, as the UI imports them: the application layer's own
functions (`sessions.app`), under the names the screens and commands use."""

from __future__ import annotations

from baton.sessions.app import (
    EXIT_CODES,
    bundled_dir,
    bundled_flows,
    decided_from,
    load_decisions,
    load_flow,
    local_flows,
    missing_inputs,
    parse_inputs,
    resolve_flow,
    spawn_runner,
    user_name,
    wait_started,
)
from baton.sessions.app import config as config_or_exit
from baton.sessions.errors import AppError as LaunchError

__all__ = [
    "EXIT_CODES",
    "LaunchError",
    "bundled_dir",
    "bundled_flows",
    "decided_from",
    "config_or_exit",
    "load_decisions",
    "load_flow",
    "local_flows",
    "missing_inputs",
    "parse_inputs",
    "resolve_flow",
    "spawn_runner",
    "user_name",
    "wait_started",
]
