"""Ly-MADDPG: deterministic decentralised actors, one centralised critic per agent, target networks.

Collection, replay, reward scaling and the critic inputs are shared with the
other off-policy learners (:mod:`.offpolicy`).  Per update:

1. critic ``i`` regresses ``r_scaled + gamma * Q'_i(s'_i, mu'(o'))`` (target
   actors and critics);
2. the actors ascend :meth:`~.offpolicy_critics.CentralCritics.policy_value`: with
   per-CV critics (default) the sum of all critics at the joint policy action;
   with the team reward ``Q_i(s_i, a_1..mu_i(o_i)..a_I)``, the others' actions
   from the replay buffer;
3. targets move by Polyak averaging (``tau``).

Steps 2 and 3 run every ``policy_delay`` updates.

Exploration adds ``N(0, std)`` to the pre-action before the sigmoid
(``noise_space = "pre_action"``), which reaches weights near 0 and 1 as
readily as those in the middle, or to the action, clipped to [0, 1] (``"action"``,
the usual form, with std 0.1 before; measured in :mod:`.offpolicy`).

**The noise narrows over the run**: its std falls linearly from
``exploration_noise`` = 0.5 to 0.2 (``noise_floor = 0.4``) over
``anneal_episodes`` = 1800 episodes.  Wide noise early lets the critics see
every part of the action space; narrow noise late gives them data near the
actor's own actions, where the actor reads their gradient.  Seeds 0-4
(``isac-iov train --algo ly-maddpg --seed S --set algo.KEY=V``, then ``isac-iov
evaluate --episodes 20 --seed 0``):

=======================================  ==========================================  ======
noise std                                seeds 0-4                                   mean
=======================================  ==========================================  ======
0.5 held (before)                        0.2816, 0.2815, 0.2817, 0.2812, 0.2825      0.2817
0.5 falling to 0.2 (now)                 0.2791, 0.2812, 0.2804, 0.2799, 0.2794      0.2800
0.5 falling to 0.1                       0.2804, 0.2815 (seeds 0-1)
0.4 held                                 0.2814, 0.2810 (seeds 0-1)
0.3 held                                 0.2806, 0.2809, 0.2803, 0.2818, 0.2803      0.2808
0.2 held                                 0.2910, 0.2991 (seeds 0-1)
=======================================  ==========================================  ======

Every seed gains with the fall (``greedy`` 0.2813): held at 0.2 the critics
learn too slowly (the training cost still falling at the end), and held at 0.3
one seed loses.  Ly-MATD3 keeps its noise held (``noise_floor = 1``): its actor
steps every other update, and held at 0.3 it cost 0.2894 and 0.3006 (seeds 0-1)
against 0.2839 and 0.2833.
The actor's learning rate is constant (``actor_lr_floor`` below 1 anneals it;
measured in :mod:`.offpolicy`): 3e-5 up to 16 CVs, 1e-4 above (``actor_lr = 0``,
``AUTO_ACTOR_LR``; 1e-4 drifted on the paper's road, 3e-5 was too slow on the city: :mod:`.offpolicy`), and above
16 CVs its minibatch holds 32 joint transitions (``batch_size = 0``, ``AUTO_BATCH_SIZE``; :mod:`.offpolicy`).

**Two critic steps per actor step** (``updates_per_step = 2``, ``policy_delay = 2``;
before: one of each).  The critics, not the actor, were short of steps.  Seeds 0 and 1
(``isac-iov train --algo ly-maddpg --seed S --set ...``, then ``isac-iov evaluate
--episodes 20 --seed 0``; cost, CPU seconds of training and evaluation under
``/usr/bin/time``, two runs at a time on 2 cores; ``greedy`` 0.2813, ``ly-opt`` 0.2754):

================================================  ===============  =========
setting                                           cost             CPU s
================================================  ===============  =========
one update per step (before; the reproduction)    0.2835, 0.2841   98, 99 (a)
two updates per step                              0.2815, 0.2825   195, 211
the same, the actor every other update (now)      0.2816, 0.2815   156, 160
three updates per step                            0.2818           287
batch 256 (twice the samples, not the steps)      0.2831           156
critic lr 2e-3 / actor lr 6e-5                    0.2853 / 0.2852  104 / 105
hidden 256                                        0.2831           195
================================================  ===============  =========

(a) training alone.  Ly-MATD3, whose actor already steps every other update, at two
updates per step with Ly-MADDPG's actor lr (its actor as many steps as Ly-MADDPG's before,
its critics twice as many) cost 0.2818 against its 0.2847 (seed 0), in 220 s: past its
3-minute budget, so it keeps one update per step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from .common import EnvSpec, adam, anneal_factor, form, initial_pre_action, optimise
from .networks import DeterministicActor, polyak_update, squash
from .offpolicy import OffPolicyConfig, OffPolicyLearner


@dataclass(frozen=True)
class MaddpgConfig(OffPolicyConfig):
    actor_lr: float = 0.0  # 0: auto, MADDPG.AUTO_ACTOR_LR (module docstring)
    exploration_noise: float = 0.5  # std of the exploration noise, in pre-action units by default
    noise_floor: float = 0.4  # the noise's std falls linearly to exploration_noise * this over anneal_episodes
    noise_space: str = "pre_action"  # add the noise before the sigmoid ("pre_action") or to the action ("action")
    preact_reg: float = 0.0  # weight of mean(u^2) in the actor loss (off: it fought the critic)
    updates_per_step: int = 2  # the critics needed more steps (module docstring)
    policy_delay: int = 2  # the actors step, and the targets move, every this many updates


class MADDPG(OffPolicyLearner):
    critic_copies = 1  # Ly-MATD3 subclasses this learner with twin critics
    AUTO_ACTOR_LR = (3e-5, 1e-4)  # actor_lr = 0: up to 16 CVs, above (docstring)
    AUTO_BATCH_SIZE = (128, 32)  # batch_size = 0: likewise
    cfg: MaddpgConfig
    actor: DeterministicActor

    def __init__(self, spec: EnvSpec, cfg: MaddpgConfig):
        super().__init__(spec, cfg)
        self.actor = DeterministicActor(
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
        self.critic = self.make_critic(self.critic_copies)
        self.actor_target, self.critic_target = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self.actor_opt = adam(self.actor.parameters(), lr=self.actor_lr)
        self.critic_opt = adam(self.critic.parameters(), lr=cfg.critic_lr)

    def behaviour(self, obs: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        std = cfg.exploration_noise * anneal_factor(cfg.noise_floor, self.episodes_seen, cfg.anneal_episodes)
        if cfg.noise_space == "pre_action":
            u = self.actor.pre_action(obs)
            return squash(u + std * torch.randn_like(u))
        a = self.actor(obs)
        return (a + std * torch.randn_like(a)).clamp(0.0, 1.0)

    def update(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        losses = {"critic_loss": self.critic_step(b)}
        if self.updates % self.cfg.policy_delay == 0:
            losses["actor_loss"] = self.actor_step(b)
        return losses

    def critic_step(self, b: dict[str, torch.Tensor]) -> float:
        """Step 1: one gradient step of the critics; returns their loss."""
        cfg = self.cfg

        def next_value() -> torch.Tensor:
            next_act = self.actor_target(b["next_obs"])
            return self.critic_target(self.critic_input(b["next_obs"], b["next_glob"], next_act))[:, 0]

        target = self.td_target(b, next_value)
        q = self.critic(self.critic_input(b["obs"], b["glob"], b["act"]))[:, 0]
        critic_loss = self.critic_loss(q, target)
        optimise(self.critic_opt, self.critic, critic_loss, cfg.max_grad_norm)
        return critic_loss.item()

    def actor_step(self, b: dict[str, torch.Tensor]) -> float:
        """Steps 2-3: ascend the policy value (:meth:`actor_value`), then move the targets; returns the loss."""
        cfg = self.cfg
        u = self.actor.pre_action(b["obs"])
        q = self.actor_value(self.policy_value(b["obs"], b["glob"], b["act"], squash(u)))
        actor_loss = -q.mean() + cfg.preact_reg * u.pow(2).mean()
        optimise(self.actor_opt, self.actor, actor_loss, cfg.max_grad_norm)
        polyak_update(self.critic_target, self.critic, cfg.tau)
        polyak_update(self.actor_target, self.actor, cfg.tau)
        return actor_loss.item()

    def actor_value(self, values: torch.Tensor) -> torch.Tensor:
        """What the actors ascend, from the ``(B, copies, I)`` policy values: the (first) critic's."""
        return values[:, 0]

    def components(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "critic": self.critic,
            "actor_target": self.actor_target,
            "critic_target": self.critic_target,
            "actor_opt": self.actor_opt,
            "critic_opt": self.critic_opt,
        }
