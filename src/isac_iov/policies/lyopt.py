"""``ly-opt``: a numerical solver of the per-slot problem P2 (eq. 39) for the current state.

For each env the decision is the joint action ``x`` of all its CVs, a point of
the box ``[0, 1]^(I (1+3K))``; the objective is exactly
``slot.evaluate(scn, phys, queues, x).objective`` - the drift-plus-penalty of
eq. (39) with the twin's mode rule - so the solver sees every coupling (RSU
CPU scaling, shared bands, RSU and system energy queues, the mode switch).
The objective is non-smooth (max of parallel parts, coverage, mode switch),
so the method is a batched multi-start descent that never trusts a model:

1. **Starts.**  The actions of ``local``, ``offload`` and ``greedy``, then
   ``jitter_starts`` Gaussian perturbations (scale ``jitter_scale``) of the best
   of them, then ``random_starts`` uniform points; the best ``population`` of
   all these are refined.
2. **Descent.**  Each iteration estimates every member's gradient by one-sided
   finite differences of step ``h`` (pointing into the box) and projects it
   onto the box's active faces.  Along two directions - the gradient scaled to
   unit max-norm, and its sign (robust to the very different scales of
   task, bandwidth and CPU coordinates) - it tries ``line_steps`` step
   lengths ``1, 1/2, 1/4, ...`` (clipped to the box); ``random_trials``
   Gaussian perturbations of scale ``10 h`` are tried as well, to step across
   kinks where no descent direction exists.  A member moves to its best trial
   if that is better.  When no trial improves, ``h`` shrinks tenfold
   (a large ``h`` sees across kinks, a small one resolves the optimum).
3. The best point seen is returned; since the starts include the other
   reference policies, ly-opt is never worse than them on the P2 objective.

Each iteration is a single vectorised ``evaluate`` call over the whole
population's finite-difference and trial points: the env's snapshot is tiled
along the batch axis with ``Physical.take`` / ``QueueState.take``.  Envs are
solved one after the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import slot
from ..env.core import BatchedEnv
from ..scenario import Physical, Scenario
from ..slot import QueueState
from .reference import GreedyPolicy, LocalPolicy, OffloadPolicy


@dataclass(frozen=True)
class LyOptConfig:
    """Solver budget.

    The defaults decide 5 CVs x 3 RSUs in about 0.1 s on one core and land
    within about 0.3 % (mean P2 objective) of a run with forty times the
    budget (``random_starts=256, population=64, iterations=300``) on states
    sampled from greedy episodes.
    """

    random_starts: int = 16
    jitter_starts: int = 8
    jitter_scale: float = 0.1
    population: int = 16
    iterations: int = 25
    line_steps: int = 10
    random_trials: int = 8
    fd_step: float = 1e-2
    min_fd_step: float = 1e-6
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("random_starts", "jitter_starts", "population", "iterations", "line_steps", "random_trials"):
            if getattr(self, key) < (1 if key in ("population", "iterations", "line_steps") else 0):
                raise ValueError(f"ly-opt {key}: too small, got {getattr(self, key)!r}")
        if not 0 < self.min_fd_step <= self.fd_step < 1:
            raise ValueError(
                f"ly-opt fd_step/min_fd_step: need 0 < min <= step < 1, got {self.min_fd_step!r}, {self.fd_step!r}"
            )


Objective = Callable[[np.ndarray], np.ndarray]


def tile(phys: Physical, queues: QueueState, env_index: int, n: int) -> tuple[Physical, QueueState]:
    """Env ``env_index``'s state repeated ``n`` times along the env axis."""
    idx = np.full(n, env_index)
    return phys.take(idx), queues.take(idx)


