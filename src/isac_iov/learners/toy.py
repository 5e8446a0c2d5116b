"""A tiny multi-agent task with a known optimum, for learner sanity checks.

**Task.**  ``I`` agents (default 3), action dimension ``A`` (default 4),
episodes of ``slots`` slots (default 10).  Every slot, agent ``i`` observes a
fresh target ``g_i`` drawn uniformly from ``[TARGET_LOW, TARGET_HIGH]^A =
[0.1, 0.9]^A`` (independently of everything before), plays ``a_i in [0, 1]^A``
and all agents receive the team reward

    r = -(1/I) sum_i ||a_i - g_i||^2 - coupling * (mean_i a_i[0] - mean_i g_i[0])^2.

The coupling term makes each agent's reward depend on the others' actions (a
shared credit-assignment problem, as in the team reward of eq. 44), but it
vanishes with the first term, so the optimal policy is ``a_i = g_i`` for every
agent - decentralised and deterministic - with reward exactly ``0``.  The
targets stay inside ``(0.05, 0.95)``, so the optimum needs no saturated action
and the check does not depend on the learners' action mapping.  The targets
do not depend on the actions, so the task is a contextual bandit: the return
after the current slot is the same for every action, and a learner that
discounts (``gamma``) has to see through that action-independent future.
``ToyStep.outcome.reward_per_cv`` splits ``r`` over the agents (own error
``/ I`` plus an equal share of the coupling term), for learners that can
learn from per-agent rewards.

**Reference rewards** (per slot, exact): the optimum ``0``; uniformly random
actions ``-(A + coupling / I) (1 + w^2) / 12`` for targets of width
``w = 0.8`` (``-0.592`` by default); the best observation-blind policy
``a = 0.5``, where a learner starts, ``-(A + coupling / I) w^2 / 12``
(``-0.231``, a gap of ``0.39`` below).

**Interface.**  :class:`ToyEnv` mimics what the learners consume from
:class:`~isac_iov.env.core.BatchedEnv`: ``reset() -> (obs, global_state)`` and
``step(actions) -> ToyStep`` with ``obs (E, I, O)``, ``global_state (E, G)``,
``reward (E,)``, ``done`` (after ``slots`` slots) and ``outcome``.  An
agent observes its target (``O = A``), the global state is all agents' targets
(``G = I * A``) and agent ``i``'s critic state is its observation followed by
the global state; :meth:`ToyEnv.spec` gives the matching
:class:`~.common.EnvSpec`.  :func:`train_on_toy` drives a registry learner as
:mod:`.train` does and evaluates its deterministic policy (``mean_action``
clamped to [0, 1]) every ``eval_every`` iterations on the same set of
episodes; its ``optimality_gap`` is ``(optimal - trained) / (optimal -
random)``: 0 at the optimum, 1 as bad as random actions.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import algo_spec
from .common import EnvSpec, Learner, as_tensor, make_algo_config
from .networks import Actor

TARGET_LOW, TARGET_HIGH = 0.1, 0.9
OPTIMAL_REWARD = 0.0
EVAL_SEED = 12345


@dataclass(frozen=True)
class ToyOutcome:
    reward_per_cv: np.ndarray  # (E, I) the team reward split over agents; sums to ``reward``


@dataclass(frozen=True)
class ToyStep:
    obs: np.ndarray  # (E, I, A) next observation: the next slot's targets
    global_state: np.ndarray  # (E, I*A) every agent's target
    reward: np.ndarray  # (E,) team reward of the slot just played
    done: bool  # the episode ended with this slot
    outcome: ToyOutcome


class ToyEnv:
    """``num_envs`` lockstep copies of the toy task (see the module docstring)."""

    def __init__(
        self,
        num_envs: int,
        agents: int = 3,
        action_dim: int = 4,
        slots: int = 10,
        coupling: float = 1.0,
        seed: int | None = None,
    ):
        self.num_envs, self.num_cvs, self.action_dim, self.slots = num_envs, agents, action_dim, slots
        self.coupling = coupling
        self.rng = np.random.default_rng(seed)
        self.t = 0
        self.targets = self._draw()

    def spec(self) -> EnvSpec:
        """The dimensions a learner is built with."""
        obs, glob = self.action_dim, self.num_cvs * self.action_dim
        return EnvSpec(self.num_cvs, obs, self.action_dim, glob, obs + glob, slice(obs, obs), self.slots)

    def reset(self) -> tuple[np.ndarray, np.ndarray]:
        """``(obs (E, I, A), global_state (E, I*A))`` of the first slot."""
        self.t = 0
        self.targets = self._draw()
        return self.targets, self._global_state()

    def step(self, actions: np.ndarray) -> ToyStep:
        """Play ``actions (E, I, A)`` in [0, 1] against the current targets; draw the next ones."""
        per_cv = self.reward_per_cv(actions, self.targets)
        self.t += 1
        self.targets = self._draw()
        return ToyStep(self.targets, self._global_state(), per_cv.sum(-1), self.t >= self.slots, ToyOutcome(per_cv))

    def reward_per_cv(self, actions: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The team reward of ``actions`` against ``targets`` (both ``(E, I, A)``) split over agents,
        ``(E, I)``: agent ``i`` gets ``-||a_i - g_i||^2 / I`` and an equal share of the coupling term."""
        err = np.asarray(actions, dtype=np.float64) - targets
        coupling = self.coupling * err[..., 0].mean(-1, keepdims=True) ** 2
        return -((err**2).sum(-1) + coupling) / self.num_cvs

    def random_reward(self) -> float:
        """Exact expected reward per slot of uniformly random actions."""
        per_dim = (1.0 + (TARGET_HIGH - TARGET_LOW) ** 2) / 12.0
        return -(self.action_dim + self.coupling / self.num_cvs) * per_dim

    def _draw(self) -> np.ndarray:
        return self.rng.uniform(TARGET_LOW, TARGET_HIGH, (self.num_envs, self.num_cvs, self.action_dim))

    def _global_state(self) -> np.ndarray:
        return self.targets.reshape(self.num_envs, -1)


