"""Imitation with the teacher in the loop (DAgger): ``isac-iov train --algo ALGO --imitate ly-opt-dual``.

For users who want a good policy fast and have a teacher (any reference policy of :mod:`isac_iov.policies`):
instead of learning from rewards, the run trains the learner's actor to act as the teacher would in the states
the *actor* drives the system into.  Each iteration of ``num_envs`` episodes

1. plays the episodes with the actor's deterministic action (the first iteration: with the teacher's, so the
   first fit has data), while the teacher labels every visited slot with the action it would take there
   (labels are computed on the actor's states, so the data covers the states the actor's own mistakes lead
   to, which a one-shot clone like ``--init`` never sees);
2. adds the labelled slots to the scenario's aggregate, which keeps the last :data:`MEMORY_EPISODES` episodes;
3. refits the actor's input statistics, then takes :data:`FIT_STEPS` Adam steps of the pre-action mean
   squared error of :func:`.warmstart.behaviour_clone` (targets ``logit(clip(a))``) on minibatches of about
   :data:`BATCH_CVS` CV-slots, at a step size falling linearly from :data:`LR` to 0 over the run.

With several ``--config`` files (a mixture, :mod:`.train`) every scenario has its own teacher and aggregate,
and the fit draws its minibatches from the scenarios in turn.  ``metrics.csv`` records the episodes as played
(the actor's cost, except the first iteration's), and the checkpoint holds the aggregates and the optimiser, so
an imitation run resumes exactly.  The per-link actor (``algo.actor=link``) is the one to imitate with: on the
city it fits ``ly-opt-dual`` to 1.01 x its cost from one round of 64 episodes, the flat actor to 1.14 x
(docs/learners.md).  The paper's reproduction never imitates.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from ..config import Config
from ..env.core import BatchedEnv, Step
from ..env.rollout import rollout
from .common import as_tensor, to_actions
from .linknet import LinkNorm, LinkScenario
from .networks import Actor
from .warmstart import pre_action_target

MEMORY_EPISODES = 32  # episodes of labelled slots each scenario's aggregate keeps
FIT_STEPS = 200  # Adam steps per iteration
BATCH_CVS = 4096  # CV-slots per minibatch (whole slots: at least one)
LR = 1e-3  # the fit's first step size, falling linearly to 0 over the run


class Imitation:
    """The DAgger loop of the module docstring for ``actor`` on scenarios ``cfgs`` with teacher ``teacher``."""

    def __init__(self, actor: Actor, cfgs: list[Config], teacher: str, seed: int, episodes: int):
        from ..policies import make_policy

        self.actor, self.episodes = actor, episodes
        self.teachers = [make_policy(teacher, c, seed) for c in cfgs]
        self.links = [LinkScenario.of(c) for c in cfgs]
        self.memory_slots = [MEMORY_EPISODES * c.episode_slots for c in cfgs]
        self.data: list[list[torch.Tensor]] = [[] for _ in cfgs]  # per scenario: [obs (N, I, O), labels (N, I, A)]
        params = [p for name, p in actor.named_parameters() if name != "log_std"]
        self.opt = torch.optim.Adam(params, lr=LR)
        self.gen = torch.Generator().manual_seed(seed)
        self.iterations = 0

    def play(self, j: int, env: BatchedEnv, keep: int) -> Iterator[Step]:
        """One iteration's episodes on scenario ``j``: the actor acts (the teacher in the first iteration),
        the teacher labels; the first ``keep`` episodes' slots join the aggregate."""
        teacher, xs, ys = self.teachers[j], [], []
        self._retarget(j)

        def act(obs: np.ndarray, global_state: np.ndarray, t: int) -> np.ndarray:
            label = teacher.act(env, obs)
            xs.append(obs[:keep])
            ys.append(label[:keep])
            if self.iterations == 0:
                return label
            with torch.no_grad():
                return to_actions(self.actor.mean_action(as_tensor(obs)))

        yield from rollout(env, act, on_reset=teacher.reset)
        obs, labels = as_tensor(np.concatenate(xs)), as_tensor(np.concatenate(ys))
        if self.data[j]:
            obs, labels = torch.cat([self.data[j][0], obs]), torch.cat([self.data[j][1], labels])
        self.data[j] = [obs[-self.memory_slots[j] :], labels[-self.memory_slots[j] :]]

    def fit(self, episodes_done: int) -> dict[str, float]:
        """:data:`FIT_STEPS` steps on the aggregates (after refitting the input statistics); the mean
        squared error over every scenario's aggregate after the fit."""
        filled = [j for j, d in enumerate(self.data) if d]
        for j in filled:
            self._retarget(j)
            self.actor.obs_norm.update(self.data[j][0])
        lr = LR * max(0.0, 1.0 - episodes_done / self.episodes)
        for group in self.opt.param_groups:
            group["lr"] = lr
        for step in range(FIT_STEPS):
            j = filled[step % len(filled)]
            obs, labels = self.data[j]
            self._retarget(j)
            idx = torch.randint(obs.shape[0], (max(1, BATCH_CVS // obs.shape[1]),), generator=self.gen)
            loss = self._error(obs[idx], labels[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        self.iterations += 1
        errors = []
        with torch.no_grad():
            for j in filled:
                self._retarget(j)
                errors.append(float(self._error(*self.data[j])))
        return {"imitation_mse": float(np.mean(errors))}

    def _error(self, obs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The mean squared error of the actor's pre-action against the labels' (:func:`.pre_action_target`)."""
        return (self.actor.pre_mean(obs) - pre_action_target(labels)).pow(2).mean()

    def _retarget(self, j: int) -> None:
        if isinstance(self.actor.obs_norm, LinkNorm):
            self.actor.obs_norm.retarget(self.links[j])

    def state_dict(self) -> dict[str, Any]:
        return {
            "data": [list(d) for d in self.data],
            "opt": self.opt.state_dict(),
            "gen": self.gen.get_state(),
            "iterations": self.iterations,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["data"]) != len(self.data):
            raise ValueError(f"the checkpoint holds {len(state['data'])} scenarios' aggregates, not {len(self.data)}")
        self.data = [[torch.as_tensor(x) for x in d] for d in state["data"]]
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])
        self.iterations = int(state["iterations"])
