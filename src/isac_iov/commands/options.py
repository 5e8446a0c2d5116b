"""Options shared by several commands: the scenario's ``--config FILE`` and ``--set key=value``."""

from __future__ import annotations

import argparse


def add_config_arguments(p: argparse.ArgumentParser, several: bool = False) -> None:
    """The ``--config FILE`` (repeatable when ``several``: a list) and repeated ``--set key=value`` options
    shared by commands."""
    if several:
        p.add_argument(
            "--config",
            action="append",
            default=None,
            help="YAML scenario file (partial allowed); repeat it to train on a mixture of scenarios",
        )
    else:
        p.add_argument("--config", default=None, help="YAML scenario file (partial allowed)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set lyapunov.v_control=10 (repeatable; "
        "`isac-iov config` lists every key with its allowed values)",
    )
