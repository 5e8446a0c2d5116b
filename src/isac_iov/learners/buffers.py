"""Data pieces shared by the learners: running normalisers, GAE and the episode replay buffer.

* :class:`RunningMeanStd` - streaming mean/variance (parallel-merge formula), used
  for value normalisation (PPO) and reward scaling (off-policy learners).
* :class:`RunningNorm` - per-feature running standardisation of network inputs, a torch module.
* :func:`gae` - generalised advantage estimation over the slots of one episode
  per env; the last slot is a time-limit truncation, so it bootstraps from the
  value of the state after it.
* :class:`EpisodeReplay` - a ring buffer of whole episodes.  The lockstep
  batched env produces ``E`` episodes of ``T`` slots at once, so storage is
  ``(capacity, T + 1, ...)`` for observations (the extra row is the state
  after the last slot) and ``(capacity, T, ...)`` for actions and rewards; the
  next observation of slot ``t`` is row ``t + 1``, so nothing is stored twice.
  The critic state of agent ``i`` is ``[obs_i, global_state]`` (see
  :mod:`isac_iov.env.core`), so only observations and the global state (or the
  learner's pooled form of it) are kept.  The twin's part of an observation is the
  same for every agent of an env-slot, so it is kept once per env-slot, not per
  agent (at 16 RSUs it is 83 of an observation's 142 entries).

Every piece has ``state_dict`` / ``load_state_dict`` for checkpoints.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn


def memory_count(memory: float, samples_per_iteration: int) -> float:
    """The sample cap of a running statistic that remembers ``memory`` iterations of ``samples_per_iteration``
    samples; ``memory <= 0`` means it never forgets (infinite cap)."""
    return memory * samples_per_iteration if memory > 0 else math.inf


def merge_moments(mean: Any, var: Any, count: Any, b_mean: Any, b_var: Any, b_count: Any) -> tuple[Any, Any, Any]:
    """Mean, variance and count of two samples pooled (Chan et al.'s parallel update).

    Works elementwise on floats, arrays or tensors alike; shared by
    :class:`RunningMeanStd` and :class:`RunningNorm`.
    """
    delta, total = b_mean - mean, count + b_count
    new_mean = mean + delta * b_count / total
    new_var = (var * count + b_var * b_count + delta**2 * count * b_count / total) / total
    return new_mean, new_var, total


class RunningMeanStd:
    """Running mean and variance of a scalar stream.

    With ``max_count`` the weight of the past is capped at ``max_count``
    samples, so the statistics forget old data (an exponential moving
    average) and follow a stream whose scale drifts, as returns do while a
    policy improves.
    """

    def __init__(self, eps: float = 1e-4, max_count: float = float("inf")):
        self.mean, self.var, self.count = 0.0, 1.0, eps
        self.max_count = max_count

    def update(self, x: np.ndarray | torch.Tensor) -> None:
        x = np.asarray(x.detach() if isinstance(x, torch.Tensor) else x, dtype=np.float64).ravel()
        if x.size == 0:
            return
        self.count = min(self.count, self.max_count)
        self.mean, self.var, self.count = merge_moments(
            self.mean, self.var, self.count, float(x.mean()), float(x.var()), x.size
        )

    @property
    def std(self) -> float:
        return float(np.sqrt(self.var + 1e-8))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean

    def state_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.mean, self.var, self.count = state["mean"], state["var"], state["count"]


class RunningNorm(nn.Module):
    """Per-feature running standardisation ``(x - mean) / max(std, min_std)`` clipped to ``+-clip``.

    The statistics are buffers (saved with the network) and change only in
    :meth:`update`, which learners call between iterations, so a policy is
    fixed while it collects and while it is updated.  Needed because some
    observation entries (the virtual energy queue, in slots of budget) reach
    the hundreds while the others are O(1).  The ``min_std = 1`` floor only ever
    shrinks features: the env already scales its features to O(1), and
    dividing a rarely non-zero feature (an RSU backlog) by its tiny std
    would turn it into large spikes.

    With ``max_count`` the statistics weigh the past as at most
    ``max_count`` samples (an exponential moving average): the virtual
    energy queue falls from hundreds to a few budgets while a policy
    learns, and statistics over the whole run would keep scaling it by the
    early spread, leaving the late policy unable to tell an empty queue from
    a growing one.
    """

    mean: torch.Tensor
    var: torch.Tensor
    count: torch.Tensor

    def __init__(self, dim: int, clip: float = 10.0, min_std: float = 1.0, max_count: float = math.inf):
        super().__init__()
        self.clip, self.min_std, self.max_count = clip, min_std, max_count
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))
        self.register_buffer("count", torch.tensor(1e-4))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        x = x.reshape(-1, x.shape[-1])
        n = x.shape[0]
        self.count.clamp_(max=self.max_count)
        mean, var, count = merge_moments(self.mean, self.var, self.count, x.mean(0), x.var(0, unbiased=False), n)
        self.mean.copy_(mean)
        self.var.copy_(var)
        self.count.copy_(count)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / self.var.sqrt().clamp(min=self.min_std)).clamp(-self.clip, self.clip)


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """Advantages ``(T, N, I)`` from rewards ``(T, N, I)`` (or team rewards ``(T, N, 1)``) and values
    ``(T + 1, N, I)``."""
    adv = torch.zeros_like(values[:-1])
    running = torch.zeros_like(values[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        delta = rewards[t] + gamma * values[t + 1] - values[t]
        running = delta + gamma * lam * running
        adv[t] = running
    return adv


class EpisodeReplay:
    """Ring buffer of ``capacity`` whole episodes; samples transitions uniformly from stored episodes."""

    def __init__(
        self,
        capacity: int,
        slots: int,
        agents: int,
        obs_dim: int,
        global_state_dim: int,
        action_dim: int,
        common_from: int | None = None,
    ):
        """``common_from``: observation entries from this index on are the same for every agent of an env-slot
        (the twin's part) and are kept once per env-slot."""
        self.capacity, self.slots = capacity, slots
        self.split = obs_dim if common_from is None else common_from
        self.obs = torch.zeros(capacity, slots + 1, agents, self.split)
        self.common = torch.zeros(capacity, slots + 1, obs_dim - self.split)
        self.glob = torch.zeros(capacity, slots + 1, global_state_dim)
        self.act = torch.zeros(capacity, slots, agents, action_dim)
        self.rew = torch.zeros(capacity, slots, agents)
        self.ptr, self.size = 0, 0

    @property
    def transitions(self) -> int:
        return self.size * self.slots

    def add_episodes(self, obs: torch.Tensor, glob: torch.Tensor, act: torch.Tensor, rew: torch.Tensor) -> None:
        """Store ``n`` episodes: obs ``(n, T+1, I, O)``, glob ``(n, T+1, G)``, act ``(n, T, I, A)``,
        rew ``(n, T, I)``."""
        n = obs.shape[0]
        common = obs[..., 0, self.split :]
        if not torch.equal(obs[..., self.split :], common.unsqueeze(-2).expand_as(obs[..., self.split :])):
            raise ValueError(f"observation entries {self.split}.. differ between agents; they cannot be kept once")
        rows = (self.ptr + torch.arange(n)) % self.capacity
        self.obs[rows], self.common[rows] = obs[..., : self.split], common
        self.glob[rows], self.act[rows], self.rew[rows] = glob, act, rew
        self.ptr = int((self.ptr + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch: int, next_state: bool = True) -> dict[str, torch.Tensor]:
        """``batch`` transitions: obs, glob, act, rew and, with ``next_state``, next_obs and next_glob."""
        row = torch.randint(self.size, (batch,))
        t = torch.randint(self.slots, (batch,))
        out = {
            "obs": self._observations(row, t),
            "glob": self.glob[row, t],
            "act": self.act[row, t],
            "rew": self.rew[row, t],
        }
        if next_state:
            out.update(next_obs=self._observations(row, t + 1), next_glob=self.glob[row, t + 1])
        return out

    def _observations(self, row: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        own, common = self.obs[row, t], self.common[row, t]
        return torch.cat([own, common.unsqueeze(-2).expand(*own.shape[:-1], common.shape[-1])], dim=-1)

    def state_dict(self) -> dict[str, Any]:
        n = self.size
        return {
            "obs": self.obs[:n].clone(),
            "common": self.common[:n].clone(),
            "glob": self.glob[:n].clone(),
            "act": self.act[:n].clone(),
            "rew": self.rew[:n].clone(),
            "ptr": self.ptr,
            "size": n,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = state["size"]
        for name in ("obs", "common", "glob", "act", "rew"):
            getattr(self, name)[:n] = state[name]
        self.ptr, self.size = state["ptr"], n
