"""The scale study (``reproduce scale``, not part of ``all``), beyond the paper.

Every learner trained and evaluated next to ``greedy`` and ``ly-opt-dual`` on
straight-road stand-ins of growing size (:func:`standin_overrides`: the CVs, the
road and the RSUs grow together, so each CV has as much RSU CPU as in the city
scenario) and on the shipped test networks the project never tuned on
(:data:`~.experiment.TEST_NETWORKS`).
"""

from __future__ import annotations

import json

from ...config import load_config, scenario_overrides
from .experiment import SCALE_REFERENCES, Experiment
from .scales import Scale, eval_cell, fmt, train_cell

STANDIN_CVS_PER_RSU = 50 / 16  # the city scenario's
STANDIN_RSU_SPACING_M = 200.0
STANDIN_RSU_CPU_HZ = 37.5e9  # the city's: Table II's RSU CPU per CV


def standin_overrides(num_cvs: int) -> tuple[str, ...]:
    """A straight road standing in for a city of ``num_cvs`` CVs: up to 5 CVs Table II's road; above,
    ``K = round(num_cvs / 3.125)`` RSUs (the city's CVs per RSU) of 37.5 GHz, 200 m apart on a road of
    ``200 K`` m with the vehicles spread over all of it (the 50-CV stand-in is ``bench_scale.py``'s).  Above
    18 RSUs ``action.min_task_share`` falls from 0.05 to 0.01, which C4 needs below ``1 / (K + 1)``."""
    if num_cvs <= 5:
        return (f"num_cvs={num_cvs}",)
    k = max(3, round(num_cvs / STANDIN_CVS_PER_RSU))
    length_m = STANDIN_RSU_SPACING_M * k
    rsus = [STANDIN_RSU_SPACING_M / 2 + STANDIN_RSU_SPACING_M * i for i in range(k)]
    sets = [
        f"num_cvs={num_cvs}",
        f"road.length_m={fmt(length_m)}",
        f"rsu.x_m={json.dumps(rsus)}",
        f"vehicle.initial_x_m=[0, {fmt(length_m)}]",
        f"rsu.cpu_max_hz={STANDIN_RSU_CPU_HZ!r}",
    ]
    return tuple(sets + (["action.min_task_share=0.01"] if k > 18 else []))


def scale_study(scale: Scale) -> Experiment:
    """``scale``: each learner of ``scale.algos`` trained and evaluated, and ``greedy`` and ``ly-opt-dual``
    evaluated, on the stand-in of each CV count (series = the policy, x = the CVs) and on each test network
    (series ``NETWORK: policy``, x = its CVs); ``scale_eval_episodes`` evaluation episodes per seed."""
    cells = []
    places = [(n, standin_overrides(n), "") for n in scale.scale_cvs]
    for name in scale.scale_networks:
        sets = tuple(scenario_overrides(name))
        places.append((load_config(None, list(sets)).num_cvs, sets, f"{name}: "))
    for n, sets, prefix in places:
        ov = tuple(sets) + scale.scale_extra
        episodes = scale.scale_eval_episodes
        cells += [train_cell(scale, a, ov, prefix + a, n) for a in scale.algos]
        cells += [eval_cell(scale, a, ov, prefix + a, n, learned=True, episodes=episodes) for a in scale.algos]
        cells += [eval_cell(scale, p, ov, prefix + p, n, episodes=episodes) for p in SCALE_REFERENCES]
    return Experiment("scale", tuple(cells))
