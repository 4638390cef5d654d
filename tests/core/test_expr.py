"""Rule expressions: a whitelist checked at parse time, so a workflow file can never run code."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baton.core.expr import FUNCTIONS, MAX_SOURCE, ExprError, parse


@pytest.mark.parametrize(
    ("source", "env", "value"),
    [
        ("confidence < 0.8", {"confidence": 0.5}, True),
        ("confidence < 0.8", {"confidence": 0.8}, False),
        ("len(topic) > 3 and 'x' in topic", {"topic": "xyzzy"}, True),
        ("not done or count >= 2", {"done": True, "count": 2}, True),
        ("lower(label) == 'bug'", {"label": "BUG"}, True),
        ("int(n) == 3", {"n": "3"}, True),
        ("float(s) > 1", {"s": "1.5"}, True),
        ("str(n) == '5'", {"n": 5}, True),
        ("-x < 0", {"x": 2}, True),
        ("1 < x < 3", {"x": 2}, True),
        ("1 < x < 3", {"x": 3}, False),
        ("label in ['a', 'b']", {"label": "b"}, True),
        ("label not in ('a', 'b')", {"label": "c"}, True),
        ("x == None", {"x": None}, True),
        ("flag", {"flag": False}, False),
        ("a and b", {"a": 1, "b": 0}, 0),
        ("a or b", {"a": 0, "b": "y"}, "y"),
        ("True", {}, True),
    ],
)
def test_evaluates_like_python(source: str, env: dict[str, Any], value: Any) -> None:
    assert parse(source).evaluate(env) == value


def test_names_are_the_variables_read_not_the_functions() -> None:
    assert parse("len(topic) > limit and lower(x) == 'y'").names == frozenset({"topic", "limit", "x"})
    assert parse("  a < 1  ").source == "a < 1"


def test_short_circuit_never_evaluates_the_other_side() -> None:
    assert parse("False and missing > 1").evaluate({}) is False
    assert parse("True or missing > 1").evaluate({}) is True


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "__import__('os')",
            "'__import__()' cannot be called in a rule: only len(x), lower(x), str(x), int(x), float(x)",
        ),
        ("__import__('os').system('ls')", "method calls ('.system()') are not allowed in a rule"),
        ("topic.upper() == 'X'", "method calls ('.upper()') are not allowed in a rule"),
        ("topic.__class__", "attribute access ('.__class__') is not allowed in a rule"),
        ("().__class__.__bases__", "attribute access ('.__bases__') is not allowed in a rule"),
        ("open('/etc/passwd')", "'open()' cannot be called in a rule"),
        ("eval('1')", "'eval()' cannot be called in a rule"),
        ("getattr(x, 'y')", "'getattr()' cannot be called in a rule"),
        ("(lambda: 1)()", "this cannot be called in a rule"),
        ("lambda: 1", "a lambda is not allowed in a rule"),
        ("[x for x in y]", "a comprehension is not allowed in a rule"),
        ("f'{x}'", "an f-string is not allowed in a rule"),
        ("x[0]", "indexing ('x[0]') is not allowed in a rule"),
        ("x + 1 > 2", "arithmetic ('+', '-', '*', ...) is not allowed in a rule"),
        ("x if y else z", "'x if c else y' is not allowed in a rule"),
        ("x is None", "'is' is not allowed in a rule (use ==)"),
        ("x is not None", "'is not' is not allowed in a rule (use !=)"),
        ("{'a': 1}", "a mapping ('{...}') is not allowed in a rule"),
        ("{1}", "a set ('{...}') is not allowed in a rule"),
        ("len(x, y)", "len() takes exactly one argument"),
        ("len(x=1)", "len() takes exactly one argument"),
        ("len(*x)", "len() takes exactly one argument"),
        ("...", "the literal Ellipsis is not allowed in a rule"),
        ("b'x' == x", "the literal b'x' is not allowed in a rule"),
        ("len(t) >", "invalid expression 'len(t) >': invalid syntax"),
        ("", "invalid expression '': invalid syntax"),
        ("x := 1", "invalid expression 'x := 1': invalid syntax"),
        ("a\x00", "invalid expression 'a\\x00': source code string cannot contain null bytes"),
        ("import os", "invalid expression 'import os': invalid syntax"),
    ],
)
def test_refused_with_a_reason(source: str, message: str) -> None:
    with pytest.raises(ExprError) as info:
        parse(source)
    assert str(info.value).startswith(message), str(info.value)


def test_the_column_of_the_problem_is_kept() -> None:
    with pytest.raises(ExprError) as info:
        parse("a < 1 and b.c")
    assert info.value.col == 10


def test_overlong_or_deeply_nested_rules_are_refused_not_crashes() -> None:
    with pytest.raises(ExprError, match=f"at most {MAX_SOURCE} characters"):
        parse("x and " * 500 + "x")
    for source in ("not " * 240 + "x", "-" * 900 + "1", "(" * 300 + "1" + ")" * 300):
        try:
            parse(source).evaluate({"x": 1})
        except ExprError:
            pass


@pytest.mark.parametrize(
    ("source", "env", "message"),
    [
        ("missing > 1", {}, "unknown name 'missing'"),
        ("x < 1", {"x": "text"}, "cannot evaluate 'x < 1': '<' not supported"),
        ("len(x) > 1", {"x": 5}, "cannot evaluate 'len(x) > 1': object of type 'int' has no len()"),
        ("int(x) > 1", {"x": "nope"}, "cannot evaluate 'int(x) > 1': invalid literal"),
        ("int(x) > 1", {"x": "9" * 5000}, "cannot evaluate 'int(x) > 1': Exceeds the limit"),
        ("'a' in x", {"x": None}, "cannot evaluate"),
    ],
)
def test_evaluation_errors_are_expr_errors(source: str, env: dict[str, Any], message: str) -> None:
    with pytest.raises(ExprError) as info:
        parse(source).evaluate(env)
    assert str(info.value).startswith(message), str(info.value)


# --- properties ------------------------------------------------------------------------------------

_DANGER = [
    "__import__('os').system('touch {canary}')",
    "open('{canary}', 'w')",
    "exec(\"open('{canary}', 'w')\")",
    "eval(\"__import__('os')\")",
    "().__class__.__base__.__subclasses__()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "(lambda: open('{canary}', 'w'))()",
    "globals()",
    "x.__init__.__globals__",
    "len.__self__",
    "str(x).format(x)",
    "breakpoint()",
]
_fragments = st.sampled_from(
    [
        "x",
        "y",
        "len(",
        "lower(",
        "(",
        ")",
        "[",
        "]",
        ",",
        " and ",
        " or ",
        "not ",
        " < ",
        " == ",
        " in ",
        "'a'",
        "1",
        "-",
        ".",
        "__class__",
        "open(",
        "import",
        ":",
        "=",
        "*",
        "lambda",
        "{",
        "}",
        "\\",
        '"',
        "#",
        "\n",
    ]
)


def _whitelisted(tree: ast.AST) -> bool:
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
        ast.Eq,
        ast.NotEq,
        ast.Lt,
        ast.LtE,
        ast.Gt,
        ast.GtE,
        ast.In,
        ast.NotIn,
    )
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            return False
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            return False
    return True


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pieces=st.lists(_fragments | st.sampled_from(_DANGER) | st.text(max_size=8), max_size=12),
    env=st.dictionaries(st.sampled_from(["x", "y"]), st.none() | st.integers() | st.text(max_size=4), max_size=2),
)
def test_any_text_is_an_expr_or_an_expr_error_and_never_runs_code(
    pieces: list[str], env: dict[str, Any], tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    source = "".join(pieces).replace("{canary}", str(canary))
    try:
        parsed = parse(source)
    except ExprError:
        assert not canary.exists()
        return
    assert _whitelisted(parsed.tree)
    try:
        parsed.evaluate(env)
    except ExprError:
        pass
    assert not canary.exists()


@pytest.mark.parametrize("template", _DANGER)
def test_known_escapes_are_refused_at_parse_time(template: str, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    with pytest.raises(ExprError):
        parse(template.replace("{canary}", str(canary)))
    assert not canary.exists()


_names = st.sampled_from(["a", "b", "c"])
_literals = st.one_of(st.integers(-5, 5), st.sampled_from(["'x'", "'ab'", "''", "True", "False", "None", "1.5"]))


def _exprs() -> st.SearchStrategy[str]:
    leaf = st.one_of(_names, _literals.map(str))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "in", "not in"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda e: f"(not {e})"),
            inner.map(lambda e: f"(-{e})"),
            st.tuples(st.sampled_from(sorted(FUNCTIONS)), inner).map(lambda t: f"{t[0]}({t[1]})"),
            st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        ),
        max_leaves=8,
    )


@settings(max_examples=400, deadline=None)
@given(
    source=_exprs(),
    env=st.fixed_dictionaries(
        {
            n: st.one_of(st.integers(-3, 3), st.text("abx", max_size=3), st.booleans(), st.lists(st.integers(0, 2)))
            for n in ("a", "b", "c")
        }
    ),
)
def test_whitelisted_expressions_mean_what_python_means(source: str, env: dict[str, Any]) -> None:
    scope: dict[str, Any] = {**FUNCTIONS, **env}
    try:
        expected = eval(source, {"__builtins__": {}}, scope)  # the reference: plain Python on plain data
    except Exception:
        with pytest.raises(ExprError):
            parse(source).evaluate(env)
        return
    assert parse(source).evaluate(env) == expected