def tiled_objective(
    scn: Scenario, phys: Physical, queues: QueueState, env_index: int, shape: tuple[int, int]
) -> Objective:
    """``f(X (N, I*A)) -> (N,)``: the P2 objective of env ``env_index`` for N flat joint actions."""
    cache: dict[int, tuple[Physical, QueueState]] = {}

    def f(x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        if n not in cache:
            cache[n] = tile(phys, queues, env_index, n)
        return slot.evaluate(scn, *cache[n], x.reshape((n,) + shape)).objective

    return f


def _descend(
    f: Objective, x: np.ndarray, fx: np.ndarray, cfg: LyOptConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Batched projected finite-difference descent of the population ``x (P, D)``; see the module doc."""
    p, d = x.shape
    h = np.full(p, cfg.fd_step)
    steps = 0.5 ** np.arange(cfg.line_steps)
    eye = np.eye(d)
    for _ in range(cfg.iterations):
        if (h < cfg.min_fd_step).all():
            break
        sign = np.where(x + h[:, None] <= 1.0, 1.0, -1.0)  # step into the box
        probe = np.clip(x[:, None, :] + (sign * h[:, None])[:, :, None] * eye, 0.0, 1.0)  # (P, D, D)
        with np.errstate(over="ignore", invalid="ignore"):
            g = (f(probe.reshape(p * d, d)).reshape(p, d) - fx[:, None]) / (sign * h[:, None])
        g = np.nan_to_num(g, nan=0.0, posinf=1e300, neginf=-1e300)
        g = np.where(((x <= 0) & (g > 0)) | ((x >= 1) & (g < 0)), 0.0, g)  # active faces
        scale = np.abs(g).max(axis=1, keepdims=True)
        dirs = np.stack([-g / np.where(scale > 0, scale, 1.0), -np.sign(g)], axis=1)  # (P, 2, D)
        trial = np.clip(x[:, None, None, :] + steps[None, None, :, None] * dirs[:, :, None, :], 0.0, 1.0)
        trial = trial.reshape(p, -1, d)
        if cfg.random_trials:
            noise = rng.standard_normal((p, cfg.random_trials, d)) * (10.0 * h[:, None, None])
            trial = np.concatenate([trial, np.clip(x[:, None, :] + noise, 0.0, 1.0)], axis=1)
        ft = f(trial.reshape(-1, d)).reshape(p, -1)
        best = np.argmin(ft, axis=1)
        f_best = ft[np.arange(p), best]
        better = f_best < fx
        x = np.where(better[:, None], trial[np.arange(p), best], x)
        fx = np.where(better, f_best, fx)
        h = np.where(better, h, h * 0.1)
    return x, fx


def solve(f: Objective, starts: np.ndarray, rng: np.random.Generator, cfg: LyOptConfig) -> tuple[np.ndarray, float]:
    """Minimise ``f`` over ``[0, 1]^D`` from the given starts ``(S, D)`` plus random ones."""
    d = starts.shape[1]
    best_start = starts[np.argmin(f(starts))]
    jitter = np.clip(best_start + cfg.jitter_scale * rng.standard_normal((cfg.jitter_starts, d)), 0.0, 1.0)
    x0 = np.concatenate([starts, jitter, rng.uniform(size=(cfg.random_starts, d))])
    f0 = f(x0)
    keep = np.argsort(f0, kind="stable")[: cfg.population]
    x, fx = _descend(f, x0[keep], f0[keep], cfg, rng)
    i = int(np.argmin(fx))
    return x[i], float(fx[i])


class LyOptPolicy:
    """Centralised oracle that solves P2 (eq. 39) numerically in every slot of every env."""

    name = "ly-opt"

    def __init__(self, config: LyOptConfig | None = None):
        self.config = config or LyOptConfig()
        # a stream distinct from the ``random`` policy's of the same seed
        self.rng = np.random.default_rng([self.config.seed, 1])
        self._references = (LocalPolicy(), OffloadPolicy(), GreedyPolicy())

    def reset(self, env: BatchedEnv) -> None:
        return None

    def act(self, env: BatchedEnv, obs: np.ndarray) -> np.ndarray:
        phys, q = env.snapshot()
        shape = (env.num_cvs, env.action_dim)
        refs = np.stack([pol.act(env, obs) for pol in self._references], axis=1)  # (E, R, I, A)
        out = np.empty((env.num_envs,) + shape)
        for e in range(env.num_envs):
            f = tiled_objective(env.scn, phys, q, e, shape)
            best, _ = solve(f, refs[e].reshape(len(self._references), -1), self.rng, self.config)
            out[e] = best.reshape(shape)
        return out
