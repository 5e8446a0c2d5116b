"""What replaying a mobility trace costs the batched env (docs/model.md#mobility).

Steps ``BatchedEnv`` with fixed random actions and prints CV-slots per second (best of three rounds) for the
default scenario with the built-in mobility, the same scenario replaying a SUMO trace of the paper's road
(recorded here into a temporary directory, so it needs the ``sumo`` extra), and the shipped city scenario.
Run it alone on an idle machine, single-threaded::

    OMP_NUM_THREADS=1 python benchmarks/bench_mobility.py [--envs 1024] [--slots 60]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from harness import parse, parser  # this script's folder is on sys.path when it runs
from isac_iov.config import SCENARIO_DIR, load_config
from isac_iov.env.core import BatchedEnv
from isac_iov.mobility.record import record


def cv_slots_per_s(config: str | None, overrides: list[str], envs: int, slots: int) -> float:
    cfg = load_config(config, overrides)
    env = BatchedEnv(cfg, envs, seed=0)
    env.reset()
    actions = np.random.default_rng(0).uniform(size=(envs, cfg.num_cvs, env.action_dim))
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(slots):
            if env.step(actions).done:
                env.reset()
        best = max(best, envs * cfg.num_cvs * slots / (time.perf_counter() - start))
    return best


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--envs", type=int, default=1024)
    p.add_argument("--slots", type=int, default=60)
    args = parse(p)
    with tempfile.TemporaryDirectory() as tmp:
        road = Path(tmp) / "road.npz"
        record(road, 1000, vehicles=100, seed=0)
        rows = [
            ("default, builtin mobility", None, []),
            ("default, SUMO road trace (100 vehicles)", None, [f"mobility.source={road}"]),
            ("city (50 CVs, 16 RSUs)", str(SCENARIO_DIR / "city.yaml"), []),
        ]
        for name, config, overrides in rows:
            envs = args.envs if config is None else max(1, args.envs // 10)
            rate = cv_slots_per_s(config, overrides, envs, args.slots)
            print(f"{name:<42} {envs:>5} envs  {rate:>12,.0f} CV-slots/s")


if __name__ == "__main__":
    main()
