"""The lower bound of ``ly-opt-dual`` (:func:`lower_bound`, ``LyOptDualConfig(bound=True)``).

For RSU prices ``mu_k >= 0``, P2 >= ``sum_i min L_i(mu) - mu . (F^max - C^twin)`` plus constants (weak
duality), where ``L_i`` is CV i's Lagrangian over a relaxation of its own action set: no upload time or
energy, InstrT counted with DataT's cycles, no minimum shares or floors, the RSU drift of a part ``Q_k
max(lambda, tau F) / Q_ref^2`` (under the other service rules ``Q_k lambda / Q_ref^2``, without the credit of
the CPU given), Little's-law waits bounded below by the largest possible arrivals. With the compute time of an
RSU part tight, ``F = l c / (T - w)``, ``L_i`` at a fixed finish time ``T`` is convex and separable in the
shares: for a share price ``rho`` each link's best share is ``l = (T - w) sqrt(b / 3 B)`` (``b = rho - e - mu
c / (T - w)``, ``B = w_E kappa_rsu c^3``, capped at one and at ``F^max - C^twin``) in closed form, and any
``rho`` gives a lower bound of the fixed-``T`` minimum. Every term is monotone in ``T``, so the bound on an
interval ``[T_a, T_b]`` takes ``T_a`` in ``w_T T`` and ``T_b`` elsewhere; the intervals of a grid (refined
around the best) cover ``T >= 0``. The prices are the multipliers of C6 read off the solution (the mean
marginal value of CPU of an RSU's users, zero where an RSU has CPU left), scaled
(``LyOptDualConfig.bound_price_scales``).
"""

from __future__ import annotations

import numpy as np

from ... import slot
from ...scenario import Physical, Scenario
from ...slot import QueueState
from ..reference import TINY, _prices
from .config import LyOptDualConfig

REFINED_INTERVALS = 8  # finish-time intervals of the bound refined at each level
LONGEST_S = 1e6  # the bound's finish-time grid ends here at the latest (alpha = 0: delay costs nothing)


def best_bound(scn: Scenario, phys: Physical, q: QueueState, prices: np.ndarray, config: LyOptDualConfig) -> np.ndarray:
    """The best :func:`lower_bound` ``(E,)`` over the RSU prices ``prices (E, K)`` times each of
    ``config.bound_price_scales`` (weak duality holds at any prices >= 0)."""
    return np.max([lower_bound(scn, phys, q, scale * prices, config) for scale in config.bound_price_scales], 0)


