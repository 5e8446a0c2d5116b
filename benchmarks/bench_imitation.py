"""What an actor can reach from its inputs: behaviour-clone the per-slot optimum into each learner's actor.

For each algorithm, builds its actor on the scenario, clones ``--reference``
(default ``ly-opt-dual``, the per-slot optimum of docs/model.md#per-slot-optimum)
into it from ``--clone-episodes`` episodes (:func:`isac_iov.learners.warmstart.warm_start`,
the ``--init`` routine), and evaluates the clone deterministically next to the
reference and ``greedy`` (evaluation seed 0, ``--eval-episodes`` episodes).

The clone's cost ratio to the reference measures how much of the optimum the
actor's *inputs* allow a decentralised policy to express: Ly-DTMPO's actor sees
the twin's part of the observation (RSU backlogs and load), Ly-MAPPO's sees it
zeroed.  A learner cannot be expected to beat its clone ratio by much, since
the clone is fitted to the optimum's actions on the optimum's own states.

    python benchmarks/bench_imitation.py [--algos ly-dtmpo,ly-mappo] [--seeds 3] [--scenario default]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from benchruns import scenario_sets  # this script's folder is on sys.path when it runs
from isac_iov.config import load_config
from isac_iov.evaluate import evaluate_policy
from isac_iov.learners import TrainedPolicy, algo_spec, effective_config
from isac_iov.learners.common import EnvSpec
from isac_iov.learners.train import make_algo_config
from isac_iov.learners.warmstart import warm_start


def clone_cost(algo: str, sets: list[str], reference: str, seed: int, clone_eps: int, eval_eps: int) -> dict:
    """Evaluation summary of ``reference`` cloned into ``algo``'s actor (seed ``seed``)."""
    torch.manual_seed(seed)
    cfg = effective_config(algo, load_config(None, sets))
    spec = EnvSpec.from_config(cfg)
    learner = algo_spec(algo).learner(spec, make_algo_config(algo_spec(algo).config, {}))
    warm_start(learner, cfg, reference, seed, clone_eps)
    policy = TrainedPolicy(algo, learner.actor, spec, cfg.twin.enabled)
    return evaluate_policy(policy, cfg, eval_eps, 0, record_slots=False, progress=False)["summary"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algos", default="ly-dtmpo,ly-mappo", help="comma-separated algorithm names")
    p.add_argument("--reference", default="ly-opt-dual", help="the reference policy to clone")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--clone-episodes", type=int, default=64)
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--scenario", default="default", help="'default' (Table II) or a shipped scenario name")
    args = p.parse_args()
    sets = scenario_sets(args.scenario)
    cfg = load_config(None, sets)
    refs = {
        name: evaluate_policy(name, cfg, args.eval_episodes, 0, record_slots=False, progress=False)["summary"]
        for name in (args.reference, "greedy")
    }
    ref_cost, greedy_cost = refs[args.reference]["cost"], refs["greedy"]["cost"]

    def row(name: str, cost: float, energy: float, miss: float) -> str:
        return f"{name:<12}{cost:8.4f}{cost / ref_cost:8.3f}{cost / greedy_cost:9.3f}{energy:10.2f}{miss:7.3f}"

    print(
        f"scenario {args.scenario}: clone {args.reference} ({args.clone_episodes} episodes), seeds 0..{args.seeds - 1}"
    )
    print(f"{'policy':<12}{'cost':>8}{'/ref':>8}{'/greedy':>9}{'energy J':>10}{'miss':>7}")
    for name, s in refs.items():
        print(row(name, s["cost"], s["energy_j"], s["deadline_miss_rate"]))
    for algo in (a for a in args.algos.split(",") if a):
        runs = [
            clone_cost(algo, sets, args.reference, s, args.clone_episodes, args.eval_episodes)
            for s in range(args.seeds)
        ]
        means = (float(np.mean([r[k] for r in runs])) for k in ("cost", "energy_j", "deadline_miss_rate"))
        print(row(f"{algo} clone", *means), flush=True)


if __name__ == "__main__":
    main()
