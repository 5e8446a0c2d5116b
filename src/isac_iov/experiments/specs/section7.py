"""The experiments of ``reproduce all``: Section VII's Table III and Figs. 4 to 7, and the twin-fidelity and
bandwidth studies beyond it.

Experiments share runs freely (Table III, Fig. 4 and Fig. 5 use the same five
training runs per seed; Fig. 6 at 5 CVs and Fig. 7 at V = 5 reuse them too, and
the evaluations of Table III and Fig. 4 are Fig. 6's at 5 CVs); the runner
executes every distinct key once.
"""

from __future__ import annotations

from ...config import scenario_overrides
from .experiment import COMPARED_WITH, EVALUATED, NO_TWIN, REFERENCES, Experiment
from .scales import Scale, eval_cell, fmt, train_cell


def convergence(scale: Scale, name: str = "table3") -> Experiment:
    """Table III, Fig. 4 and Fig. 5: the learners of ``scale.algos`` (the paper's five unless ``reproduce --algos``
    chose others) trained on the default scenario (5 CVs, 3 RSUs).

    Table III and Fig. 4 (:data:`EVALUATED`) also evaluate each trained policy and the references ``ly-opt``
    and ``greedy`` on that scenario, ``eval_episodes`` per seed, so a learned policy is always seen next to
    them; the cells share their series name with the training cells (evaluation metrics are ``cost``,
    ``reward``, ..., training ones ``steady_*``, so they do not mix)."""
    cells = [train_cell(scale, a, (), a) for a in scale.algos]
    if name in EVALUATED:
        cells += [eval_cell(scale, a, (), a, learned=True) for a in scale.algos]
        cells += [eval_cell(scale, p, (), p) for p in COMPARED_WITH]
    return Experiment(name, tuple(cells))


def fig6(scale: Scale) -> Experiment:
    """Cost, delay and energy versus the number of CVs at alpha = 0.6: learners and references."""
    cells = []
    for n in scale.num_cvs:
        ov = (f"num_cvs={n}", "lyapunov.alpha=0.6")
        cells += [eval_cell(scale, a, ov, a, n, learned=True) for a in scale.algos]
        cells += [eval_cell(scale, p, ov, p, n) for p in REFERENCES]
    return Experiment("fig6", tuple(cells))


def fig7(scale: Scale) -> Experiment:
    """Ly-DTMPO cost over episodes and at convergence for each Lyapunov V."""
    return Experiment(
        "fig7",
        tuple(train_cell(scale, "ly-dtmpo", (f"lyapunov.v_control={fmt(v)}",), "ly-dtmpo", v) for v in scale.v_values),
    )


def twin(scale: Scale) -> Experiment:
    """Ly-DTMPO under a lagged or noisy twin (one factor at a time), with Ly-MAPPO (no twin) as reference;
    both also on the shipped contention scenario (``scenarios/contention.yaml``), where RSU load matters."""
    cells = [train_cell(scale, "ly-dtmpo", (f"twin.lag_slots={lag}",), "lag_slots", lag) for lag in scale.twin_lags]
    cells += [
        train_cell(scale, "ly-dtmpo", (f"twin.noise_std={fmt(sd)}",), "noise_std", sd) for sd in scale.twin_noises
    ]
    cells.append(train_cell(scale, "ly-mappo", (), NO_TWIN))
    contention = tuple(scenario_overrides("contention"))
    cells += [
        train_cell(scale, "ly-dtmpo", contention, "contention: ly-dtmpo"),
        train_cell(scale, "ly-mappo", contention, f"contention: {NO_TWIN}"),
    ]
    return Experiment("twin", tuple(cells))


def bandwidth(scale: Scale) -> Experiment:
    """InstrT share and cost of ly-opt and greedy versus bandwidth, per-CV and per-RSU sharing."""
    cells = []
    for sharing in ("per_cv", "per_rsu"):
        for policy in ("ly-opt", "greedy"):
            for b in scale.bandwidths_hz:
                ov = (f"channel.bandwidth_hz={fmt(b)}", f"channel.bandwidth_sharing={sharing}")
                cells.append(
                    eval_cell(scale, policy, ov, f"{policy} {sharing}", b, episodes=scale.bandwidth_eval_episodes)
                )
    return Experiment("bandwidth", tuple(cells))
