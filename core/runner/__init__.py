"""The async runner: executes a workflow spec as a session, handing its events to a sink."""

from baton.core.runner.context import ConfigError, Paused, RealClock, RunOptions, Scope, SessionStop, Sink, StepOutcome
from baton.core.runner.engine import Runner, check_inputs, initial_state
from baton.core.runner.history import History
from baton.core.runner.tools import resolve_tools

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
