"""Steps 3 and 4 of ``ly-opt-dual`` (package docstring): the starts, the exact choice among the candidates,
the local-part switches, and the policy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import slot
from ...actions import layout
from ...config import Config
from ...env.core import BatchedEnv, slot_bytes
from ...scenario import Physical, Scenario
from ...slot import QueueState
from ...twin import coverage_claims
from ..reference import TINY, greedy_actions, link_view
from .bound import REFINED_INTERVALS, best_bound
from .config import LyOptDualConfig
from .model import (
    LOCAL_CHOSEN,
    LOCAL_JOINS,
    NO_LOCAL,
    Allocation,
    bandwidth_rule,
    build_model,
    descend,
    prices_per_hz,
    project_columns,
    split,
    to_actions,
)


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
    """Step 4 of the package docstring: actions ``(J, E, I, 1+3K)`` re-optimised from the allocation ``f_best``
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
    """Solve P2 for every env of a batch (package docstring, steps 1-3)."""
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
    """Centralised oracle: P2 (eq. 39) decomposed over CVs, every env of a batch at once (package docstring)."""

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
