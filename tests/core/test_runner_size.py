"""The runner stays readable: no module in core/runner over 500 lines, no function over 80."""

from __future__ import annotations

import ast
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "core" / "runner"
MODULE_LINES = 500
FUNCTION_LINES = 80


def _sources() -> list[Path]:
    return sorted(RUNNER.rglob("*.py"))


def test_the_check_sees_the_runner() -> None:
    names = {p.relative_to(RUNNER).as_posix() for p in _sources()}
    assert {"engine.py", "gates/base.py", "steps/model.py"} <= names


def test_no_module_is_over_the_limit() -> None:
    over = {
        p.relative_to(RUNNER).as_posix(): n
        for p in _sources()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MODULE_LINES
    }
    assert not over, f"modules over {MODULE_LINES} lines: {over}"


def test_no_function_is_over_the_limit() -> None:
    over = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                if length > FUNCTION_LINES:
                    over[f"{path.relative_to(RUNNER).as_posix()}:{node.lineno} {node.name}"] = length
    assert not over, f"functions over {FUNCTION_LINES} lines: {over}"
