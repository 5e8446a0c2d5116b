"""MAPPO under CTDE: Ly-DTMPO (with the digital twin) and Ly-MAPPO (twin absent).

Both registry names use this learner; Ly-MAPPO only differs in its scenario
(``twin.enabled = false``: every twin field of observations and critic states
is zero, MODEL-NOTES 10).

* **Actors** - one Gaussian policy per CV (or one shared actor with a one-hot
  agent id), two ReLU hidden layers, state-dependent mean and a learned
  state-independent log-std over pre-actions ``u``; the env action is
  ``sigmoid(u)`` (:mod:`.networks`).  Each actor sees only its CV's observation.
* **Critic** - one centralised value network, shared by the agents, on each
  agent's critic state (its observation + the twin's global state, which
  includes ``G_rsu``); it outputs a per-agent value of the team return.
* **Update** (per iteration of ``num_envs`` episodes): GAE (``gamma``,
  ``gae_lambda``) with a bootstrap at the time-limit end of each episode;
  ``epochs`` passes of the clipped surrogate (``clip_eps``) over minibatches of
  ``batch_size`` agent-transitions (whole slots, all agents together), with an
  entropy bonus, per-batch advantage normalisation and gradient-norm clipping;
  Adam at ``lr`` for actor and critic.
* **Input normalisation** - actor and critic standardise their inputs with
  running statistics, updated after each iteration's update.
* **Value normalisation** - the critic predicts returns standardised by a
  running mean/std of the GAE returns (the reward of eq. (44) is O(10-100)).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..env.core import Step
from .buffers import RunningMeanStd, gae
from .common import AlgoConfig, EnvSpec, adam, as_tensor, optimise, to_actions
from .networks import AgentMLP, GaussianActor, RunningNorm, gaussian_entropy, gaussian_log_prob, squash


@dataclass(frozen=True)
class MappoConfig(AlgoConfig):
    lr: float = 8e-5
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    epochs: int = 10
    batch_size: int = 512         # agent-transitions per minibatch (rounded to whole slots)
    entropy_coef: float = 0.001
    max_grad_norm: float = 0.5
    init_log_std: float = -0.5


class MAPPO:
    """The learner; see the module docstring."""

    def __init__(self, spec: EnvSpec, cfg: MappoConfig):
        self.spec, self.cfg = spec, cfg
        self.num_envs = cfg.num_envs
        self.actor = GaussianActor(spec.agents, spec.obs_dim, spec.act_dim, cfg.hidden, cfg.shared_actor,
                                   cfg.init_log_std)
        self.critic = nn.Sequential(RunningNorm(spec.critic_dim),
                                    AgentMLP(spec.agents, spec.critic_dim, 1, cfg.hidden, shared=True))
        self.actor_opt = adam(self.actor.parameters(), lr=cfg.lr, eps=1e-5)
        self.critic_opt = adam(self.critic.parameters(), lr=cfg.lr, eps=1e-5)
        self.value_norm = RunningMeanStd()
        t, e, i = spec.slots, cfg.num_envs, spec.agents
        self.obs = torch.zeros(t, e, i, spec.obs_dim)
        self.states = torch.zeros(t + 1, e, i, spec.critic_dim)
        self.pre_actions = torch.zeros(t, e, i, spec.act_dim)
        self.log_probs = torch.zeros(t, e, i)
        self.rewards = torch.zeros(t, e)

    # -- collection --------------------------------------------------------------------------
    def explore(self, obs: np.ndarray, critic_state: np.ndarray, t: int) -> np.ndarray:
        """Sample ``u ~ N(mean, std)`` for every env and agent; play ``sigmoid(u)``."""
        o = as_tensor(obs)
        with torch.no_grad():
            mean, log_std = self.actor(o)
            u = mean + torch.randn_like(mean) * log_std.exp()
            self.log_probs[t] = gaussian_log_prob(u, mean, log_std)
        self.obs[t], self.states[t], self.pre_actions[t] = o, as_tensor(critic_state), u
        return to_actions(squash(u))

    def record(self, step: Step, t: int) -> None:
        self.rewards[t] = as_tensor(step.reward)
        if step.done:
            self.states[t + 1] = as_tensor(step.critic_state)

    # -- learning ----------------------------------------------------------------------------
    def end_iteration(self, keep: int) -> dict[str, float]:
        """GAE over the first ``keep`` episodes, then ``epochs`` of clipped-surrogate minibatch updates."""
        cfg = self.cfg
        states = self.states[:, :keep]
        with torch.no_grad():
            values = self.value_norm.denormalize(self.critic(states).squeeze(-1))
        adv = gae(self.rewards[:, :keep], values, cfg.gamma, cfg.gae_lambda)
        returns = adv + values[:-1]
        self.value_norm.update(returns)
        batch = {
            "obs": self.obs[:, :keep], "states": states[:-1], "u": self.pre_actions[:, :keep],
            "logp": self.log_probs[:, :keep], "adv": (adv - adv.mean()) / (adv.std() + 1e-8),
            "target": self.value_norm.normalize(returns),
        }
        batch = {k: v.reshape(-1, *v.shape[2:]) for k, v in batch.items()}
        rows = batch["obs"].shape[0]
        mb = max(1, min(rows, cfg.batch_size // self.spec.agents))
        stats: list[torch.Tensor] = []
        for _ in range(cfg.epochs):
            perm = torch.randperm(rows)
            for start in range(0, rows, mb):
                idx = perm[start:start + mb]
                stats.append(self._update({k: v[idx] for k, v in batch.items()}))
        self.actor.obs_norm.update(batch["obs"])
        self.critic[0].update(batch["states"])
        mean = torch.stack(stats).mean(0)
        return dict(zip(("policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac"), mean.tolist()))

    def _update(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        cfg = self.cfg
        mean, log_std = self.actor(b["obs"])
        logp = gaussian_log_prob(b["u"], mean, log_std)
        log_ratio = logp - b["logp"]
        ratio = log_ratio.exp()
        surrogate = torch.min(ratio * b["adv"], ratio.clamp(1 - cfg.clip_eps, 1 + cfg.clip_eps) * b["adv"])
        entropy = gaussian_entropy(log_std).mean()
        policy_loss = -surrogate.mean() - cfg.entropy_coef * entropy
        optimise(self.actor_opt, self.actor, policy_loss, cfg.max_grad_norm)
        value_loss = (self.critic(b["states"]).squeeze(-1) - b["target"]).pow(2).mean()
        optimise(self.critic_opt, self.critic, value_loss, cfg.max_grad_norm)
        with torch.no_grad():
            kl = ((ratio - 1) - log_ratio).mean()
            clip_frac = ((ratio - 1).abs() > cfg.clip_eps).float().mean()
        return torch.stack([policy_loss.detach(), value_loss.detach(), entropy.detach(), kl, clip_frac])

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict(),
                "value_norm": self.value_norm.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.value_norm.load_state_dict(state["value_norm"])
