"""``isac-iov reproduce``: run the Section VII experiments, save the results, write the report.

``isac-iov reproduce {table3,fig4,fig5,fig6,fig7,twin,bandwidth,all,scale} --seeds N
[--quick] --out DIR [--backend local|ray] [--workers W] [--ray-address ADDR] [--redo-stale]
[--algos ly-dtmpo,...]``

``all`` is the paper's Section VII; ``scale`` (beyond the paper, :mod:`isac_iov.experiments.specs.scaling`)
trains the learners on stand-in roads of 5 to 200 CVs and on the test networks and writes ``DIR/scale.md``
(:mod:`isac_iov.experiments.scale_report`) instead of ``report.md``.  ``--algos`` chooses the learners of
Table III, Figs. 4 to 6 (so of ``all``) and ``scale``, by name or as a plug-in (``package.module:attr``,
:mod:`isac_iov.plugins`; default: the paper's five): a user's learner is trained, cached, evaluated and reported
next to the paper's, whose runs are reused.  Figs. 7 and the twin study are Ly-DTMPO's (and Ly-MAPPO's).

1. Expands the experiment specs (:mod:`isac_iov.experiments.specs`) at the chosen scale into runs
   and validates every run's config before any work.
2. Executes the runs not already finished in ``DIR`` (:mod:`isac_iov.experiments.runner`), so an
   interrupted reproduction resumes; Ctrl-C or a kill is safe at any time.
   Finished runs are verified before reuse and redone if they fail; runs made
   by another version of the code stop the command unless ``--redo-stale``.
3. Aggregates the results over seeds into ``DIR/results`` (:mod:`isac_iov.experiments.results`),
   with ``timing.json`` (:mod:`isac_iov.experiments.timing`) holding the wall time of this invocation
   and of all the finished runs together, the measured seconds per episode and the estimate of the
   full-scale ``all --seeds 5`` time.
4. Writes ``DIR/report.md`` and ``DIR/figures/*.png`` (:mod:`isac_iov.experiments.report`).

``--quick`` is the reduced smoke-test scale (see :func:`isac_iov.experiments.specs.make_scale`).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

from ..experiments import results, runner, specs
from ..experiments.backends import BACKENDS
from ..experiments.report import write_report
from ..experiments.scale_report import write_scale_report
from ..experiments.timing import FULL_SEEDS, write_timing


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", choices=[*specs.EXPERIMENTS, "all", *specs.BEYOND], help="what to reproduce")
    p.add_argument(
        "--algos",
        default=None,
        help=f"comma-separated learners (plug-ins too) of {', '.join(specs.WITH_ALGOS)} (default: the paper's five)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help=f"number of seeds 0 .. N-1 (default {FULL_SEEDS}; {specs.DEFAULT_SEEDS['quick']} with --quick)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="reduced budget (200 episodes, 2 seeds, fewer N, V and twin values): a smoke test of minutes",
    )
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, required=True, help="output directory (reused runs are skipped)")
    p.add_argument("--backend", choices=BACKENDS, default="local", help="local process pool or Ray")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="parallel runs (default: this machine's CPU count; on a Ray cluster, the cluster's)",
    )
    p.add_argument("--ray-address", default=None, help="address of a running Ray cluster (default: local instance)")
    p.add_argument(
        "--redo-stale",
        action="store_true",
        help="redo the runs in --out that another version of the code made (default: refuse)",
    )


def main(args: argparse.Namespace) -> int:
    scale_name = "tiny" if args.tiny else ("quick" if args.quick else "full")
    algos = None if args.algos is None else [a.strip() for a in args.algos.split(",") if a.strip()]
    if algos is not None and args.experiment not in specs.WITH_ALGOS:
        raise ValueError(f"--algos: chooses the learners of {', '.join(specs.WITH_ALGOS)}, not of {args.experiment}")
    scale = specs.make_scale(scale_name, args.seeds, algos)
    experiments = specs.build(args.experiment, scale)
    runs = specs.unique_runs(experiments)  # keys hash every run's config: all validated before any work
    workers = (os.cpu_count() or 1) if args.workers is None else args.workers
    if workers < 1:
        raise ValueError(f"--workers: must be a positive integer, got {workers}")
    print(f"reproduce {args.experiment} at scale {scale.name}: {len(runs)} runs, {workers} workers")
    start = time.perf_counter()
    try:
        outcome = runner.execute(runs, args.out, args.backend, workers, args.ray_address, redo_stale=args.redo_stale)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished runs are kept in {args.out}/runs; rerun the same command to resume")
        return 130
    wall_s = time.perf_counter() - start
    results.collect(args.out, experiments, scale)
    timing = write_timing(args.out, outcome, wall_s, args.backend, workers)
    path = write_scale_report(args.out) if args.experiment in specs.BEYOND else write_report(args.out)
    print(
        f"{len(outcome.executed)} runs executed ({len(outcome.redone)} of them redone after failing "
        f"verification), {len(outcome.skipped)} reused, {len(outcome.failed)} failed "
        f"in {wall_s:.0f} s; estimated full `all --seeds {FULL_SEEDS}` on {workers} workers: "
        f"{_estimate(timing)}; report: {path}"
    )
    for key, err in outcome.failed.items():
        print(f"  failed {key}: {err}")
    return 1 if outcome.failed else 0


def _estimate(timing: dict) -> str:
    wall_h, cpu_h = timing["full_estimate_h"], timing["full_estimate_cpu_h"]
    if not math.isfinite(wall_h):
        return "unknown until every kind of run has been measured here (`all --quick`)"
    return f"{wall_h:.2f} h from wall-time rates, {cpu_h:.2f} h from CPU-time rates"
