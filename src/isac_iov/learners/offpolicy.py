"""The part Ly-MADDPG, Ly-MATD3 and Ly-MASAC share: collection, replay, reward scaling, critic inputs.

:class:`OffPolicyLearner` plays the ``num_envs`` envs of an iteration with the
subclass's ``behaviour`` policy (uniform random actions during the first
``warmup_episodes``), stages the episodes and stores the first ``keep`` of
them in an :class:`~.buffers.EpisodeReplay` when the iteration ends.  After
every vector step (``num_envs`` env-slots) it runs ``updates_per_step``
gradient updates (the subclass's ``update``) on minibatches of ``batch_size``
joint transitions sampled from the episodes stored so far.

**Critics** are centralised and per agent: critic ``i`` sees agent ``i``'s
critic state (its observation + the twin's global state) and the joint action
of all CVs (:meth:`OffPolicyLearner.critic_input`); actors and critics
standardise their inputs with running statistics updated when an iteration's
episodes are stored.  In an actor update, critic ``i`` gets agent
``i``'s action from the current policy and the other agents' actions from the
replay buffer (:func:`joint_with_own`).  The last slot of an episode is a time
limit, so targets always bootstrap.

**Reward scaling.**  Rewards (eq. 44) are O(10-100) and returns ~100 times
that; the critics learn from ``reward * (1 - gamma) / std``, where ``std`` is
the running standard deviation of all team rewards seen so far, so Q-values
are O(1) (no mean shift, so the optimal policy is unchanged).  The running
std remembers about ``reward_memory`` iterations of rewards: the per-slot
reward shrinks from about -850 (warm-up, energy queue exploding) to about -10,
and a std over the whole run scaled the late rewards to nearly nothing.

**Measured** (``isac-iov train --episodes 1800 --seed 0`` then ``isac-iov
evaluate --episodes 20 --seed 0``; cost / energy J / reward): Ly-MADDPG
0.349 / 54.2 / -171.6 with whole-run statistics and no local-weight prior,
0.343 / 47.9 / -114.5 with ``init_local_logit = -3`` and ``norm_memory = 10``,
0.340 / 35.6 / -37.1 adding ``reward_memory = 10``; Ly-MASAC in the same
steps 0.341 / 51.4 / -147.5, 0.340 / 31.7 / -29.6, 0.353 / 20.9 / -9.8.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..env.core import Step
from .buffers import EpisodeReplay, RunningMeanStd
from .common import AlgoConfig, EnvSpec, as_tensor, to_actions
from .networks import RunningNorm


@dataclass(frozen=True)
class OffPolicyConfig(AlgoConfig):
    num_envs: int = 8
    actor_lr: float = 1e-4
    critic_lr: float = 1e-3
    gamma: float = 0.99
    tau: float = 0.01               # Polyak factor of the target networks
    batch_size: int = 256           # joint transitions per update
    buffer_episodes: int = 2000     # replay capacity in episodes (x episode_slots transitions)
    warmup_episodes: int = 16       # episodes of uniform random actions before learning
    updates_per_step: int = 1       # gradient updates per vector step of num_envs env-slots
    max_grad_norm: float = 10.0
    reward_memory: float = 10.0     # iterations of rewards the reward scale remembers (0: all)


def critic_state(obs: torch.Tensor, glob: torch.Tensor) -> torch.Tensor:
    """Per-agent critic states ``(B, I, O + G)`` from obs ``(B, I, O)`` and the global state ``(B, G)``."""
    b, i = obs.shape[:2]
    return torch.cat([obs, glob[:, None].expand(b, i, glob.shape[-1])], dim=-1)


def joint_with_own(replayed: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
    """``(B, I, I*A)``: for critic ``i``, agent ``i``'s action from ``own``, the others from ``replayed``."""
    b, i, a = replayed.shape
    eye = torch.eye(i, dtype=torch.bool)[None, :, :, None]
    return torch.where(eye, own[:, None], replayed[:, None]).reshape(b, i, i * a)


