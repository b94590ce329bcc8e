"""Perfect-foresight optimum by linear programming (HiGHS through scipy) — a dev/benchmark dependency only.

One LP/MILP over the whole period for any mix of: a house load, one battery, EV charging sessions, one
heat pump (single-mass building, hard comfort band) and a grid import limit. The physics match the
planner's: inside a slot the battery may charge for part of the time and discharge for the rest
(``c/Pc + d/Pd <= h``), never both at once, and the meter imports only while the battery is not
discharging (``import <= house + loads + c - min(house_kw, Pd)·d/Pd``). That last bound matters where
import is cheaper than export (negative Agile prices, no export payment): without it an LP would import
and export in the same instant. Other flexible loads may sit in either part of the slot, so the reference is a
slight relaxation: its cost is a lower bound and capture shares are conservative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import linprog


@dataclass(frozen=True)
class RefBattery:
    capacity_kwh: float
    max_kw: float
    eta_c: float
    eta_d: float
    soc0_kwh: float
    lo_kwh: float
    hi_kwh: float
    end_value_p: float = 0.0  # per kWh left at the end
    allow_export: bool = True
    cycle_cost_p: float = 0.0  # wear per kWh discharged (delivered)
    end_kwh: float | None = None  # the stored energy at the end, when fixed (the replay's own end state)


@dataclass(frozen=True)
class RefSession:
    """EV: ``need_kwh`` from the grid within slots [first, last)."""

    first: int
    last: int
    need_kwh: float


@dataclass(frozen=True)
class RefEV:
    max_kw: float
    sessions: Sequence[RefSession]


@dataclass(frozen=True)
class RefHeatPump:
    ua: float
    cap: float
    max_kw: float
    t0: float
    outdoor: Sequence[float]  # per slot
    cop: Sequence[float]  # per slot
    lo: Sequence[float]  # per boundary k = 1..n
    hi: Sequence[float]


@dataclass
class RefResult:
    cost_p: float
    status: str
    grid_kwh: list[float] = field(default_factory=list)


def solve_reference(
    hours: Sequence[float],
    import_p: Sequence[float],
    export_p: Sequence[float],
    house_kwh: Sequence[float],
    battery: RefBattery | None = None,
    ev: RefEV | None = None,
    hp: RefHeatPump | None = None,
    import_kw: float | None = None,
) -> RefResult:
    n = len(hours)
    h = np.asarray(hours, float)
    names: list[str] = ["gi", "ge"]
    if battery:
        names += ["c", "d", "s"]
    if ev:
        names += ["e"]
    if hp:
        names += ["p", "T"]
    off = {nm: k * n for k, nm in enumerate(names)}
    nv = len(names) * n
    cost = np.zeros(nv)
    cost[off["gi"] : off["gi"] + n] = import_p
    cost[off["ge"] : off["ge"] + n] = -np.asarray(export_p, float)
    lb = np.zeros(nv)
    ub = np.full(nv, np.inf)
    if import_kw is not None:
        ub[off["gi"] : off["gi"] + n] = import_kw * h
    rows_eq: list[sparse.coo_matrix] = []
    b_eq: list[np.ndarray] = []
    rows_ub: list[sparse.coo_matrix] = []
    b_ub: list[np.ndarray] = []
    eye = sparse.identity(n, format="coo")

    def block(parts: dict[str, sparse.spmatrix]) -> sparse.csr_matrix:
        cols = []
        for nm in names:
            cols.append(parts.get(nm, sparse.csr_matrix((n, n))))
        return sparse.hstack(cols, format="csr")

    # balance: gi - ge - c + d - e - p = house
    bal = {"gi": eye, "ge": -eye}
    # physical bounds on simultaneous flows: gi <= house + c + e + p ; ge <= d
    gi_cap = {"gi": eye}
    ge_cap: dict[str, sparse.spmatrix] = {"ge": eye}
    if battery:
        bal["c"] = -eye
        bal["d"] = eye
        gi_cap["c"] = -eye
        # the house is importing only outside the discharge part of the slot (full-power discharge)
        house_kw = np.asarray(house_kwh, float) / h
        gi_cap["d"] = sparse.diags(np.minimum(house_kw, battery.max_kw) / battery.max_kw)
        ge_cap["d"] = -eye
        ub[off["c"] : off["c"] + n] = battery.max_kw * h
        ub[off["d"] : off["d"] + n] = battery.max_kw * h
        lb[off["s"] : off["s"] + n] = battery.lo_kwh
        ub[off["s"] : off["s"] + n] = battery.hi_kwh
        # s_k - s_{k-1} - eta_c c + d/eta_d = 0 (s_0 given)
        shift = sparse.diags([np.ones(n - 1)], [-1], shape=(n, n))
        rows_eq.append(block({"s": eye - shift, "c": -battery.eta_c * eye, "d": eye / battery.eta_d}))
        rhs = np.zeros(n)
        rhs[0] = battery.soc0_kwh
        b_eq.append(rhs)
        cost[off["s"] + n - 1] -= battery.end_value_p
        cost[off["d"] : off["d"] + n] += battery.cycle_cost_p
        if battery.end_kwh is not None:
            lb[off["s"] + n - 1] = ub[off["s"] + n - 1] = battery.end_kwh
        # time-sharing: charge part + discharge part fit in the slot
        rows_ub.append(block({"c": eye / battery.max_kw, "d": eye / battery.max_kw}))
        b_ub.append(h.copy())
    if ev:
        bal["e"] = -eye
        gi_cap["e"] = -eye
        avail = np.zeros(n)
        srows, scols, svals, need = [], [], [], []
        for k, sess in enumerate(ev.sessions):
            avail[sess.first : sess.last] = 1.0
            for i in range(sess.first, sess.last):
                srows.append(k)
                scols.append(off["e"] + i)
                svals.append(1.0)
            need.append(sess.need_kwh)
        ub[off["e"] : off["e"] + n] = ev.max_kw * h * avail
        if ev.sessions:
            m = sparse.coo_matrix((svals, (srows, scols)), shape=(len(ev.sessions), nv)).tocsr()
            rows_eq.append(m)
            b_eq.append(np.asarray(need, float))
    if hp:
        bal["p"] = -eye
        gi_cap["p"] = -eye
        ub[off["p"] : off["p"] + n] = hp.max_kw * h
        lb[off["T"] : off["T"] + n] = hp.lo
        ub[off["T"] : off["T"] + n] = hp.hi
        a = 1.0 - hp.ua * h / hp.cap
        shift = sparse.diags([a[1:]], [-1], shape=(n, n))
        # T_k - a_{k-1} T_{k-1} - cop p / C = ua h To / C  (k = 1..n, T_0 given)
        rows_eq.append(block({"T": eye - shift, "p": sparse.diags(-np.asarray(hp.cop) / hp.cap)}))
        rhs = hp.ua * h * np.asarray(hp.outdoor) / hp.cap
        rhs[0] += a[0] * hp.t0
        b_eq.append(rhs)
    rows_eq.append(block(bal))
    b_eq.append(np.asarray(house_kwh, float))
    rows_ub.append(block({**gi_cap}))
    b_ub.append(np.asarray(house_kwh, float))
    if battery and not battery.allow_export:
        ub[off["ge"] : off["ge"] + n] = 0.0
    else:
        rows_ub.append(block(ge_cap))
        b_ub.append(np.zeros(n))
    a_ub = sparse.vstack(rows_ub, format="csr")
    a_eq = sparse.vstack(rows_eq, format="csr")
    bub, beq = np.concatenate(b_ub), np.concatenate(b_eq)
    res = linprog(
        cost, A_ub=a_ub, b_ub=bub, A_eq=a_eq, b_eq=beq, bounds=np.column_stack([lb, ub]), method="highs"
    )
    if res.status != 0 or res.x is None:
        return RefResult(float("nan"), str(res.message))
    x = res.x[:nv]
    grid = list(x[off["gi"] : off["gi"] + n] - x[off["ge"] : off["ge"] + n])
    return RefResult(float(res.fun), "optimal", grid)