def evaluate(actor: Actor, env: ToyEnv) -> float:
    """Mean reward per slot of ``actor``'s deterministic policy over one lockstep episode of ``env``."""
    obs, _ = env.reset()
    rewards = []
    for _ in range(env.slots):
        with torch.no_grad():
            actions = actor.mean_action(as_tensor(obs)).double().clamp_(0.0, 1.0).numpy()
        step = env.step(actions)
        rewards.append(step.reward.mean())
        obs = step.obs
    return float(np.mean(rewards))


def train_on_toy(
    algo: str,
    iterations: int,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    eval_every: int = 10,
    eval_envs: int = 64,
) -> dict[str, Any]:
    """Train registry learner ``algo`` (hyper-parameters ``overrides``) for ``iterations`` iterations.

    Returns the reference rewards ``optimal_reward`` and ``random_reward``, the
    final deterministic policy's ``trained_reward`` and ``optimality_gap``,
    ``curve`` (the gaps of the evaluations after every ``eval_every``
    iterations and after the last; every evaluation plays the same
    ``eval_envs`` episodes) and the wall time ``seconds``.
    """
    spec = algo_spec(algo)
    cfg = make_algo_config(spec.config, overrides)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.torch_threads)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    started = time.perf_counter()
    try:
        env = ToyEnv(cfg.num_envs, seed=seed)
        learner = spec.learner(env.spec(), cfg)
        rewards = []
        for it in range(1, iterations + 1):
            _play_iteration(env, learner)
            if it % eval_every == 0 or it == iterations:
                rewards.append(evaluate(learner.actor, ToyEnv(eval_envs, seed=EVAL_SEED)))
    finally:
        torch.set_num_threads(threads)
    random_reward = env.random_reward()
    curve = [(OPTIMAL_REWARD - r) / (OPTIMAL_REWARD - random_reward) for r in rewards]
    return {
        "optimal_reward": OPTIMAL_REWARD,
        "random_reward": random_reward,
        "trained_reward": rewards[-1],
        "optimality_gap": curve[-1],
        "curve": curve,
        "seconds": time.perf_counter() - started,
    }


def _play_iteration(env: ToyEnv, learner: Learner) -> None:
    """One iteration as :mod:`.train` plays it: ``num_envs`` lockstep episodes, then ``end_iteration``."""
    obs, glob = env.reset()
    for t in range(env.slots):
        step = env.step(learner.explore(obs, glob, t))
        learner.record(step, t)  # type: ignore[arg-type]  # a ToyStep has every Step field learners read
        obs, glob = step.obs, step.global_state
    learner.end_iteration(env.num_envs)
