"""Hypothesis strategies for expressions and profiles that lean on the spec's edges."""

from __future__ import annotations

from hypothesis import strategies as st

from treatment_engine.expressions import ast

FIELDS = ("a", "b", "n", "s", "d", "flag", "obj.x", "obj.y", "segment")
STRINGS = ("", "a", "b", "north", "Z", "é", "10", "true", "2026-01-05")
DATES = ("2026-01-05", "2025-12-31T23:59:59Z", "2026-02-29", "2024-02-29", "2026-13-01",
         "2026-01-05Tgarbage", "05/01/2026", "2026-01-05 10:00", "2026-1-5", "2026-01-05T24:00",
         "2026-01-05T10:30:00.123+05:30", "0000-01-01", "٢٠٢٦-٠١-٠٥")

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.sampled_from([0, 1, -1, 2**53, 2**53 + 1, 10**400, -(10**400)]),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([0.0, -0.0, 0.1, 0.5, 1e308, 1.5]),
    st.sampled_from(STRINGS), st.sampled_from(DATES), st.text(max_size=4),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3),
                   st.dictionaries(st.sampled_from(["x", "y"]), scalars, max_size=2))


@st.composite
def profiles(draw: st.DrawFn) -> dict:
    profile = {}
    for name in ("a", "b", "n", "s", "d", "flag", "segment"):
        if draw(st.booleans()):
            profile[name] = draw(values)
    if draw(st.booleans()):
        profile["obj"] = draw(st.one_of(
            st.dictionaries(st.sampled_from(["x", "y"]), scalars, max_size=2), scalars))
    return profile


literal_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-1000, max_value=10**6),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda f: round(f, 3)),
    st.sampled_from(STRINGS), st.sampled_from(DATES),
)
leaves = st.one_of(
    st.builds(ast.Literal, literal_values),
    st.builds(ast.Field, st.sampled_from(FIELDS).map(lambda f: tuple(f.split(".")))),
    st.builds(ast.ListLiteral, st.lists(
        st.one_of(st.booleans(), st.integers(-5, 5), st.sampled_from(STRINGS), st.just(1.5)),
        max_size=4).map(tuple)),
)


def _grow(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.builds(ast.Call, st.sampled_from(["missing", "days_since"]), children),
        st.builds(ast.Not, children),
        st.builds(ast.Negate, children),
        st.builds(ast.Logical, st.sampled_from(["and", "or"]),
                  st.lists(children, min_size=2, max_size=3).map(tuple)),
        st.builds(ast.Arithmetic, st.sampled_from(["+", "-", "*", "/"]), children, children),
        st.builds(ast.Comparison, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
                  children, children),
        st.builds(ast.Membership, children, children, st.booleans()),
    )


expressions = st.recursive(leaves, _grow, max_leaves=8)
