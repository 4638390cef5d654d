"""No import cycle: the import graph of core/, sessions/ and tui/, built from the source with `ast` (every
import counts, including one inside a function), has no cycle among core's modules, and none anywhere once
imports made only for type checking (`if TYPE_CHECKING:`) are left out — those never run."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("core", "sessions", "tui")


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for part in PARTS:
        for path in sorted((ROOT / part).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            names = list(rel.parts)
            if names[-1] == "__init__":
                names.pop()
            out[".".join(["baton", *names])] = path
    return out


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _nodes(tree: ast.AST, typing: bool) -> Iterator[ast.AST]:
    """Every node of `tree`; without the bodies of `if TYPE_CHECKING:` unless `typing`."""
    yield tree
    for child in ast.iter_child_nodes(tree):
        if typing or not _type_checking_only(child):
            yield from _nodes(child, typing)


def _imports(module: str, path: Path, known: dict[str, Path], typing: bool) -> Iterator[str]:
    """Modules of the graph that `module` imports, anywhere in its source."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in _nodes(ast.parse(path.read_text(encoding="utf-8"), str(path)), typing):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known_prefix(alias.name, known)
                if target:
                    yield target
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in known:
                    yield full
                else:
                    target = _known_prefix(base, known)
                    if target:
                        yield target


def _known_prefix(name: str, known: dict[str, Path]) -> str | None:
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def graph(*, typing: bool = True) -> dict[str, set[str]]:
    """Module → the modules it imports (within core, sessions and tui); with `typing`, imports made only
    for type checking count too."""
    known = _modules()
    return {m: {t for t in _imports(m, p, known, typing) if t != m} for m, p in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_lazy_imports() -> None:
    """A check that cannot see an import inside a function would pass on the cycles it is for."""
    edges = graph()
    assert "baton.core.llm.gateway" in edges["baton.sessions.host"], "host imports the gateway inside a function"
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "baton.tui.app" in edges["baton.tui.screens.home"], "home imports the app for type checking"
    assert "baton.tui.app" not in graph(typing=False)["baton.tui.screens.home"]


def test_core_has_no_import_cycle() -> None:
    edges = graph()
    core = {m: {t for t in ts if t.startswith("baton.core.")} for m, ts in edges.items() if m.startswith("baton.core.")}
    found = cycles(core)
    assert not found, "import cycles in core: " + "; ".join(" ↔ ".join(c) for c in found)


def test_nothing_imports_itself_back_when_it_runs() -> None:
    found = cycles(graph(typing=False))
    assert not found, "import cycles: " + "; ".join(" ↔ ".join(c) for c in found)
