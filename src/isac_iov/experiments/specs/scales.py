"""The budget of a reproduction (:class:`Scale`) and the cells a budget makes.

A :class:`Scale` fixes the budget: ``full`` is the paper's (1800 episodes,
N = 2..6), ``quick`` a reduced smoke version, ``tiny`` a few-episode version
for tests (:func:`make_scale`).  :func:`train_cell` and :func:`eval_cell` turn a
policy and config overrides into a :class:`~.experiment.Cell` of one run per
seed of the scale, at its episode budget.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ... import plugins
from .. import paper
from .experiment import LEARNERS, TEST_NETWORKS, Cell, RunSpec


@dataclass(frozen=True)
class Scale:
    """Budget of a reproduction."""

    name: str
    episodes: int
    seeds: tuple[int, ...]
    eval_episodes: int
    num_cvs: tuple[int, ...] = paper.NUM_CVS
    v_values: tuple[float, ...] = tuple(paper.V_COST)
    twin_lags: tuple[int, ...] = (0, 1, 3, 5)
    twin_noises: tuple[float, ...] = (0.0, 0.1, 0.3)
    bandwidths_hz: tuple[float, ...] = (0.2e6, 0.5e6, 1e6, 2e6, 5e6, 20e6)
    bandwidth_eval_episodes: int = 5
    steady_window: int = paper.STEADY_WINDOW
    smooth_window: int = 20
    scale_cvs: tuple[int, ...] = (5, 20, 50, 100, 200)  # ``scale``: CVs of the stand-ins (5: Table II's road)
    scale_networks: tuple[str, ...] = TEST_NETWORKS
    scale_eval_episodes: int = 3
    scale_extra: tuple[str, ...] = ()  # overrides of every ``scale`` run (tiny: shorter episodes)
    algos: tuple[str, ...] = LEARNERS  # the learners of WITH_ALGOS's experiments (``reproduce --algos``)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items()}


DEFAULT_SEEDS = {"full": 5, "quick": 2, "tiny": 1}


def make_scale(name: str, seeds: int | None = None, algos: Sequence[str] | None = None) -> Scale:
    """The ``full``, ``quick`` or ``tiny`` budget with seeds 0 .. seeds-1 (default 5, 2, 1) and the learners
    ``algos`` (default: the paper's five) in the experiments of ``WITH_ALGOS``."""
    if name not in DEFAULT_SEEDS:
        raise ValueError(f"unknown scale {name!r} (known: {', '.join(DEFAULT_SEEDS)})")
    seeds = DEFAULT_SEEDS[name] if seeds is None else seeds
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    unknown = [a for a in algos or () if not (a in LEARNERS or plugins.known("learner", a, True))]
    if unknown or (algos is not None and not algos):
        raise ValueError(
            f"--algos: unknown learner(s) {', '.join(unknown) or '(none given)'} (known: {', '.join(LEARNERS)})"
        )
    seed_ids = tuple(range(seeds))
    chosen = tuple(algos) if algos else LEARNERS
    return dataclasses.replace(_budget(name, seed_ids), algos=chosen)


def _budget(name: str, seed_ids: tuple[int, ...]) -> Scale:
    if name == "full":
        return Scale("full", episodes=paper.EPISODES, seeds=seed_ids, eval_episodes=10)
    if name == "quick":
        return Scale(
            "quick",
            episodes=200,
            seeds=seed_ids,
            eval_episodes=5,
            num_cvs=(3, 5),
            v_values=(5.0, 50.0, 100.0),
            twin_lags=(0, 3),
            twin_noises=(0.0, 0.3),
            bandwidths_hz=(0.5e6, 2e6, 20e6),
            bandwidth_eval_episodes=3,
            steady_window=30,
            smooth_window=10,
            scale_cvs=(5, 20),
            scale_networks=("highway",),
        )
    return Scale(
        "tiny",
        episodes=4,
        seeds=seed_ids,
        eval_episodes=1,
        num_cvs=(2, 3),
        v_values=(5.0, 50.0),
        twin_lags=(0, 2),
        twin_noises=(0.0, 0.2),
        bandwidths_hz=(1e6, 20e6),
        bandwidth_eval_episodes=1,
        steady_window=2,
        smooth_window=2,
        scale_cvs=(2, 20),
        scale_networks=("highway",),
        scale_eval_episodes=1,
        scale_extra=("episode_slots=3",),
    )


def fmt(value: float) -> str:
    """``value`` as an override spells it: an integer without a decimal point, else the float's repr."""
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


def train_cell(scale: Scale, algo: str, overrides: tuple[str, ...], series: str, x: float | None = None) -> Cell:
    """The cell of ``algo`` trained with ``overrides``: one run per seed of ``scale``, ``scale.episodes`` long."""
    runs = tuple(RunSpec("train", algo, tuple(sorted(overrides)), s, scale.episodes) for s in scale.seeds)
    return Cell(series, x, runs)


def eval_cell(
    scale: Scale,
    algo: str,
    overrides: tuple[str, ...],
    series: str,
    x: float | None = None,
    learned: bool = False,
    episodes: int | None = None,
) -> Cell:
    """The cell of ``algo`` evaluated with ``overrides``, one run per seed of ``scale`` of ``episodes`` (default
    ``scale.eval_episodes``); a ``learned`` policy is evaluated from its training run of the same seed."""
    overrides = tuple(sorted(overrides))
    runs = []
    for s in scale.seeds:
        source = RunSpec("train", algo, overrides, s, scale.episodes) if learned else None
        runs.append(RunSpec("evaluate", algo, overrides, s, episodes or scale.eval_episodes, source))
    return Cell(series, x, tuple(runs))
