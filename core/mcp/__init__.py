"""baton's client of MCP servers, on the official `mcp` SDK: start a server when a step first needs it,
list its tools, call them, and stop it with the runner. Knows nothing of the runner, the store or the UI.

The SDK (`mcp` 2.3) negotiates the protocol with each server: it offers the per-request revision
`2026-07-28` first (`server/discover`) and falls back to the `initialize` handshake of `2025-11-25`,
`2025-06-18`, `2025-03-26` or `2024-11-05`.
"""

from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from baton.core.mcp.results import McpCallError, ServerTool
from baton.core.mcp.servers import ElicitHandler, McpServers

PROTOCOL_VERSIONS: tuple[str, ...] = (*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS)
"""Every protocol revision the client speaks, oldest first."""

__all__ = ["PROTOCOL_VERSIONS", "ElicitHandler", "McpCallError", "McpServers", "ServerTool"]