class OffPolicyLearner(ABC):
    """Collection, replay and update schedule; subclasses set ``actor`` and implement
    ``behaviour(obs) -> actions``, ``update(batch) -> losses`` and ``components() -> dict``."""

    actor: torch.nn.Module

    def __init__(self, spec: EnvSpec, cfg: OffPolicyConfig):
        self.spec, self.cfg, self.num_envs = spec, cfg, cfg.num_envs
        t, e, i = spec.slots, cfg.num_envs, spec.agents
        self.replay = EpisodeReplay(cfg.buffer_episodes, t, i, spec.obs_dim, spec.global_dim, spec.act_dim)
        self.stage = {"obs": torch.zeros(e, t + 1, i, spec.obs_dim), "glob": torch.zeros(e, t + 1, spec.global_dim),
                      "act": torch.zeros(e, t, i, spec.act_dim), "rew": torch.zeros(e, t)}
        reward_count = cfg.reward_memory * cfg.num_envs * spec.slots
        self.reward_stats = RunningMeanStd(max_count=reward_count if reward_count > 0 else math.inf)
        self.state_norm = RunningNorm(spec.critic_dim, max_count=self.norm_max_count)
        self.episodes_seen = 0
        self.updates = 0
        self._losses: list[dict[str, float]] = []

    @property
    def norm_max_count(self) -> float:
        """Sample cap of the input normalisers (``norm_memory`` iterations of agent-slots)."""
        memory = self.cfg.norm_memory * self.cfg.num_envs * self.spec.slots * self.spec.agents
        return memory if memory > 0 else math.inf

    @abstractmethod
    def behaviour(self, obs: torch.Tensor) -> torch.Tensor:
        """Exploratory actions ``(E, I, A)`` in [0, 1] for observations ``(E, I, O)``."""

    @abstractmethod
    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One gradient update on a replay minibatch (rewards already scaled); returns losses."""

    @abstractmethod
    def components(self) -> dict[str, Any]:
        """Networks, optimisers and other state (``state_dict``-able) by name; includes ``actor``."""

    # -- collection --------------------------------------------------------------------------
    def explore(self, obs: np.ndarray, critic_state: np.ndarray, t: int) -> np.ndarray:
        o = as_tensor(obs)
        self.stage["obs"][:, t] = o
        self.stage["glob"][:, t] = as_tensor(critic_state[:, 0, self.spec.obs_dim:])
        if self.episodes_seen < self.cfg.warmup_episodes:
            a = torch.rand(o.shape[0], self.spec.agents, self.spec.act_dim)
        else:
            with torch.no_grad():
                a = self.behaviour(o)
        self.stage["act"][:, t] = a
        return to_actions(a)

    def record(self, step: Step, t: int) -> None:
        self.stage["rew"][:, t] = as_tensor(step.reward)
        self.reward_stats.update(step.reward)
        if step.done:
            self.stage["obs"][:, t + 1] = as_tensor(step.obs)
            self.stage["glob"][:, t + 1] = as_tensor(step.critic_state[:, 0, self.spec.obs_dim:])
        if self.episodes_seen >= self.cfg.warmup_episodes and self.replay.transitions >= self.cfg.batch_size:
            for _ in range(self.cfg.updates_per_step):
                batch = self.replay.sample(self.cfg.batch_size)
                batch["rew"] = batch["rew"] * ((1.0 - self.cfg.gamma) / self.reward_stats.std)
                self._losses.append(self.update(batch))
                self.updates += 1

    def critic_input(self, obs: torch.Tensor, glob: torch.Tensor, joint: torch.Tensor) -> torch.Tensor:
        """Per-agent critic input ``(B, I, O + G + I*A)``: the standardised critic state and the joint
        action, ``(B, I*A)`` (the same for every critic) or ``(B, I, I*A)`` (one per critic)."""
        state = self.state_norm(critic_state(obs, glob))
        if joint.dim() == 2:
            joint = joint[:, None].expand(*state.shape[:2], joint.shape[-1])
        return torch.cat([state, joint], dim=-1)

    def end_iteration(self, keep: int) -> dict[str, float]:
        obs, glob = self.stage["obs"][:keep], self.stage["glob"][:keep]
        self.actor.obs_norm.update(obs)
        self.state_norm.update(critic_state(obs.flatten(0, 1), glob.flatten(0, 1)))
        self.replay.add_episodes(*(self.stage[k][:keep] for k in ("obs", "glob", "act", "rew")))
        self.episodes_seen += keep
        losses = {k: float(np.mean([d[k] for d in self._losses if k in d]))
                  for k in dict.fromkeys(k for d in self._losses for k in d)}
        self._losses = []
        return losses

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {name: obj.state_dict() for name, obj in self.components().items()}
        state["state_norm"] = self.state_norm.state_dict()
        state.update(replay=self.replay.state_dict(), reward_stats=self.reward_stats.state_dict(),
                     episodes_seen=self.episodes_seen, updates=self.updates)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, obj in self.components().items():
            obj.load_state_dict(state[name])
        self.state_norm.load_state_dict(state["state_norm"])
        self.replay.load_state_dict(state["replay"])
        self.reward_stats.load_state_dict(state["reward_stats"])
        self.episodes_seen, self.updates = state["episodes_seen"], state["updates"]
