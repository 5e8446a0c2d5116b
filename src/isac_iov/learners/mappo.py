"""MAPPO under CTDE: Ly-DTMPO (with the digital twin) and Ly-MAPPO (twin absent).

Both registry names use this learner; Ly-MAPPO only differs in its scenario
(``twin.enabled = false``: every twin field of observations and critic states
is zero, docs/model.md#twin-absent).

* **Actors** - one Gaussian policy per CV (or one shared actor with a one-hot
  agent id), two ReLU hidden layers, state-dependent mean and a learned
  state-independent log-std over pre-actions ``u``; the env action is
  ``sigmoid(u)`` (:mod:`.networks`).  Each actor sees only its CV's observation.
* **Critic** - one centralised value network, shared by the agents, on each
  agent's critic state (its observation + the twin's global state, which
  includes ``G_rsu``); it outputs a per-agent value of the team return.
  ``critic_global = false`` gives it the agent's observation only;
  ``critic_state = pooled`` replaces the global state by
  its mean and spread over CVs, and ``agent_id = none`` drops the one-hot
  agent id of the critic (and of the shared actor), so neither network grows
  with the number of CVs (:mod:`.common`); ``critic_state = link``
  (:class:`.linknet.LinkCritic`, ``auto`` above 16 CVs) reads the
  observation alone through a per-link body and pools the CVs' own features,
  so the critic fits any number of CVs and RSUs.
* **Update** (per iteration of ``num_envs`` episodes): GAE (``gamma``,
  ``gae_lambda``) with a bootstrap at the time-limit end of each episode;
  ``epochs`` passes of the clipped surrogate (``clip_eps``) over minibatches of
  ``batch_size`` agent-transitions (whole slots, all agents together; above 16
  CVs, ``minibatch = auto``, the slots that hold ``batch_size`` of them on the
  paper's road, below), with an
  entropy bonus, per-batch advantage normalisation and gradient-norm clipping;
  Adam at ``lr`` for actor and critic (``log_std_lr`` for the log-std), each
  step size falling linearly to ``lr_floor`` times itself over the first
  ``anneal_episodes`` episodes.
* **Input normalisation** - actor and critic standardise their inputs with
  running statistics, updated after each iteration's update, that remember
  about ``norm_memory`` iterations of inputs.
* **Reward scaling** (``reward_clip > 0``) - the learner (not the env) divides
  each reward by the running std of the within-episode discounted return and
  clips it to ``+-reward_clip``; raw rewards are first clipped to
  ``reward_clip`` old stds so an outlier cannot blow up the scale.
* **Value normalisation (PopArt)** - the critic predicts returns standardised
  by a running mean/std of the GAE returns that remembers about
  ``value_memory`` iterations; when the statistics move, the critic's output
  layer is rescaled so its values in return units are unchanged.

The critic, the value normalisation and the reward scale are :mod:`.mappo_critic`.

**Deviations from the paper's settings, and why.**  Measured with
``isac-iov train --episodes 1800 --seed 0`` then ``isac-iov evaluate
--episodes 20 --seed 0`` on the default scenario (deterministic cost of eq. 24;
``ly-opt`` 0.276, ``greedy`` 0.281), adding one change at a time:

=====================================================  ======  =======
setting                                                cost    reward
=====================================================  ======  =======
paper's (lr 8e-5, gamma 0.99, one actor per CV)        0.372   -9.79
log-std at its own lr 3e-3 (``log_std_lr``)            0.366   -9.80
gamma 0.5                                              0.340   -8.35
lr 3e-4 (6e-4 falling to 0 now, below)                 0.316   -7.63
one shared actor (``shared_actor``)                    0.293   -6.94
gamma 0 (the defaults then; seeds 1-3: 0.287, 0.285,  0.286   -6.87
0.283)
=====================================================  ======  =======

* **Exploration** (``log_std_lr = 3e-3``): at the paper's lr the
  state-independent log-std cannot move in ~5000 Adam steps (it ended at its
  initial 0.6), so the policy's mean had to be tuned for large noise and came
  out almost state-independent.  With its own step size the std falls to
  0.1-0.3 on the dimensions that matter and stays near 0.5 on the bandwidth
  weights, which barely matter with 20 MHz per CV.
* **gamma = 0**: the drift-plus-penalty reward of eq. (44) is built to be
  minimised slot by slot (what ``ly-opt`` does); its drift terms already price
  the effect of an action on the queues.  With gamma > 0 the learner also
  exploits the linearised drift: at gamma 0.5 and lr 1e-3 it reached a better
  reward than ``ly-opt`` (-6.21 vs -6.31) by building queues and collecting the
  negative drift of draining them, at a worse cost (0.307).
* **lr = 3e-4** then; 1e-3 gave 0.282 (seed 0), within seed noise of 3e-4.
* **Step sizes that fall to 0** (``lr = 6e-4``, ``lr_floor = 0``): every Adam
  step size (actor, log-std, critic) falls linearly from its start to 0 over
  ``anneal_episodes`` = 1800 episodes.  Seeds 0-4, the same runs otherwise
  (``isac-iov train --algo NAME --seed S --set algo.lr=... --set
  algo.lr_floor=...``): Ly-DTMPO 0.2869 at 3e-4 held (then the default), 0.2853
  at 6e-4 held, 0.2880 at 3e-4 falling, 0.2852 at 6e-4 falling (4 seeds better
  than the default), 0.2846 at 1e-3 falling; Ly-MAPPO 0.3187, 0.3209, 0.3164,
  0.3178 (3 seeds better) and 0.3202.  A held 6e-4 helps the learner with the
  twin and hurts the one without; falling from 6e-4 helps both, so both keep
  one setting and differ only by the twin.
* **shared_actor = true**: one network sees five times the data; the one-hot
  agent id keeps the CVs apart.
* **reward = "team"** is kept up to 16 CVs (``reward = auto``): the per-CV split
  (``--set algo.reward=per_cv``) learned worse here (0.333 vs 0.293 at gamma 0.5,
  shared actor, lr 3e-4).  Above 16 CVs ``auto`` learns from each CV's share: on
  a 50-CV, 16-RSU road (``benchmarks/bench_scale.py``'s stand-in, seed 0, the
  scalable options of :mod:`.common`) the training cost fell from 0.378 (first
  50 episodes) to 0.311 (episodes 300-328) with the per-CV share, and stayed at
  0.375 with the team reward, whose change by one CV's action is lost among 50.
  A learner with the twin learns from the twin's replays instead
  (``difference``, :mod:`.rewards`; on the city, 5 seeds, 1.001 x
  ``ly-opt-dual`` against 1.011 x for the mean share of its neighbours, which
  ``auto`` keeps without the twin; at 200 CVs 1.046 x against 1.058 x, seed 0).
* ``num_envs = 8`` (was 16): at 1800 episodes, 16 episodes per iteration
  leaves only 112 updates.
* Forgetting statistics (``value_memory = 2``, ``norm_memory = 10``): the
  returns and the virtual-energy-queue inputs shrink 100-fold while the policy
  learns; statistics over the whole run kept scaling them by the early spread.
* ``reward_clip = 10``: one outlier slot cannot dominate a batch's advantages.
* ``init_local_logit = -3``: the initial policy runs about 3 % of each task
  locally (dropped by ``action.min_task_share``) instead of 25 %; local cycles
  cost about six times the energy of RSU cycles.
* ``init_cpu_logit = -2``: each RSU CPU request starts at ``sigmoid(-2) = 0.12``
  of the RSU instead of 0.5.  The env scales an RSU's requests down when they
  sum to more than one (C6, :mod:`isac_iov.actions`); at 0.5 per link the
  three to five CVs in an RSU's range oversubscribe it, where a CV that lowers
  its request only hands CPU to the others, so the team reward hardly moves and
  the requests stayed near where they began (trained Ly-DTMPO, default
  scenario: 0.46 on average against ``ly-opt``'s 0.26 and ``greedy``'s 0.17;
  contention scenario: 0.47 against ``greedy``'s 0.12).  From 0.12 the
  requests are below the scaling and move both ways (they end near 0.25 on
  the default scenario, 0.20 on the contention one).  Ly-DTMPO on the
  contention scenario (seed 0): 1.16 before, 0.920 after (``greedy`` 0.965,
  ``ly-opt`` 0.74); before, 3600 episodes reached only 1.059, and the same
  learner warm-started from ``greedy`` (``--init greedy``) 0.920.  Five seeds
  (``benchmarks/bench_train.py``, costs before -> after, paired by seed): on
  the contention scenario Ly-DTMPO 1.185 -> 0.943 (``greedy`` 0.965); on the
  default one Ly-DTMPO 0.2860 -> 0.2869 (per seed -0.0008 to +0.0039, within
  seed noise) and Ly-MAPPO 0.3271 -> 0.3189 (every seed better; 1.188 -> 1.158
  times ``ly-opt``, deadline misses 2.7 -> 1.7 %).  The off-policy learners keep
  0: with -2 Ly-MADDPG on the default scenario cost more on every seed (0.2839
  -> 0.2899, 5 seeds), although on the contention one (seed 0) it went from
  1.156 to 1.034, still above ``greedy``.

Kept from the paper: lambda 0.95, clip 0.2, 10 epochs, 512-sample minibatches.

**Minibatches above 16 CVs** (``minibatch = auto``).  Rounded to whole slots, 512 agent-transitions are 102 slots
of the paper's 5 CVs but 10 slots at 50 CVs and 2 at 200: an iteration of 240 slots then took 240 and 1200 Adam
steps instead of 30, on minibatches of a few correlated slots, and the policy kept its initial local share (the
standard deviation of its local pre-action fell to 0.03 while the mean stayed) and learned the split less
precisely.  Above 16 CVs a minibatch is therefore 102 slots at any number of CVs (``minibatch = slots``), the
paper's steps per iteration.  Seed 0, 1800 episodes, evaluated over 3 episodes (seed 5), in ``ly-opt-dual``'s
units: the city 1.031 -> 1.018 in 27 % less CPU time, the 200-CV stand-in of ``reproduce scale`` 1.146 -> 1.062
(docs/learners.md).

**Ly-MAPPO's plateau.**  Without the twin, twice the paper's run (3600 episodes,
seed 0) ends at a cost of 0.333 (1.21 times ``ly-opt``, 2.9 % deadline misses),
as the 1800-episode run does (0.332); its training cost is flat at 0.34 from
episode 2700.  A longer run does not bring it near 1.10 times ``ly-opt``: without
the RSU load, which only the twin shows, a CV cannot place its task as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from ..env.core import Step
from .buffers import RunningMeanStd, gae, memory_count
from .common import (
    AlgoConfig,
    EnvSpec,
    Rule,
    adam,
    anneal_factor,
    as_tensor,
    critic_extra,
    critic_extra_dim,
    critic_state,
    form,
    initial_pre_action,
    optimise_each,
    pooled_critic,
    to_actions,
    uses_agent_id,
)
from .linknet import LinkNorm
from .mappo_critic import ReturnScale, build_critic, popart_update
from .networks import GaussianActor, gaussian_entropy, gaussian_log_prob, squash
from .rewards import step_rewards

PAPER_CVS = 5  # Table II's CVs: "minibatch = slots" keeps the minibatch the slots of batch_size transitions there


@dataclass(frozen=True)
class MappoConfig(AlgoConfig):
    num_envs: int = 8  # episodes per iteration (16 learns too slowly; module docstring)
    shared_actor: bool = True  # one actor for all CVs, five times the data per network (module docstring)
    init_cpu_logit: float = -2.0  # RSU CPU requests start at sigmoid(-2) = 0.12, not oversubscribed (docstring)
    lr: float = 6e-4  # falling linearly to 0 over the run (lr_floor; module docstring)
    gamma: float = 0.0  # eq. (39) is minimised slot by slot (module docstring)
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    epochs: int = 10
    batch_size: int = 512  # agent-transitions per minibatch (rounded to whole slots); see minibatch
    minibatch: str = "auto"  # "agents": batch_size agent-transitions; "slots": batch_size / PAPER_CVS whole slots,
    # the same steps per iteration at any number of CVs; "auto": slots above 16 CVs (module docstring)
    entropy_coef: float = 0.001
    max_grad_norm: float = 0.5
    init_log_std: float = -0.5
    log_std_lr: float = 3e-3  # Adam step of the state-independent log-std (its own parameter group)
    lr_floor: float = 0.0  # every step size falls linearly to this fraction of itself over anneal_episodes
    anneal_episodes: int = 1800  # episodes of the step sizes' fall (the paper's protocol)
    reward: str = "auto"  # "team": eq. (44) for every agent; "per_cv": each CV's share; "neighbours": the mean share
    # of the CVs in coverage of an RSU the CV reaches; "difference": the objective had the CV run locally, minus the
    # slot's (rewards.step_rewards); "auto": team up to 16 CVs, above difference with the twin, else neighbours
    critic_global: bool = True  # critic input: own obs + global state (false: own obs only)
    value_memory: float = 2.0  # iterations of returns the value and reward statistics remember (0: all)
    reward_clip: float = 10.0  # > 0: learn from reward / std(discounted return) clipped to +-this

    RULES: ClassVar[dict[str, Rule]] = {
        "reward": ("auto", "team", "per_cv", "neighbours", "difference"),
        "minibatch": ("auto", "agents", "slots"),
        "critic_state": ("auto", "global", "pooled", "link"),  # link: linknet.LinkCritic, any I and K
    }


class MAPPO:
    """The learner; see the module docstring."""

    def __init__(self, spec: EnvSpec, cfg: MappoConfig):
        self.spec, self.cfg = spec, cfg
        self.num_envs = cfg.num_envs
        self.reward = form(cfg, "reward", spec.num_cvs, spec.twin_enabled)
        samples = cfg.num_envs * spec.slots * spec.num_cvs
        norm_count = memory_count(cfg.norm_memory, samples)
        agent_id = uses_agent_id(cfg, spec.num_cvs)
        self.actor = GaussianActor(
            spec.num_cvs,
            spec.obs_dim,
            spec.action_dim,
            cfg.hidden,
            cfg.shared_actor,
            cfg.init_log_std,
            norm_count,
            initial_pre_action(cfg, spec),
            agent_id,
            form(cfg, "actor", spec.num_cvs),
            spec.link,
        )
        self.pooled = pooled_critic(cfg, spec.num_cvs)
        self.link_critic = form(cfg, "critic_state", spec.num_cvs) == "link"
        global_dim = critic_extra_dim(spec, self.pooled) if cfg.critic_global and not self.link_critic else 0
        self.critic_dim = spec.obs_dim + global_dim  # the link critic reads the observation alone
        self.critic, self.critic_norm, self.value_head = build_critic(
            spec, cfg.hidden, self.link_critic, self.critic_dim, norm_count, agent_id
        )
        self.actor_opt = adam(
            [
                {"params": [p for n, p in self.actor.named_parameters() if n != "log_std"]},
                {"params": [self.actor.log_std], "lr": cfg.log_std_lr},
            ],
            lr=cfg.lr,
            eps=1e-5,
        )
        self.critic_opt = adam(self.critic.parameters(), lr=cfg.lr, eps=1e-5)
        self.value_norm = RunningMeanStd(max_count=memory_count(cfg.value_memory, samples))
        self.return_scale = ReturnScale(cfg.gamma, cfg.reward_clip, memory_count(cfg.value_memory, samples))
        self.episodes_seen = 0
        self._allocate()

    def _allocate(self) -> None:
        """The rollout buffers of one iteration on the current scenario."""
        spec = self.spec
        t, e, i = spec.slots, self.cfg.num_envs, spec.num_cvs
        if self.link_critic:
            self.critic_dim = spec.obs_dim  # the link critic reads the observation
        self.obs = torch.zeros(t, e, i, spec.obs_dim)
        self.states = torch.zeros(t + 1, e, i, self.critic_dim)
        self.pre_actions = torch.zeros(t, e, i, spec.action_dim)
        self.log_probs = torch.zeros(t, e, i)
        self.rewards = torch.zeros(t, e, i)

    def retarget(self, spec: EnvSpec, scenario: int = 0) -> None:
        """Learn on scenario number ``scenario`` of a mixture from the next iteration on (:mod:`.train`): possible
        with the ``link`` actor and critic, whose sizes depend on no scenario.  The reward form follows its
        ``num_cvs``, and its rewards are scaled by its own return statistics (``reward_clip``): the scenarios'
        rewards can differ a hundredfold, and shared statistics would let the largest set every update's scale."""
        actor_norm, critic_norm = self.actor.obs_norm, self.critic_norm
        if not (isinstance(actor_norm, LinkNorm) and isinstance(critic_norm, LinkNorm)):
            raise TypeError("training on several scenarios needs algo.actor=link and algo.critic_state=link")
        self.spec, self.reward = spec, form(self.cfg, "reward", spec.num_cvs, spec.twin_enabled)
        self.return_scale.use(scenario)
        actor_norm.retarget(spec.link)
        critic_norm.retarget(spec.link)
        self._allocate()

    # -- collection --------------------------------------------------------------------------
    def explore(self, obs: np.ndarray, global_state: np.ndarray, t: int) -> np.ndarray:
        """Sample ``u ~ N(mean, std)`` for every env and agent; play ``sigmoid(u)``."""
        o = as_tensor(obs)
        with torch.no_grad():
            mean, log_std = self.actor(o)
            u = mean + torch.randn_like(mean) * log_std.exp()
            self.log_probs[t] = gaussian_log_prob(u, mean, log_std)
        self.obs[t], self.states[t], self.pre_actions[t] = o, self._critic_states(o, global_state), u
        return to_actions(squash(u))

    def record(self, step: Step, t: int) -> None:
        self.rewards[t] = as_tensor(step_rewards(step, self.reward))
        if step.done:
            self.states[t + 1] = self._critic_states(as_tensor(step.obs), step.global_state)

    def _critic_states(self, obs: torch.Tensor, global_state: np.ndarray) -> torch.Tensor:
        """The critic's input ``(E, I, critic_dim)``: each observation, followed by the (pooled) global state
        unless ``critic_global`` is off."""
        if self.link_critic or not self.cfg.critic_global:
            return obs
        return critic_state(obs, critic_extra(as_tensor(global_state), self.spec, self.pooled))

    # -- learning ----------------------------------------------------------------------------
    @property
    def minibatch_cvs(self) -> int:
        """The CVs a slot counts for in a minibatch of ``batch_size`` agent-transitions: the scenario's, or for
        ``minibatch = slots`` the paper's :data:`PAPER_CVS`, whatever the scenario."""
        return self.spec.num_cvs if form(self.cfg, "minibatch", self.spec.num_cvs) == "agents" else PAPER_CVS

    def end_iteration(self, keep: int) -> dict[str, float]:
        """GAE over the first ``keep`` episodes, then ``epochs`` of clipped-surrogate minibatch updates."""
        cfg = self.cfg
        self._anneal()
        states = self.states[:, :keep]
        with torch.no_grad():
            values = self.value_norm.denormalize(self.critic(states).squeeze(-1))
        adv = gae(self.return_scale(self.rewards[:, :keep]), values, cfg.gamma, cfg.gae_lambda)
        returns = adv + values[:-1]
        popart_update(self.value_norm, self.value_head, returns)
        batch = {
            "obs": self.obs[:, :keep],
            "states": states[:-1],
            "u": self.pre_actions[:, :keep],
            "logp": self.log_probs[:, :keep],
            "adv": (adv - adv.mean()) / (adv.std() + 1e-8),
            "target": self.value_norm.normalize(returns),
        }
        batch = {k: v.reshape(-1, *v.shape[2:]) for k, v in batch.items()}
        rows = batch["obs"].shape[0]
        mb = max(1, min(rows, cfg.batch_size // self.minibatch_cvs))
        stats: list[dict[str, torch.Tensor]] = []
        for _ in range(cfg.epochs):
            perm = torch.randperm(rows)
            for start in range(0, rows, mb):
                idx = perm[start : start + mb]
                stats.append(self._update({k: v[idx] for k, v in batch.items()}))
        self.actor.obs_norm.update(batch["obs"])
        self.critic_norm.update(batch["states"])
        self.episodes_seen += keep
        return {name: torch.stack([s[name] for s in stats]).mean().item() for name in stats[0]}

    def _anneal(self) -> None:
        """Set every Adam step size to its configured value times the schedule's factor at ``episodes_seen``."""
        cfg = self.cfg
        factor = anneal_factor(cfg.lr_floor, self.episodes_seen, cfg.anneal_episodes)
        actor, log_std, critic = *self.actor_opt.param_groups, *self.critic_opt.param_groups
        actor["lr"], log_std["lr"], critic["lr"] = cfg.lr * factor, cfg.log_std_lr * factor, cfg.lr * factor

    def _update(self, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One PPO minibatch step; its statistics by name."""
        cfg = self.cfg
        mean, log_std = self.actor(b["obs"])
        logp = gaussian_log_prob(b["u"], mean, log_std)
        log_ratio = logp - b["logp"]
        ratio = log_ratio.exp()
        surrogate = torch.min(ratio * b["adv"], ratio.clamp(1 - cfg.clip_eps, 1 + cfg.clip_eps) * b["adv"])
        entropy = gaussian_entropy(log_std).mean()
        policy_loss = -surrogate.mean() - cfg.entropy_coef * entropy
        value_loss = (self.critic(b["states"]).squeeze(-1) - b["target"]).pow(2).mean()
        optimise_each(
            [(self.actor_opt, self.actor, policy_loss), (self.critic_opt, self.critic, value_loss)], cfg.max_grad_norm
        )
        with torch.no_grad():
            kl = ((ratio - 1) - log_ratio).mean()
            clip_frac = ((ratio - 1).abs() > cfg.clip_eps).float().mean()
        return {
            "policy_loss": policy_loss.detach(),
            "value_loss": value_loss.detach(),
            "entropy": entropy.detach(),
            "approx_kl": kl,
            "clip_frac": clip_frac,
        }

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "value_norm": self.value_norm.state_dict(),
            **self.return_scale.state_dict(),
            "episodes_seen": self.episodes_seen,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.value_norm.load_state_dict(state["value_norm"])
        self.return_scale.load_state_dict(state)
        self.episodes_seen = state["episodes_seen"]
