"""How long a reproduction took and how long the full one would take: ``DIR/results/timing.json``.

:func:`write_timing` saves the wall time of one ``reproduce`` invocation and of
all the finished runs in ``DIR`` together (:func:`working_wall_s`), the measured
seconds per episode of every kind of run finished in ``DIR``
(:func:`seconds_per_episode`), the wall seconds of each learner's training runs
on the default scenario (:func:`training_seconds`) and the estimate of the
full-scale ``all --seeds 5`` time derived from them (:func:`estimate_hours`: sum
over its runs of rate x episodes, divided by the workers).  Two estimates: from
wall time (what this machine delivered, sharing included) and from each run's
own CPU time (what ``workers`` free cores would take).  A training run resumed
after a kill counts the time of its earlier attempts too
(:func:`.runstore.run_wall_s`).
"""

from __future__ import annotations

import json
import math
import statistics
from datetime import datetime
from pathlib import Path

from ..rundir import DONE_FILE, write_atomic
from . import results, specs
from .runner import RunReport
from .runstore import FINISHED_AT_FORMAT, done_json, run_wall_s

FULL_SEEDS = specs.DEFAULT_SEEDS["full"]


def run_times(out_dir: Path, records: list[dict]) -> list[dict]:
    """Per finished run of ``records`` (its ``done.json`` files): ``kind``, ``algo``, ``overrides``,
    ``episodes``, ``wall_s`` over all its attempts (:func:`.runstore.run_wall_s`), ``resumed`` (earlier
    attempts counted) and ``cpu_s``, the CPU time of the attempt that finished (``None`` if resumed: the
    earlier attempts' CPU time is not recorded)."""
    times = []
    for record in records:
        spec, wall = record["spec"], run_wall_s(out_dir, record)
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
        for end in (datetime.strptime(r["finished_at"], FINISHED_AT_FORMAT).timestamp(),)
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
    records = (done_json(p.parent) for p in sorted(Path(out_dir).glob(f"runs/*/{DONE_FILE}")))
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


def write_timing(out_dir: Path, outcome: RunReport, wall_s: float, backend: str, workers: int) -> dict:
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
