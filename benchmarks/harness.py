"""What every benchmark shares: its command line, the banner naming the machine and the code, and its targets.

The benchmarks a user reruns, each a script in this folder (``python benchmarks/NAME.py --help`` for its options):

* ``bench_batched.py``: R runs' updates with stacked weights against one after another;
* ``bench_benchmarl.py``: BenchMARL MAPPO with its defaults on the BenchMARL task, against ``greedy``;
* ``bench_env.py``: env throughput in CV-slots per second, batched core against the PettingZoo loop;
* ``bench_lyopt.py``: the per-slot optimisers, ``ly-opt-dual`` against ``ly-opt`` and the dual bound;
* ``bench_train.py``: the learners against ``ly-opt`` and ``greedy`` over seeds, with training time and memory;
* ``bench_scale.py``: the learners and the env at city scale next to the default scenario;
* ``bench_zeroshot.py``: Ly-DTMPO trained on some road networks, evaluated on every shipped one;
* ``bench_reproduce.py``: how a reproduction should spend the cores, processes or threads;
* ``bench_mobility.py``: what replaying a mobility trace costs the batched env.

:mod:`benchruns` keeps their training runs and evaluations on disk.  Each benchmark builds its command line with
:func:`parser` (the options several share: ``--seeds``, ``--episodes``, ``--eval-episodes``, ``--out``), starts
with :func:`parse`, which prints :func:`banner` (machine, load, versions, commit, code fingerprint, command), and
prints each target it checks as one line, ``TARGET name: value (target op bound) met|MISSED`` (:func:`target`, or
:func:`report` for targets checked earlier), then a :func:`summary` line, so ``grep TARGET`` gives every verdict.
"""

from __future__ import annotations

import argparse
import math
import operator
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from isac_iov.rundir import code_fingerprint

ROOT = Path(__file__).resolve().parents[1]
OPS = {"<=": operator.le, ">=": operator.ge}


def parser(
    doc: str,
    *,
    seeds: int | None = None,
    episodes: int | None = None,
    eval_episodes: int | None = None,
    out: Path | str | None = None,
) -> argparse.ArgumentParser:
    """A parser described by the first line of ``doc`` with the shared options whose default is given:
    ``--seeds`` (seeds 0..N-1), ``--episodes`` (training episodes per run), ``--eval-episodes`` (deterministic
    evaluation episodes, evaluation seed 0) and ``--out`` (where runs and evaluations are kept: a Path is the
    default folder, a str describes the folder the benchmark picks when ``--out`` is not given, which is None)."""
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    if seeds is not None:
        p.add_argument("--seeds", type=int, default=seeds, help="seeds 0..N-1 (default %(default)s)")
    if episodes is not None:
        p.add_argument("--episodes", type=int, default=episodes, help="training episodes per run (default %(default)s)")
    if eval_episodes is not None:
        p.add_argument(
            "--eval-episodes", type=int, default=eval_episodes, help="evaluation episodes (default %(default)s)"
        )
    if isinstance(out, Path):
        p.add_argument("--out", type=Path, default=out, help="where runs and evaluations are kept (%(default)s)")
    elif out is not None:
        p.add_argument("--out", type=Path, default=None, help=f"where runs and evaluations are kept ({out})")
    return p


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``p``'s arguments (``argv``, default the command line), after printing :func:`banner`."""
    args = p.parse_args(argv)
    print(banner(p.description or ""), flush=True)
    return args


def banner(title: str) -> str:
    """Lines naming what a benchmark measures, on which machine (CPU, cores, load averages, platform, versions)
    and with which code (git commit, whether the tree has uncommitted changes, the code fingerprint of
    :func:`isac_iov.rundir.code_fingerprint`) and command: a result can be compared with another only if these
    match or their difference is known."""
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    versions = ", ".join(f"{name} {_version(name)}" for name in ("numpy", "torch"))
    threads = os.environ.get("OMP_NUM_THREADS")
    code = code_fingerprint()
    return "\n".join(
        [
            f"== {Path(sys.argv[0]).name}: {title}",
            f"machine: {_cpu()}, {os.cpu_count()} cores, load {load} (1, 5, 15 min)"
            + (f", OMP_NUM_THREADS={threads}" if threads else ""),
            f"platform: {platform.platform()}, Python {platform.python_version()}, {versions}",
            f"code: commit {_commit()}, isac-iov {code['version']}, fingerprint {code['fingerprint']}",
            f"command: {' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}",
        ]
    )


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def _commit() -> str:
    """The checkout's short commit, with ``+ uncommitted changes`` when tracked files differ from it."""

    def git(*args: str) -> str:
        res = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        return res.stdout.strip() if res.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    return commit + (" + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else "")


@dataclass(frozen=True)
class Target:
    """One target: ``value`` must be ``op`` (``<=`` or ``>=``) ``bound``; a NaN value misses it.  ``fmt`` formats
    value and bound (``.1%`` for fractions), ``unit`` follows both."""

    name: str
    value: float
    op: str
    bound: float
    unit: str = ""
    fmt: str = ".4g"

    @property
    def met(self) -> bool:
        return not math.isnan(self.value) and bool(OPS[self.op](self.value, self.bound))

    def line(self) -> str:
        """``TARGET name: value (target op bound) met|MISSED``."""
        unit = f" {self.unit}" if self.unit else ""
        value, bound = format(self.value, self.fmt), format(self.bound, self.fmt)
        return f"TARGET {self.name}: {value}{unit} (target {self.op} {bound}{unit}) {'met' if self.met else 'MISSED'}"


def target(name: str, value: float, op: str, bound: float, unit: str = "", fmt: str = ".4g") -> Target:
    """Print the line of a :class:`Target` and return it."""
    checked = Target(name, value, op, bound, unit, fmt)
    print(checked.line(), flush=True)
    return checked


def report(targets: Sequence[Target]) -> bool:
    """Print the line of each of ``targets``, then :func:`summary`; True if all are met."""
    for t in targets:
        print(t.line())
    return summary(targets)


def summary(targets: Sequence[Target]) -> bool:
    """Print how many of ``targets`` are met, naming those missed; True if all are."""
    missed = [t.name for t in targets if not t.met]
    print(
        f"TARGETS: {len(targets) - len(missed)} of {len(targets)} met"
        + (f"; MISSED: {', '.join(missed)}" if missed else ""),
        flush=True,
    )
    return not missed
