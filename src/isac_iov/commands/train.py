"""``isac-iov train``: train one algorithm on one scenario or a mixture (:func:`isac_iov.learners.train.train_run`).

    isac-iov train --algo ly-dtmpo [--config FILE]... [--set key=value]... [--vary key=[v1, v2, ...]]... \\
        [--episodes 1800] [--seed 0] --out RUN_DIR [--resume] [--checkpoint-every 100] \\
        [--init greedy | --imitate ly-opt-dual]

``--config`` given several times trains one policy on a mixture of the ``S`` files (:mod:`isac_iov.learners.train`
says how).  ``--set`` scenario keys apply to every file; ``--vary KEY=[V1, V2, ...]`` (repeatable) makes a mixture
of every file with every combination of the listed values (files outer, the last ``--vary`` innermost,
:func:`isac_iov.config.variations`), e.g. ``--vary 'rsu.cpu_max_hz=[12e9, 37.5e9]'`` for scarce and ample RSUs on
each road.  ``--set`` keys starting with ``algo.`` set algorithm hyper-parameters (e.g. ``--set algo.num_envs=8``);
all others set the scenario.  ``--init NAME`` behaviour-clones the reference policy ``NAME`` into the actor before
the first episode; ``--imitate NAME`` trains the actor by imitating ``NAME`` instead of learning from rewards.
``--resume`` continues the run in ``--out`` from its last checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import load_config, split_algo_overrides, variations
from ..learners.train import DEFAULT_CHECKPOINT_EVERY, train_run
from .options import add_config_arguments

DEFAULT_EPISODES = 1800


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..learners import REGISTRY

    p.add_argument(
        "--algo", required=True, help=f"one of {', '.join(REGISTRY)}; hyper-parameters via --set algo.KEY=VALUE"
    )
    add_config_arguments(p, several=True)
    p.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY=[V1, V2]",
        help="train on every scenario with each of these values of KEY (a mixture; repeatable)",
    )
    p.add_argument("--episodes", type=int, default=DEFAULT_EPISODES, help="episodes to train (default 1800)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--checkpoint-every", type=int, default=DEFAULT_CHECKPOINT_EVERY, metavar="EPISODES")
    p.add_argument(
        "--init",
        default=None,
        metavar="POLICY",
        help="behaviour-clone this reference policy (e.g. greedy) into the actor first",
    )
    p.add_argument(
        "--imitate",
        default=None,
        metavar="POLICY",
        help="train by imitating this reference policy (e.g. ly-opt-dual), the teacher labelling the states the "
        "actor reaches (DAgger), instead of learning from rewards",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    scenario_sets, overrides = split_algo_overrides(args.overrides)
    cfgs = [load_config(path, scenario_sets + sets) for path in args.config or [None] for sets in variations(args.vary)]
    out = train_run(
        args.algo,
        cfgs if len(cfgs) > 1 else cfgs[0],
        args.episodes,
        args.seed,
        args.out,
        resume=args.resume,
        algo_overrides=overrides,
        progress=not args.no_progress,
        checkpoint_every=args.checkpoint_every,
        init=args.init,
        imitate=args.imitate,
    )
    print(f"run written to {out}")
    return 0
