"""The fast loop (``pytest -m "not slow"``) reaches every test module.

Read from the sources, not collected: a module whose every test is marked ``slow`` (one
by one, through all its parameters, or with ``pytestmark``) has nothing in the fast loop,
and a change to what it tests goes unseen until the full run.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _says_slow(node: ast.AST) -> bool:
    """Whether ``node`` (a decorator, a mark, a list of marks) holds ``pytest.mark.slow``."""
    return any(isinstance(n, ast.Attribute) and n.attr == "slow" for n in ast.walk(node))


def _slow_decorator(decorator: ast.expr) -> bool:
    """A ``slow`` mark, or a ``parametrize`` whose every value is a slow ``pytest.param``."""
    call = decorator if isinstance(decorator, ast.Call) else None
    if call is None or not isinstance(call.func, ast.Attribute):
        return _says_slow(decorator)
    if call.func.attr != "parametrize" or len(call.args) < 2:
        return _says_slow(decorator)
    values = call.args[1]
    return isinstance(values, ast.List | ast.Tuple) and all(_says_slow(v) for v in values.elts)


def fast_tests(source: str) -> list[str]:
    """The tests of a module's ``source`` that ``-m "not slow"`` runs."""
    tree = ast.parse(source)
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in statement.targets)
            and _says_slow(statement.value)
        ):
            return []
    return [
        f.name
        for f in tree.body
        if isinstance(f, ast.FunctionDef)
        and f.name.startswith("test_")
        and not any(_slow_decorator(d) for d in f.decorator_list)
    ]


def test_every_test_module_has_a_fast_test() -> None:
    modules = sorted(TESTS.glob("test_*.py"))
    assert len(modules) > 30
    slow_only = [p.name for p in modules if not fast_tests(p.read_text(encoding="utf-8"))]
    assert slow_only == []


def test_slow_marks_are_read_as_pytest_reads_them() -> None:
    source = """
import pytest
pytestmark = [pytest.mark.mic]
@pytest.mark.slow
def test_a(): ...
@pytest.mark.parametrize("x", [pytest.param(1, marks=pytest.mark.slow), 2])
def test_b(x): ...
@pytest.mark.parametrize("x", [pytest.param(1, marks=[pytest.mark.slow])])
def test_c(x): ...
@pytest.mark.skipif(False, reason="never")
def test_d(): ...
"""
    assert fast_tests(source) == ["test_b", "test_d"]
    assert fast_tests(source.replace("pytest.mark.mic", "pytest.mark.slow")) == []
