"""A small MCP server bundled with baton: what the notes beside it hold, over stdio.

Run by the `agent_tools` workflow as `python notes_server.py`. Its tools only read, and say so
(`readOnlyHint`), so an agent calls them without asking.
"""

from __future__ import annotations

from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

NOTES = Path(__file__).resolve().parent / "notes"
server = MCPServer("baton-notes", version="1.0", log_level="WARNING")


@server.tool(annotations=ToolAnnotations(title="List the notes", read_only_hint=True), structured_output=False)
def list_notes() -> str:
    """The notes there are, one per line: name and title."""
    lines = []
    for path in sorted(NOTES.glob("*.md")):
        title = path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
        lines.append(f"{path.stem}: {title}")
    return "\n".join(lines)


@server.tool(annotations=ToolAnnotations(title="Count words", read_only_hint=True), structured_output=False)
def word_count(text: str) -> str:
    """How many words and characters a text has."""
    return f"{len(text.split())} words, {len(text)} characters"


if __name__ == "__main__":
    server.run()
