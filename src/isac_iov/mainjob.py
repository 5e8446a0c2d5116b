"""``isac-iov run``: the main job on a scenario (default: Table II, 5 CVs, 3 RSUs).

1. Train Ly-DTMPO under the paper's protocol (1800 episodes of 30 slots) into
   ``OUT/ly-dtmpo`` - resumable: run the command again after an interruption
   and it continues from the last checkpoint; a finished run is not redone.
2. Evaluate the trained actors (decentralised, mean action) and the reference
   policies ``ly-opt-dual``, ``ly-opt``, ``greedy``, ``offload``, ``local`` and ``random`` on the
   same evaluation episodes.
3. Print a comparison table and save every summary to ``OUT/comparison.json``.

    isac-iov run [--config FILE] [--set k=v]... [--episodes 1800] [--seed 0]
                 [--eval-episodes 10] [--out runs/main]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .config import add_config_arguments, load_config
from .evaluate import evaluate_policy, format_summary_table
from .learners import load_policy
from .learners.train import train_run
from .policies import REGISTRY as POLICIES
from .rundir import write_json

REFERENCE_POLICIES = tuple(POLICIES)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--episodes", type=int, default=1800, help="training episodes (paper: 1800)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-episodes", type=int, default=10, help="evaluation episodes per policy")
    p.add_argument("--out", default="runs/main", help="output directory")


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    if args.eval_episodes < 1:
        raise ValueError(f"--eval-episodes: must be a positive integer, got {args.eval_episodes}")
    out = Path(args.out)
    run_dir = out / "ly-dtmpo"
    print(f"[1/2] training Ly-DTMPO for {args.episodes} episodes into {run_dir} (resumes; a finished run is kept)")
    train_run("ly-dtmpo", cfg, args.episodes, args.seed, run_dir, resume=True)
    print(f"[2/2] evaluating {args.eval_episodes} episodes per policy (seed {args.seed})")
    summaries = {
        "ly-dtmpo": evaluate_policy(load_policy(run_dir), cfg, args.eval_episodes, args.seed, record_slots=False)[
            "summary"
        ]
    }
    for name in REFERENCE_POLICIES:
        summaries[name] = evaluate_policy(name, cfg, args.eval_episodes, args.seed, record_slots=False)["summary"]
    write_json(out / "comparison.json", summaries)
    print(format_summary_table(summaries))
    print(f"summaries saved to {out / 'comparison.json'}")
    return 0
