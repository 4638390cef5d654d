"""What baton keeps of an MCP server's answers: tool listings as `ServerTool`s, tool results as JSON, and
the environment a server is started with. Pure functions over the SDK's types, tested without a server."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import mcp.types as types

from baton.core.secrets import MIN_SECRET_LEN

ANNOTATION_KEYS = ("title", "readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")
"""The tool annotations the specification defines; anything else a server sends is dropped."""

_REFERENCE_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class ServerTool:
    """A tool as an MCP server lists it."""

    name: str
    """As the server names it."""
    description: str
    input_schema: dict[str, Any]
    """JSON schema of the arguments."""
    annotations: dict[str, Any] = field(default_factory=dict)
    """readOnlyHint, destructiveHint, idempotentHint, openWorldHint, title — only those the server gave."""


class McpCallError(Exception):
    """A call that failed: the tool reported an error, timed out, or its server died or could not start."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
        """The end of a sentence about the tool: "failed: …", "timed out after 3s", "server 'x' exited …"."""


def server_tool(tool: types.Tool) -> ServerTool:
    """The listing of one tool. A title given beside the annotations counts as the annotation's."""
    given = tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else {}
    annotations = {key: given[key] for key in ANNOTATION_KEYS if key in given}
    if "title" not in annotations and tool.title:
        annotations["title"] = tool.title
    return ServerTool(
        name=tool.name,
        description=tool.description or "",
        input_schema=dict(tool.input_schema),
        annotations=annotations,
    )


def result_json(result: types.CallToolResult) -> Any:
    """A tool's result as JSON: its structured content when given, else its contents as text. A lone
    `{"result": value}` is `value` (SDK-built servers wrap a function's plain return value so).

    A result marked as an error raises `McpCallError("failed: <its text>")`."""
    if result.is_error:
        text = contents_text(result.content)
        raise McpCallError(f"failed: {text}" if text else "failed (the server gave no message)")
    structured = result.structured_content
    if structured is not None:
        if isinstance(structured, dict) and list(structured) == ["result"]:
            return structured["result"]
        return structured
    return contents_text(result.content)


def contents_text(content: list[types.ContentBlock]) -> str:
    """Text items as they are, one per line; anything else as a placeholder naming its kind."""
    return "\n".join(content_text(item) for item in content)


def content_text(item: types.ContentBlock) -> str:
    if isinstance(item, types.TextContent):
        return item.text
    if isinstance(item, types.ImageContent):
        return f"[image: {item.mime_type}]"
    if isinstance(item, types.AudioContent):
        return f"[audio: {item.mime_type}]"
    if isinstance(item, types.ResourceLink):
        return f"[resource link: {item.uri}]"
    if isinstance(item, types.EmbeddedResource):
        resource = item.resource
        if isinstance(resource, types.TextResourceContents):
            return resource.text
        return f"[resource: {resource.uri} ({resource.mime_type or 'binary'})]"
    kind = getattr(item, "type", type(item).__name__)
    return f"[{kind}]"


class UnsetReference(ValueError):
    """A `${VAR}` in a server's env or headers names a variable the runner's environment lacks."""


def expand(values: Mapping[str, str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Replace each `${VAR}` in the values with the runner's environment variable; `$$` is not special."""
    env = os.environ if environ is None else environ

    def one(key: str, value: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise UnsetReference(f"'{key}' refers to ${{{name}}}, which is not set")
            return env[name]

        return _REFERENCE_RE.sub(replace, value)

    return {key: one(key, value) for key, value in values.items()}


def secrets_in(values: Mapping[str, str], environ: Mapping[str, str] | None = None) -> list[str]:
    """What must never reach a log: each value as expanded, and each referenced variable's own value."""
    env = os.environ if environ is None else environ
    found = set(expand(values, env).values())
    for value in values.values():
        found.update(env[name] for name in _REFERENCE_RE.findall(value) if name in env)
    return sorted((v for v in found if len(v) >= MIN_SECRET_LEN), key=len, reverse=True)
