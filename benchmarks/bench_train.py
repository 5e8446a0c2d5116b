"""Training wall time, throughput and peak memory of each learner under the paper's protocol (issue 3).

Trains every algorithm (default: all five) for ``--episodes`` episodes (1800)
of the default scenario (5 CVs, 3 RSUs, 30 slots) with default
hyper-parameters, each in a fresh subprocess so peak RSS
(``resource.getrusage``) is per run.  Prints wall time, env slots per second
(episodes x slots / wall time), peak RSS, whether the targets are met, and
the mean reward (eq. 44), cost, delay, energy and deadline-miss rate of the
last 50 training episodes (exploring policies).  Run directories are kept
under ``--out`` (default: a temporary directory) for ``isac-iov evaluate``.

    python benchmarks/bench_train.py [--algos ly-dtmpo,ly-maddpg] [--episodes 1800] [--out DIR]
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_S = {"ly-dtmpo": 60.0, "ly-mappo": 60.0, "ly-maddpg": 180.0, "ly-matd3": 180.0, "ly-masac": 180.0}
TARGET_RSS_GIB = 2.0

CHILD = """
import json, resource, sys, time
from pathlib import Path
from isac_iov.config import load_config
from isac_iov.learners.train import train_run
algo, episodes, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
start = time.perf_counter()
train_run(algo, load_config(), episodes, seed, out, progress=False)
wall = time.perf_counter() - start
print(json.dumps({"wall_s": wall, "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def _last_rows(path: Path, n: int) -> dict[str, float]:
    with open(path) as f:
        rows = list(csv.DictReader(f))[-n:]
    keys = ("cost", "delay_s", "energy_j", "deadline_miss_rate", "reward")
    return {k: sum(float(r[k]) for r in rows) / len(rows) for k in keys}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algos", default=",".join(TARGET_S), help="comma-separated algorithm names")
    p.add_argument("--episodes", type=int, default=1800)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="where to keep the run directories")
    args = p.parse_args()
    algos = [a for a in args.algos.split(",") if a]
    unknown = [a for a in algos if a not in TARGET_S]
    if unknown:
        p.error(f"unknown algorithm {unknown[0]!r} (known: {', '.join(TARGET_S)})")
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_train_"))
    slots = 30 * args.episodes
    print(f"{args.episodes} episodes x 30 slots, 5 CVs, 3 RSUs, seed {args.seed}; runs in {out}")
    header = f"{'algo':<10}{'wall s':>9}{'slots/s':>10}{'RSS GiB':>9}{'target':>9}  " \
             f"{'reward':>9}{'cost':>7}{'delay s':>9}{'energy J':>10}{'miss':>7}   (last 50 episodes)"
    print(header)
    for algo in algos:
        run_dir = out / algo
        res = subprocess.run([sys.executable, "-c", CHILD, algo, str(args.episodes), str(args.seed), str(run_dir)],
                             capture_output=True, text=True, check=True)
        stats = json.loads(res.stdout.strip().splitlines()[-1])
        last = _last_rows(run_dir / "metrics.csv", 50)
        ok = stats["wall_s"] <= TARGET_S[algo] * args.episodes / 1800 and stats["rss_gib"] <= TARGET_RSS_GIB
        print(f"{algo:<10}{stats['wall_s']:>9.1f}{slots / stats['wall_s']:>10.0f}{stats['rss_gib']:>9.2f}"
              f"{'met' if ok else 'MISSED':>9}  {last['reward']:>9.1f}{last['cost']:>7.3f}{last['delay_s']:>9.3f}"
              f"{last['energy_j']:>10.1f}{last['deadline_miss_rate']:>7.3f}", flush=True)


if __name__ == "__main__":
    main()
