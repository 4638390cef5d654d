"""Hostile-input-safe YAML reading that remembers where every key and value came from.

The file is size-capped before parsing, decoded as strict UTF-8, composed (never constructed) by PyYAML's
safe machinery with a nesting cap, and turned into plain Python values by our own walk, which rejects any
tag outside the YAML core schema (`!!python/...` among them), caps alias uses and the expanded node count
(alias bombs), and records a 1-based (line, col) for every key and value path.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 1_048_576
MAX_ALIASES = 64
MAX_NODES = 100_000
MAX_DEPTH = 100

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
_SCALAR_TAGS = _CORE_TAGS - {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


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


def _plain_resolvers() -> dict[Any, list[tuple[str, Any]]]:
    """SafeLoader's implicit resolvers without timestamps and `=`: a plain `2024-01-01` stays a string."""
    dropped = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"}
    return {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in dropped]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


class _CountingLoader(yaml.SafeLoader):
    """A safe loader that counts aliases and nesting while composing (constructing is done by `_Walker`)."""

    yaml_implicit_resolvers = _plain_resolvers()

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_count = 0
        self.depth = 0

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
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise SourceError(
                    f"nested more than {MAX_DEPTH} levels deep (the limit for a workflow file)",
                    mark.line + 1,
                    mark.column + 1,
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Walker:
    def __init__(self) -> None:
        self.positions = Positions()
        self.nodes = 0
        self._scalars = _CountingLoader("")
        self._merged: dict[int, int] = {}

    def walk(self, node: Node, path: Path) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SourceError(
                f"document expands to more than {MAX_NODES} values: refusing a possible alias bomb",
                *_pos(node),
            )
        self.positions.values[path] = _pos(node)
        if node.tag not in _CORE_TAGS:
            raise SourceError(
                f"unsupported YAML tag '{_short_tag(node.tag)}': workflow files are plain data", *_pos(node)
            )
        if isinstance(node, MappingNode) and node.tag == "tag:yaml.org,2002:map":
            return self._mapping(node, path)
        if isinstance(node, SequenceNode) and node.tag == "tag:yaml.org,2002:seq":
            return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        raise SourceError(f"'{_short_tag(node.tag)}' cannot tag a {_node_kind(node)}", *_pos(node))

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        merged = self._merged.get(id(node))
        if merged is None:  # flattening rewrites the node, so an alias of it is already flat
            own = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE)
            try:
                self._scalars.flatten_mapping(node)
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or node.start_mark
                raise SourceError(f"'<<' merges only mappings: {exc.problem}", mark.line + 1, mark.column + 1) from None
            merged = self._merged[id(node)] = len(node.value) - own
        out: dict[str, Any] = {}
        seen: set[str] = set()
        for i, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, ScalarNode):
                raise SourceError("mapping keys must be plain scalars, not a list or mapping", *_pos(key_node))
            if key_node.tag not in _SCALAR_TAGS:
                raise SourceError(f"unsupported YAML tag '{_short_tag(key_node.tag)}' on a key", *_pos(key_node))
            key = str(key_node.value)
            if i >= merged:
                if key in seen:
                    raise SourceError(f"duplicate key '{key}'", *_pos(key_node))
                seen.add(key)
            self.positions.keys[(*path, key)] = _pos(key_node)
            out[key] = self.walk(value_node, (*path, key))
        return out

    def _scalar(self, node: ScalarNode) -> Any:
        if node.tag not in _SCALAR_TAGS:
            raise SourceError(f"'{_short_tag(node.tag)}' cannot tag a plain value", *_pos(node))
        try:
            return self._scalars.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, KeyError, TypeError):
            raise SourceError(f"{node.value!r} is not a valid '{_short_tag(node.tag)}' value", *_pos(node)) from None


