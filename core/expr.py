"""A tiny, safe expression language for rules: `confidence < 0.8`, `len(topic) > 40 and 'x' in topic`.

Parsed with `ast` and checked against a whitelist at load time, so a workflow file can never run code.
Only names, literals, comparisons, `and`/`or`/`not`, unary minus, `in`, and the functions in `FUNCTIONS`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "len": len,
    "lower": lambda v: str(v).lower(),
    "str": str,
    "int": int,
    "float": float,
}

_CMP: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: bool(a == b),
    ast.NotEq: lambda a, b: bool(a != b),
    ast.Lt: lambda a, b: bool(a < b),
    ast.LtE: lambda a, b: bool(a <= b),
    ast.Gt: lambda a, b: bool(a > b),
    ast.GtE: lambda a, b: bool(a >= b),
    ast.In: lambda a, b: bool(a in b),
    ast.NotIn: lambda a, b: bool(a not in b),
}


class ExprError(ValueError):
    """An expression that does not parse, uses something outside the whitelist, or fails to evaluate."""

    def __init__(self, message: str, col: int = 0) -> None:
        super().__init__(message)
        self.col = col


@dataclass(frozen=True)
class Expr:
    """A checked expression; `names` are the variables it reads."""

    source: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """Evaluate against `env`; a missing name or a type error raises `ExprError`."""
        try:
            return _eval(self.tree.body, env)
        except ExprError:
            raise
        except Exception as exc:  # comparisons of mismatched types, bad len(), ...
            raise ExprError(f"cannot evaluate {self.source!r}: {exc}") from exc


def parse(source: str) -> Expr:
    """Parse and whitelist-check `source`; raises `ExprError` with the 0-based column of the problem."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"invalid expression {source!r}: {exc.msg}", max((exc.offset or 1) - 1, 0)) from None
    names: set[str] = set()
    for node in ast.walk(tree):
        _check_node(node, names)
    return Expr(source.strip(), tree, frozenset(names))


def _check_node(node: ast.AST, names: set[str]) -> None:
    allowed = (
        ast.Expression,
        ast.BoolOp,
        ast.And,
        ast.Or,
        ast.UnaryOp,
        ast.Not,
        ast.USub,
        ast.Compare,
        ast.Name,
        ast.Load,
        ast.Constant,
        ast.Call,
        ast.List,
        ast.Tuple,
        *_CMP.keys(),
    )
    if not isinstance(node, allowed):
        col = getattr(node, "col_offset", 0)
        raise ExprError(f"'{type(node).__name__}' is not allowed in a rule expression", col)
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
            raise ExprError(f"only {', '.join(sorted(FUNCTIONS))}(x) may be called", node.col_offset)
        if len(node.args) != 1:
            raise ExprError(f"{node.func.id}() takes exactly one argument", node.col_offset)
    elif isinstance(node, ast.Name) and node.id not in FUNCTIONS:
        names.add(node.id)


def _eval(node: ast.AST, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise ExprError(f"unknown name {node.id!r}")
        return env[node.id]
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for value in node.values:
                result = _eval(value, env)
                if not result:
                    return result
            return result
        result = False
        for value in node.values:
            result = _eval(value, env)
            if result:
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, env)
        return (not operand) if isinstance(node.op, ast.Not) else -operand
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, env)
            if not _CMP[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return FUNCTIONS[node.func.id](_eval(node.args[0], env))
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, env) for e in node.elts]
    raise ExprError(f"unsupported expression node {type(node).__name__}")
