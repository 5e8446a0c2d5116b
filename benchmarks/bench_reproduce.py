"""Benchmark: how to spend the cores of a reproduction, processes or threads.

``python benchmarks/bench_reproduce.py [--algo ly-dtmpo] [--episodes 60] [--runs 2]``

Trains ``--runs`` seeds of one learner for ``--episodes`` episodes twice, in
fresh output directories, through the reproduction runner:

* in-process (``--workers 1``): one run after the other in this process;
* processes: ``--runs`` worker processes in parallel, one thread each (the
  runner's default with one worker per core);

and prints the wall time, runs per hour and CPU milliseconds per episode of
each.  Equal CPU per episode with a lower wall time means the processes scale;
on a machine shared with other work the wall times say little, the CPU times
still compare the two.  (The learners take one seed per call, so batching
seeds inside one process is not available from the runner; each learner
already steps ``algo.num_envs`` environments in lockstep.)
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from harness import parse, parser  # this script's folder is on sys.path when it runs
from isac_iov.experiments import runner, runstore, specs


def _time(runs: list[specs.RunSpec], workers: int, out: Path) -> tuple[float, float]:
    """Wall seconds of executing ``runs`` and the CPU seconds their processes used."""
    start = time.perf_counter()
    report = runner.execute(runs, out, workers=workers, progress=False)
    if report.failed:
        raise RuntimeError(f"benchmark runs failed: {report.failed}")
    return time.perf_counter() - start, sum(runstore.done_record(out, r)["cpu_time_s"] for r in runs)


def main() -> None:
    p = parser(__doc__, episodes=60)
    p.add_argument("--algo", default="ly-dtmpo", choices=specs.LEARNERS)
    p.add_argument("--runs", type=int, default=os.cpu_count() or 1, help="seeds 0..N-1, and processes in parallel")
    args = parse(p)
    runs = [specs.RunSpec("train", args.algo, (), s, args.episodes) for s in range(args.runs)]
    with tempfile.TemporaryDirectory() as tmp:
        threads_s = _time(runs, 1, Path(tmp) / "threads")
        procs_s = _time(runs, args.runs, Path(tmp) / "processes")
    for name, (wall, cpu) in (
        ("in-process, one run after the other", threads_s),
        (f"{args.runs} processes in parallel, 1 thread each", procs_s),
    ):
        print(
            f"{name:<45} wall {wall:7.1f} s  {args.runs / wall * 3600:7.1f} runs/h  "
            f"CPU {cpu / (args.runs * args.episodes) * 1e3:.1f} ms per episode"
        )


if __name__ == "__main__":
    main()
