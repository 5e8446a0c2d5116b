"""Ly-MATD3: MADDPG with twin critics, delayed actor updates and target policy smoothing.

Per update:

1. both critics of agent ``i`` regress ``r_scaled + gamma * min_j Q'_ij(s'_i, a')``
   where ``a' = clip(mu'(o') + clip(N(0, target_noise), +-target_noise_clip), 0, 1)``;
2. every ``policy_delay`` updates, actor ``i`` ascends the first critic
   ``Q_i1(s_i, a_1..mu_i(o_i)..a_I)`` (others' actions from the replay buffer)
   and all targets move by Polyak averaging.

Exploration adds ``N(0, exploration_noise)`` and clips to [0, 1], as in MADDPG.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from .common import EnvSpec, adam, optimise
from .networks import DeterministicActor, QEnsemble, polyak_update, squash
from .offpolicy import OffPolicyConfig, OffPolicyLearner, joint_with_own


@dataclass(frozen=True)
class Matd3Config(OffPolicyConfig):
    exploration_noise: float = 0.1
    preact_reg: float = 1e-2        # weight of mean(u^2) in the actor loss (sigmoid saturation guard)
    policy_delay: int = 2
    target_noise: float = 0.1        # [0, 1] actions: half the usual 0.2 of [-1, 1]
    target_noise_clip: float = 0.25


class MATD3(OffPolicyLearner):
    def __init__(self, spec: EnvSpec, cfg: Matd3Config):
        super().__init__(spec, cfg)
        joint_dim = spec.critic_dim + spec.agents * spec.act_dim
        self.actor = DeterministicActor(spec.agents, spec.obs_dim, spec.act_dim, cfg.hidden, cfg.shared_actor,
                                        self.norm_max_count, cfg.init_local_logit)
        self.critic = QEnsemble(spec.agents, joint_dim, cfg.hidden, copies=2)
        self.actor_target, self.critic_target = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self.actor_opt = adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic_opt = adam(self.critic.parameters(), lr=cfg.critic_lr)

    def behaviour(self, obs: torch.Tensor) -> torch.Tensor:
        a = self.actor(obs)
        return (a + self.cfg.exploration_noise * torch.randn_like(a)).clamp(0.0, 1.0)

    def update(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        with torch.no_grad():
            a = self.actor_target(b["next_obs"])
            noise = (cfg.target_noise * torch.randn_like(a)).clamp(-cfg.target_noise_clip, cfg.target_noise_clip)
            next_act = (a + noise).clamp(0.0, 1.0).flatten(1)
            q_next = self.critic_target(self.critic_input(b["next_obs"], b["next_glob"], next_act)).min(1).values
            target = b["rew"][:, None] + cfg.gamma * q_next
        q = self.critic(self.critic_input(b["obs"], b["glob"], b["act"].flatten(1)))
        critic_loss = (q - target[:, None]).pow(2).mean(0).sum(0).mean()
        optimise(self.critic_opt, self.critic, critic_loss, cfg.max_grad_norm)
        losses = {"critic_loss": critic_loss.item()}
        if self.updates % cfg.policy_delay == 0:
            u = self.actor.pre_action(b["obs"])
            joint = joint_with_own(b["act"], squash(u))
            q = self.critic(self.critic_input(b["obs"], b["glob"], joint))[:, 0]
            actor_loss = -q.mean() + cfg.preact_reg * u.pow(2).mean()
            optimise(self.actor_opt, self.actor, actor_loss, cfg.max_grad_norm)
            polyak_update(self.critic_target, self.critic, cfg.tau)
            polyak_update(self.actor_target, self.actor, cfg.tau)
            losses["actor_loss"] = actor_loss.item()
        return losses

    def components(self) -> dict[str, Any]:
        return {"actor": self.actor, "critic": self.critic, "actor_target": self.actor_target,
                "critic_target": self.critic_target, "actor_opt": self.actor_opt, "critic_opt": self.critic_opt}
