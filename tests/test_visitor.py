"""Every pass over the expression tree handles every node class.

A pass is a subclass of ``ast.Visitor``. Adding a node class to the tree must add its
method to Visitor (the first test), and then every pass that lacks it fails here (and
cannot be instantiated).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import typing

from hypothesis import given

from treatment_engine.expressions import ast

from .strategies import expressions

# Every module that holds a pass: importing them registers their Visitor subclasses.
PASS_MODULES = (
    "treatment_engine.expressions.ast",
    "treatment_engine.expressions.closures",
    "treatment_engine.expressions.unparse",
    "treatment_engine.lint.logic",
    "treatment_engine.lint.patterns",
    "treatment_engine.sql.expressions",
)
NODE_CLASSES = typing.get_args(ast.Expression)


def method_name(node_class: type) -> str:
    return "visit_" + re.sub(r"(?<!^)(?=[A-Z])", "_", node_class.__name__).lower()


def passes() -> list[type]:
    for module in PASS_MODULES:
        importlib.import_module(module)
    found, stack = [], list(ast.Visitor.__subclasses__())
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def test_every_node_class_is_an_expression_with_its_visitor_method() -> None:
    defined = {cls for _, cls in inspect.getmembers(ast, inspect.isclass)
               if cls.__module__ == ast.__name__ and dataclasses.is_dataclass(cls)}
    assert defined == set(NODE_CLASSES), "a node class is missing from ast.Expression"
    for node_class in NODE_CLASSES:
        assert method_name(node_class) in ast.Visitor.__abstractmethods__, node_class
        assert "accept" in vars(node_class), f"{node_class.__name__} has no accept()"
    assert len(ast.Visitor.__abstractmethods__) == len(NODE_CLASSES)


def test_accept_calls_the_method_of_its_own_class() -> None:
    calls = {name: (lambda self, node, name=name: name) for name in ast.Visitor.__abstractmethods__}
    recorder = type("Recorder", (ast.Visitor,), calls)()
    for node_class in NODE_CLASSES:
        blank = node_class(*[None] * len(dataclasses.fields(node_class)))
        assert recorder.visit(blank) == method_name(node_class)


def test_every_pass_handles_every_node_class() -> None:
    found = {cls.__qualname__ for cls in passes()}
    # The passes this test knows of; a missing one means the list above went stale.
    assert {"Children", "_Compiler", "_Level", "_Text", "_Atom", "_ResolvedLiterals", "_TypeMismatch",
            "ExpressionCompiler"} <= found
    for cls in passes():
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        assert not missing, f"{cls.__module__}.{cls.__qualname__} lacks {', '.join(missing)}"
        for node_class in NODE_CLASSES:
            name = method_name(node_class)
            assert getattr(cls, name) is not getattr(ast.Visitor, name), (cls, name)


@given(expressions)
def test_walk_visits_every_node_once(node: ast.Expression) -> None:
    seen = list(ast.walk(node))
    assert seen[0] is node
    # Each node but the root is a child of exactly one node seen.
    children = [child for parent in seen for child in parent.accept(ast.Children())]
    assert len(children) == len(seen) - 1
    assert {id(c) for c in children} | {id(node)} >= {id(n) for n in seen}
