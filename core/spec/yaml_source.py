"""Hostile-input-safe YAML reading that remembers where every key and value came from.

The file is size-capped before parsing, decoded as strict UTF-8, composed (never constructed) by PyYAML's
safe machinery, and turned into plain Python values by our own walk, which rejects any tag outside the
YAML core schema (`!!python/...` among them), caps alias uses and the expanded node count (alias bombs),
and records a 1-based (line, col) for every key and value path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 1_048_576
MAX_ALIASES = 64
MAX_NODES = 100_000

Path = tuple[str | int, ...]

_CORE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


class SourceError(Exception):
    """The file cannot be read as a workflow document at all."""

    def __init__(self, message: str, line: int = 1, col: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


@dataclass
class Positions:
    """Where each value (and each mapping key) of the document starts, 1-based."""

    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def value(self, path: Path) -> tuple[int, int]:
        """Position of the value at `path`, or of its nearest ancestor that has one."""
        return self._nearest(self.values, path)

    def key(self, path: Path) -> tuple[int, int]:
        """Position of the key naming `path`, falling back to the value's position."""
        if path in self.keys:
            return self.keys[path]
        return self.value(path)

    @staticmethod
    def _nearest(table: dict[Path, tuple[int, int]], path: Path) -> tuple[int, int]:
        for cut in range(len(path), -1, -1):
            pos = table.get(path[:cut])
            if pos is not None:
                return pos
        return (1, 1)


class _CountingLoader(yaml.SafeLoader):
    """A safe loader that counts aliases while composing (constructing is done by `_Walker`)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_count = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_ALIASES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise SourceError(
                    f"more than {MAX_ALIASES} YAML aliases: refusing a possible alias bomb",
                    mark.line + 1,
                    mark.column + 1,
                )
        return super().compose_node(parent, index)


class _Walker:
    def __init__(self) -> None:
        self.positions = Positions()
        self.nodes = 0
        self._scalars = yaml.SafeLoader("")

    def walk(self, node: Node, path: Path) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SourceError(
                f"document expands to more than {MAX_NODES} values: refusing a possible alias bomb",
                node.start_mark.line + 1,
                node.start_mark.column + 1,
            )
        self.positions.values.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if node.tag not in _CORE_TAGS:
            raise SourceError(
                f"unsupported YAML tag '{_short_tag(node.tag)}': workflow files are plain data",
                node.start_mark.line + 1,
                node.start_mark.column + 1,
            )
        if isinstance(node, MappingNode):
            self._scalars.flatten_mapping(node)
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    raise SourceError(
                        "mapping keys must be plain scalars",
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                    )
                key = str(self._scalar(key_node))
                if key in out:
                    raise SourceError(
                        f"duplicate key {key!r}", key_node.start_mark.line + 1, key_node.start_mark.column + 1
                    )
                self.positions.keys[(*path, key)] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                out[key] = self.walk(value_node, (*path, key))
            return out
        if isinstance(node, SequenceNode):
            return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalar(node)

    def _scalar(self, node: ScalarNode) -> Any:
        if node.tag not in _CORE_TAGS:
            raise SourceError(
                f"unsupported YAML tag '{_short_tag(node.tag)}'", node.start_mark.line + 1, node.start_mark.column + 1
            )
        return self._scalars.construct_object(node, deep=True)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag


def decode(data: bytes) -> str:
    """Strict UTF-8 (a BOM is allowed); the error names the line and column of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SourceError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", line, col) from None


def read_capped(path: str, limit: int = MAX_BYTES) -> bytes:
    """Read at most `limit` bytes; a bigger file is refused before any parsing."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        import os

        size = os.path.getsize(path)
        raise SourceError(f"file is {size / 1_048_576:.1f} MB; workflow files are limited to {limit // 1024} KB")
    return data


def parse_yaml(text: str) -> tuple[Any, Positions]:
    """Compose and walk one YAML document; returns plain data and its positions."""
    if "\x00" in text:
        idx = text.index("\x00")
        line = text.count("\n", 0, idx) + 1
        raise SourceError("NUL byte in file", line, idx - (text.rfind("\n", 0, idx) + 1) + 1)
    loader = _CountingLoader(text)
    try:
        node = loader.get_single_node()
    except SourceError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        if mark is None:
            raise SourceError(message) from None
        line_text = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
        if "[" in line_text and "{" in line_text and ("list[" in line_text or "enum[" in line_text):
            message += " (inside { } quote types with brackets: 'list[str]')"
        raise SourceError(message, mark.line + 1, mark.column + 1) from None
    except yaml.YAMLError as exc:
        raise SourceError(f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    if node is None:
        raise SourceError("empty file: a workflow is a mapping with at least 'name' and 'steps'")
    walker = _Walker()
    data = walker.walk(node, ())
    return data, walker.positions
