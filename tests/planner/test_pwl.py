from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kraken2mqtt.planner.pwl import (
    PWL,
    add,
    argmin_near,
    from_points,
    infconv,
    reflect,
    restrict,
    vertices,
)

segs = st.lists(st.tuples(st.floats(0.01, 5), st.floats(-10, 10)), min_size=1, max_size=6)


def make(lo: float, v0: float, pieces: list[tuple[float, float]]) -> PWL:
    pieces = sorted(pieces, key=lambda p: p[1])
    return PWL(lo, v0, [p[0] for p in pieces], [p[1] for p in pieces])


def grid_points(f: PWL, k: int = 60) -> list[float]:
    return [f.lo + (f.hi - f.lo) * j / k for j in range(k + 1)]


@settings(max_examples=60, deadline=None)
@given(st.floats(-5, 5), st.floats(-5, 5), segs, st.floats(-5, 5), st.floats(-5, 5), segs)
def test_infconv_is_the_pointwise_minimum(
    lo1: float, v1: float, s1: list[tuple[float, float]], lo2: float, v2: float, s2: list[tuple[float, float]]
) -> None:
    f, g = make(lo1, v1, s1), make(lo2, v2, s2)
    h = infconv(f, g)
    for z in grid_points(h, 20):
        # the minimum over x is attained where x or z - x is a breakpoint
        cands = [x for x, _ in vertices(f)] + [z - y for y, _ in vertices(g)]
        ok = [x for x in cands if f.lo - 1e-9 <= x <= f.hi + 1e-9 and g.lo - 1e-9 <= z - x <= g.hi + 1e-9]
        brute = min(f(x) + g(z - x) for x in ok)
        assert abs(h(z) - brute) < 1e-6


@settings(max_examples=60, deadline=None)
@given(st.floats(-5, 5), st.floats(-5, 5), segs, segs)
def test_add_restrict_reflect_agree_pointwise(
    lo: float, v: float, s1: list[tuple[float, float]], s2: list[tuple[float, float]]
) -> None:
    f, g = make(lo, v, s1), make(lo + 0.3, v, s2)
    fg = add(f, g)
    if fg is not None:
        for x in grid_points(fg):
            assert abs(fg(x) - (f(x) + g(x))) < 1e-6
    r = restrict(f, lo + 0.5, lo + 1.5)
    if r is not None:
        for x in grid_points(r):
            assert abs(r(x) - f(x)) < 1e-6
    m = reflect(f)
    for x in grid_points(m):
        assert abs(m(x) - f(-x)) < 1e-6


@settings(max_examples=60, deadline=None)
@given(st.floats(-5, 5), segs, st.floats(-10, 10))
def test_argmin_near_is_a_minimiser_closest_to_target(
    lo: float, s: list[tuple[float, float]], target: float
) -> None:
    f = make(lo, 0.0, s)
    x = argmin_near(f, target)
    best = min(f(p) for p in grid_points(f, 300))
    assert f(x) <= best + 1e-6


def test_from_points_is_the_lower_convex_envelope() -> None:
    f = from_points([(0, 0), (1, 5), (2, 0), (3, 3)])
    assert f(1) == 0 and f(2) == 0 and f(3) == 3
