"""What an agent may call: Python functions, the tools of MCP servers, and (in `model.py`, as it nests a
step) other agents. Each entry says where its tools come from and when a person approves a call."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TOOL_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
"""A tool name a model can call (the providers' common limit)."""


LAUNCHERS = frozenset({"python", "node", "uvx", "npx", "uv", "bun", "deno", "pipx"})
"""Programs that start a server named by their first argument (`python server.py`, `uvx mcp-server-git`)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ApprovalWhen(_Strict):
    """Ask when an expression over the call's arguments is true (`{when: "path.startswith('/')"}`)."""

    when: str


Approval = Literal["always", "never", "default"] | ApprovalWhen
"""`always` asks before every call, `never` runs without asking, `default` asks for tools with side
effects (an MCP tool: unless it is marked read-only), `{when: ...}` asks when the expression is true."""


def check_tool_name(value: str | None) -> str | None:
    if value is not None and not TOOL_NAME_RE.match(value):
        raise ValueError(
            f"tool name '{value}' must start with a letter or '_' and use letters, digits, '_' or '-' (≤ 64)"
        )
    return value


class FunctionTool(_Strict):
    """A Python callable, `call: "module:function"`; its schema comes from its signature and docstring."""

    call: str
    name: str | None = None
    description: str | None = None
    side_effects: bool = True
    destructive: bool = False
    """It may destroy what it touches (as MCP's `destructiveHint` says): no approval rule runs it unasked."""
    timeout_s: float | None = Field(default=None, gt=0)
    approval: Approval = "default"
    max_result_chars: int | None = Field(default=None, ge=100)
    args: dict[str, Any] = Field(default_factory=dict)
    """Arguments the workflow gives from the step's reads (`{text: "{draft}"}`): the model neither sees
    nor sets them; a person approving the call sees them."""

    @field_validator("call")
    @classmethod
    def _call_shape(cls, value: str) -> str:
        module, sep, attr = value.partition(":")
        if not sep or not module or not attr:
            raise ValueError(f"'call' must be 'module:function', not '{value}'")
        return value

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str | None) -> str | None:
        return check_tool_name(value)

    @model_validator(mode="after")
    def _destructive_has_effects(self) -> FunctionTool:
        if self.destructive and not self.side_effects:
            raise ValueError("a tool marked 'destructive' has side effects (drop 'side_effects: false')")
        return self

    @property
    def tool_name(self) -> str:
        """The name the model calls it by."""
        return self.name or self.call.partition(":")[2].split(".")[-1]


class McpServer(_Strict):
    """How to reach an MCP server: a command over stdio, or a URL (streamable HTTP)."""

    command: list[str] | None = Field(default=None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    name: str | None = None

    @field_validator("command", mode="before")
    @classmethod
    def _command_shorthand(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://", value):
            raise ValueError(f"'url' must start with http:// or https://, not '{value}'")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> McpServer:
        if (self.command is None) == (self.url is None):
            raise ValueError("an MCP server needs exactly one of 'command' (stdio) or 'url' (streamable HTTP)")
        if self.url is not None and (self.env or self.cwd):
            raise ValueError("'env' and 'cwd' apply to a server started by 'command', not one reached by 'url'")
        return self

    @property
    def label(self) -> str:
        """The server's name in the transcript: `name`, else the command's program or the URL's host."""
        if self.name:
            return self.name
        if self.command:
            program = self.command[0].rsplit("/", 1)[-1]
            if program.split(".")[0].rstrip("0123456789.") in LAUNCHERS:
                args = [a for a in self.command[1:] if not a.startswith("-") and a not in ("run", "exec")]
                if args:
                    return args[0].rsplit("/", 1)[-1].removesuffix(".py").removesuffix(".js")
            return program
        assert self.url is not None
        return self.url.split("//", 1)[-1].split("/", 1)[0]

    def key(self) -> str:
        """One server process per session per distinct configuration."""
        return repr((self.command, sorted(self.env.items()), self.cwd, self.url, sorted(self.headers.items())))


class McpTools(_Strict):
    """The tools of one MCP server, filtered (`include` / `exclude`, names as the server gives them) and
    optionally renamed with a `prefix`. `approval` overrides the default the server's annotations set."""

    mcp: McpServer
    include: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    prefix: str = ""
    approval: Approval | None = None
    timeout_s: float | None = Field(default=60.0, gt=0)
    max_result_chars: int | None = Field(default=None, ge=100)

    @field_validator("prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if value and not re.match(r"^[A-Za-z_][A-Za-z0-9_\-]{0,30}$", value):
            raise ValueError(f"'prefix' must be letters, digits, '_' or '-', not '{value}'")
        return value

    def exposed(self, server_name: str) -> str | None:
        """The name the model sees for a server tool, or None when the filters leave it out."""
        if self.include is not None and server_name not in self.include:
            return None
        if server_name in self.exclude:
            return None
        return f"{self.prefix}{server_name}"
