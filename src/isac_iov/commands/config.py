"""``isac-iov config``: print the effective config, each key with its Table II row.

With ``--algo NAME`` it prints the scenario that algorithm trains on (Ly-MAPPO:
the twin off) and then its hyper-parameters, ``algo.KEY`` with the value, and
the values each admits; ``--set algo.KEY=VALUE`` is checked as ``isac-iov
train`` checks it.  A last line says what each ``auto`` option becomes at the
scenario's number of CVs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..config import ConfigError, describe, load_config, split_algo_overrides
from ..scenario import Normalisers
from .options import add_config_arguments

if TYPE_CHECKING:
    from ..learners.common import AlgoConfig


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
        from ..learners import algo_spec, effective_config
        from ..learners.common import SCALE_CVS, describe_algo, make_algo_config

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
        autos = resolved_autos(algo_cfg, cfg.num_cvs, cfg.twin.enabled)
        if autos:
            print(f"'auto' at {cfg.num_cvs} CVs (the scalable form above {SCALE_CVS}): {autos}")
    return 0


def resolved_autos(algo_cfg: AlgoConfig, num_cvs: int, twin: bool = True) -> str:
    """What each ``auto`` option of ``algo_cfg`` becomes at ``num_cvs`` CVs (``AUTO_FORMS``, learners/common.py)."""
    from ..learners.common import AUTO_FORMS, form

    autos = [key for key in AUTO_FORMS if getattr(algo_cfg, key, None) == "auto"]
    return ", ".join(f"algo.{key}={form(algo_cfg, key, num_cvs, twin)}" for key in autos)
