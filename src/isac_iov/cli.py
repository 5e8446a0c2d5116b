"""Command line: ``isac-iov {run,config,evaluate,train,reproduce,report,mobility}``.

Each sub-command's module (``COMMANDS``; the command layer,
:mod:`isac_iov.commands`) exposes ``add_arguments(parser)`` and ``main(args) -> int``.  Errors in user input
are printed as one line ``isac-iov COMMAND: error: ...`` on stderr and exit
with 2, never as a traceback: wrong options (argparse), invalid config keys,
values, files and YAML (:class:`~isac_iov.config.ConfigError`), bad actions,
any ``ValueError`` a command raises for its inputs, YAML errors, operating
system errors (named with their file) and memory exhaustion.  Warnings are
one line too, ``isac-iov COMMAND: warning: ...``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import NoReturn

import yaml

DESCRIPTION = (
    "Simulate digital-twin-assisted task offloading in ISAC-enabled vehicular networks, train and "
    "evaluate multi-agent offloading policies on it, and reproduce the paper's results."
)
COMMANDS = {
    "run": ("isac_iov.commands.run", "the main job: train Ly-DTMPO, then compare it with the reference policies"),
    "config": ("isac_iov.commands.config", "print the effective config with its Table II sources"),
    "evaluate": ("isac_iov.commands.evaluate", "evaluate a reference policy or a trained run"),
    "train": ("isac_iov.commands.train", "train a MARL algorithm"),
    "reproduce": ("isac_iov.commands.reproduce", "reproduce the paper's tables and figures"),
    "report": ("isac_iov.commands.report", "redraw the report from saved results"),
    "mobility": ("isac_iov.commands.mobility", "record a SUMO mobility trace, or plot one"),
}


# What a user's input can cause; ConfigError, ActionError and MemoryEstimateError are ValueErrors.
USER_ERRORS = (ValueError, yaml.YAMLError, OSError, MemoryError)


class UsageError(Exception):
    """A command-line option argparse rejected; the message is the whole error line."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block) and do not exit the interpreter."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe_error(exc: BaseException) -> str:
    """One line for a user error: an OS error names its file, memory exhaustion says so."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return _one_line(f"{exc.filename}: {exc.strerror or exc}")
    if isinstance(exc, MemoryError):
        return _one_line(f"out of memory: {exc}" if str(exc) else "out of memory")
    return _one_line(str(exc)) or type(exc).__name__


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (so one command's imports never slow another)."""
    parser = _Parser(prog="isac-iov", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(_module=module)
        if name == command:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        args, extra = build_parser(command).parse_known_args(argv)
        if extra:
            raise UsageError(
                f"isac-iov {args.command}: error: unrecognized arguments: {_one_line(' '.join(extra))} "
                f"(see isac-iov {args.command} --help)"
            )
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2

    def one_line_warning(message: Warning | str, *_: object, **__: object) -> None:
        print(f"isac-iov {args.command}: warning: {_one_line(str(message))}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line_warning
            return int(importlib.import_module(args._module).main(args) or 0)
    except USER_ERRORS as exc:
        print(f"isac-iov {args.command}: error: {describe_error(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