def _bound_waits_s(scn: Scenario, phys: Physical, q: QueueState) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds of the queueing delays ``(local (E, I), RSU (E, K))`` over every action."""
    if scn.cfg.lyapunov.queue_delay == "backlog":
        return slot.queueing_delay_s(scn, phys, q, np.zeros(phys.cpu_hz.shape), np.zeros(q.rsu_cycles.shape))
    # eq. (18) falls with the slot's arrivals: bound them by the whole task (local) and by every task
    # of every CV in reach, co-transformation included (RSU)
    cycles = phys.data_bits * phys.intensity_cycles_per_bit
    _, reachable, _ = slot.link_channel(scn, phys)
    most = reachable * (phys.data_bits * (phys.intensity_cycles_per_bit + phys.cotransform_cycles_per_bit))[..., None]
    return slot.queueing_delay_s(scn, phys, q, cycles, most.sum(-2))


def lower_bound(
    scn: Scenario, phys: Physical, q: QueueState, prices: np.ndarray, config: LyOptDualConfig
) -> np.ndarray:
    """A lower bound ``(E,)`` of the P2 objective (eq. 39) over all actions: the dual function at the RSU CPU
    prices ``prices (E, K)`` (per Hz) of the relaxation in the module docstring."""
    cfg, norm = scn.cfg, scn.norm
    e, i = q.local_cycles.shape
    _, reachable, _ = slot.link_channel(scn, phys)
    local_wait, rsu_wait = _bound_waits_s(scn, phys, q)
    w_t, w_e = _prices(scn, q)
    w_e = np.broadcast_to(w_e, (e, i))
    qref2 = norm.queue_ref_cycles**2
    beta = q.rsu_cycles / qref2
    tau, avail = cfg.slot_s, scn.rsu_available_hz
    cycles = phys.data_bits * phys.intensity_cycles_per_bit
    beta_c = beta[:, None, :] * cycles[..., None]  # (E, I, K)
    work_conserving = cfg.rsu.service == "work_conserving"
    local_cost = (w_e * cfg.vehicle.kappa * cycles * phys.cpu_hz**2 + q.local_cycles * cycles / qref2)[..., None]
    local_rate = phys.cpu_hz / cycles
    cube = w_e * cfg.rsu.kappa * cycles**3  # B
    # each CV's links, reachable ones first, cut to the most any CV reaches: (E, I, L) with L <= K
    links = np.argsort(~reachable, axis=-1, kind="stable")[..., : max(int(reachable.sum(-1).max()), 1)]
    link_ok = np.take_along_axis(reachable, links, -1)
    link_wait = np.take_along_axis(np.broadcast_to(rsu_wait[:, None, :], reachable.shape), links, -1)
    link_price = np.take_along_axis(np.broadcast_to(prices[:, None, :], reachable.shape), links, -1)
    link_beta_c = np.take_along_axis(beta_c, links, -1)
    budget = cfg.lyapunov.energy_budget_j_per_cv * (scn.num_cvs if cfg.lyapunov.energy_queue == "system" else 1)
    # constants of eq. (39): the service terms of the local and RSU drifts, the energy budgets, mu . capacity
    constant = (
        -(q.local_cycles * phys.cpu_hz * tau).sum(-1) / qref2
        - (beta * tau * avail).sum(-1)
        - (q.energy_j * budget).sum(-1) / norm.energy_queue_ref_j**2
        - (prices * avail).sum(-1)
    )

    def fixed_t(t: np.ndarray) -> np.ndarray:
        """``max_rho D(T, rho) - w_T T`` at finish times ``t (E, I, P)``: CV i's relaxed Lagrangian at a fixed
        ``T`` less its delay term (weak duality in ``rho``: any price gives a lower bound; bisection)."""
        s = t[..., None] - link_wait[:, :, None, :]  # (E, I, P, L)
        ok = link_ok[:, :, None, :] & (s > 0)
        s = np.where(ok, s, 1.0)
        cap = np.where(ok, np.minimum(1.0, s * avail / cycles[..., None, None]), 0.0)
        # per-share cost of an RSU part with F = l c / s: mu_k F plus the RSU drift
        # (work-conserving: Q_k max(lambda, tau F) / Q_ref^2; otherwise Q_k lambda / Q_ref^2)
        drift = link_beta_c[:, :, None, :] * (np.maximum(1.0, tau / s) if work_conserving else 1.0)
        lin = link_price[:, :, None, :] * cycles[..., None, None] / s + drift
        curv = cube[..., None, None] / s**2
        l0_cap = np.clip((t - local_wait[..., None]) * local_rate[..., None], 0.0, 1.0)

        def value(rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            b = rho[..., None] - lin
            ls = np.where(b > 0, np.minimum(np.sqrt(np.maximum(b, 0.0) / (3.0 * curv)), cap), 0.0)
            psi = curv * ls**3 - b * ls  # min over 0 <= l <= cap of curv l^3 - b l
            short = 1.0 - ls.sum(-1) - np.where(rho > local_cost, l0_cap, 0.0)
            return rho + psi.sum(-1) + np.minimum(local_cost - rho, 0.0) * l0_cap, short

        hi = np.maximum(local_cost, (lin + 3.0 * curv).max(-1, initial=0.0)) + 1.0  # every share at its cap
        lo = np.zeros(hi.shape)
        best = np.full(hi.shape, -np.inf)
        for _ in range(config.bound_bisections):
            rho = 0.5 * (lo + hi)
            val, short = value(rho)
            best = np.maximum(best, val)
            lo, hi = np.where(short > 0, rho, lo), np.where(short > 0, hi, rho)
        val, short = value(hi)
        # every share at its cap and still short of the task: nothing finishes by T, the dual is unbounded
        return np.where(short > 0, np.inf, np.maximum(best, val))

    # Every term but w_T T falls with T, so on [T_a, T_b] the Lagrangian is at least w_T T_a + fixed_t(T_b).
    # Grid 0 .. t_max (w_T t_max exceeds the cost of running the task locally, and beyond t_max the
    # Lagrangian is at least w_T T: rho = 0), refined ``bound_refine`` times around its lowest intervals.
    t_max = np.clip(local_wait + 1.0 / local_rate + local_cost[..., 0] / max(w_t, TINY), 1e-3, LONGEST_S)
    n = config.bound_points
    lo_t = np.zeros((e, i, 1))
    width = t_max[..., None]
    best = np.broadcast_to(w_t * t_max, (e, i))
    for _ in range(config.bound_refine + 1):
        step = width / n
        starts = (lo_t[..., None] + step[..., None] * np.arange(n)).reshape(e, i, -1)
        widths = np.repeat(step, n, axis=-1)
        bounds = w_t * starts + fixed_t(starts + widths)
        keep = np.argsort(bounds, axis=-1)[..., : min(REFINED_INTERVALS, bounds.shape[-1])]
        rest = bounds.copy()
        np.put_along_axis(rest, keep, np.inf, -1)
        best = np.minimum(best, rest.min(-1))  # intervals not refined keep their bound
        lo_t, width = np.take_along_axis(starts, keep, -1), np.take_along_axis(widths, keep, -1)
        last = np.take_along_axis(bounds, keep, -1)
    return np.minimum(best, last.min(-1)).sum(-1) + constant
