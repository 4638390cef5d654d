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


MAX_SOURCE = 1000
"""Longest rule accepted: rules are one-liners, and a cap keeps the parser's recursion bounded."""

_FORBIDDEN: dict[type[ast.AST], str] = {
    ast.Subscript: "indexing ('x[0]')",
    ast.Slice: "slicing ('x[1:2]')",
    ast.BinOp: "arithmetic ('+', '-', '*', ...)",
    ast.IfExp: "'x if c else y'",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.JoinedStr: "an f-string",
    ast.Is: "'is'",
    ast.IsNot: "'is not'",
    ast.Dict: "a mapping ('{...}')",
    ast.Set: "a set ('{...}')",
    ast.Await: "await",
    ast.Starred: "'*x'",
    ast.NamedExpr: "':='",
}


def _short(source: str) -> str:
    return repr(source if len(source) <= 60 else source[:57] + "...")


def parse(source: str) -> Expr:
    """Parse and whitelist-check `source`; raises `ExprError` with the 0-based column of the problem."""
    text = source.strip()
    if len(text) > MAX_SOURCE:
        raise ExprError(f"a rule is at most {MAX_SOURCE} characters; this one has {len(text)}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"invalid expression {_short(text)}: {exc.msg}", max((exc.offset or 1) - 1, 0)) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExprError(f"invalid expression {_short(text)}: {exc or 'nested too deeply'}") from None
    names: set[str] = set()
    for node in ast.walk(tree):
        _check_node(node, names)
    return Expr(text, tree, frozenset(names))


def names_in(source: str) -> set[str]:
    """The names a rule uses; none when it does not parse (load-time checks report that on their own)."""
    try:
        return set(parse(source).names)
    except ExprError:
        return set()


_ALLOWED = (
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


_HINTS: dict[type[ast.AST], str] = {ast.Is: " (use ==)", ast.IsNot: " (use !=)"}
_CALLABLE = ", ".join(f"{name}(x)" for name in FUNCTIONS)


def _check_node(node: ast.AST, names: set[str]) -> None:
    col = getattr(node, "col_offset", 0)
    if not isinstance(node, _ALLOWED):
        if isinstance(node, ast.Attribute):
            what = f"attribute access ('.{node.attr}')"
        else:
            what = _FORBIDDEN.get(type(node), f"'{type(node).__name__}'")
        hint = _HINTS.get(type(node), "")
        raise ExprError(
            f"{what} is not allowed in a rule{hint}; rules use names, literals, comparisons, "
            f"and/or/not, in, and {_CALLABLE}",
            col,
        )
    if isinstance(node, ast.Constant) and not isinstance(node.value, str | int | float | bool | type(None)):
        raise ExprError(f"the literal {node.value!r} is not allowed in a rule", col)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute):
            raise ExprError(f"method calls ('.{func.attr}()') are not allowed in a rule: use {_CALLABLE}", col)
        if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
            named = f"'{func.id}()' cannot be called" if isinstance(func, ast.Name) else "this cannot be called"
            raise ExprError(f"{named} in a rule: only {_CALLABLE}", col)
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise ExprError(f"{func.id}() takes exactly one argument", col)
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
