"""The async runner: executes a workflow spec as a session, handing its events to a sink.

The names below are loaded on first use: a command that only needs `RunOptions` (every `baton run`
before it hands the session to a host) does not pay for the engine, its step kinds and their tools.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from baton.core.runner.context import (
        ConfigError,
        Paused,
        RealClock,
        RunOptions,
        Scope,
        SessionStop,
        Sink,
        StepOutcome,
    )
    from baton.core.runner.engine import Runner, initial_state
    from baton.core.runner.history import History
    from baton.core.runner.session_inputs import check_inputs
    from baton.core.runner.tools import resolve_tools

_HOMES = {
    "ConfigError": "context",
    "History": "history",
    "Paused": "context",
    "RealClock": "context",
    "RunOptions": "context",
    "Runner": "engine",
    "Scope": "context",
    "SessionStop": "context",
    "Sink": "context",
    "StepOutcome": "context",
    "check_inputs": "session_inputs",
    "initial_state": "engine",
    "resolve_tools": "tools",
}

__all__ = [
    "ConfigError",
    "History",
    "Paused",
    "RealClock",
    "RunOptions",
    "Runner",
    "Scope",
    "SessionStop",
    "Sink",
    "StepOutcome",
    "check_inputs",
    "initial_state",
    "resolve_tools",
]


def __getattr__(name: str) -> Any:
    """Load an exported name from the module that defines it (a submodule such as `prompts` is imported
    by the import system itself when this raises)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
