"""Warm start: behaviour-clone a reference policy into a learner's actor before training (``--init NAME``).

``isac-iov train --algo ALGO --init greedy ...`` plays ``episodes`` episodes of
the reference policy ``NAME`` (:mod:`isac_iov.policies`) in a batched env
seeded from the run's seed, then fits the actor's deterministic pre-action to
``logit(clip(a, eps, 1 - eps))`` of the reference's actions by mean squared
error, and training continues from there.  Fitting in pre-action space (not
after the sigmoid) keeps near-zero weights near zero: after the sigmoid a
squared error of 0.001 is negligible, but it is the difference between a link
that is switched off and one that carries a part of the task.  Every actor
exposes ``pre_mean(obs)`` (:mod:`.networks`), so one routine serves all five
learners.  The actor's input normaliser is fitted to the cloned observations
first.

This is a user option: the paper's reproduction trains from scratch.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from ..config import Config
from ..env.core import BatchedEnv
from ..env.rollout import rollout
from .common import Learner, as_tensor
from .networks import Actor

CLIP_EPS = 0.02


def collect(
    cfg: Config, policy_name: str, episodes: int, seed: int, progress: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Observations ``(N, I, O)`` and actions ``(N, I, A)`` of ``episodes`` episodes of a reference policy
    (with ``progress``, a bar over the slots: at 50 CVs ``ly-opt-dual`` takes minutes)."""
    from ..policies import REGISTRY, make_policy

    if policy_name not in REGISTRY:
        raise ValueError(f"--init: unknown reference policy {policy_name!r} (known: {', '.join(REGISTRY)})")
    policy = make_policy(policy_name, cfg, seed)
    env = BatchedEnv(cfg, episodes, seed=seed)
    xs, ys = [], []

    def act(obs: np.ndarray, global_state: np.ndarray, t: int) -> np.ndarray:
        xs.append(obs)
        ys.append(policy.act(env, obs))
        return ys[-1]

    with tqdm(total=cfg.episode_slots, disable=not progress, unit="slot", desc=f"--init {policy_name}: play") as bar:
        for _ in rollout(env, act, on_reset=policy.reset):
            bar.update()
    return as_tensor(np.concatenate(xs)), as_tensor(np.concatenate(ys))


def pre_action_target(actions: torch.Tensor) -> torch.Tensor:
    """What a clone's pre-action is fitted to: ``logit(clip(a, eps, 1 - eps))`` of the reference's actions."""
    return torch.logit(actions.clamp(CLIP_EPS, 1.0 - CLIP_EPS))


def behaviour_clone(
    actor: Actor,
    obs: torch.Tensor,
    actions: torch.Tensor,
    steps: int = 3000,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> float:
    """Fit ``actor.pre_mean(obs)`` to the logits of ``actions`` in ``steps`` Adam steps on random minibatches
    (learning rate decaying linearly to zero); returns the final mean squared error over all samples."""
    actor.obs_norm.update(obs)
    target = pre_action_target(actions)
    params = [p for name, p in actor.named_parameters() if name != "log_std"]
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 - k / steps)
    gen = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(steps), disable=not progress, unit="step", desc="--init: fit"):
        idx = torch.randint(obs.shape[0], (batch_size,), generator=gen)
        loss = (actor.pre_mean(obs[idx]) - target[idx]).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return float((actor.pre_mean(obs) - target).pow(2).mean())


def warm_start(
    learner: Learner, cfg: Config, policy_name: str, seed: int, episodes: int = 64, progress: bool = False
) -> float:
    """Clone ``policy_name`` into ``learner.actor`` (and its target actor, if any); returns the fit's MSE.

    An off-policy learner then explores around the clone from its first episode, also when its warm-up would
    otherwise play uniform random actions (``warmup_actions = random``).
    """
    obs, actions = collect(cfg, policy_name, episodes, seed, progress)
    actor = learner.actor
    mse = behaviour_clone(actor, obs, actions, seed=seed, progress=progress)
    target = getattr(learner, "actor_target", None)
    if target is not None:
        target.load_state_dict(actor.state_dict())
    if hasattr(learner, "random_warmup"):
        learner.random_warmup = False
    return mse