def _pos(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _node_kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "mapping"
    return "list" if isinstance(node, SequenceNode) else "plain value"


def _short_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag


def decode(data: bytes) -> str:
    """Strict UTF-8 (a BOM is allowed); the error names the line and column of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SourceError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x}): save the file as UTF-8", line, col
        ) from None


def _too_big(size: int, limit: int) -> SourceError:
    shown = f"{size / 1_048_576:.1f} MB" if size >= 10 * 1_048_576 else f"{size:,} bytes"
    return SourceError(f"file is {shown}; a workflow file may be at most {limit:,} bytes")


def read_capped(path: str, limit: int = MAX_BYTES) -> bytes:
    """Read at most `limit` bytes; a bigger file is refused before any parsing (a big regular file is
    refused from its size alone, without reading it)."""
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise SourceError("is a directory, not a workflow file")
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            raise _too_big(info.st_size, limit)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise SourceError(f"more than {limit:,} bytes; a workflow file may be at most {limit:,} bytes")
    return data


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


_KEY_LINE = re.compile(r"^((?:\s*-\s+)*\s*)([^\s#:'\"\[\]{}!&*|>%@`-][^:#]*?|-[^\s:#][^:#]*?):(?:\s|$)")


@dataclass(frozen=True)
class _KeyLine:
    number: int
    indent: int
    key: str
    colon: int
    """1-based column of the key's colon."""
    plain_value: bool
    """The value after the colon is unquoted text (so a line below it may be read as its continuation)."""


def _key_line(lines: list[str], number: int) -> _KeyLine | None:
    """The `key:` a line (1-based) starts with, and where."""
    if not 0 < number <= len(lines):
        return None
    match = _KEY_LINE.match(lines[number - 1])
    if match is None:
        return None
    rest = lines[number - 1][match.end() :].strip()
    plain = bool(rest) and rest[0] not in "'\"[{|>&*!#"
    return _KeyLine(number, len(match.group(1)), match.group(2).strip(), match.end(2) + 1, plain)


def _key_above(lines: list[str], number: int) -> _KeyLine | None:
    """The nearest `key:` line above line `number`, skipping blank and comment lines."""
    for above in range(number - 1, 0, -1):
        text = lines[above - 1].strip()
        if not text or text.startswith("#"):
            continue
        return _key_line(lines, above)
    return None


def _misindented(lines: list[str], line: int, col: int, colon_error: bool) -> str | None:
    """When line `line` starts with a key whose indentation differs from the key above it: say so."""
    here = _key_line(lines, line)
    if here is None or (colon_error and here.colon != col):
        return None
    above = _key_above(lines, line)
    if above is None or above.indent == here.indent:
        return None
    spaces = "space" if here.indent == 1 else "spaces"
    message = (
        f"indentation: '{here.key}:' is indented {here.indent} {spaces}, but '{above.key}:' on line {above.number} "
        f"is indented {above.indent}; the keys of one mapping line up"
    )
    if colon_error and above.plain_value:
        message += f" (or, if line {line} continues the value of '{above.key}', quote that value)"
    return message


def _unaligned(lines: list[str], line: int) -> str:
    """A line that closes no block and continues none: name the mix of list and mapping when that is it."""
    here = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    above = next((lines[n - 1] for n in range(line - 1, 0, -1) if lines[n - 1].strip()), "")
    item_above, item_here = above.lstrip().startswith("- "), here.startswith("- ")
    if item_above != item_here:
        what = "a list item ('- …')" if item_here else "a 'key:'"
        other = "list items" if item_above else "'key:' lines"
        return (
            f"indentation: line {line} starts {what} among {other}: a list and a mapping cannot share one level "
            "(indent it under a key, or make it match the lines above)"
        )
    return f"indentation: line {line} does not line up with the block above it"


def _yaml_message(exc: yaml.MarkedYAMLError, text: str) -> tuple[str, int, int]:
    """PyYAML's complaint, reworded where it is cryptic, with a hint for the usual causes."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = exc.problem or exc.context or "invalid YAML"
    context = exc.context or ""
    lines = text.splitlines()
    line_text = lines[line - 1] if 0 < line <= len(lines) else ""
    if problem == "but found another document":
        return "a workflow file holds one YAML document, but a second one starts here ('---')", line, col
    if "'\\t'" in problem:
        return "a tab character: indent YAML with spaces, not tabs", line, col
    if problem.startswith("found undefined alias"):
        return problem.replace("found undefined alias", "unknown alias") + " (define '&name' before '*name')", line, col
    if problem == "mapping values are not allowed here":
        shifted = _misindented(lines, line, col, colon_error=True)
        if shifted:
            return shifted, line, col
        return "unexpected ':' — quote a value that contains ': ' (prompt: \"Answer this: {topic}\")", line, col
    if problem == "could not find expected ':'" and exc.context_mark is not None:
        key_line = exc.context_mark.line + 1
        words = lines[key_line - 1].strip().split(None, 1) if 0 < key_line <= len(lines) else []
        if words:
            hint = f"{words[0]}: {words[1]}" if len(words) > 1 else f"{words[0]}: …"
            said = f"'{lines[key_line - 1].strip()}' has no ':' after its key (write '{hint}')"
            return said, key_line, exc.context_mark.column + 1
    if "quoted scalar" in context and "end of stream" in problem:
        start = exc.context_mark
        if start is not None:
            line, col = start.line + 1, start.column + 1
        return "a quoted string is never closed (it runs to the end of the file)", line, col
    message = problem
    if "but got '?'" in problem:
        message += " (inside [ ] quote optional reads: ['key?'])"
    elif "[" in line_text and "{" in line_text and ("list[" in line_text or "enum[" in line_text):
        message += " (inside { } quote types with brackets: 'list[str]')"
    elif "expected <block end>" in problem:
        message = _misindented(lines, line, col, colon_error=False) or _unaligned(lines, line)
    return message, line, col


def parse_yaml(text: str) -> tuple[Any, Positions]:
    """Compose and walk one YAML document; returns plain data and its positions."""
    if "\x00" in text:
        raise SourceError("NUL byte in file: a workflow file is text", *_line_col(text, text.index("\x00")))
    loader: _CountingLoader | None = None
    try:
        loader = _CountingLoader(text)
        node = loader.get_single_node()
    except SourceError:
        raise
    except yaml.MarkedYAMLError as exc:
        raise SourceError(*_yaml_message(exc, text)) from None
    except yaml.reader.ReaderError as exc:
        line, col = _line_col(text, min(exc.position, len(text)))
        raise SourceError(
            f"control character #x{exc.character:04x} is not allowed in a workflow file", line, col
        ) from None
    except yaml.YAMLError as exc:
        raise SourceError(f"invalid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise SourceError(f"nested more than {MAX_DEPTH} levels deep (the limit for a workflow file)") from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        raise SourceError("empty file: a workflow is a mapping with at least 'name' and 'steps'")
    walker = _Walker()
    data = walker.walk(node, ())
    return data, walker.positions
