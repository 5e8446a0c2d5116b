"""``isac-iov run``: the main job (:mod:`isac_iov.mainjob`): train Ly-DTMPO, then compare it with the
reference policies and print the table.

    isac-iov run [--config FILE] [--set k=v]... [--episodes 1800] [--seed 0]
                 [--eval-episodes 10] [--out runs/main]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import load_config
from ..evaluate import format_summary_table
from ..learners.train import train_run
from ..mainjob import ALGO, COMPARISON_FILE, compare
from ..rundir import write_json
from .options import add_config_arguments


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
    run_dir = out / ALGO
    print(f"[1/2] training Ly-DTMPO for {args.episodes} episodes into {run_dir} (resumes; a finished run is kept)")
    train_run(ALGO, cfg, args.episodes, args.seed, run_dir, resume=True)
    print(f"[2/2] evaluating {args.eval_episodes} episodes per policy (seed {args.seed})")
    summaries = compare(run_dir, cfg, args.eval_episodes, args.seed)
    write_json(out / COMPARISON_FILE, summaries)
    print(format_summary_table(summaries))
    print(f"summaries saved to {out / COMPARISON_FILE}")
    return 0
