"""The part Ly-MADDPG, Ly-MATD3 and Ly-MASAC share: collection, replay, reward scaling, the critics.

:class:`OffPolicyLearner` plays the ``num_envs`` envs of an iteration with the
subclass's ``behaviour`` policy (also during the first ``warmup_episodes``, which
precede any update; ``warmup_actions = random`` plays uniform random actions
there instead, unless the actor was warm-started), stages the episodes
and stores the first ``keep`` of them in an :class:`~.buffers.EpisodeReplay` when the iteration ends.  After
every vector step (``num_envs`` env-slots) it runs ``updates_per_step``
gradient updates (the subclass's ``update``) on minibatches of ``batch_size``
joint transitions sampled from the episodes stored so far.

**Critics** are centralised: what they see (the critic state and the joint action as the env maps it, or its
summary at city scale), their targets and the value the actors ascend are :mod:`.offpolicy_critics`
(:class:`~.offpolicy_critics.CentralCritics`, a base of :class:`OffPolicyLearner`).

**Per-CV critics, team actors** (``reward = "per_cv"``, the default).  Critic
``i`` learns CV ``i``'s exact share of eq. (44) (``Outcome.reward_per_cv``),
a target with far less of the other CVs' noise than the team reward; since the
shares sum to the team reward, the sum of the critics is the team value, and
every actor ascends that sum at the joint policy action
(:meth:`~.offpolicy_critics.CentralCritics.policy_value`).  An actor that ascended only its own
critic would ask for all the RSU CPU it can get (its share improves, the
others' worsen): measured, every CPU request ended at 0.98.  ``reward =
"team"`` gives the classic MADDPG form: each critic learns the team reward and
actor ``i`` ascends critic ``i`` with the others' actions from the replay.

**Reward scaling.**  The critics learn from ``reward * (1 - gamma) / std``,
clipped to ``+-reward_clip``, where ``std`` is the running standard deviation
of the rewards seen (each new batch clipped to ``reward_clip`` old stds before
it enters, so one blown-up slot cannot inflate the scale), remembering about
``reward_memory`` iterations.

**Deviations from common settings, measured** (``isac-iov train --episodes
1800 --seed 0`` then ``isac-iov evaluate --episodes 20 --seed 0``; deterministic
cost, ``ly-opt`` 0.276; Ly-MADDPG unless stated):

* ``gamma = 0``, as for the PPO learners (:mod:`.mappo`): eq. (39) is meant to
  be minimised slot by slot.  The previous defaults (gamma 0.99, one actor and
  critic per CV, team reward, a ``1e-2 u^2`` pre-action penalty) trained to a
  cost of about 0.40 here (curve at episode 1400), with rewards still climbing
  out of an early energy-queue blow-up (-480 per slot at episode 200).
  With ``gamma = 0`` the critics' target is the scaled reward itself, so an
  update neither samples nor evaluates the next state (:meth:`~.offpolicy_critics.CentralCritics.td_target`):
  an update takes 0.83-0.84 of the time (``bench_update.py --key gamma --values 0.01,0``,
  retired: docs/learners.md#retired-diagnostics), and Ly-MASAC trained in 160 CPU s instead of 187 (seed 0,
  both versions side by side).  Nothing else changes: Ly-MADDPG's training is
  bit-identical; Ly-MATD3 and Ly-MASAC draw fewer random numbers.
* ``preact_reg = 0``: the penalty balanced the critic's small gradient at
  ``u = -2`` and kept the local share at 0.12 (27 of 36 J per CV-slot).
* ``buffer_episodes = 200`` (was 2000): 0.392 vs 0.419 after 900 episodes; the
  warm-up's random actions leave the buffer sooner.
* ``batch_size = 128`` (was 256): an update takes 0.51-0.57 of the time
  (``bench_update.py --key batch_size --values 256,128``), training
  about two thirds, and 5 seeds learned almost as well (``bench_train.py``, times
  ``ly-opt``): Ly-MADDPG 1.035 against 1.028, Ly-MATD3
  1.035 against 1.031, Ly-MASAC 1.040 against 1.034.
* One shared actor (one-hot agent id): five times the data per network.  The
  critics stay one per CV: a shared critic learned the toy task of :mod:`.toy`
  far worse under the per-CV reward (gap 0.22 vs 0.006 after 200 iterations).
  Nor did one critic network with an output per CV, on every CV's observation,
  the global state and the joint action, learn the real task as well, although
  it halved the time of an update (a prototype timed by ``bench_update.py``):
  seed 0, Ly-MADDPG 0.372 against 0.283; seed 3, Ly-MASAC 0.484 against 0.296
  (1800 episodes, the defaults of then).  Half the updates (``num_envs = 16``):
  Ly-MADDPG 0.324 (seed 0).
* Tried without a clear gain, and not kept as options (cost after 900-1800
  episodes): Huber critic loss 0.424, team reward 0.399, hidden 256 0.404,
  critic lr 3e-4 with batch 512 0.506, exploration noise 0.05 0.441, no warm-up
  0.416, batch 1024 0.394, 3 updates per step 0.378 (2.6 times slower; with the
  critics of now, two help Ly-MADDPG, :mod:`.maddpg`), critics
  that see only their own CV's action 0.384.

**Above 16 CVs** (``batch_size = 0`` and ``actor_lr = 0``: ``auto``, each learner's ``AUTO_BATCH_SIZE`` and
``AUTO_ACTOR_LR``).  128 joint transitions are 6400 agent-transitions at the city's 50 CVs; 64 halve an
update's time at about the same cost (Ly-MATD3, seeds 0-2: 1.036 x ``ly-opt-dual`` against 1.027 at 128, in 720
CPU s against 1368).  Ly-MADDPG takes 32 and an actor step size of 1e-4: at the paper road's 3e-5 it lost to
``greedy`` on the city in three runs of four, at 1e-4 with 64 in one of five, with 32 in none (5 seeds, 1.006 x
``ly-opt-dual``, in 10 CPU minutes).  Ly-MASAC and Ly-MATD3 keep 64: with 32 one Ly-MASAC seed of five lost to
``greedy`` and Ly-MATD3 missed more deadlines (docs/learners-at-scale.md#off-policy-learners-on-the-city).

**Warm-up around the initial policy** (``warmup_actions = policy``; the usual uniform
random actions before).  Uniform random weights run a large share of each task locally, at
80-130 J per CV-slot against the 22 J budget, so the virtual energy queues of eq. (27)
reached 1,000-1,600 J during the 16 warm-up episodes and the first replay held mostly
states with a huge energy price.  Every learner then cut its energy far below the budget
once the queues had drained, and paid in delay: the reproduction's 5-seed training curves
dip to about -40 per slot near episode 140 (Ly-MASAC), -30 near 180 (Ly-MADDPG) and -20
near 300 (Ly-MATD3) before they recover.  The initial policy (``init_local_logit``,
mostly offloading) with its exploration noise keeps the queues near 100-170 J.  Seed 3,
Ly-MASAC (``isac-iov evaluate --episodes 20 --seed 0``): 1.075 times ``ly-opt``, last 100
episodes 5.6 % below the best earlier window, dip to -39 at episode 140, before; 1.040,
-0.2 %, -20, after; seed 0, Ly-MADDPG: 1.028 before, 1.027 after.  Ly-MADDPG's and
Ly-MATD3's dip is not from the warm-up and stays: the queues build again to about 100 J
while the first policies spend 24-26 J, and once they have drained (about episode 120)
the actors keep cutting energy for 40-80 more episodes (to 4-5 J per CV-slot) until the
replay holds enough low-queue states (half the buffer, 100 episodes: the same dip, 40
episodes shorter).

**Actor learning-rate schedule** (``actor_lr_floor``, ``anneal_episodes``): the actor's
lr falls linearly from ``actor_lr`` to ``actor_lr * actor_lr_floor`` over the first
``anneal_episodes`` episodes (counted from the start of training, so a run longer than
the paper's 1800 episodes keeps the floor) and is set between iterations.  All three
learners keep a constant lr by default (``actor_lr_floor = 1``): Ly-MADDPG annealed to
0.1 while its critics saw raw actions, which then slowed its drift (second round), and
no longer helps once they see mapped actions (third round).

**Second round, measured** (1800 episodes, one change at a time against the defaults
before it: Ly-MADDPG 0.379 on seed 0 and 0.416 on seed 1, Ly-MATD3 0.347, Ly-MASAC 0.341;
``drift`` is the last 100 episodes' training reward against the best earlier
100-episode window):

===========================================================  =====  ======  =====  ======
change                                                       algo   seed    cost   drift
===========================================================  =====  ======  =====  ======
critics learn ``r - b(s)``, ``b`` a learned state baseline   DDPG   0       0.439  -36 %
critics learn ``r - b(s)``                                   SAC    0       0.357  -2 %
actor lr 1e-4 annealed to 1e-5                               DDPG   0       0.377  -17 %
actor lr 1e-4 annealed to 1e-5                               TD3    0       0.375  -13 %
actor lr 3e-5 annealed to 3e-6 (Ly-MADDPG's default then)    DDPG   1       0.378  -13 %
the same, mean of 5 (constant lr: 0.385, worst drift -31 %)  DDPG   0-4     0.368  -16 %
actor lr 3e-5 annealed to 3e-6                               TD3    0       0.382  -9 %
exploration noise 0.2                                        DDPG   0       0.384  -11 %
actor lr 3e-4                                                SAC    0       0.348  -2 %
===========================================================  =====  ======  =====  ======

The state baseline (the "advantage-centred" critic, not kept) takes the state
dependence out of the critics' targets, but the residual left by an imperfect
``b(s)`` still dwarfs the action's effect, and the critics' action gradients
stayed uncorrelated with the true ones (``critic_diagnosis.py``, retired: per-dimension
correlations from -0.16 to +0.20).  A fit alone does not fix that: the plain critics
of the annealed Ly-MADDPG run fit fresh data with R^2 0.87, and their per-dimension
gradient correlations still lie between -0.29 and +0.30.  The training
reward's 100-episode windows move by up to 25 % with the episodes drawn (the same
seed gives the same pattern under every setting), so one seed's drift figure is
noisy; the training *cost* tells more: with a constant lr Ly-MADDPG's rose from
0.34 to 0.40-0.47 after episode 1000 on seeds 0, 1 and 4, with the lr annealed
from 1e-4 it stayed at 0.35 (seed 0), and from 3e-5 it still rose late (seed 1,
0.34 to 0.44).  Training energy stays near 18-20 J per CV-slot while the delay
grows (0.52 to 0.70 s): the actors follow the critics where the delay part of
the reward, a max over parts, is modelled worst.

**Third round: what the critics see of the actions** (seed 0 unless stated; cost,
times ``ly-opt``'s 0.2756, deadline misses, drift).  The reward depends on the raw
weights only through the action mapping (:mod:`isac_iov.actions`): ratios of task
weights within a CV, ratios of its bandwidth weights over the links it uses, CPU
requests scaled per RSU, parts below ``min_task_share`` dropped, weights floored at
``min_resource_share``.  A critic on the raw weights has to learn those divisions
and thresholds; its action gradients were wrong where it mattered.  The trained
Ly-MATD3 left RSU backlogs (2.4e8 cycles on average, ``ly-opt-dual`` none) and put
its bandwidth weights near the floor (mean 0.08, many below 0.01, where the floor
and the normalisation bend the split): low energy (13 J), 6.7 % deadline misses.
:func:`~.offpolicy_critics.mapped_actions` is the mapping in torch, exact against the env (test:
``tests/test_scale.py``), so the critics see the shares themselves and the actors
get the mapping's true derivative.

================================================================  =====  ======  ======  =====  ======
change                                                            algo   cost    ratio   miss   drift
================================================================  =====  ======  ======  =====  ======
before (raw actions, exploration noise 0.1 added to the action)   DDPG   0.379   1.375
before                                                            TD3    0.347   1.259
before                                                            SAC    0.341   1.237
task shares and coverage only (no drop, raw bandwidth and CPU)    TD3    0.351   1.272   6.7 %  -12 %
the same                                                          SAC    0.308   1.117   1.6 %  -0.4 %
the same, seed 1                                                  SAC    0.306   1.109   2.0 %  -1.7 %
the same + noise N(0, 0.5) on the pre-action                      TD3    0.335   1.216   4.2 %  -7.7 %
the same + actor lr 1e-4                                          TD3    0.454   1.647   11 %   -22 %
the same + the actor ascends the critic at u + N(0, 0.5)          TD3    0.341   1.236   5.6 %  -6.0 %
the full mapping + pre-action noise 0.5 (lr annealed as before)   DDPG   0.302   1.096   1.4 %  -0.5 %
the same (TD3's defaults now)                                     TD3    0.302   1.097   1.5 %  +2.3 %
the full mapping (SAC explores with its own noise)                SAC    0.285   1.034   1.0 %  +0.5 %
as above, constant actor lr 3e-5 (the default now), seed 3       DDPG   0.284   1.030   0.5 %  +0.4 %
================================================================  =====  ======  ======  =====  ======

Noise on the pre-action (:mod:`.maddpg`, ``noise_space``) explores a weight near 0
or 1 as readily as one in the middle, as SAC's squashed Gaussian does; noise added
to the action explores the same band around every weight and clips a weight near
0 or 1 to exactly 0 or 1 about half the time.  The critics' action gradients now agree with the true gradient of the
reward where it matters (``critic_diagnosis.py`` on the Ly-MATD3 run above:
per-dimension correlation 0.53-0.68 on the task weights, 0.33-0.73 on the CPU
requests; within +-0.3 before).

Over 5 seeds (``benchmarks/bench_train.py``; cost, times ``ly-opt``, energy, misses,
worst seed's drift): Ly-MATD3 0.301, 1.093, 12.6 J, 1.4 %, +0.8 %; Ly-MASAC 0.288,
1.047, 17.6 J, 0.9 %, -5.6 % (before: 1.276 and 1.223 with 5.6-7.0 % misses).
Ly-MADDPG with the actor lr still annealed to a tenth: 0.307, 1.117, 13.0 J, 1.3 %,
-3.6 % (before: 1.336, 8.3 % misses, -15.9 %); with a constant actor lr (the default
now; seeds 0-4 with ``isac-iov train --set algo.actor_lr_floor=1`` and ``isac-iov
evaluate --episodes 20 --seed 0``): 0.283, 1.028 (per seed 1.028, 1.028, 1.025,
1.031, 1.027), 16.2 J, 0.5 %, -2.1 %.  With its actor lr at 1e-4 instead of 3e-5
it diverged (seed 3, annealed: 2.03 times ``ly-opt``, drift -31 %).

With the warm-up around the initial policy and Ly-MATD3's actor lr at 6e-5 (:mod:`.matd3`;
both the defaults now), over 5 seeds (``benchmarks/bench_train.py``, same columns): Ly-MADDPG
0.283, 1.028, 16.3 J, 0.5 %, -1.8 %; Ly-MATD3 0.284, 1.031, 16.0 J, 0.5 %, -1.4 %; Ly-MASAC
0.285, 1.034, 17.5 J, 0.8 %, -2.1 %.  With minibatches of 128 as well (the defaults now):
Ly-MADDPG 0.285, 1.035, 16.1 J, 0.4 %, -1.8 %; Ly-MATD3 0.285, 1.035, 15.7 J, 0.5 %, -0.6 %;
Ly-MASAC 0.286, 1.040, 17.5 J, 0.8 %, -1.7 %.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from ..env.core import Step
from .buffers import EpisodeReplay, RunningMeanStd, RunningNorm, memory_count
from .common import (
    AlgoConfig,
    EnvSpec,
    Rule,
    anneal_factor,
    as_tensor,
    at_scale,
    critic_extra,
    critic_extra_dim,
    critic_state,
    form,
    pooled_critic,
    to_actions,
    uses_agent_id,
)
from .linknet import LinkQ
from .networks import Actor
from .offpolicy_critics import CentralCritics
from .rewards import step_rewards


@dataclass(frozen=True)
class OffPolicyConfig(AlgoConfig):
    num_envs: int = 8
    shared_actor: bool = True  # one actor for all CVs (module docstring)
    actor_lr: float = 1e-4
    critic_lr: float = 1e-3
    gamma: float = 0.0  # eq. (39) is minimised slot by slot (module docstring)
    tau: float = 0.01  # Polyak factor of the target networks
    batch_size: int = 0  # joint transitions per update; 0: auto, the learner's AUTO_BATCH_SIZE (module docstring)
    buffer_episodes: int = 200  # replay capacity in episodes (x episode_slots transitions)
    warmup_episodes: int = 16  # episodes played before learning starts
    warmup_actions: str = "policy"  # what they play: the initial "policy" exploring, or uniform "random" actions
    updates_per_step: int = 1  # gradient updates per vector step of num_envs env-slots
    max_grad_norm: float = 10.0
    reward_memory: float = 10.0  # iterations of rewards the reward scale remembers (0: all)
    reward_clip: float = 10.0  # scaled rewards are clipped to +-this (> 0), so a rare blow-up cannot dominate
    reward: str = "per_cv"  # "per_cv": critic i learns CV i's share, actors ascend their sum; "team"
    critic_actions: str = "auto"  # "joint" (a critic per CV), "summary" (one shared critic), "auto" (offpolicy_critics)
    actor_lr_floor: float = 1.0  # the actor lr falls linearly to actor_lr * this over anneal_episodes
    anneal_episodes: int = 1800  # episodes of the actor lr's fall (the paper's protocol)
    critic_action_input: str = "effective"  # or "raw": what the joint critics see of the actions (offpolicy_critics)

    RULES: ClassVar[dict[str, Rule]] = {
        "reward_clip": "> 0",
        "batch_size": "0 (auto) or > 0",
        "actor_lr": "0 (auto) or > 0",
        "critic_state": ("auto", "global", "pooled", "link"),  # link: linknet.LinkQ, any I and K
    }


class OffPolicyLearner(CentralCritics, ABC):
    """Collection, replay and update schedule; subclasses set ``actor`` and ``critic`` and implement
    ``behaviour(obs) -> actions``, ``update(batch) -> losses`` and ``components() -> dict``."""

    cfg: OffPolicyConfig
    actor: Actor
    actor_opt: torch.optim.Optimizer
    AUTO_ACTOR_LR: ClassVar[tuple[float, float]] = (1e-4, 1e-4)  # actor_lr = 0: up to SCALE_CVS CVs, above
    AUTO_BATCH_SIZE: ClassVar[tuple[int, int]] = (128, 64)  # batch_size = 0: likewise (module docstring)

    def __init__(self, spec: EnvSpec, cfg: OffPolicyConfig):
        self.spec, self.cfg, self.num_envs = spec, cfg, cfg.num_envs
        t, e, i = spec.slots, cfg.num_envs, spec.num_cvs
        self.agent_id = uses_agent_id(cfg, i)
        self.batch_size = int(at_scale(cfg.batch_size, self.AUTO_BATCH_SIZE, i))
        self.base_actor_lr = at_scale(cfg.actor_lr, self.AUTO_ACTOR_LR, i)
        self.link_critic = form(cfg, "critic_state", i) == "link"
        self.pooled = pooled_critic(cfg, i) or self.link_critic  # a link critic reads observations alone
        self.summary = form(cfg, "critic_actions", i) == "summary" or self.link_critic
        extra = critic_extra_dim(spec, self.pooled)  # what the replay keeps per env-slot beside the observations
        self.critic_state_dim = spec.obs_dim + extra
        self.replay = EpisodeReplay(
            cfg.buffer_episodes, t, i, spec.obs_dim, extra, spec.action_dim, common_from=spec.twin_part.start
        )
        self.stage = {
            "obs": torch.zeros(e, t + 1, i, spec.obs_dim),
            "glob": torch.zeros(e, t + 1, extra),
            "act": torch.zeros(e, t, i, spec.action_dim),
            "rew": torch.zeros(e, t, i),
        }
        self.reward_stats = RunningMeanStd(max_count=memory_count(cfg.reward_memory, cfg.num_envs * spec.slots))
        self.state_norm = RunningNorm(self.critic_state_dim, max_count=self.norm_max_count)
        self.episodes_seen = 0
        self.updates = 0
        self.random_warmup = True  # false after a warm start (:mod:`.warmstart`): explore around the clone
        self._losses: list[dict[str, float]] = []

    @property
    def norm_max_count(self) -> float:
        """Sample cap of the input normalisers (``norm_memory`` iterations of agent-slots)."""
        return memory_count(self.cfg.norm_memory, self.cfg.num_envs * self.spec.slots * self.spec.num_cvs)

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
    def explore(self, obs: np.ndarray, global_state: np.ndarray, t: int) -> np.ndarray:
        o = as_tensor(obs)
        self.stage["obs"][:, t] = o
        self.stage["glob"][:, t] = critic_extra(as_tensor(global_state), self.spec, self.pooled)
        if self.random_warmup and self.cfg.warmup_actions == "random" and self.episodes_seen < self.cfg.warmup_episodes:
            a = torch.rand(o.shape[0], self.spec.num_cvs, self.spec.action_dim)
        else:
            with torch.no_grad():
                a = self.behaviour(o)
        self.stage["act"][:, t] = a
        return to_actions(a)

    def record(self, step: Step, t: int) -> None:
        reward = step_rewards(step, self.cfg.reward)
        self.stage["rew"][:, t] = as_tensor(reward)
        bound = self.cfg.reward_clip * self.reward_stats.std
        self.reward_stats.update(
            np.clip(reward, self.reward_stats.mean - bound, self.reward_stats.mean + bound)
            if self.reward_stats.count >= 1
            else reward
        )
        if step.done:
            self.stage["obs"][:, t + 1] = as_tensor(step.obs)
            self.stage["glob"][:, t + 1] = critic_extra(as_tensor(step.global_state), self.spec, self.pooled)
        if self.episodes_seen >= self.cfg.warmup_episodes and self.replay.transitions >= self.batch_size:
            for _ in range(self.cfg.updates_per_step):
                self._losses.append(self.update(self.sample_batch()))
                self.updates += 1

    def sample_batch(self) -> dict[str, torch.Tensor]:
        """A replay minibatch of ``batch_size`` transitions with scaled rewards; the next states only when
        ``gamma > 0`` (:meth:`td_target`)."""
        batch = self.replay.sample(self.batch_size, next_state=self.cfg.gamma > 0)
        batch["rew"] = self.scale_rewards(batch["rew"])
        return batch

    def end_iteration(self, keep: int) -> dict[str, float]:
        obs, glob = self.stage["obs"][:keep], self.stage["glob"][:keep]
        self.actor.obs_norm.update(obs)
        if isinstance(self.critic, LinkQ):
            self.critic.obs_norm.update(obs)
        else:
            self.state_norm.update(critic_state(obs.flatten(0, 1), glob.flatten(0, 1)))
        self.replay.add_episodes(*(self.stage[k][:keep] for k in ("obs", "glob", "act", "rew")))
        self.episodes_seen += keep
        for group in self.actor_opt.param_groups:
            group["lr"] = self.actor_lr
        losses = {
            k: float(np.mean([d[k] for d in self._losses if k in d]))
            for k in dict.fromkeys(k for d in self._losses for k in d)
        }
        self._losses = []
        return losses

    @property
    def actor_lr(self) -> float:
        """The actor's learning rate after ``episodes_seen`` episodes: ``actor_lr`` (for 0, ``AUTO_ACTOR_LR`` at
        this number of CVs) falling linearly to ``actor_lr * actor_lr_floor`` at ``anneal_episodes``, then constant."""
        cfg = self.cfg
        return self.base_actor_lr * anneal_factor(cfg.actor_lr_floor, self.episodes_seen, cfg.anneal_episodes)

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {name: obj.state_dict() for name, obj in self.components().items()}
        state["state_norm"] = self.state_norm.state_dict()
        state.update(
            replay=self.replay.state_dict(),
            reward_stats=self.reward_stats.state_dict(),
            episodes_seen=self.episodes_seen,
            updates=self.updates,
            random_warmup=self.random_warmup,
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, obj in self.components().items():
            obj.load_state_dict(state[name])
        self.state_norm.load_state_dict(state["state_norm"])
        self.replay.load_state_dict(state["replay"])
        self.reward_stats.load_state_dict(state["reward_stats"])
        self.episodes_seen, self.updates = state["episodes_seen"], state["updates"]
        self.random_warmup = state.get("random_warmup", True)
