"""Policies: the interface every decision-maker implements, and the registry of reference policies.

A **policy** is any object with

* ``reset(env: BatchedEnv) -> None`` - called after every ``env.reset()`` (start of an episode);
* ``act(env: BatchedEnv, obs: np.ndarray) -> np.ndarray`` - the joint action ``(E, I, 1+3K)`` in
  ``[0, 1]`` for the current slot of every env (layout in :mod:`isac_iov.actions`);
* ``name: str`` - how it is labelled in summaries.

Reference policies are centralised oracles: they may read the env's full state
(``env.snapshot()``, ``env.phys``, ``env.twin``, ``env.scn``).  Learned policies use ``obs`` only.

:func:`make_policy` builds one by name:

================  =========================================================================================
``local``         everything runs on the CV (:class:`~isac_iov.policies.reference.LocalPolicy`)
``offload``       everything to the reachable RSUs evenly (:class:`~.reference.OffloadPolicy`)
``random``        uniform actions from its own seeded generator (:class:`~.reference.RandomPolicy`)
``greedy``        per-CV Lyapunov-aware heuristic (:class:`~.reference.GreedyPolicy`)
``greedy-blind``  ``greedy`` on a CV's view without the twin: no RSU backlogs, each RSU's mean crowding
                  (:class:`~.reference.BlindGreedyPolicy`): the heuristic to hold Ly-MAPPO against
``ly-opt``        numerical per-slot solver of P2, eq. (39): multi-start descent (:class:`~.lyopt.LyOptPolicy`)
``ly-opt-dual``   P2 decomposed over CVs, coordinated on the RSU CPU (C6), with a dual lower bound
                  (:class:`~.lyopt_dual.LyOptDualPolicy`): faster, scales, and better on P2
================  =========================================================================================

A name that is an existing directory is a trained run and is loaded with
:func:`isac_iov.learners.load_policy`; any other name is a plug-in, an installed entry point or a
``package.module:attr`` reference (:mod:`isac_iov.plugins`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from .. import plugins
from ..config import Config
from ..env.core import BatchedEnv
from .lyopt import LyOptConfig, LyOptPolicy
from .lyopt_dual import LyOptDualConfig, LyOptDualPolicy
from .reference import BlindGreedyPolicy, GreedyPolicy, LocalPolicy, OffloadPolicy, RandomPolicy


class Policy(Protocol):
    """What :mod:`isac_iov.evaluate` and the learners expect of a decision-maker."""

    name: str

    def reset(self, env: BatchedEnv) -> None: ...

    def act(self, env: BatchedEnv, obs: np.ndarray) -> np.ndarray: ...


REGISTRY: dict[str, Callable[[Config, int], Policy]] = {  # strongest first: the order of comparison tables
    "ly-opt-dual": lambda cfg, seed: LyOptDualPolicy(),
    "ly-opt": lambda cfg, seed: LyOptPolicy(LyOptConfig(seed=seed)),
    "greedy": lambda cfg, seed: GreedyPolicy(),
    "offload": lambda cfg, seed: OffloadPolicy(),
    "local": lambda cfg, seed: LocalPolicy(),
    "random": lambda cfg, seed: RandomPolicy(seed),
    "greedy-blind": lambda cfg, seed: BlindGreedyPolicy(),
}


def make_policy(name: str, cfg: Config, seed: int, algo: str | None = None) -> Policy:
    """The reference policy ``name``, the trained run stored in directory ``name`` (``algo``: see
    :func:`isac_iov.learners.load_policy`), or the plug-in ``name`` (given on the command line)."""
    if name in REGISTRY:
        return REGISTRY[name](cfg, seed)
    if Path(name).is_dir():
        from ..learners import load_policy

        return load_policy(name, algo)
    if plugins.known("policy", name, command_line=True):
        policy: Policy = plugins.check_policy(name, plugins.load_policy_maker(name, True)(cfg, seed))
        return policy
    installed = [*REGISTRY, *plugins.installed("policy")]
    raise ValueError(
        f"policy {name!r}: not a run directory, one of {', '.join(installed)}, nor a package.module:attr reference"
    )


__all__ = [
    "REGISTRY",
    "BlindGreedyPolicy",
    "GreedyPolicy",
    "LocalPolicy",
    "LyOptConfig",
    "LyOptDualConfig",
    "LyOptDualPolicy",
    "LyOptPolicy",
    "OffloadPolicy",
    "Policy",
    "RandomPolicy",
    "make_policy",
]
