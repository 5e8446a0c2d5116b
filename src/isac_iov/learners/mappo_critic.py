"""The value side of MAPPO (:mod:`.mappo`): its centralised critic, the critic's value normalisation (PopArt)
and the reward scale from the running statistics of the discounted return.

* :func:`build_critic` - one value network shared by the agents: an MLP on each agent's critic state, or the
  per-link :class:`.linknet.LinkCritic` that fits any number of CVs and RSUs;
* :func:`popart_update` - the critic predicts returns standardised by running statistics; when they move, the
  critic's output layer is rescaled so its values in return units are unchanged;
* :class:`ReturnScale` - rewards divided by the running std of the within-episode discounted return and
  clipped (``reward_clip``), with one set of statistics per scenario of a mixture.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .buffers import RunningMeanStd, RunningNorm
from .common import EnvSpec
from .linknet import LinkCritic, LinkNorm
from .networks import AgentMLP


class MlpHead:
    """The output layer of an :class:`AgentMLP` critic, as ``weight`` and ``bias`` (PopArt rescales them)."""

    def __init__(self, mlp: AgentMLP):
        self.weight, self.bias = mlp.weights[-1], mlp.biases[-1]


def build_critic(
    spec: EnvSpec, hidden: int, link: bool, in_dim: int, norm_count: float, agent_id: bool
) -> tuple[nn.Module, RunningNorm | LinkNorm, nn.Linear | MlpHead]:
    """``(critic, its input normaliser, its output layer)``: the per-link critic on the observation when
    ``link``, else an MLP shared by the agents on ``in_dim``-wide critic states (with a one-hot agent id when
    ``agent_id``)."""
    if link:
        critic = LinkCritic(spec.link, hidden, norm_count)
        return critic, critic.obs_norm, critic.head
    norm = RunningNorm(in_dim, max_count=norm_count)
    mlp = AgentMLP(spec.num_cvs, in_dim, 1, hidden, shared=True, agent_id=agent_id)
    return nn.Sequential(norm, mlp), norm, MlpHead(mlp)


def popart_update(value_norm: RunningMeanStd, head: nn.Linear | MlpHead, returns: torch.Tensor) -> None:
    """Update the return statistics ``value_norm`` and rescale the critic's output layer ``head`` so its values
    are unchanged (PopArt)."""
    old_mean, old_std = value_norm.mean, value_norm.std
    value_norm.update(returns)
    new_mean, new_std = value_norm.mean, value_norm.std
    with torch.no_grad():
        head.weight.mul_(old_std / new_std)
        head.bias.mul_(old_std).add_(old_mean - new_mean).div_(new_std)


class ReturnScale:
    """Reward scaling (``reward_clip > 0``): rewards ``(T, N)`` divided by the running std of the discounted
    return (``gamma``) and clipped to ``+-reward_clip``; the statistics remember about ``max_count`` samples.

    Outliers (a CPU request near zero makes a slot's delay, hence its reward, thousands of times the usual) are
    first clipped at the old scale so they cannot inflate it.  Each scenario of a mixture has its own
    statistics (:meth:`use`): the scenarios' rewards can differ a hundredfold, and shared statistics would let
    the largest set every update's scale.
    """

    def __init__(self, gamma: float, reward_clip: float, max_count: float):
        self.gamma, self.clip = gamma, reward_clip
        self.rms = RunningMeanStd(max_count=max_count)  # the current scenario's statistics
        self.stats = [self.rms]  # one per scenario of a mixture

    def use(self, scenario: int) -> None:
        """Scale the rewards of scenario number ``scenario`` from now on."""
        while len(self.stats) <= scenario:
            self.stats.append(RunningMeanStd(max_count=self.rms.max_count))
        self.rms = self.stats[scenario]

    def __call__(self, rewards: torch.Tensor) -> torch.Tensor:
        """The learning rewards of ``rewards (T, N)``; updates the current scenario's statistics."""
        clip = self.clip
        if clip <= 0:
            return rewards
        if self.rms.count >= 1:
            bound = clip * self.rms.std
            rewards = rewards.clamp(-bound, bound)
        returns = torch.zeros_like(rewards)
        running = torch.zeros_like(rewards[0])
        for t in range(rewards.shape[0]):
            running = self.gamma * running + rewards[t]
            returns[t] = running
        self.rms.update(returns)
        return (rewards / self.rms.std).clamp(-clip, clip)

    def state_dict(self) -> dict[str, Any]:
        """``return_rms`` (the first scenario's statistics) and, for a mixture, ``return_rms_mixture``."""
        mixture = [r.state_dict() for r in self.stats[1:]]
        return {"return_rms": self.stats[0].state_dict(), **({"return_rms_mixture": mixture} if mixture else {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s statistics (keys of a learner's state); the first scenario is current."""
        self.stats = [self.stats[0]]
        self.stats[0].load_state_dict(state["return_rms"])
        for saved in state.get("return_rms_mixture", []):
            self.stats.append(RunningMeanStd(max_count=self.rms.max_count))
            self.stats[-1].load_state_dict(saved)
        self.rms = self.stats[0]
