"""Convex piecewise-linear functions of one variable, and the exact storage DP built on them.

A battery, a heated building and a hot-water tank are all a *store*: a state ``s`` (kWh, °C) that evolves
as ``s' = a·s + x + c`` where ``x`` is what the device adds in a slot at a convex piecewise-linear cost
``f(x)``. The cost-to-go ``V_t(s)`` of such a problem is itself convex piecewise-linear, and one step of
the Bellman recursion is an infimal convolution — for convex piecewise-linear functions that is just a
merge of the two lists of segments sorted by slope. So dynamic programming here is *exact* (no SoC
grid, no discretisation error) and costs O(segments) per slot, in pure Python.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

EPS = 1e-9


class PWL:
    """Convex piecewise-linear function on [lo, lo + sum(lens)]: value ``v0`` at ``lo``, then segments
    of length ``lens[i]`` and non-decreasing slope ``slopes[i]``."""

    __slots__ = ("lens", "lo", "slopes", "v0")

    def __init__(self, lo: float, v0: float, lens: list[float], slopes: list[float]) -> None:
        self.lo = lo
        self.v0 = v0
        self.lens = lens
        self.slopes = slopes

    @property
    def hi(self) -> float:
        return self.lo + sum(self.lens)

    def __call__(self, x: float) -> float:
        v = self.v0
        pos = self.lo
        for ln, sl in zip(self.lens, self.slopes, strict=True):
            if x <= pos + ln:
                return v + (x - pos) * sl
            v += ln * sl
            pos += ln
        return v + (x - pos) * (self.slopes[-1] if self.slopes else 0.0)

    def __repr__(self) -> str:
        return f"PWL(lo={self.lo:g}, v0={self.v0:g}, lens={self.lens}, slopes={self.slopes})"


def linear(lo: float, hi: float, slope: float, intercept: float = 0.0) -> PWL:
    return PWL(lo, intercept + slope * lo, [hi - lo] if hi > lo else [], [slope] if hi > lo else [])


def from_points(points: Sequence[tuple[float, float]]) -> PWL:
    """Lower convex envelope of points (x, y), as a PWL on [min x, max x]."""
    pts = sorted(points)
    hull: list[tuple[float, float]] = []
    for p in pts:
        if hull and abs(p[0] - hull[-1][0]) <= EPS:
            if p[1] < hull[-1][1]:
                hull.pop()
            else:
                continue
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # keep only if the turn is convex (slope increasing)
            if (y2 - y1) * (p[0] - x2) <= (p[1] - y2) * (x2 - x1) - 1e-12:
                break
            hull.pop()
        hull.append(p)
    lens = [b[0] - a[0] for a, b in itertools.pairwise(hull)]
    slopes = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(hull)]
    return PWL(hull[0][0], hull[0][1], lens, slopes)


def vertices(f: PWL) -> list[tuple[float, float]]:
    out = [(f.lo, f.v0)]
    x, v = f.lo, f.v0
    for ln, sl in zip(f.lens, f.slopes, strict=True):
        x += ln
        v += ln * sl
        out.append((x, v))
    return out


def infconv(f: PWL, g: PWL) -> PWL:
    """(f □ g)(z) = min_{x+y=z} f(x) + g(y): merge the segments by slope."""
    lens: list[float] = []
    slopes: list[float] = []
    fl, fs, gl, gs = f.lens, f.slopes, g.lens, g.slopes
    i = j = 0
    nf, ng = len(fs), len(gs)
    while i < nf or j < ng:
        if j >= ng or (i < nf and fs[i] <= gs[j]):
            ln, sl = fl[i], fs[i]
            i += 1
        else:
            ln, sl = gl[j], gs[j]
            j += 1
        if ln <= EPS:
            continue
        if slopes and sl - slopes[-1] <= EPS:
            lens[-1] += ln
        else:
            lens.append(ln)
            slopes.append(sl)
    return PWL(f.lo + g.lo, f.v0 + g.v0, lens, slopes)


def reflect(f: PWL) -> PWL:
    """x ↦ f(-x)."""
    v_hi = f.v0 + sum(ln * sl for ln, sl in zip(f.lens, f.slopes, strict=True))
    return PWL(-f.hi, v_hi, f.lens[::-1], [-s for s in reversed(f.slopes)])


def affine_arg(f: PWL, a: float, c: float) -> PWL:
    """s ↦ f(a·s + c) for a > 0."""
    if a == 1.0:
        return PWL(f.lo - c, f.v0, f.lens, f.slopes)
    return PWL((f.lo - c) / a, f.v0, [ln / a for ln in f.lens], [s * a for s in f.slopes])


def restrict(f: PWL, lo: float, hi: float) -> PWL | None:
    """f on [lo, hi] ∩ dom f, None if empty."""
    new_lo = max(lo, f.lo)
    if new_lo > min(hi, f.hi) + EPS:
        return None
    v = f.v0
    pos = f.lo
    lens: list[float] = []
    slopes: list[float] = []
    for ln, sl in zip(f.lens, f.slopes, strict=True):
        a, b = pos, pos + ln
        pos = b
        if b <= new_lo:
            v += ln * sl
            continue
        if a < new_lo:
            v += (new_lo - a) * sl
            a = new_lo
        if a >= hi:
            break
        b = min(b, hi)
        if b - a > EPS:
            lens.append(b - a)
            slopes.append(sl)
    return PWL(new_lo, v, lens, slopes)


def add(f: PWL, g: PWL) -> PWL | None:
    """f + g on the intersection of their domains."""
    lo, hi = max(f.lo, g.lo), min(f.hi, g.hi)
    if lo > hi + EPS:
        return None
    fr, gr = restrict(f, lo, hi), restrict(g, lo, hi)
    assert fr is not None and gr is not None
    lens: list[float] = []
    slopes: list[float] = []
    i = j = 0
    fl, gl = list(fr.lens), list(gr.lens)
    while i < len(fl) and j < len(gl):
        step = min(fl[i], gl[j])
        sl = fr.slopes[i] + gr.slopes[j]
        if step > EPS:
            if slopes and abs(sl - slopes[-1]) <= EPS:
                lens[-1] += step
            else:
                lens.append(step)
                slopes.append(sl)
        fl[i] -= step
        gl[j] -= step
        if fl[i] <= EPS:
            i += 1
        if gl[j] <= EPS:
            j += 1
    return PWL(lo, fr.v0 + gr.v0, lens, slopes)


def argmin_near(f: PWL, target: float) -> float:
    """The minimiser of f closest to ``target`` (f convex, so the minimisers form an interval)."""
    pos = f.lo
    m1 = m2 = f.lo
    found = False
    for ln, sl in zip(f.lens, f.slopes, strict=True):
        if sl < -EPS:
            pos += ln
            m1 = m2 = pos
        elif sl <= EPS:
            if not found:
                m1 = pos
            found = True
            pos += ln
            m2 = pos
        else:
            break
    return min(max(target, m1), m2)


def bellman_step(f: PWL, v: PWL, a: float, c: float, lo: float, hi: float) -> PWL | None:
    """``restrict(affine_arg(infconv(reflect(f), v), a, c), lo, hi)`` in one pass (the hot loop):
    s ↦ min_x f(x) + v(a·s + c + x) on [lo, hi]."""
    fl, fs = f.lens, f.slopes
    nf = len(fs)
    f_len = 0.0
    val = f.v0
    for k in range(nf):
        f_len += fl[k]
        val += fl[k] * fs[k]
    vl, vs = v.lens, v.slopes
    nv = len(vs)
    inv_a = 1.0 / a
    s = (v.lo - f.lo - f_len - c) * inv_a
    s_hi = s + (f_len + sum(vl)) * inv_a
    new_lo = lo if lo > s else s
    if new_lo > (hi if hi < s_hi else s_hi) + EPS:
        return None
    val += v.v0
    lens: list[float] = []
    slopes: list[float] = []
    pos = s
    i = nf - 1
    j = 0
    while i >= 0 or j < nv:
        if j >= nv or (i >= 0 and -fs[i] <= vs[j]):
            ln = fl[i] * inv_a
            sl = -fs[i] * a
            i -= 1
        else:
            ln = vl[j] * inv_a
            sl = vs[j] * a
            j += 1
        end = pos + ln
        if end <= lo:
            val += ln * sl
            pos = end
            continue
        seg_a = pos
        if seg_a < lo:
            val += (lo - seg_a) * sl
            seg_a = lo
        if seg_a >= hi:
            break
        w = (end if end < hi else hi) - seg_a
        if w > EPS:
            if slopes and sl - slopes[-1] <= EPS:
                lens[-1] += w
            else:
                lens.append(w)
                slopes.append(sl)
        pos = end
        if end >= hi:
            break
    return PWL(new_lo, val, lens, slopes)


def solve_storage(
    s0: float,
    a: Sequence[float],
    c: Sequence[float],
    costs: Sequence[PWL],
    lo: Sequence[float],
    hi: Sequence[float],
    terminal: PWL,
    penalties: Sequence[PWL | None] | None = None,
    marginals: list[tuple[float, float]] | None = None,
) -> tuple[list[float], list[float]] | None:
    """Minimise Σ costs[t](x_t) + Σ penalties[t](s_t) + terminal(s_n) subject to
    s_{t+1} = a[t]·s_t + x_t + c[t] and lo[t] ≤ s_t ≤ hi[t] (t = 0..n).

    Returns (x, s) with s the n+1 states, or None if infeasible. Among equally cheap actions each slot
    takes the one closest to doing nothing (x = 0). If ``marginals`` is given it receives, for each
    boundary k = 1..n, the left and right slopes of the cost-to-go at s_k (shadow prices of the state).
    """
    n = len(costs)
    v = _with_penalty(terminal, penalties[n] if penalties else None)
    vn = restrict(v, lo[n], hi[n]) if v is not None else None
    if vn is None:
        return None
    values: list[PWL] = [vn] * (n + 1)
    for t in range(n - 1, -1, -1):
        if penalties is None or penalties[t] is None:
            fast = bellman_step(costs[t], values[t + 1], a[t], c[t], lo[t], hi[t])
            if fast is None:
                return None
            values[t] = fast
            continue
        g = affine_arg(infconv(reflect(costs[t]), values[t + 1]), a[t], c[t])
        gp = _with_penalty(g, penalties[t] if penalties else None)
        vt = restrict(gp, lo[t], hi[t]) if gp is not None else None
        if vt is None:
            return None
        values[t] = vt
    if not (values[0].lo - 1e-6 <= s0 <= values[0].hi + 1e-6):
        return None
    xs: list[float] = []
    ss: list[float] = [s0]
    s = s0
    for t in range(n):
        z = a[t] * s + c[t]
        y = argmin_shifted(costs[t], z, values[t + 1], z)
        if y is None:  # numerical edge: stay as close as possible
            y = min(max(z, values[t + 1].lo), values[t + 1].hi)
        xs.append(y - z)
        s = y
        ss.append(s)
        if marginals is not None:
            marginals.append(slopes_at(values[t + 1], s))
    return xs, ss


def slopes_at(f: PWL, x: float) -> tuple[float, float]:
    """(left, right) slope of f at x; -inf/+inf beyond the ends of its domain."""
    left, right = -math.inf, math.inf
    pos = f.lo
    for ln, sl in zip(f.lens, f.slopes, strict=True):
        end = pos + ln
        if pos < x - 1e-9 and x <= end + 1e-9:
            left = sl
        if pos - 1e-9 <= x < end - 1e-9:
            right = sl
            break
        pos = end
    return left, right


def argmin_shifted(f: PWL, z: float, g: PWL, target: float) -> float | None:
    """Minimiser closest to ``target`` of y ↦ f(y - z) + g(y), walking both segment lists once."""
    lo = max(f.lo + z, g.lo)
    hi = min(f.hi + z, g.hi)
    if lo > hi + 1e-7:
        return None
    if hi - lo <= EPS:
        return lo
    fl, fs, gl, gs = f.lens, f.slopes, g.lens, g.slopes
    i = j = 0
    fe = f.lo + z + (fl[0] if fl else 0.0)
    ge = g.lo + (gl[0] if gl else 0.0)
    while i < len(fl) - 1 and fe <= lo + EPS:
        i += 1
        fe += fl[i]
    while j < len(gl) - 1 and ge <= lo + EPS:
        j += 1
        ge += gl[j]
    x = lo
    m1 = m2 = lo
    found = False
    while x < hi - EPS:
        sl = fs[i] + gs[j]
        end = min(fe, ge, hi)
        if sl < -EPS:
            m1 = m2 = end
        elif sl <= EPS:
            if not found:
                m1 = x
                found = True
            m2 = end
        else:
            break
        x = end
        if fe <= x + EPS and i < len(fl) - 1:
            i += 1
            fe += fl[i]
        if ge <= x + EPS and j < len(gl) - 1:
            j += 1
            ge += gl[j]
        if fe <= x + EPS and ge <= x + EPS:
            break
    return min(max(target, m1), m2)


def _with_penalty(f: PWL, pen: PWL | None) -> PWL | None:
    return f if pen is None else add(f, pen)
