"""Steps 1 and 2 of ``ly-opt-dual`` (package docstring): the per-CV server model of a slot, its closed-form
split and CPU gradient, the C6 projection, the bandwidth rule and the projected descent."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ... import slot
from ...actions import layout
from ...scenario import Physical, Scenario
from ...slot import QueueState
from ..reference import TINY, _prices

BANDWIDTH_PROBE = 0.5  # band share assumed for a link without CPU, to price turning it on
NEVER_S = 1e30  # wait of an unreachable server, finish time without a server: finite, so 0 * NEVER_S = 0
NO_LOCAL, LOCAL_CHOSEN, LOCAL_JOINS = 0, 1, 2  # a CV's local part: none, the cheaper of both options, always


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


def split(m: Model, f_hz: np.ndarray, band: np.ndarray, local_mode: np.ndarray) -> CvSolution:
    """Step 1 of the package docstring: every CV's split, cost and CPU gradient for the CPU ``f_hz (E, I, K)``.

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
    """Step 2 of the package docstring: projected gradient on ``f`` with a per-env adaptive step; ``per_rsu (E,)``
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
        per_cv, per_link = ok[:, None], ok[:, None, None]
        new, old = trial.cvs, cur.cvs
        cur = Allocation(
            np.where(per_link, trial.f, cur.f),
            np.where(per_link, trial.band, cur.band),
            CvSolution(
                np.where(per_cv, new.cost, old.cost),
                np.where(per_cv, new.switch_cost, old.switch_cost),
                np.where(per_link, new.share, old.share),
                np.where(per_link, new.grad, old.grad),
                np.where(per_link, new.price, old.price),
            ),
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
