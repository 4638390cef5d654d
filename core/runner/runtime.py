"""What the parts of one run share: the seams, the run state, the journal, the checkpoint inbox, the guards.

Built once by the engine, complete at construction: nothing is attached to it afterwards. Navigation
questions (where a person may reroute, what a skip takes away) are answered by `navigation`'s pure
functions over the spec and this run's state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from baton.core.learn.lessons import StepLessons, pinned
from baton.core.llm.types import LLMClient, LLMRequest
from baton.core.policy.rules import rules_in_force
from baton.core.runner import navigation, prompts
from baton.core.runner.checkpoints import Checkpoints
from baton.core.runner.context import Clock, ConfigError, RunOptions, Sink
from baton.core.runner.guards import Breakers, Ledger
from baton.core.runner.history import History
from baton.core.runner.journal import Journal
from baton.core.runner.replay import ToolReplay
from baton.core.runner.run_state import RunState
from baton.core.runner.shape import CallShape, build_request, model_for, retarget
from baton.core.runner.toolbox import Grants
from baton.core.runner.tools import ToolRunner
from baton.core.secrets import Redactor, default_redactor
from baton.core.spec.load import Workflow
from baton.core.spec.model import ModelSpec

if TYPE_CHECKING:
    from baton.core.mcp.servers import McpServers

Asker = Callable[[str, dict[str, Any]], Awaitable["dict[str, Any] | None"]]


class Runtime:
    """Everything the steps share for one run of one session."""

    def __init__(
        self,
        session_id: str,
        workflow: Workflow,
        models: dict[str, ModelSpec],
        llm: LLMClient,
        sink: Sink,
        clock: Clock,
        options: RunOptions,
        history: History,
        redactor: Redactor | None = None,
        state: RunState | None = None,
    ) -> None:
        self.session_id = session_id
        self.workflow = workflow
        self.spec = workflow.spec
        self.models = models
        self.llm = llm
        self.clock = clock
        self.options = options
        self.history = history
        self.redact = redactor or default_redactor()
        self.state = state or RunState.new(self.spec, options, history)
        self.journal = Journal(sink, self.state)
        started = history.started.options if history.started is not None else None
        self.checkpoints = Checkpoints(
            self.journal,
            self.state,
            self.spec,
            models,
            options,
            history.opened,
            history.decisions,
            self.redact,
            rules_in_force(started, options.rules),
        )
        self.lessons = StepLessons(pinned(started, options.lessons))
        """The lessons of learning steps, as the session recorded them when it started."""
        self.breakers = Breakers(options.breaker_threshold, options.breaker_cooldown_s)
        self.ledger = Ledger()
        self.session_cap = (
            options.max_usd if options.max_usd is not None else (self.spec.budget.max_usd if self.spec.budget else None)
        )
        self.limit = asyncio.Semaphore(self.spec.defaults.concurrency)
        """The session-wide limit on model calls in flight (`defaults.concurrency`)."""
        self.tool_runner = ToolRunner(self.journal, clock, self.redact)
        self.tools = ToolReplay(self.tool_runner, history.tool_results, history.intents)
        self.asking: dict[str, list[Asker]] = {}
        """Per MCP server, the calls in flight that would put a question from it to a person."""
        self.grants = Grants(history.grants)
        """Tools a person allowed for the rest of the session."""

    @functools.cached_property
    def mcp(self) -> McpServers:
        """The MCP servers agents use: started when first needed, stopped when the run ends. The SDK is
        imported only by a run that uses a server."""
        from baton.core.mcp.servers import McpServers

        return McpServers(log=logging.getLogger("baton.mcp").info, on_elicit=self._question)

    async def _question(self, server: str, message: str, schema: dict[str, Any]) -> dict[str, Any] | None:
        """A server's question to the person, put by the call in flight on that server (None: declined)."""
        askers = self.asking.get(server)
        if not askers:
            return None
        return await askers[-1](message, schema)

    async def close(self) -> None:
        """Stop what the run started (its MCP servers)."""
        if "mcp" in self.__dict__:
            await self.mcp.aclose()

    # --- navigation over this run's state --------------------------------------------------------

    def reroute_targets(self, path: str, ran: bool = True) -> list[str]:
        """Top-level steps a person may jump to from `path` (see `navigation.reroute_targets`)."""
        return navigation.reroute_targets(self.spec, self.state.state, path, ran)

    def skip_needs(self, path: str) -> list[str]:
        """Keys a person must supply to skip the step at `path` (see `navigation.skip_needs`)."""
        return navigation.skip_needs(self.spec, self.state.state, path)

    # --- models ----------------------------------------------------------------------------------

    def model_spec(self, alias: str) -> ModelSpec:
        """What an alias points at; a literal `provider/model` works without an alias."""
        spec = model_for(self.models, alias)
        if spec is None:
            raise ConfigError(f"unknown model alias '{alias}'")
        return spec

    def request(self, call: CallShape, alias: str, user: str) -> LLMRequest:
        """The request for `call` on `alias` with this user message (see `shape.build_request`); a learning
        step's system prompt carries its lessons."""
        lessons = self.lessons.of(call.path)
        if lessons:
            call = dataclasses.replace(call, system=prompts.with_lessons(call.system, [x["text"] for x in lessons]))
        return build_request(call, alias, self.model_spec(alias), self.spec.defaults, user)

    def request_for(self, alias: str, base: LLMRequest) -> LLMRequest:
        """The same request sent to another alias (fallbacks)."""
        return retarget(base, alias, self.model_spec(alias))

    def window(self, alias: str) -> int | None:
        """The context window of an alias's model, when known."""
        spec = self.model_spec(alias)
        return spec.context_window or self.llm.context_window(spec.model)

    def forecasts(self, request: LLMRequest | None) -> dict[str, Any]:
        """Cost range of `request` on every known alias (for 'retry on another model')."""
        if request is None:
            return {}
        out: dict[str, Any] = {}
        for alias in sorted(self.models):
            try:
                _, rng = self.llm.forecast(self.request_for(alias, request))
            except Exception:
                rng = None
            out[alias] = [round(rng[0], 8), round(rng[1], 8)] if rng else None
        return out

    # --- pause -----------------------------------------------------------------------------------

    def pause(self, reason: str) -> None:
        """Stop starting steps; waiting checkpoints stop waiting; running calls finish first."""
        self.checkpoints.pause(reason)

    def check_pause(self) -> None:
        """Raise `Paused` at a safe point if a pause was asked for."""
        self.checkpoints.check_pause()
