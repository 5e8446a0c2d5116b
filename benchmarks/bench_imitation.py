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

``--view`` asks which information makes the difference.  It replaces the twin's
part of the observations (for actors that see it, such as Ly-DTMPO's) by:

* ``twin=A+B``: only the named groups of the twin's view, ``queues`` (the RSU
  backlogs and ``G_rsu``) and the RSU load features of
  ``isac_iov.twin.LOAD_FEATURE_NAMES``; the rest zeroed;
* ``feedback``: in its first K entries, each CV's own share of each RSU's CPU in
  the previous slot (0 where it sent nothing): what a CV learns from its own
  offloading without a twin;
* ``beacon``: in its first K entries, the fraction of CVs that sent work to each
  RSU in the previous slot: what an RSU could broadcast without a twin.

    python benchmarks/bench_imitation.py [--algos ly-dtmpo,ly-mappo] [--seeds 3] [--scenario default]
        [--view as-trained|twin=contention|feedback|beacon]
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from benchruns import scenario_sets  # this script's folder is on sys.path when it runs
from isac_iov.config import load_config
from isac_iov.env.core import BatchedEnv, Step
from isac_iov.evaluate import evaluate_policy
from isac_iov.learners import TrainedPolicy, algo_spec, effective_config
from isac_iov.learners.common import EnvSpec
from isac_iov.learners.train import make_algo_config
from isac_iov.learners.warmstart import warm_start
from isac_iov.twin import LOAD_FEATURE_NAMES, LOAD_FEATURES, DigitalTwin


def twin_columns(view: str, num_rsus: int) -> list[int]:
    """The columns of the twin's RSU part (queues, ``G_rsu``, then the load features RSU by RSU) that
    ``twin=A+B`` keeps."""
    k, columns = num_rsus, []
    for group in view.removeprefix("twin=").split("+"):
        if group == "queues":
            columns += range(k + 3)
        elif group in LOAD_FEATURE_NAMES:
            columns += [k + 3 + r * LOAD_FEATURES + LOAD_FEATURE_NAMES.index(group) for r in range(k)]
        else:
            raise SystemExit(f"--view: unknown twin group {group!r} (queues, {', '.join(LOAD_FEATURE_NAMES)})")
    return columns


@contextlib.contextmanager
def restricted_view(view: str, num_rsus: int) -> Iterator[None]:
    """Within the block, the twin's part of every observation holds only ``view`` (module docstring)."""
    if view == "as-trained":
        yield
        return
    if view not in ("feedback", "beacon") and not view.startswith("twin="):
        raise SystemExit(f"--view: must be as-trained, twin=GROUPS, feedback or beacon, got {view!r}")
    keep = twin_columns(view, num_rsus) if view.startswith("twin=") else []
    view_features, step = DigitalTwin.view_features, BatchedEnv.step

    def restricted(twin: DigitalTwin) -> tuple[np.ndarray, np.ndarray]:
        rsu_part, all_cvs = view_features(twin)
        kept = np.zeros_like(rsu_part)
        kept[:, keep] = rsu_part[:, keep]
        return kept, all_cvs

    def step_with_feedback(env: BatchedEnv, actions: np.ndarray) -> Step:
        out = step(env, actions)
        links, first = out.outcome.links, slice(env.cv_feature_dim, env.cv_feature_dim + num_rsus)
        if view == "feedback":
            out.obs[..., first] = links.rsu_cpu_hz / env.scn.rsu_available_hz
        elif view == "beacon":
            out.obs[..., first] = links.used.mean(axis=-2)[:, None, :]
        return out

    DigitalTwin.view_features, BatchedEnv.step = restricted, step_with_feedback  # type: ignore[method-assign]
    try:
        yield
    finally:
        DigitalTwin.view_features, BatchedEnv.step = view_features, step  # type: ignore[method-assign]


def clone_cost(
    algo: str, sets: list[str], reference: str, seed: int, clone_eps: int, eval_eps: int, view: str = "as-trained"
) -> dict:
    """Evaluation summary of ``reference`` cloned into ``algo``'s actor (seed ``seed``), which sees ``view``."""
    torch.manual_seed(seed)
    cfg = effective_config(algo, load_config(None, sets))
    if view != "as-trained" and not cfg.twin.enabled:
        raise SystemExit(f"--view {view}: {algo}'s actor does not see the twin's part; use an actor that does")
    spec = EnvSpec.from_config(cfg)
    learner = algo_spec(algo).learner(spec, make_algo_config(algo_spec(algo).config, {}))
    with restricted_view(view, cfg.num_rsus):
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
    p.add_argument("--view", default="as-trained", help="as-trained, twin=GROUP[+GROUP], feedback or beacon")
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
        f"scenario {args.scenario}: clone {args.reference} ({args.clone_episodes} episodes), seeds 0..{args.seeds - 1},"
        f" view {args.view}"
    )
    print(f"{'policy':<12}{'cost':>8}{'/ref':>8}{'/greedy':>9}{'energy J':>10}{'miss':>7}")
    for name, s in refs.items():
        print(row(name, s["cost"], s["energy_j"], s["deadline_miss_rate"]))
    for algo in (a for a in args.algos.split(",") if a):
        runs = [
            clone_cost(algo, sets, args.reference, s, args.clone_episodes, args.eval_episodes, args.view)
            for s in range(args.seeds)
        ]
        means = (float(np.mean([r[k] for r in runs])) for k in ("cost", "energy_j", "deadline_miss_rate"))
        print(row(f"{algo} clone", *means), flush=True)


if __name__ == "__main__":
    main()
