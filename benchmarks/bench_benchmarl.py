"""BenchMARL MAPPO with its default configuration on isac-iov's BenchMARL task, against greedy.

Trains BenchMARL's MAPPO (``MappoConfig``, ``MlpConfig`` actor and critic and ``ExperimentConfig``, each from
BenchMARL's own YAML defaults) on ``IsacTask.DEFAULT`` (:mod:`isac_iov.integrations.benchmarl`: Table II's road,
twin on, the paper's box actions and per-CV rewards unless ``--actions``/``--reward``/``--no-twin`` say otherwise) for
``--frames`` frames (default 54,000: the paper's 1800 episodes of 30 slots), on one thread, for each of ``--seeds``
seeds.  The experiment's configuration departs from BenchMARL's defaults only where a run here needs it: the frame
budget, no loggers (the default ones include Weights & Biases, which is not installed; logging changes no number)
and a temporary save folder.  Each trained policy is then evaluated with
:func:`isac_iov.evaluate.evaluate_policy` through :class:`isac_iov.integrations.torchrl.TensorDictPolicy`, as
``isac-iov evaluate --episodes 20 --seed 0`` plays (deterministic actions), next to ``greedy`` on the same
episodes.  Prints per seed the wall time, cost (eq. 24), energy per CV-slot, deadline-miss rate and reward per
slot (eq. 44), then the targets on the mean over seeds: cost <= 1.10 x ``greedy``, energy within the budget,
misses <= 2 %.

    python benchmarks/bench_benchmarl.py [--frames 54000] [--seeds 1] [--eval-episodes 20]
                                         [--actions box|centred] [--reward per_cv|team] [--no-twin]

Needs the ``benchmarl`` extra (``pip install -c constraints.txt 'isac-iov[benchmarl]'``).
"""

from __future__ import annotations

import tempfile
import time
from importlib import metadata
from typing import Any

import numpy as np
import torch

from harness import parse, parser, summary, target  # this script's folder is on sys.path when it runs
from isac_iov.evaluate import evaluate_policy
from isac_iov.integrations.benchmarl import IsacTask
from isac_iov.integrations.torchrl import TensorDictPolicy

RATIO_TARGET = 1.10
MISS_TARGET = 0.02


def train_mappo(task_config: dict[str, Any], frames: int, seed: int) -> tuple[TensorDictPolicy, float]:
    """BenchMARL MAPPO with its defaults on the task for ``frames`` frames; the policy and the wall time."""
    from benchmarl.algorithms import MappoConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig

    config = ExperimentConfig.get_from_yaml()
    config.max_n_frames = frames
    config.loggers = []
    task = IsacTask.DEFAULT.get_task(config=task_config)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        config.save_folder = folder
        experiment = Experiment(
            task=task,
            algorithm_config=MappoConfig.get_from_yaml(),
            model_config=MlpConfig.get_from_yaml(),
            critic_model_config=MlpConfig.get_from_yaml(),
            seed=seed,
            config=config,
        )
        experiment.run()
    policy = TensorDictPolicy(experiment.policy, actions=task_config["actions"], name=f"benchmarl-mappo-s{seed}")
    return policy, time.perf_counter() - start


def main() -> None:
    p = parser(__doc__, seeds=1, eval_episodes=20)
    p.add_argument("--frames", type=int, default=54_000, help="training frames (slots) per run (default 54,000)")
    p.add_argument("--actions", choices=("box", "centred"), default="box", help="the task's action option")
    p.add_argument("--reward", choices=("per_cv", "team"), default="per_cv", help="the task's reward option")
    p.add_argument("--no-twin", action="store_true", help="train and evaluate without the digital twin")
    args = parse(p)
    torch.set_num_threads(1)
    print(", ".join(f"{name} {metadata.version(name)}" for name in ("benchmarl", "torchrl", "tensordict")))
    task_config = {"actions": args.actions, "reward": args.reward, "twin": not args.no_twin}
    cfg = IsacTask.DEFAULT.get_task(config=task_config).scenario
    greedy = evaluate_policy("greedy", cfg, args.eval_episodes, 0, record_slots=False, progress=False)["summary"]
    print(f"greedy: cost {greedy['cost']:.4f}, energy {greedy['energy_j']:.1f} J, reward {greedy['reward']:.2f}")
    rows = []
    for seed in range(args.seeds):
        policy, wall_s = train_mappo(task_config, args.frames, seed)
        s = evaluate_policy(policy, cfg, args.eval_episodes, 0, record_slots=False, progress=False)["summary"]
        rows.append(s)
        print(
            f"seed {seed}: {wall_s:.0f} s, cost {s['cost']:.4f} ({s['cost'] / greedy['cost']:.3f} x greedy), "
            f"energy {s['energy_j']:.1f} J per CV-slot (budget {s['energy_budget_j_per_cv']:g}), "
            f"misses {s['deadline_miss_rate']:.1%}, reward per slot {s['reward']:.2f}",
            flush=True,
        )
    cost = float(np.mean([s["cost"] for s in rows]))
    print(f"BenchMARL MAPPO: cost {cost:.4f} = {cost / greedy['cost']:.3f} x greedy over {args.seeds} seed(s)")
    summary(
        [
            target("cost x greedy", cost / greedy["cost"], "<=", RATIO_TARGET, fmt=".3f"),
            target(
                "energy", float(np.mean([s["energy_j"] for s in rows])), "<=", cfg.lyapunov.energy_budget_j_per_cv, "J"
            ),
            target("deadline misses", float(np.mean([s["deadline_miss_rate"] for s in rows])), "<=", MISS_TARGET),
        ]
    )


if __name__ == "__main__":
    main()
