"""``isac-iov config``: print the effective config, each key with its Table II row."""

from __future__ import annotations

import argparse

from .config import add_config_arguments, describe, load_config
from .scenario import Normalisers


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    print(describe(cfg))
    n = Normalisers.from_config(cfg)
    print(
        f"\nderived normalisers (docs/model.md#normalisation): delay_ref_s={n.delay_ref_s:g}  "
        f"energy_ref_j={n.energy_ref_j:.4g}  queue_ref_cycles={n.queue_ref_cycles:.4g}  "
        f"energy_queue_ref_j={n.energy_queue_ref_j:.4g}"
    )
    return 0
