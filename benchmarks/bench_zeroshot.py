"""Zero-shot: Ly-DTMPO trained on the training networks, evaluated on every shipped network it did or did not see.

For each of ``--seeds`` seeds, trains one Ly-DTMPO run on the mixture of the training networks (``city``,
``grid3x5``, ``rand``; ``isac-iov train --config ... --config ...``, with ``--vary`` values if given, or by
imitation with ``--imitate NAME``), then evaluates it deterministically (``--eval-episodes`` episodes, evaluation
seed 0) on every shipped network next to ``greedy`` and ``ly-opt-dual`` on the same episodes, and prints per network
the mean over seeds of cost (eq. 24), its ratio to ``ly-opt-dual`` and to ``greedy``, deadline misses and energy
per CV-slot, with the zero-shot target on the test networks (``spider``, ``highway``): at most 1.10 x
``ly-opt-dual`` within the energy budget.  Runs are trained with ``--resume`` into ``--out`` and evaluations are
cached there (:mod:`benchruns`), so an interrupted benchmark resumes; a run made by other code stops it with the
trainer's one-line message (use a new ``--out``).

    python benchmarks/bench_zeroshot.py [--seeds 5] [--episodes 1800] [--eval-episodes 3] [--out DIR]
                                        [--vary 'rsu.cpu_max_hz=[12.0e+9, 20.0e+9, 37.5e+9, 75.0e+9]']
                                        [--imitate ly-opt-dual] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchruns import evaluate  # this script's folder is on sys.path when it runs
from benchruns import scenario_sets as shipped_sets
from harness import Target, parse, parser, report
from isac_iov.config import load_config

SCENARIOS = Path(__file__).resolve().parents[1] / "src" / "isac_iov" / "scenarios"
TRAINING = ("city", "grid3x5", "rand")
TEST = ("spider", "highway")
TARGET = 1.10
REFERENCES = ("ly-opt-dual", "greedy")


def train(seed: int, args: argparse.Namespace, run_dir: Path) -> None:
    """Train (or finish, or reuse) the seed's run on the mixture of the training networks."""
    cmd = [sys.executable, "-m", "isac_iov.cli", "train", "--algo", "ly-dtmpo", "--episodes", str(args.episodes)]
    cmd += [a for name in TRAINING for a in ("--config", str(SCENARIOS / f"{name}.yaml"))]
    cmd += [a for v in args.vary for a in ("--vary", v)] + [a for s in args.sets for a in ("--set", s)]
    cmd += ["--imitate", args.imitate] if args.imitate else []
    cmd += ["--seed", str(seed), "--out", str(run_dir), "--resume", "--no-progress"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"training seed {seed}: {res.stderr.strip().splitlines()[-1]}")


def main() -> None:
    p = parser(__doc__, seeds=5, episodes=1800, eval_episodes=3, out="default bench_runs/zeroshot[-imitate]")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=[V1, V2]", help="as for isac-iov train")
    p.add_argument("--imitate", default=None, metavar="POLICY", help="train by imitation (DAgger) instead")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scenario or algo.KEY override for training; scenario ones apply to evaluations too",
    )
    args = parse(p)
    out = args.out or Path("bench_runs") / ("zeroshot-imitate" if args.imitate else "zeroshot")
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"Ly-DTMPO on {' + '.join(TRAINING)}{' x ' + ' x '.join(args.vary) if args.vary else ''}, "
        f"{args.episodes} episodes{' by imitation of ' + args.imitate if args.imitate else ''}, "
        f"seeds 0..{args.seeds - 1}; runs in {out}",
        flush=True,
    )
    runs = [out / f"ly-dtmpo-s{seed}" for seed in range(args.seeds)]
    for seed, run in enumerate(runs):
        train(seed, args, run)
    scenario_sets = [s for s in args.sets if not s.startswith("algo.")]
    print(
        f"{'network':<10} {'set':<9} {'Ly-DTMPO':>9} {'/ly-opt-dual':>12} {'/greedy':>8} {'misses':>7} "
        f"{'energy J':>9}  {'greedy':>7} {'ly-opt-dual':>11}"
    )
    targets = []
    for name in (*TRAINING, *TEST):
        sets = shipped_sets(name) + scenario_sets
        ref = {p: evaluate(p, sets, args.eval_episodes, out / f"eval-{p}-{name}.json") for p in REFERENCES}
        got = [evaluate(str(r), sets, args.eval_episodes, out / f"eval-{r.name}-{name}.json") for r in runs]
        cost, miss, energy = (float(np.mean([g[k] for g in got])) for k in ("cost", "deadline_miss_rate", "energy_j"))
        to_opt, to_greedy = cost / ref["ly-opt-dual"]["cost"], cost / ref["greedy"]["cost"]
        if name in TEST:
            budget_j = load_config(None, sets).lyapunov.energy_budget_j_per_cv
            targets.append(Target(f"zero-shot {name} cost / ly-opt-dual", to_opt, "<=", TARGET, fmt=".3f"))
            targets.append(Target(f"zero-shot {name} energy", energy, "<=", budget_j, "J per CV-slot", ".1f"))
        print(
            f"{name:<10} {'test' if name in TEST else 'training':<9} {cost:>9.4f} {to_opt:>12.3f} {to_greedy:>8.3f} "
            f"{miss:>7.3f} {energy:>9.1f}  {ref['greedy']['cost']:>7.4f} {ref['ly-opt-dual']['cost']:>11.4f}"
        )
    report(targets)


if __name__ == "__main__":
    main()
