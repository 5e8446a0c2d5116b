"""``ly-opt-dual``: the per-slot problem P2 (eq. 39) decomposed over CVs, with a lower bound from its dual.

P2 couples the CVs of one slot only through the RSU CPU (C6: each RSU's
requests are scaled down when they sum above ``F^max - C^twin``,
docs/model.md#rsu-cpu).  With ``channel.bandwidth_sharing = per_cv`` every
other term splits over CVs: the cost (24), the local and virtual energy queue
drifts, and - given the CPU ``F_ik`` of each part - the RSU drift, which under
work-conserving service (docs/model.md#rsu-service) is
``sum_k Q_k/Q_ref^2 (sum_i max(lambda_ik, F_ik tau) - tau (F^max - C^twin))``.
The solver therefore works on the CPU allocation ``F (E, I, K)`` (the method
is written up in docs/model.md#per-slot-optimum):

1. **Per-CV subproblem, closed form.**  Given its CPU ``F_ik``, CV i's local
   CPU and its reachable RSUs are parallel servers: server ``s`` starts after
   its queueing delay ``w_s`` (eq. 18 or the backlog wait) and then runs at
   ``r_s`` task fractions per second (local ``C_cpu / c``; RSU
   ``F / (u F + c)`` with ``u`` the upload time of the whole task over the
   link's band, eqs. 1, 7, 13).  With the CPU given, splitting the task
   so all used servers finish together is optimal for the RSU parts, and the
   local part is either left out or joins them (the cost is then piecewise
   linear in its share); both are tried.  The finish time ``T`` solves
   ``sum_s r_s (T - w_s)^+ = 1``, the smallest fill level over the servers
   sorted by wait - exact, no iteration.  The CV's cost
   ``w_T T + sum_s l_s e_s + price . F`` (``w_T = V alpha / tau``, per-share
   energy and drift costs ``e_s``) and its gradient in ``F`` follow in
   closed form: ``dJ/dF_k = (T - w_k) r_k' (e_k - rho) + 2 w_E kappa c l_k F_k + price_k``
   with ``rho = (w_T + sum r_s e_s) / sum r_s`` over the active servers.
2. **Coordination (C6).**  Projected gradient on ``f = F / (F^max - C^twin)``:
   each RSU's column is projected onto ``{f >= 0, sum_i f_ik <= 1}``, so C6
   holds exactly and no request is ever scaled.  The gradient is scaled to
   unit max-norm over the env, or over each RSU's users (faster where a CV is
   alone on an RSU); the step adapts per env (x1.3 on success, x0.4 and retry
   on failure).  The choice of each CV between leaving out and adding a local
   part makes the problem non-convex, so the descent runs from several starts
   at once (:func:`start_allocations`: ``greedy``'s requests, claim-weighted
   and even splits of each RSU, no local parts, random local-part masks),
   each with both scalings.  Then the parts below ``action.min_task_share``
   (which the action mapping would drop) are removed and the allocation
   re-optimised.  The bandwidth of a CV's links follows the rule
   ``b_k ~ sqrt(l_k u_k)``, which minimises the summed upload time (eq. 7).
3. **Exact choice.**  The candidate actions and those of ``greedy``,
   ``local`` and ``offload`` are evaluated with the exact objective
   (``slot.evaluate``, which applies the twin's mode rule); each env plays its
   best, so ``ly-opt-dual`` is never worse than ``greedy`` on P2.
4. **Switching local parts.**  A CV's choice of its local part under the
   others' current CPU need not be the best jointly (adding a local part frees
   RSU CPU for the others, which the descent does not see).  From the best
   descent, the ``flip_cvs`` CVs closest to switching (smallest cost
   difference between both options) are switched one at a time - a local
   part forced in, or left out - each copy re-optimised briefly and evaluated
   exactly like the other candidates.

The model ignores InstrT (eq. 12; the exact evaluation still applies the
twin's choice) and, with ``per_rsu`` bandwidth, the sharing of each RSU's
band (each link gets the rule's share of its RSU's band).  Everything is
vectorised over envs, CVs and RSUs; the cost per iteration is linear in the
number of CVs (plus a sort over CVs per RSU in the projection).

**Lower bound** (:func:`lower_bound`, ``LyOptDualConfig(bound=True)``).  For
RSU prices ``mu_k >= 0``, P2 >= ``sum_i min L_i(mu) - mu . (F^max - C^twin)``
plus constants (weak duality), where ``L_i`` is CV i's Lagrangian over a
relaxation of its own action set: no upload time or energy, InstrT counted
with DataT's cycles, no minimum shares or floors, the RSU drift of a part
``Q_k max(lambda, tau F) / Q_ref^2`` (under the other service rules
``Q_k lambda / Q_ref^2``, without the credit of the CPU given), Little's-law
waits bounded below by the largest possible arrivals.  With the compute time of
an RSU part tight, ``F = l c / (T - w)``, ``L_i`` at a fixed finish time ``T``
is convex and separable in the shares: for a share price ``rho`` each link's
best share is ``l = (T - w) sqrt(b / 3 B)`` (``b = rho - e - mu c / (T - w)``,
``B = w_E kappa_rsu c^3``, capped at one and at ``F^max - C^twin``) in closed
form, and any ``rho`` gives a lower bound of the fixed-``T`` minimum.  Every
term is monotone in ``T``, so the bound on an interval ``[T_a, T_b]`` takes
``T_a`` in ``w_T T`` and ``T_b`` elsewhere; the intervals of a grid (refined
around the best) cover ``T >= 0``.  The prices are the multipliers of C6 read
off the solution (the mean marginal value of CPU of an RSU's users, zero
where an RSU has CPU left), scaled (``LyOptDualConfig.bound_price_scales``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import slot
from ..actions import layout
from ..config import Config
from ..env.core import BatchedEnv, slot_bytes
from ..scenario import Physical, Scenario
from ..slot import QueueState
from ..twin import coverage_claims
from .reference import TINY, _prices, greedy_actions, link_view

BANDWIDTH_PROBE = 0.5  # band share assumed for a link without CPU, to price turning it on
REFINED_INTERVALS = 8  # finish-time intervals of the bound refined at each level
LONGEST_S = 1e6  # the bound's finish-time grid ends here at the latest (alpha = 0: delay costs nothing)
NEVER_S = 1e30  # wait of an unreachable server, finish time without a server: finite, so 0 * NEVER_S = 0


@dataclass(frozen=True)
class LyOptDualConfig:
    """Solver budget and options; see the module docstring.

    ``iterations`` projected-gradient steps on the CPU allocation, then
    ``cleanup_iterations`` after dropping parts below the minimum task share;
    ``step`` the first step (a fraction of the largest normalised gradient);
    ``random_starts`` random local-part masks (drawn from ``seed``) besides the
    four fixed starts; ``flip_cvs`` CVs whose local part is switched in step 4,
    each re-optimised for ``flip_iterations`` steps; ``bound`` computes the
    lower bound each slot (``bound_points`` finish-time intervals per grid
    level, ``bound_refine`` refinements, ``bound_bisections`` steps on the
    share price, the best over the C6 prices times each of
    ``bound_price_scales``: read off the solution they run high, and 0.6-0.8
    of them gave bounds up to 4 % tighter at 50 x 16).

    The defaults decide a slot of 5 CVs x 3 RSUs in about 9 ms of CPU and are
    no worse than ``ly-opt`` on 99.2 % of 880 states sampled from ``greedy``
    episodes (the others at most 0.08 % above it), 1.3-3.6 % better on
    average (docs/model.md#per-slot-optimum).  Measured alternatives on the same
    states: 20/10 iterations and ten switch steps 99.4 % at 12.8 ms; without
    step 4 98.9 % (98.3 % of the benchmark's 240 states, 99.6 % with it); one
    random start 99.3 %.
    """

    iterations: int = 16
    cleanup_iterations: int = 8
    step: float = 0.05
    random_starts: int = 0
    flip_cvs: int = 5
    flip_iterations: int = 6
    seed: int = 0
    bound: bool = False
    bound_points: int = 32
    bound_refine: int = 3
    bound_bisections: int = 40
    bound_price_scales: tuple[float, ...] = (0.6, 0.8, 1.0)

    def __post_init__(self) -> None:
        for key, low in (
            ("iterations", 1),
            ("cleanup_iterations", 0),
            ("random_starts", 0),
            ("flip_cvs", 0),
            ("flip_iterations", 1),
            ("seed", 0),
            ("bound_points", 2),
            ("bound_refine", 0),
            ("bound_bisections", 1),
        ):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"ly-opt-dual {key}: must be an integer >= {low}, got {value!r}")
        if not self.bound_price_scales or min(self.bound_price_scales) < 0:
            raise ValueError(f"ly-opt-dual bound_price_scales: need one or more >= 0, got {self.bound_price_scales!r}")
        if not 0 < self.step <= 1:
            raise ValueError(f"ly-opt-dual step: must be in (0, 1], got {self.step!r}")


@dataclass
class Model:
    """The per-CV server model of one slot: ``(E, I)`` per CV, ``(E, I, K)`` per link, ``(E, K)`` per RSU."""

    cycles: np.ndarray  # c = G I_task
    reachable: np.ndarray
    upload_full_s: np.ndarray  # G / (Theta B se): the whole task over the link's whole band (eqs. 1, 7)
    wait_s: np.ndarray  # (E, I, 1+K) queueing delay of the local server, then of each RSU (NEVER_S if unreachable)
    order: np.ndarray  # (E, I, 1+K) flat indices of each CV's servers sorted by wait (see fill_time_s)
    sorted_wait_s: np.ndarray  # (E, I, 1+K) the waits in that order
    local_rate: np.ndarray  # C_cpu / c: task fractions per second
    local_cost: np.ndarray  # cost of running the whole task locally: energy (6) and local drift (16)
    share_cost: np.ndarray  # (E, I, K) drift cost per share of an RSU part: Q_k c / Q_ref^2
    cpu_price: np.ndarray  # (E, K) drift cost per Hz given: Q_k tau / Q_ref^2 (allocated: its negative)
    work_conserving: bool  # RSU drift Q_k max(lambda, tau F) / Q_ref^2 per part, else share_cost and cpu_price
    backlog: bool  # some RSU holds a backlog (else the RSU drift does not depend on the action)
    slot_s: float
    w_t: float  # objective per second of delay
    w_e: np.ndarray  # (E, I) objective per joule
    kappa_rsu: float
    tx_power_w: float
    available_hz: float
    kappa_cycles: np.ndarray = field(init=False)  # (E, I, 1) kappa_rsu c: energy per Hz^2 of an RSU part
    curvature: np.ndarray = field(init=False)  # (E, I, 1) 2 w_E kappa_rsu c: the energy term's gradient factor

    def __post_init__(self) -> None:
        c = self.cycles[..., None]
        self.kappa_cycles = self.kappa_rsu * c
        self.curvature = 2.0 * self.w_e[..., None] * self.kappa_rsu * c


def build_model(scn: Scenario, phys: Physical, q: QueueState, waits_s: tuple[np.ndarray, np.ndarray]) -> Model:
    """The model of every env's slot; ``waits_s`` = (local (E, I), RSU (E, K)) queueing delays."""
    cfg, norm = scn.cfg, scn.norm
    _, reachable, se = slot.link_channel(scn, phys)
    cycles = phys.data_bits * phys.intensity_cycles_per_bit
    full_rate = cfg.channel.sensing_gain * cfg.channel.bandwidth_hz * se
    w_t, w_e = _prices(scn, q)
    qref2 = norm.queue_ref_cycles**2
    beta = q.rsu_cycles / qref2
    price = beta * cfg.slot_s * {"work_conserving": 1.0, "allocated": -1.0, "capacity": 0.0}[cfg.rsu.service]
    local_wait, rsu_wait = waits_s
    wait = np.concatenate([local_wait[..., None], np.broadcast_to(rsu_wait[:, None, :], reachable.shape)], -1)
    wait = np.where(np.concatenate([np.ones(local_wait.shape + (1,), bool), reachable], -1), wait, NEVER_S)
    rows = np.arange(wait.size // wait.shape[-1]).reshape(wait.shape[:-1] + (1,))
    order = np.argsort(wait, axis=-1, kind="stable") + rows * wait.shape[-1]
    return Model(
        cycles=cycles,
        reachable=reachable,
        upload_full_s=np.where(reachable, phys.data_bits[..., None] / np.maximum(full_rate, TINY), 0.0),
        wait_s=wait,
        order=order,
        sorted_wait_s=np.sort(wait, axis=-1),
        local_rate=phys.cpu_hz / cycles,
        local_cost=np.broadcast_to(w_e, cycles.shape) * cfg.vehicle.kappa * cycles * phys.cpu_hz**2
        + q.local_cycles * cycles / qref2,
        share_cost=beta[:, None, :] * cycles[..., None],
        cpu_price=price,
        work_conserving=cfg.rsu.service == "work_conserving",
        backlog=bool((q.rsu_cycles > 0).any()),
        slot_s=cfg.slot_s,
        w_t=w_t,
        w_e=np.broadcast_to(w_e, cycles.shape),
        kappa_rsu=cfg.rsu.kappa,
        tx_power_w=cfg.channel.tx_power_w,
        available_hz=scn.rsu_available_hz,
    )


def fill_time_s(rate: np.ndarray, sorted_wait_s: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``T`` with ``sum_s rate_s (T - wait_s)^+ = 1`` over the last axis (``NEVER_S`` if every rate is 0).

    The left side is increasing and above each of its prefix linearisations, so
    ``T`` is the smallest prefix fill level ``(1 + sum r w) / sum r`` over the
    servers sorted by wait: ``order`` indexes the flattened trailing axes of
    ``rate`` in that order and ``sorted_wait_s`` holds the waits in it
    (:attr:`Model.order`, :attr:`Model.sorted_wait_s`); leading axes are kept.
    """
    lead = rate.shape[: rate.ndim - sorted_wait_s.ndim]
    r = rate.reshape(lead + (-1,))[..., order]
    level = (1.0 + np.cumsum(r * sorted_wait_s, -1)) / np.maximum(np.cumsum(r, -1), TINY)
    return np.minimum(level.min(-1), NEVER_S)


@dataclass
class CvSolution:
    """Each CV's best split for given CPU: cost ``(E, I)``, shares ``(E, I, 1+K)``, gradient."""

    cost: np.ndarray
    switch_cost: np.ndarray  # (E, I) how much more the other local option costs under this CPU
    share: np.ndarray
    grad: np.ndarray  # (E, I, K) d cost / d F_ik, per Hz
    price: np.ndarray  # (E, I, K) the drift's share of it: cost per Hz of a part's CPU

    def where(self, take: np.ndarray, other: CvSolution) -> CvSolution:
        """``self`` where ``take (E,)`` or ``(E, I)``, else ``other``."""

        def pick(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.where(take.reshape(take.shape + (1,) * (a.ndim - take.ndim)), a, b)

        return CvSolution(*(pick(a, b) for a, b in zip(vars(self).values(), vars(other).values(), strict=True)))


def split(m: Model, f_hz: np.ndarray, band: np.ndarray, local_mode: np.ndarray) -> CvSolution:
    """Step 1 of the module docstring: every CV's split, cost and CPU gradient for the CPU ``f_hz (E, I, K)``.

    Both local options (left out, joining the RSU parts) are solved at once along a leading axis of two;
    ``local_mode (E, I)`` says which a CV may take (``NO_LOCAL``, ``LOCAL_CHOSEN``: the cheaper, ``LOCAL_JOINS``).
    """
    c = m.cycles[..., None]
    upload = m.upload_full_s / np.where(band > 0, band, BANDWIDTH_PROBE)  # u_k, eq. (7) per unit share
    denom = upload * f_hz + c
    servers = f_hz.shape[:-1] + (f_hz.shape[-1] + 1,)
    rate = np.empty((2,) + servers)
    np.divide(f_hz, denom, out=rate[..., 1:])  # f is 0 where an RSU is out of reach (project_columns)
    rate[0, ..., 0] = 0.0
    rate[1, ..., 0] = m.local_rate * (local_mode != NO_LOCAL)
    t = fill_time_s(rate, m.sorted_wait_s, m.order)  # (2, E, I)
    t_col = t[..., None]
    active = np.where(m.wait_s < t_col, rate, 0.0)
    share = active * (t_col - m.wait_s)
    e_all = np.empty((2,) + servers)
    e_all[..., 0] = m.local_cost
    np.multiply(m.w_e[..., None], m.tx_power_w * upload + m.kappa_cycles * f_hz**2, out=e_all[..., 1:])
    e_rsu = e_all[..., 1:]
    # the RSU drift of a part: per share or per Hz (work-conserving: whichever of lambda, tau F is larger)
    if not m.backlog:
        price = np.zeros(f_hz.shape)
    elif m.work_conserving:
        per_share = share[..., 1:] * c > m.slot_s * f_hz
        price = np.where(per_share, 0.0, m.cpu_price[:, None, :])
        e_rsu += np.where(per_share, m.share_cost, 0.0)
    else:
        price = np.broadcast_to(m.cpu_price[:, None, :], f_hz.shape)
        e_rsu += m.share_cost
    cost = m.w_t * t + (share * e_all).sum(-1) + (price * f_hz).sum(-1)
    rho = (m.w_t + (active * e_all).sum(-1)) / np.maximum(active.sum(-1), TINY)
    slack = np.maximum(np.minimum(t, 1e6)[..., None] - m.wait_s[..., 1:], 0.0)  # 0 on a server-less option
    grad = slack * c / denom**2 * (e_rsu - rho[..., None])
    grad += m.curvature * share[..., 1:] * f_hz + price
    one = (cost[1] < cost[0]) | (local_mode == LOCAL_JOINS)
    both = one[..., None]
    return CvSolution(
        np.where(one, cost[1], cost[0]),
        np.abs(cost[1] - cost[0]),
        np.where(both, share[1], share[0]),
        np.where(both, grad[1], grad[0]),
        np.where(both, price[1], price[0]) if price.ndim > f_hz.ndim else price,
    )


def project_columns(f: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Euclidean projection of each RSU's column of ``f (E, I, K)`` onto ``{f >= 0, sum_i f_ik <= 1}``
    (C6 in units of ``F^max - C^twin``), with the entries outside ``allowed`` held at 0."""
    f = np.where(allowed, np.maximum(f, 0.0), 0.0)
    over = f.sum(-2) > 1.0
    if not over.any():
        return f
    desc = np.sort(f, axis=-2)[..., ::-1, :]
    excess = np.cumsum(desc, -2) - 1.0
    rank = np.arange(1, f.shape[-2] + 1)[:, None]
    count = (desc * rank > excess).sum(-2, keepdims=True)
    theta = np.where(rank == count, excess, 0.0).sum(-2, keepdims=True) / count  # excess at row count - 1
    return np.where(over[:, None, :], np.maximum(f - theta, 0.0), f)


def bandwidth_rule(m: Model, share: np.ndarray, used: np.ndarray, sharing: str, floor: float) -> np.ndarray:
    """Band shares ``b (E, I, K)`` proportional to ``sqrt(l_k u_k)`` over each CV's (or, ``per_rsu``, each
    RSU's) used links: the split minimising the summed upload time ``sum_k l_k u_k / b_k`` (eq. 7).  As in
    the action mapping (C4), weights are floored at ``floor`` times the largest (:func:`to_actions`)."""
    axis = (-1,) if sharing == "per_cv" else (-1, -2)
    w = np.where(used, np.sqrt(np.maximum(share, 0.0) * m.upload_full_s), 0.0)
    w = np.where(used, np.maximum(w, floor * w.max(axis=axis, keepdims=True)), 0.0)
    total = w.sum(-1 if sharing == "per_cv" else -2, keepdims=True)
    return w / np.maximum(total, TINY)


@dataclass
class Allocation:
    """A CPU allocation ``f`` (fraction of ``F^max - C^twin``), the bands and the CVs' splits under it."""

    f: np.ndarray
    band: np.ndarray
    cvs: CvSolution


def descend(
    m: Model,
    start: Allocation,
    allowed: np.ndarray,
    local_mode: np.ndarray,
    sharing: str,
    floor: float,
    iterations: int,
    step: float,
    per_rsu: np.ndarray,
) -> Allocation:
    """Step 2 of the module docstring: projected gradient on ``f`` with a per-env adaptive step; ``per_rsu (E,)``
    scales the gradient per RSU instead of per env (faster where one CV is alone on an RSU)."""
    cur = start
    total = cur.cvs.cost.sum(-1)
    lr = np.full(total.shape, step)
    by_rsu = per_rsu[:, None, None]
    for _ in range(iterations):
        g = cur.cvs.grad * m.available_hz
        # the gradient scaled to unit max-norm over the env, or over each RSU's users where ``per_rsu``
        size = np.abs(g)
        scale = np.maximum(
            np.where(by_rsu, size.max(axis=-2, keepdims=True), size.max(axis=(-1, -2), keepdims=True)), TINY
        )
        f = project_columns(cur.f - lr[:, None, None] * g / scale, allowed)
        band = bandwidth_rule(m, cur.cvs.share[..., 1:], f > 0, sharing, floor)
        trial = Allocation(f, band, split(m, f * m.available_hz, band, local_mode))
        trial_total = trial.cvs.cost.sum(-1)
        ok = trial_total <= total
        cur = Allocation(
            np.where(ok[:, None, None], trial.f, cur.f),
            np.where(ok[:, None, None], trial.band, cur.band),
            trial.cvs.where(ok, cur.cvs),
        )
        total = np.where(ok, trial_total, total)
        lr = np.where(ok, lr * 1.3, lr * 0.4)
    return cur


def to_actions(scn: Scenario, alloc: Allocation) -> np.ndarray:
    """The ``(E, I, 1+3K)`` actions (layout in :mod:`isac_iov.actions`) that reproduce an allocation."""
    lay = layout(scn.num_rsus)
    share = alloc.cvs.share
    used = share[..., 1:] > 0
    axis = (-1,) if scn.cfg.channel.bandwidth_sharing == "per_cv" else (-1, -2)
    band = alloc.band / np.maximum(np.where(used, alloc.band, 0.0).max(axis=axis, keepdims=True), TINY)
    a = np.zeros(share.shape[:-1] + (lay.dim,))
    a[..., lay.split] = np.clip(share, 0.0, 1.0)  # a share may exceed one by a rounding error
    a[..., lay.bandwidth] = np.where(used, np.clip(band, 0.0, 1.0), 0.0)
    a[..., lay.cpu] = np.where(used, np.clip(alloc.f, 0.0, 1.0), 0.0)
    return a


def prices_per_hz(m: Model, alloc: Allocation) -> np.ndarray:
    """The multiplier ``mu_k >= 0`` of C6 read off an allocation ``(E, K)``: the ``f``-weighted mean marginal
    value of CPU (``-dJ/dF`` net of the drift price) of RSU k's users where it is fully booked, else 0."""
    value = alloc.cvs.price - alloc.cvs.grad
    weight = alloc.f.sum(-2)
    mean = (alloc.f * value).sum(-2) / np.maximum(weight, TINY)
    return np.where(weight >= 1.0 - 1e-9, np.maximum(mean, 0.0), 0.0)


@dataclass
class SlotResult:
    """What :func:`solve_slot` returns: actions ``(E, I, 1+3K)``, their P2 objective ``(E,)``, the RSU
    prices ``(E, K)`` per Hz, the lower bound ``(E,)`` (NaN unless asked for) and which candidate won."""

    actions: np.ndarray
    objective: np.ndarray
    prices: np.ndarray
    bound: np.ndarray
    source: np.ndarray  # (E,) index into source_names(random_starts, min(flip_cvs, I))


FIXED_STARTS = ("greedy", "claims", "even", "no-local")  # the first starts of the descent (start_allocations)
NO_LOCAL, LOCAL_CHOSEN, LOCAL_JOINS = 0, 1, 2  # a CV's local part: none, the cheaper of both options, always


def source_names(random_starts: int, flip_cvs: int) -> tuple[str, ...]:
    """What each value of :attr:`SlotResult.source` names: a start of the descent, before or after dropping
    small parts, or a reference policy."""
    starts = FIXED_STARTS + tuple(f"random-local-{j}" for j in range(random_starts))
    return (
        tuple(
            f"{name}{scaling}{stage}" for stage in ("", " cleaned") for scaling in ("", " per-RSU") for name in starts
        )
        + ("greedy", "local", "offload")
        + tuple(f"switch {j}" for j in range(flip_cvs))
    )


def _reference_actions(scn: Scenario, phys: Physical, q: QueueState) -> list[np.ndarray]:
    """The actions of ``greedy``, ``local`` and ``offload`` (:mod:`.reference`) for every env."""
    lay = layout(scn.num_rsus)
    greedy = greedy_actions(scn, phys, q, link_view(scn, phys))
    local = np.zeros_like(greedy)
    local[..., lay.local] = 1.0
    offload = np.zeros_like(greedy)
    offload[..., lay.task] = 1.0
    offload[..., lay.bandwidth] = 1.0
    offload[..., lay.cpu] = 1.0 / scn.num_cvs
    return [greedy, local, offload]


def start_allocations(
    greedy_cpu: np.ndarray, reachable: np.ndarray, random_starts: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The starts ``(S, E, I, K)`` of the descent and where each lets a CV run a local part ``(S, E, I)``:
    ``greedy``'s CPU requests; each RSU split by the CVs' claims ``1 / n_i`` (docs/model.md#twin-view); each
    RSU split evenly; ``greedy``'s requests with no local part (``FIXED_STARTS``); then ``random_starts``
    times ``greedy``'s requests with a local part allowed to each CV with probability 1/2 (one draw for all
    envs, so an env's decision does not depend on the batch it is solved in).  Each CV chooses
    between leaving out and adding a local part as it goes, which is not convex: the masks explore the
    choices the descent does not cross.  A CV that reaches no RSU always runs locally."""
    claims = coverage_claims(reachable)
    even = reachable.astype(float)
    f = np.stack(
        [
            greedy_cpu,
            claims / np.maximum(claims.sum(-2, keepdims=True), TINY),
            even / np.maximum(even.sum(-2, keepdims=True), 1.0),
        ]
        + [greedy_cpu] * (1 + random_starts)
    )
    num_cvs = greedy_cpu.shape[-2]
    local = np.full(f.shape[:-1], LOCAL_CHOSEN)
    local[FIXED_STARTS.index("no-local")] = NO_LOCAL
    draws = rng.uniform(size=(random_starts, 1, num_cvs)) < 0.5  # the same in every env
    local[len(FIXED_STARTS) :] = np.where(draws, LOCAL_CHOSEN, NO_LOCAL)
    return f, np.where(reachable.any(-1), local, LOCAL_CHOSEN)


def _evaluate_all(scn: Scenario, phys: Physical, q: QueueState, candidates: np.ndarray) -> np.ndarray:
    """The exact P2 objective ``(C, E)`` of candidate actions ``(C, E, I, 1+3K)``, in one batch."""
    c, e = candidates.shape[:2]
    which = np.tile(np.arange(e), c)
    flat = candidates.reshape((-1,) + candidates.shape[2:])
    return slot.evaluate(scn, phys.take(which), q.take(which), flat).objective.reshape(c, e)


def _flip(
    scn: Scenario,
    phys: Physical,
    q: QueueState,
    greedy_out: slot.Outcome,
    f_best: np.ndarray,
    switch: np.ndarray,
    local_in: np.ndarray,
    per_rsu: np.ndarray,
    config: LyOptDualConfig,
) -> np.ndarray:
    """Step 4 of the module docstring: actions ``(J, E, I, 1+3K)`` re-optimised from the allocation ``f_best``
    with the local part of one CV switched (the ``J`` CVs of smallest ``switch`` cost), the others free."""
    cfg = scn.cfg
    e, i = switch.shape
    j = min(config.flip_cvs, i)
    env = np.arange(e)
    flipped = np.argsort(switch, axis=-1, kind="stable")[:, :j].T  # (J, E)
    copies = np.tile(env, j)
    waits = (greedy_out.local_queue_delay_s[copies], greedy_out.rsu_queue_delay_s[copies])
    m = build_model(scn, phys.take(copies), q.take(copies), waits)
    mode = np.full((j, e, i), LOCAL_CHOSEN)
    opposite = np.where(local_in[env, flipped], NO_LOCAL, LOCAL_JOINS)
    mode[np.arange(j)[:, None], env, flipped] = opposite
    mode = np.where(m.reachable.reshape(j, e, i, -1).any(-1), mode, LOCAL_CHOSEN).reshape(m.cycles.shape)
    sharing, floor = cfg.channel.bandwidth_sharing, cfg.action.min_resource_share
    f0 = np.tile(f_best, (j, 1, 1))
    band0 = bandwidth_rule(m, np.ones(f0.shape), f0 > 0, sharing, floor)
    start = Allocation(f0, band0, split(m, f0 * m.available_hz, band0, mode))
    out = descend(m, start, m.reachable, mode, sharing, floor, config.flip_iterations, config.step, np.tile(per_rsu, j))
    return to_actions(scn, out).reshape((j, e) + f_best.shape[1:-1] + (layout(scn.num_rsus).dim,))


def solve_slot(scn: Scenario, phys: Physical, q: QueueState, config: LyOptDualConfig) -> SlotResult:
    """Solve P2 for every env of a batch (module docstring, steps 1-3)."""
    cfg = scn.cfg
    lay = layout(scn.num_rsus)
    e = q.local_cycles.shape[0]
    refs = _reference_actions(scn, phys, q)
    greedy_out = slot.evaluate(scn, phys, q, refs[0])
    # every start is solved as an env of its own: the batch holds S copies of each env
    num_starts = 2 * (len(FIXED_STARTS) + config.random_starts)  # each start with both gradient scalings
    copies = np.tile(np.arange(e), num_starts)
    per_rsu = np.repeat([False, True], num_starts // 2 * e)
    phys_s, q_s = phys.take(copies), q.take(copies)
    waits = (greedy_out.local_queue_delay_s[copies], greedy_out.rsu_queue_delay_s[copies])
    m = build_model(scn, phys_s, q_s, waits)
    sharing, floor = cfg.channel.bandwidth_sharing, cfg.action.min_resource_share
    rng = np.random.default_rng(config.seed)
    starts, local_start = start_allocations(refs[0][..., lay.cpu], m.reachable[:e], config.random_starts, rng)
    f0 = project_columns(np.concatenate([starts, starts]).reshape((-1,) + starts.shape[2:]), m.reachable)
    local_start = np.concatenate([local_start, local_start]).reshape(m.cycles.shape)
    band0 = bandwidth_rule(m, np.ones(f0.shape), f0 > 0, sharing, floor)
    start = Allocation(f0, band0, split(m, f0 * m.available_hz, band0, local_start))
    first = descend(m, start, m.reachable, local_start, sharing, floor, config.iterations, config.step, per_rsu)
    # drop the parts the action mapping would drop, and re-optimise without them
    small = (first.cvs.share > 0) & (first.cvs.share < cfg.action.min_task_share)
    allowed = m.reachable & ~small[..., 1:]
    local_mode = np.where(small[..., 0], NO_LOCAL, local_start)
    local_mode = np.where(allowed.any(-1), local_mode, LOCAL_CHOSEN)  # a CV keeps a server
    f1 = np.where(allowed, first.f, 0.0)
    restart = Allocation(f1, first.band, split(m, f1 * m.available_hz, first.band, local_mode))
    cleaned = descend(m, restart, allowed, local_mode, sharing, floor, config.cleanup_iterations, config.step, per_rsu)
    candidates = np.concatenate(
        [to_actions(scn, solved).reshape((-1,) + refs[0].shape) for solved in (first, cleaned)]
        + [a[None] for a in refs]
    )  # (C, E, I, 1+3K): the descents' results, then the references
    objective = _evaluate_all(scn, phys, q, candidates)
    env = np.arange(e)
    if config.flip_cvs:
        # step 4: from the best descent, switch the local part of the CVs closest to switching, one at a time
        solved = 2 * num_starts
        pick = np.argmin(objective[:solved], axis=0)
        row = (pick % num_starts) * e + env
        in_first = pick < num_starts
        f_best = np.where(in_first[:, None, None], first.f[row], cleaned.f[row])
        switch = np.where(in_first[:, None], first.cvs.switch_cost[row], cleaned.cvs.switch_cost[row])
        local_in = np.where(in_first[:, None], first.cvs.share[row, :, 0], cleaned.cvs.share[row, :, 0]) > 0
        flips = _flip(scn, phys, q, greedy_out, f_best, switch, local_in, per_rsu[row], config)
        candidates = np.concatenate([candidates, flips])
        objective = np.concatenate([objective, _evaluate_all(scn, phys, q, flips)])
    best = np.argmin(objective, axis=0)
    # the prices of C6 at the best descent's allocation (the first start where a reference won)
    descent = np.where(best < num_starts * 2, best % num_starts, 0)
    prices = prices_per_hz(m, cleaned).reshape(num_starts, e, -1)[descent, env]
    bound = best_bound(scn, phys, q, prices, config) if config.bound else np.full(e, np.nan)
    return SlotResult(candidates[best, env], objective[best, env], prices, bound, best)


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


MODEL_ARRAYS = 48  # (2, starts x E, I, 1+K) float arrays alive at once in a descent step, generously
BOUND_ARRAYS = 24  # (E, I, intervals, L) float arrays alive at once in the bound


def decision_bytes(config: LyOptDualConfig, cfg: Config, num_envs: int) -> int:
    """Estimated peak memory of one decision for ``num_envs`` envs: the descents' arrays, the exact evaluation
    of every candidate, and the bound's grid when it is computed."""
    i, k = cfg.num_cvs, cfg.num_rsus
    starts = 2 * (len(FIXED_STARTS) + config.random_starts)
    descent = 2 * starts * i * (k + 1) * 8 * MODEL_ARRAYS
    candidates = (2 * starts + 3) * slot_bytes(cfg)
    intervals = config.bound_points * max(REFINED_INTERVALS, 1)
    bound = i * intervals * k * 8 * BOUND_ARRAYS if config.bound else 0
    return num_envs * (descent + candidates + bound)


class LyOptDualPolicy:
    """Centralised oracle: P2 (eq. 39) decomposed over CVs, every env of a batch at once (module docstring)."""

    name = "ly-opt-dual"

    def __init__(self, config: LyOptDualConfig | None = None):
        self.config = config or LyOptDualConfig()
        self.last: SlotResult | None = None  # the last slot's result: objective, prices, bound, source

    def reset(self, env: BatchedEnv) -> None:
        return None

    def act(self, env: BatchedEnv, obs: np.ndarray) -> np.ndarray:
        phys, q = env.snapshot()
        self.last = solve_slot(env.scn, phys, q, self.config)
        return self.last.actions
