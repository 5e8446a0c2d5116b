"""What a learner learns from in a slot: the reward forms of ``algo.reward`` (docs/model.md#per-cv-reward).

:func:`step_rewards` turns a played :class:`~isac_iov.env.core.Step` into ``(E, I)`` per-CV rewards or the
``(E, 1)`` team reward of eq. (44): ``team``, ``per_cv`` (each CV's exact share), ``neighbours`` (the mean share of
the CVs that share an RSU's coverage with it) or ``difference`` (the twin's replay of the slot with the CV's task
run locally, minus the slot: docs/model.md#difference-reward; the env must have ``what_if_local`` set, which the
training loop does for this form).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import Config
from ..env.core import Step
from .common import algo_rules, form


def learns_from_replays(algo_cfg: Any, cfg: Config) -> bool:
    """Whether a learner of ``algo_cfg`` learns from the twin's replays (``difference``) on scenario ``cfg``, so
    that its env must make them (``BatchedEnv.what_if_local``); ``auto`` follows :func:`.common.form`."""
    if "difference" not in algo_rules(type(algo_cfg)).get("reward", ()):
        return False  # a learner (a plug-in's, say) whose reward has no such form
    return form(algo_cfg, "reward", cfg.num_cvs, cfg.twin.enabled) == "difference"


def step_rewards(step: Step, reward: str) -> np.ndarray:
    """What a learner learns from in a slot, ``(E, I)`` or ``(E, 1)``: each CV's share of eq. (44)
    (``reward = "per_cv"``), the mean share of the CVs it shares an RSU's coverage with, itself included
    (``"neighbours"``: the CVs whose costs its use of that RSU's CPU and band moves), the team reward
    (``"team"``), the same for every agent, or how much lower the slot's objective is than had the CV run its whole
    task locally (``"difference"``: its own cost and what its offloading did to everyone's, and nothing the other
    CVs' choices alone decide; docs/model.md#difference-reward)."""
    if reward == "team":
        return step.reward[:, None]
    if reward == "difference":
        if step.objective_if_local is None:
            raise RuntimeError(
                "the difference reward needs the twin's replays: set the env's what_if_local (learns_from_replays says "
                "when; the training loop does)"
            )
        return step.objective_if_local - step.outcome.objective[:, None]
    per_cv = step.outcome.reward_per_cv
    if reward == "per_cv":
        return per_cv
    reach = step.outcome.links.reachable.astype(float)  # (E, I, K)
    near = np.einsum("eik,ejk->eij", reach, reach) > 0
    near |= np.eye(per_cv.shape[-1], dtype=bool)
    return np.einsum("eij,ej->ei", near, per_cv) / near.sum(-1)
