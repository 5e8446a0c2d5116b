"""``isac-iov reproduce``: run the Section VII experiments, save the results, write the report.

``isac-iov reproduce {table3,fig4,fig5,fig6,fig7,twin,bandwidth,all,scale} --seeds N
[--quick] --out DIR [--backend local|ray] [--workers W] [--ray-address ADDR] [--redo-stale]
[--algos ly-dtmpo,...]``

``all`` is the paper's Section VII; ``scale`` (beyond the paper, :func:`.specs.scale_study`) trains the
learners of ``--algos`` (default: all five) on stand-in roads of 5 to 200 CVs and on the test networks and
writes ``DIR/scale.md`` (:mod:`.scale_report`) instead of ``report.md``.

1. Expands the experiment specs (:mod:`.specs`) at the chosen scale into runs
   and validates every run's config before any work.
2. Executes the runs not already finished in ``DIR`` (:mod:`.runner`), so an
   interrupted reproduction resumes; Ctrl-C or a kill is safe at any time.
   Finished runs are verified before reuse and redone if they fail; runs made
   by another version of the code stop the command unless ``--redo-stale``.
3. Aggregates the results over seeds into ``DIR/results`` (:mod:`.results`),
   with ``timing.json`` holding the wall time of this invocation and of all
   the finished runs together (:func:`working_wall_s`), the measured seconds per
   episode of every kind of run finished in ``DIR``, the wall seconds of each
   learner's training runs on the default scenario (:func:`training_seconds`)
   and the estimate of the full-scale ``all --seeds 5`` time derived from them
   (sum over its runs of rate x episodes, divided by the workers).  Two
   estimates: from wall time (what this machine delivered, sharing included)
   and from each run's own CPU time (what ``workers`` free cores would take).
   A training run resumed after a kill counts the time of its earlier attempts
   too (:func:`.runstore.run_wall_s`).
4. Writes ``DIR/report.md`` and ``DIR/figures/*.png`` (:mod:`.report`).

``--quick`` is the reduced smoke-test scale (see :func:`.specs.make_scale`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from datetime import datetime
from pathlib import Path

from ..rundir import DONE_FILE, write_atomic
from . import results, runner, runstore, specs
from .report import write_report
from .scale_report import write_scale_report

FULL_SEEDS = specs.DEFAULT_SEEDS["full"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", choices=[*specs.EXPERIMENTS, "all", *specs.BEYOND], help="what to reproduce")
    p.add_argument(
        "--algos",
        default=None,
        help=f"comma-separated learners of `scale` (default: {','.join(specs.LEARNERS)})",
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
    p.add_argument("--backend", choices=runner.BACKENDS, default="local", help="local process pool or Ray")
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
    if algos is not None and args.experiment not in specs.BEYOND:
        raise ValueError(f"--algos: chooses the learners of {', '.join(specs.BEYOND)}; {args.experiment} runs all")
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


def run_times(out_dir: Path, records: list[dict]) -> list[dict]:
    """Per finished run of ``records`` (its ``done.json`` files): ``kind``, ``algo``, ``overrides``,
    ``episodes``, ``wall_s`` over all its attempts (:func:`.runstore.run_wall_s`), ``resumed`` (earlier
    attempts counted) and ``cpu_s``, the CPU time of the attempt that finished (``None`` if resumed: the
    earlier attempts' CPU time is not recorded)."""
    times = []
    for record in records:
        spec, wall = record["spec"], runstore.run_wall_s(out_dir, record)
        resumed = wall > record["wall_time_s"]
        times.append(
            {
                **{k: spec[k] for k in ("kind", "algo", "overrides", "episodes")},
                "wall_s": wall,
                "resumed": resumed,
                "cpu_s": None if resumed else record["cpu_time_s"],
            }
        )
    return times


def seconds_per_episode(times: list[dict], clock: str = "wall_s") -> dict[str, float]:
    """Measured mean seconds per episode (``clock``: ``wall_s`` or ``cpu_s`` of :func:`run_times`) by
    ``kind/algo``, each run weighted alike; runs without that clock are left out."""
    rates: dict[str, list[float]] = {}
    for t in times:
        if t[clock] is not None:
            rates.setdefault(f"{t['kind']}/{t['algo']}", []).append(t[clock] / t["episodes"])
    return {k: sum(v) / len(v) for k, v in rates.items()}


def training_seconds(times: list[dict]) -> dict[str, dict[str, float]]:
    """Wall seconds per training run on the default scenario (no overrides), by learner: ``runs``,
    ``resumed`` (how many of them), ``min``, ``median`` and ``max``."""
    by_algo: dict[str, list[dict]] = {}
    for t in times:
        if t["kind"] == "train" and not t["overrides"]:
            by_algo.setdefault(t["algo"], []).append(t)
    return {
        algo: {
            "runs": len(ts),
            "resumed": sum(t["resumed"] for t in ts),
            "min": min(t["wall_s"] for t in ts),
            "median": statistics.median(t["wall_s"] for t in ts),
            "max": max(t["wall_s"] for t in ts),
        }
        for algo, ts in sorted(by_algo.items())
    }


def working_wall_s(records: list[dict]) -> float:
    """Wall time during which at least one of the finished runs ``records`` was executing: the length of the
    union of their intervals ``[finished_at - wall_time_s, finished_at]``.  Unlike one invocation's wall time it
    adds up a reproduction interrupted and resumed over several invocations (without the pauses between them);
    a run killed and resumed counts from its resume."""
    spans = sorted(
        (end - r["wall_time_s"], end)
        for r in records
        for end in (datetime.strptime(r["finished_at"], runstore.FINISHED_AT_FORMAT).timestamp(),)
    )
    total, start, stop = 0.0, -math.inf, -math.inf
    for lo, hi in spans:
        if lo > stop:  # a gap: close the current stretch, open a new one
            total += stop - start if math.isfinite(start) else 0.0
            start = lo
        stop = max(stop, hi)
    return total + (stop - start if math.isfinite(start) else 0.0)


def _done_records(out_dir: Path) -> list[dict]:
    """The well-formed ``done.json`` records under ``out_dir`` (a malformed one is redone, not timed)."""
    records = (runstore.done_json(p.parent) for p in sorted(Path(out_dir).glob(f"runs/*/{DONE_FILE}")))
    return [r for r in records if r is not None]


def estimate_hours(rates: dict[str, float], runs: list[specs.RunSpec], workers: int) -> float:
    """Hours to execute ``runs`` on ``workers`` parallel workers at the measured rates (NaN if unmeasured)."""
    total_s = 0.0
    for spec in runs:
        rate = rates.get(f"{spec.kind}/{spec.algo}")
        if rate is None:
            return float("nan")
        total_s += rate * spec.episodes
    return total_s / workers / 3600


def write_timing(out_dir: Path, outcome: runner.RunReport, wall_s: float, backend: str, workers: int) -> dict:
    """Save ``results/timing.json`` (wall time, per-episode rates, full-scale estimate) and return it."""
    records = _done_records(out_dir)
    times = run_times(out_dir, records)
    rates, cpu_rates = seconds_per_episode(times), seconds_per_episode(times, "cpu_s")
    full_runs = specs.unique_runs(specs.build("all", specs.make_scale("full", FULL_SEEDS)))
    timing = {
        "wall_time_s": wall_s,
        "executed": len(outcome.executed),
        "skipped": len(outcome.skipped),
        "failed": len(outcome.failed),
        "backend": backend,
        "workers": workers,
        "run_seconds_total": sum(t["wall_s"] for t in times),
        "working_wall_time_s": working_wall_s(records),
        "seconds_per_episode": rates,
        "cpu_seconds_per_episode": cpu_rates,
        "training_seconds": training_seconds(times),
        "full_runs": len(full_runs),
        "full_estimate_h": estimate_hours(rates, full_runs, workers),
        "full_estimate_cpu_h": estimate_hours(cpu_rates, full_runs, workers),
    }
    path = Path(out_dir) / results.RESULTS / "timing.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(timing, indent=1))
    return timing
