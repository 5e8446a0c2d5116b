"""Ly-MATD3: MADDPG with twin critics, delayed actor updates and target policy smoothing.

Per update:

1. both critics of agent ``i`` regress ``r_scaled + gamma * min_j Q'_ij(s'_i, a')``
   where ``a' = clip(mu'(o') + clip(N(0, target_noise), +-target_noise_clip), 0, 1)``;
2. every ``policy_delay`` updates, the actors ascend the minimum of the two
   critics' policy values (:meth:`~.offpolicy_critics.CentralCritics.policy_value`;
   ``actor_critic = "first"``: the first critic's, as in TD3) and all targets
   move by Polyak averaging.

Everything else - actors, exploration (``N(0, exploration_noise)`` on the pre-action), the
actor step and the targets - is :class:`~.maddpg.MADDPG`'s, which this class extends.

**Actor learning rate 6e-5, twice Ly-MADDPG's.**  With ``gamma = 0`` (:mod:`.offpolicy`) the
targets are the scaled rewards alone, so the minimum over twin critics and the target
smoothing of step 1 change nothing, and what is left of TD3 is the policy delay: with one
update per vector step (Ly-MADDPG runs two, :mod:`.maddpg`), half as many actor steps as
Ly-MADDPG's one per vector step.  At Ly-MADDPG's 3e-5 the actor was still short of it after 1800
episodes (seed 0, ``isac-iov evaluate --episodes 20 --seed 0``: 1.099 times ``ly-opt``, 12.5 J
per CV-slot, 1.5 % deadline misses, against Ly-MADDPG's 1.028); at 6e-5 it made the same
progress per episode (1.042, 16.3 J, 0.5 %).

**The actors ascend the minimum of the twin critics.**  At ``gamma = 0`` the minimum in
step 1 is never taken, so with TD3's actor on the first critic the second was trained
and never read.  The minimum keeps an actor off actions that one critic alone
overvalues, as SAC's actor does (:mod:`.masac`).  Seeds 0-4, ``isac-iov evaluate
--episodes 20 --seed 0`` on each run: 0.2839, 0.2833, 0.2819, 0.2832, 0.2826 (mean 0.2830)
against 0.2847, 0.2845, 0.2832, 0.2840, 0.2857 (0.2844) on the first critic, every seed
better, at the same compute (one forward pass gives both critics' values).  The mean of
the two critics gave 0.2847 (seed 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .common import optimise
from .maddpg import MADDPG, MaddpgConfig


@dataclass(frozen=True)
class Matd3Config(MaddpgConfig):
    actor_lr: float = 6e-5  # twice Ly-MADDPG's: the actor steps every other vector step (docstring)
    updates_per_step: int = 1  # Ly-MADDPG's 2 take its twin critics past the 3-minute budget (maddpg docstring)
    noise_floor: float = 1.0  # the exploration noise is held: Ly-MADDPG's fall is for actors that step often (maddpg)
    target_noise: float = 0.1  # [0, 1] actions: half the usual 0.2 of [-1, 1]
    target_noise_clip: float = 0.25
    actor_critic: str = "min"  # the actors ascend the "min" of the twin critics (docstring), or the "first"


class MATD3(MADDPG):
    critic_copies = 2
    AUTO_ACTOR_LR = (6e-5, 6e-5)  # what actor_lr = 0 takes; 6e-5 learned the city too (docs/learners-at-scale.md)
    AUTO_BATCH_SIZE = (128, 64)  # batch_size = 0: 64 above 16 CVs, not Ly-MADDPG's 32 (docs/learners-at-scale.md)
    cfg: Matd3Config

    def critic_step(self, b: dict[str, torch.Tensor]) -> float:
        cfg = self.cfg

        def next_value() -> torch.Tensor:
            a = self.actor_target(b["next_obs"])
            noise = (cfg.target_noise * torch.randn_like(a)).clamp(-cfg.target_noise_clip, cfg.target_noise_clip)
            next_act = (a + noise).clamp(0.0, 1.0)
            return self.critic_target(self.critic_input(b["next_obs"], b["next_glob"], next_act)).min(1).values

        target = self.td_target(b, next_value)
        q = self.critic(self.critic_input(b["obs"], b["glob"], b["act"]))
        critic_loss = self.critic_loss(q, target[:, None])
        optimise(self.critic_opt, self.critic, critic_loss, cfg.max_grad_norm)
        return critic_loss.item()

    def actor_value(self, values: torch.Tensor) -> torch.Tensor:
        return values.min(1).values if self.cfg.actor_critic == "min" else values[:, 0]
