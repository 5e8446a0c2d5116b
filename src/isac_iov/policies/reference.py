"""Hand-made reference policies: ``local``, ``offload``, ``random``, ``greedy`` and ``greedy-blind``.

All act on every env at once and return ``(E, I, 1+3K)`` actions in ``[0, 1]``
(layout in :mod:`isac_iov.actions`).  ``local``, ``offload`` and ``greedy`` are
deterministic functions of the state; ``random`` draws from its own generator,
seeded at construction, so a run is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import slot
from ..actions import ActionLayout, layout
from ..env.core import BatchedEnv
from ..physics import channel
from ..scenario import Physical, Scenario
from ..slot import QueueState
from ..twin import coverage_claims

TINY = 1e-300  # floor of a sum or frequency that may be zero, so dividing by it stays finite


def _zeros(env: BatchedEnv) -> tuple[np.ndarray, ActionLayout]:
    """All-zero actions for ``env`` and their layout."""
    parts = layout(env.num_rsus)
    return np.zeros((env.num_envs, env.num_cvs, parts.dim)), parts


class LocalPolicy:
    """Every task runs entirely on its CV: local weight 1, all RSU weights 0."""

    name = "local"

    def reset(self, env: BatchedEnv) -> None:
        return None

    def act(self, env: BatchedEnv, obs: np.ndarray) -> np.ndarray:
        a, parts = _zeros(env)
        a[..., parts.local] = 1.0
        return a


class OffloadPolicy:
    """Everything offloaded, split evenly over the reachable RSUs.

    Local weight 0, every RSU task weight 1 (coverage masking drops the
    unreachable ones; with none reachable the task stays local), equal bandwidth
    weights and a CPU request of ``1 / I`` at every RSU, so no RSU is ever
    over-subscribed and each CV gets the same slice wherever it offloads.
    """

    name = "offload"

    def reset(self, env: BatchedEnv) -> None:
        return None

    def act(self, env: BatchedEnv, obs: np.ndarray) -> np.ndarray:
        a, parts = _zeros(env)
        a[..., parts.task] = 1.0
        a[..., parts.bandwidth] = 1.0
        a[..., parts.cpu] = 1.0 / env.num_cvs
        return a


class RandomPolicy:
    """Uniform ``[0, 1]`` actions from a generator seeded once at construction."""

    name = "random"

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def reset(self, env: BatchedEnv) -> None:
        return None

    def act(self, env: BatchedEnv, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(size=(env.num_envs, env.num_cvs, layout(env.num_rsus).dim))


@dataclass
class LinkView:
    """What the greedy rule reads per link ``(E, I, K)``: coverage and full-band upload time."""

    reachable: np.ndarray
    upload_s: np.ndarray


def link_view(scn: Scenario, phys: Physical) -> LinkView:
    """Coverage (docs/model.md#coverage) and the eq. (1)/(7) upload time of the whole task over the whole band."""
    _, reachable, se = slot.link_channel(scn, phys)
    rate = channel.rate_bps(1.0, se, scn.cfg.channel.bandwidth_hz, scn.cfg.channel.sensing_gain)
    return LinkView(reachable, phys.data_bits[..., None] / rate)


def water_fill(rate: np.ndarray, wait_s: np.ndarray, portion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split ``portion (...)`` of a task over parallel servers ``(..., N)`` so that all used ones finish together.

    Server ``n`` starts after ``wait_s`` and then does ``rate`` task-fractions per second
    (``rate = 0``: unusable).  Returns the finish time ``T`` and the parts
    ``x_n = rate_n max(T - wait_n, 0)``, which sum to ``portion``.  ``sum_n x_n`` grows with ``T`` and lies
    above each of its linearisations over the servers that start first, so ``T`` is exactly the smallest
    of their fill levels ``(portion + sum r w) / sum r`` over the servers sorted by wait.
    """
    order = np.argsort(wait_s, axis=-1, kind="stable")
    r = np.take_along_axis(np.broadcast_to(rate, np.broadcast_shapes(rate.shape, wait_s.shape)), order, -1)
    w = np.take_along_axis(np.broadcast_to(wait_s, r.shape), order, -1)
    cum_r = np.cumsum(r, -1)
    level = (portion[..., None] + np.cumsum(r * w, -1)) / np.maximum(cum_r, TINY)
    t = np.where(cum_r > 0, level, np.inf).min(-1)
    t = np.where(np.isfinite(t), t, portion / TINY)  # no usable server: nothing is placed
    x = rate * np.maximum(t[..., None] - wait_s, 0.0)
    return t, x * (portion / np.maximum(x.sum(-1), TINY))[..., None]


def best_rsu_hz(
    delay_w: np.ndarray, energy_w: np.ndarray, beta: np.ndarray, cap_hz: np.ndarray, iterations: int = 60
) -> np.ndarray:
    """Minimiser over ``(0, cap]`` of the convex ``delay_w / F + energy_w F^2 - beta F`` (elementwise).

    Its derivative ``-delay_w / F^2 + 2 energy_w F - beta`` increases in ``F``; bisection finds its
    root, or returns ``cap`` when the derivative is still negative there.
    """

    neg_delay_w, energy_w2 = -delay_w, 2.0 * energy_w  # hoisted out of the bisection, same arithmetic

    def slope(f: np.ndarray) -> np.ndarray:
        return neg_delay_w / f**2 + energy_w2 * f - beta

    lo, hi = np.zeros(np.shape(cap_hz)), np.asarray(cap_hz, dtype=float)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        rising = slope(np.maximum(mid, TINY)) > 0
        lo, hi = np.where(rising, lo, mid), np.where(rising, mid, hi)
    return np.where(slope(cap_hz) < 0, cap_hz, hi)


def _prices(scn: Scenario, q: QueueState) -> tuple[float, np.ndarray]:
    """Per-second delay weight ``w_T`` and per-joule energy weight ``w_E`` (E, I or 1) of eq. (39)."""
    norm, lya = scn.norm, scn.cfg.lyapunov
    w_t = lya.v_control * lya.alpha / norm.delay_ref_s
    v_price = q.energy_j if lya.energy_queue == "per_cv" else q.energy_j.sum(-1, keepdims=True)
    return w_t, lya.v_control * (1 - lya.alpha) / norm.energy_ref_j + v_price / norm.energy_queue_ref_j**2


def greedy_rsu_hz(
    scn: Scenario, phys: Physical, q: QueueState, reachable: np.ndarray, others_claims: np.ndarray | None = None
) -> np.ndarray:
    """Step 1 of :class:`GreedyPolicy`: the frequency ``F_ik`` each CV asks of each reachable RSU; the other CVs'
    claims on each RSU are their true ones, or ``others_claims (K,)`` when given (:class:`BlindGreedyPolicy`)."""
    cfg = scn.cfg
    f_avail = scn.rsu_available_hz
    claim = coverage_claims(reachable)
    total = claim.sum(axis=-2, keepdims=True) if others_claims is None else claim + others_claims
    fair = f_avail * claim / np.maximum(total, TINY)
    beta = np.broadcast_to(q.rsu_cycles[:, None, :] * cfg.slot_s / scn.norm.queue_ref_cycles**2, fair.shape)
    beta = beta if cfg.rsu.service == "allocated" else np.zeros_like(fair)
    w_t, w_e = _prices(scn, q)
    cycles = phys.data_bits * phys.intensity_cycles_per_bit
    links = np.maximum(reachable.sum(-1), 1)
    f_hz = best_rsu_hz(
        (w_t * cycles / links)[..., None], (w_e * cfg.rsu.kappa * cycles)[..., None], beta, np.maximum(fair, 1.0)
    )
    return np.where(reachable, f_hz, 0.0)


def _candidates(
    scn: Scenario, phys: Physical, q: QueueState, view: LinkView, f_hz: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Finish times ``(E, I, 3)`` and parts ``(E, I, 3, 1+K)`` of: RSUs only, all balanced, local only."""
    cycles, cpu = phys.data_bits * phys.intensity_cycles_per_bit, phys.cpu_hz
    rsu_rate = np.where(view.reachable, 1.0 / (view.upload_s + cycles[..., None] / np.maximum(f_hz, 1.0)), 0.0)
    rsu_wait = np.broadcast_to(q.rsu_cycles[:, None, :] / scn.rsu_available_hz, rsu_rate.shape)
    rate = np.concatenate([(cpu / cycles)[..., None], rsu_rate], axis=-1)
    wait = np.concatenate([(q.local_cycles / cpu)[..., None], rsu_wait], axis=-1)
    one = np.ones(cycles.shape)
    t_rsu, x_rsu = water_fill(np.where(np.arange(rate.shape[-1]) > 0, rate, 0.0), wait, one)
    t_all, x_all = water_fill(rate, wait, one)
    x_loc = np.zeros_like(x_all)
    x_loc[..., 0] = 1.0
    finish = np.stack([t_rsu, t_all, wait[..., 0] + 1.0 / rate[..., 0]], axis=-1)
    return finish, np.stack([x_rsu, x_all, x_loc], axis=-2)


def greedy_actions(
    scn: Scenario, phys: Physical, q: QueueState, view: LinkView, others_claims: np.ndarray | None = None
) -> np.ndarray:
    """Steps 1-4 of :class:`GreedyPolicy` for every env at once (``others_claims``: see :func:`greedy_rsu_hz`)."""
    cfg, k = scn.cfg, scn.num_rsus
    f_hz = greedy_rsu_hz(scn, phys, q, view.reachable, others_claims)
    finish, parts = _candidates(scn, phys, q, view, f_hz)  # (E,I,3), (E,I,3,1+K)
    cycles = (phys.data_bits * phys.intensity_cycles_per_bit)[..., None, None]
    per_cycle_j = np.concatenate([(cfg.vehicle.kappa * phys.cpu_hz**2)[..., None], cfg.rsu.kappa * f_hz**2], -1)
    upload_j = cfg.channel.tx_power_w * (parts[..., 1:] * view.upload_s[..., None, :]).sum(-1)
    energy = (parts * cycles * per_cycle_j[..., None, :]).sum(-1) + upload_j
    backlog = np.concatenate([q.local_cycles[..., None], np.broadcast_to(q.rsu_cycles[:, None, :], f_hz.shape)], -1)
    drift = (parts * cycles * backlog[..., None, :]).sum(-1) / scn.norm.queue_ref_cycles**2
    w_t, w_e = _prices(scn, q)
    proxy = w_t * finish + w_e[..., None] * energy + drift
    proxy[..., :2] = np.where(view.reachable.any(-1, keepdims=True), proxy[..., :2], np.inf)
    best = np.take_along_axis(parts, np.argmin(proxy, -1)[..., None, None], -2)[..., 0, :]  # (E, I, 1+K)
    lay = layout(k)
    a = np.zeros(best.shape[:-1] + (lay.dim,))
    a[..., lay.split] = best
    used = best[..., lay.task] > 0
    band = np.where(used, best[..., lay.task] * view.upload_s, 0.0)
    a[..., lay.bandwidth] = band / np.maximum(band.max(-1, keepdims=True), TINY)
    a[..., lay.cpu] = np.where(used, np.clip(f_hz / scn.rsu_available_hz, 0.0, 1.0), 0.0)
    return a


class GreedyPolicy:
    """A per-CV heuristic that linearises the P2 objective (eq. 39) around the current queues.

    For every CV, independently and in closed form (vectorised over envs and CVs):

    1. **CPU.**  Each RSU is divided among the CVs in its range in proportion
       to their claims ``1 / n_i`` (``n_i`` = RSUs CV i reaches), so a CV with
       fewer options gets more of each (the fair share).  With per-second delay weight ``w_T = V alpha / tau``,
       per-joule energy weight ``w_E = V (1 - alpha) / E_ref + V_i / E_q^2``
       (the virtual energy queue's marginal price, ``E_q`` its normaliser
       ``energy_queue_ref_j``; in ``system`` mode the sum of all ``V_i``) and, for
       ``rsu.service = allocated``, the backlog's reward for service ``beta = Q_rsu tau / Q_ref^2``,
       a CV with ``n`` reachable RSUs asks each for the frequency minimising the convex
       ``(w_T c / n) / F + w_E kappa_rsu c F^2 - beta F`` over ``(0, fair share]``
       (``c`` = task cycles; with ``beta = 0`` it is
       ``min((w_T / (2 n kappa_rsu w_E))^(1/3), fair share)``).  Requests never
       over-subscribe an RSU; a long backlog pushes towards the fair share.
    2. **Parts.**  Local and every reachable RSU are parallel servers: local
       starts after its backlog ``Q_loc / C_cpu`` and runs at ``C_cpu``; RSU k
       starts after ``Q_rsu,k / (F^max - C^twin)`` and then needs the full-band
       upload plus compute at its frequency.  Water-filling splits the task so
       the used servers finish together; unattractive ones get nothing.
    3. **Choice.**  Of {RSUs only, local and RSUs balanced, local only} take
       the one with the smallest proxy ``w_T T + w_E E + sum_n Q_n x_n c / Q_ref^2``
       (finish time, energy and queue-drift terms of eq. 39).  A CV with no
       RSU in range runs locally.
    4. **Bandwidth.**  Weights proportional to each link's part times its
       full-band upload time, so all parts upload in the same time.
    """

    name = "greedy"

    def reset(self, env: BatchedEnv) -> None:
        return None

    def act(self, env: BatchedEnv, obs: np.ndarray) -> np.ndarray:
        phys, q = env.snapshot()
        return greedy_actions(env.scn, phys, q, link_view(env.scn, phys))


CLAIM_ENVS = 8  # episodes mean_others_claims averages over


def mean_others_claims(scn: Scenario) -> np.ndarray:
    """``(K,)``: the mean over a scenario's slots of the claims (:func:`isac_iov.twin.coverage_claims`) of all
    CVs but one on each RSU, ``(I - 1) / I`` of the mean total.  Mobility does not depend on actions, so this is
    a constant of the scenario, played on its own generator (seed 0) apart from any evaluation."""
    rng = np.random.default_rng(0)
    phys = scn.new_physical(rng, CLAIM_ENVS)
    totals = []
    for _ in range(scn.cfg.episode_slots):
        totals.append(coverage_claims(slot.link_channel(scn, phys)[1]).sum(axis=-2))  # (E, K)
        scn.advance_vehicles(phys)
    return np.mean(totals, axis=(0, 1)) * (scn.num_cvs - 1) / scn.num_cvs


class BlindGreedyPolicy:
    """``greedy`` on what a CV knows without the twin, the view of Ly-MAPPO's actors (docs/model.md#twin-absent):
    every RSU backlog read as zero, and the other CVs' claims on each RSU at their mean over the scenario
    (:func:`mean_others_claims`) instead of this slot's.  The heuristic to hold Ly-MAPPO against."""

    name = "greedy-blind"

    def __init__(self) -> None:
        self._claims_of: tuple[object, np.ndarray] | None = None  # (the scenario's config, its mean claims)

    def reset(self, env: BatchedEnv) -> None:
        return None

    def others_claims(self, env: BatchedEnv) -> np.ndarray:
        """:func:`mean_others_claims` of ``env``'s scenario, computed once per scenario."""
        if self._claims_of is None or self._claims_of[0] is not env.cfg:
            self._claims_of = (env.cfg, mean_others_claims(env.scn))
        return self._claims_of[1]

    def act(self, env: BatchedEnv, obs: np.ndarray) -> np.ndarray:
        phys, q = env.snapshot()
        blind = replace(q, rsu_cycles=np.zeros_like(q.rsu_cycles))
        return greedy_actions(env.scn, phys, blind, link_view(env.scn, phys), self.others_claims(env))
