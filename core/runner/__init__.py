"""The async runner: executes a workflow spec as a session, emitting events to a sink."""

from baton.core.runner.context import Paused, RealClock, RunOptions, Scope, SessionStop, Sink, StepOutcome
from baton.core.runner.engine import Runner, check_inputs, initial_state, resolve_tools
from baton.core.runner.history import History
from baton.core.runner.runtime import ConfigError

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
