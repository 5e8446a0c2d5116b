"""``isac-iov config``: print the effective config, each key with its Table II row.

With ``--algo NAME`` it prints the scenario that algorithm trains on (Ly-MAPPO:
the twin off) and then its hyper-parameters, ``algo.KEY`` with the value, and
the values each admits; ``--set algo.KEY=VALUE`` is checked as ``isac-iov
train`` checks it.
"""

from __future__ import annotations

import argparse

from .config import ConfigError, add_config_arguments, describe, load_config, split_algo_overrides
from .scenario import Normalisers


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--algo", default=None, help="also print this algorithm's hyper-parameters (algo.KEY)")


def main(args: argparse.Namespace) -> int:
    scenario_sets, algo_sets = split_algo_overrides(args.overrides)
    if algo_sets and args.algo is None:
        raise ConfigError(f"algo.{next(iter(algo_sets))}: algorithm keys need --algo NAME")
    cfg = load_config(args.config, scenario_sets)
    algo_cfg = None
    if args.algo:  # the learners import torch: only when asked for
        from .learners import algo_spec, effective_config
        from .learners.common import describe_algo, make_algo_config

        algo_cfg = make_algo_config(algo_spec(args.algo).config, algo_sets)
        cfg = effective_config(args.algo, cfg)
    print(describe(cfg))
    n = Normalisers.from_config(cfg)
    print(
        f"\nderived normalisers (docs/model.md#normalisation): delay_ref_s={n.delay_ref_s:g}  "
        f"energy_ref_j={n.energy_ref_j:.4g}  queue_ref_cycles={n.queue_ref_cycles:.4g}  "
        f"energy_queue_ref_j={n.energy_queue_ref_j:.4g}"
    )
    if algo_cfg is not None:
        print(f"\n{args.algo} hyper-parameters (--set algo.KEY=VALUE on isac-iov train):\n{describe_algo(algo_cfg)}")
    return 0
