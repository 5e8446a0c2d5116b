"""Command line: ``isac-iov {run,config,evaluate,train,reproduce,report}``.

Each sub-command lives in the module that does the work; that module exposes
``add_arguments(parser)`` and ``main(args) -> int``.  Errors in user input
(config keys, policy names, paths) are printed as one line and exit with 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .actions import ActionError
from .config import ConfigError

COMMANDS = {
    "run": ("isac_iov.mainjob", "the main job: train Ly-DTMPO, then compare it with the reference policies"),
    "config": ("isac_iov.config_cmd", "print the effective config with its Table II sources"),
    "evaluate": ("isac_iov.evaluate", "evaluate a reference policy or a trained run"),
    "train": ("isac_iov.learners.train", "train a MARL algorithm"),
    "reproduce": ("isac_iov.experiments.reproduce", "reproduce the paper's tables and figures"),
    "report": ("isac_iov.experiments.report", "redraw the report from saved results"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (so one command's imports never slow another)."""
    parser = argparse.ArgumentParser(prog="isac-iov", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(_module=module)
        if name == command:
            importlib.import_module(module).add_arguments(p)
    return parser


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """The ``--config FILE`` and repeated ``--set key=value`` options shared by commands."""
    p.add_argument("--config", default=None, help="YAML scenario file (partial allowed)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set lyapunov.v_control=10 (repeatable)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    try:
        return int(importlib.import_module(args._module).main(args) or 0)
    except (ConfigError, ActionError, FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"isac-iov {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
