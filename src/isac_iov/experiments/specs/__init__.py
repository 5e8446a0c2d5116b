"""Declarative experiment specs: what the reproduction runs, as data.

* :mod:`.experiment`: the vocabulary (:class:`RunSpec`, one run; :class:`Cell`, one point of a table or
  figure with one run per seed; :class:`Experiment`; the training curves each experiment keeps and draws)
  and the names of learners, reference policies and experiments;
* :mod:`.scales`: the budget of a reproduction (:class:`Scale`, :func:`make_scale`) and the cells it makes;
* :mod:`.section7`: the experiments of ``all`` (:data:`EXPERIMENTS`), Section VII's and the twin-fidelity
  and bandwidth studies;
* :mod:`.scaling`: the scale study (``scale``, beyond the paper, run only by name).

:func:`build` returns the experiments of a name (or ``all``, the paper's: :data:`EXPERIMENTS`) and
:func:`unique_runs` every distinct run they need, which the runner executes once each.
"""

from __future__ import annotations

from .experiment import (
    BEYOND,
    COMPARED_WITH,
    CURVES,
    EXPERIMENTS,
    LEARNERS,
    NO_TWIN,
    REFERENCES,
    SCALE_REFERENCES,
    WITH_ALGOS,
    Cell,
    Experiment,
    RunSpec,
    curves_of,
)
from .scales import DEFAULT_SEEDS, Scale, make_scale
from .scaling import scale_study, standin_overrides
from .section7 import bandwidth, convergence, fig6, fig7, twin

__all__ = [
    "BEYOND",
    "COMPARED_WITH",
    "CURVES",
    "DEFAULT_SEEDS",
    "EXPERIMENTS",
    "LEARNERS",
    "NO_TWIN",
    "REFERENCES",
    "SCALE_REFERENCES",
    "WITH_ALGOS",
    "Cell",
    "Experiment",
    "RunSpec",
    "Scale",
    "bandwidth",
    "build",
    "convergence",
    "curves_of",
    "fig6",
    "fig7",
    "make_scale",
    "scale_study",
    "standin_overrides",
    "twin",
    "unique_runs",
]


def build(name: str, scale: Scale) -> list[Experiment]:
    """The experiments of ``name`` (one of :data:`EXPERIMENTS`, ``all`` for all of them, or ``scale``)."""
    builders = {
        "table3": lambda s: convergence(s, "table3"),
        "fig4": lambda s: convergence(s, "fig4"),
        "fig5": lambda s: convergence(s, "fig5"),
        "fig6": fig6,
        "fig7": fig7,
        "twin": twin,
        "bandwidth": bandwidth,
        "scale": scale_study,
    }
    if name == "all":
        return [builders[n](scale) for n in EXPERIMENTS]
    if name not in builders:
        raise ValueError(f"unknown experiment {name!r} (known: {', '.join(EXPERIMENTS + BEYOND)}, all)")
    return [builders[name](scale)]


def unique_runs(experiments: list[Experiment]) -> list[RunSpec]:
    """Every distinct run (by key) the experiments need, sources included, in first-seen order."""
    seen: dict[str, RunSpec] = {}
    for exp in experiments:
        for run in exp.runs():
            for r in (run.source, run) if run.source else (run,):
                seen.setdefault(r.key, r)
    return list(seen.values())
