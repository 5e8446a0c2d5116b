"""Ly-MASAC: entropy-regularised actors with a learned temperature per agent, twin centralised critics.

Actors are Gaussians over pre-actions squashed by ``sigmoid`` (log-density with
the squash Jacobian, :class:`~.networks.SquashedGaussianActor`).  Per update:

1. both critics of agent ``i`` regress
   ``r_scaled + gamma * (min_j Q'_ij(s'_i, a') - alpha_i log pi_i(a'_i | o'_i))``
   with ``a' ~ pi(o')`` from the current actors;
2. actor ``i`` minimises ``alpha_i log pi_i(a_i | o_i) - min_j V_ij`` with ``a_i``
   reparameterised and ``V`` the critics' policy value
   (:meth:`~.offpolicy_critics.CentralCritics.policy_value`);
3. ``log alpha_i`` descends ``-log alpha_i (log pi_i + target_entropy)`` where
   ``target_entropy = target_entropy_per_dim * action_dim``.  The default is -0.5 per dimension, not SAC's
   usual -1: an action squashed into [0, 1] has entropy at most 0, and -1 holds each dimension to a
   spread of about 0.09, -0.5 to about 0.15, which learns better policies (docs/learners.md);
4. target critics move by Polyak averaging.

Exploration samples from the actors.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .common import EnvSpec, adam, form, initial_pre_action, optimise
from .networks import SquashedGaussianActor, polyak_update
from .offpolicy import OffPolicyConfig, OffPolicyLearner


@dataclass(frozen=True)
class MasacConfig(OffPolicyConfig):
    alpha_lr: float = 3e-4
    init_alpha: float = 0.05
    target_entropy_per_dim: float = -0.5


class Temperature(nn.Module):
    """``log alpha`` per agent (one for all agents when the actor is shared without agent ids)."""

    def __init__(self, agents: int, init_alpha: float):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.full((agents,), math.log(init_alpha)))

    def forward(self) -> torch.Tensor:
        return self.log_alpha.exp()


class MASAC(OffPolicyLearner):
    def __init__(self, spec: EnvSpec, cfg: MasacConfig):
        super().__init__(spec, cfg)
        self.actor = SquashedGaussianActor(
            spec.num_cvs,
            spec.obs_dim,
            spec.action_dim,
            cfg.hidden,
            cfg.shared_actor,
            self.norm_max_count,
            initial_pre_action(cfg, spec),
            self.agent_id,
            form(cfg, "actor", spec.num_cvs),
            spec.link,
        )
        self.critic = self.make_critic(2)
        self.critic_target = copy.deepcopy(self.critic)
        self.temperature = Temperature(1 if cfg.shared_actor and not self.agent_id else spec.num_cvs, cfg.init_alpha)
        self.target_entropy = cfg.target_entropy_per_dim * spec.action_dim
        self.actor_opt = adam(self.actor.parameters(), lr=self.actor_lr)
        self.critic_opt = adam(self.critic.parameters(), lr=cfg.critic_lr)
        self.alpha_opt = adam(self.temperature.parameters(), lr=cfg.alpha_lr)

    def behaviour(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)[0]

    def update(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        alpha = self.temperature().detach()

        def next_value() -> torch.Tensor:
            next_act, next_logp = self.actor(b["next_obs"])
            q_next = self.critic_target(self.critic_input(b["next_obs"], b["next_glob"], next_act))
            return q_next.min(1).values - alpha * next_logp

        target = self.td_target(b, next_value)
        q = self.critic(self.critic_input(b["obs"], b["glob"], b["act"]))
        critic_loss = self.critic_loss(q, target[:, None])
        optimise(self.critic_opt, self.critic, critic_loss, cfg.max_grad_norm)
        act, logp = self.actor(b["obs"])
        q_pi = self.policy_value(b["obs"], b["glob"], b["act"], act).min(1).values
        actor_loss = (alpha * logp - q_pi).mean()
        optimise(self.actor_opt, self.actor, actor_loss, cfg.max_grad_norm)
        alpha_loss = -(self.temperature.log_alpha * (logp.detach() + self.target_entropy)).mean()
        optimise(self.alpha_opt, self.temperature, alpha_loss, cfg.max_grad_norm)
        polyak_update(self.critic_target, self.critic, cfg.tau)
        return {
            "critic_loss": critic_loss.item(),
            "actor_loss": actor_loss.item(),
            "alpha": alpha.mean().item(),
            "entropy": -logp.mean().item(),
        }

    def components(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "critic": self.critic,
            "critic_target": self.critic_target,
            "temperature": self.temperature,
            "actor_opt": self.actor_opt,
            "critic_opt": self.critic_opt,
            "alpha_opt": self.alpha_opt,
        }
