"""Per-slot P2 solvers: ``ly-opt-dual`` against the reference ``ly-opt``, and the gap to the dual lower bound.

Prints

* the decision time per slot (one env, one core) of ``ly-opt-dual`` at 5 x 3
  (Table II), 10 x 5, 20 x 8, 50 x 16 and 100 x 16 CVs x RSUs, and of
  ``ly-opt`` where it is affordable (``--ref-max-cvs``).  Beyond Table II the
  RSUs stand 200 m apart along a road of 200 m per RSU (``rsu.x_m``,
  ``road.length_m``, ``vehicle.initial_x_m``), so each CV reaches one to three;
* on ``--states`` states sampled from ``greedy`` episodes at 5 x 3: the fraction
  where ``ly-opt-dual``'s P2 objective (eq. 39) is no worse than ``ly-opt``'s
  (relative tolerance 1e-9), the mean and max relative difference
  ``(new - old) / |old|`` (negative: new is better) and ``ly-opt-dual``'s gap to the
  lower bound ``(objective - bound) / |objective|`` (mean, median, max); also the
  gap to the bound at each scale of the timing table.

Usage::

    python benchmarks/bench_lyopt.py [--states 240] [--slots 5] [--ref-max-cvs 20] [--bound-states 8]
"""

from __future__ import annotations

import time

import numpy as np

from harness import parse, parser, summary, target  # this script's folder is on sys.path when it runs
from isac_iov import BatchedEnv, load_config
from isac_iov.config import Config
from isac_iov.policies import LyOptPolicy, make_policy
from isac_iov.policies.lyopt_dual import LyOptDualConfig, best_bound, solve_slot
from isac_iov.slot import evaluate

SCALES = ((5, 3), (10, 5), (20, 8), (50, 16), (100, 16))
TOLERANCE = 1e-9


def scenario(num_cvs: int, num_rsus: int) -> Config:
    """Table II for 5 x 3; otherwise ``num_rsus`` RSUs 200 m apart on a road of 200 m each."""
    if (num_cvs, num_rsus) == (5, 3):
        return load_config()
    road = 200.0 * num_rsus
    xs = ", ".join(str(100.0 + 200.0 * k) for k in range(num_rsus))
    return load_config(
        None,
        [f"num_cvs={num_cvs}", f"road.length_m={road}", f"rsu.x_m=[{xs}]", f"vehicle.initial_x_m=[0, {road}]"],
    )


def seconds_per_slot(cfg: Config, name: str, slots: int) -> tuple[float, float]:
    """Mean decision time of policy ``name`` over ``slots`` slots of one env's episode: (wall, CPU) seconds.
    On a shared machine the process's CPU time is the cost of one core; wall time adds the waits."""
    env = BatchedEnv(cfg, 1, seed=0)
    obs, _ = env.reset()
    policy = make_policy(name, cfg, seed=0)
    policy.reset(env)
    policy.act(env, obs)  # warm-up
    wall = cpu = 0.0
    for _ in range(slots):
        start, start_cpu = time.perf_counter(), time.process_time()
        a = policy.act(env, obs)
        wall += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        obs = env.step(a).obs
    return wall / slots, cpu / slots


def sampled_states(cfg: Config, count: int, seed: int) -> BatchedEnv:
    """An env batch whose current states are ``count`` states visited by ``greedy`` (random slots 0-29)."""
    env = BatchedEnv(cfg, count, seed=seed)
    obs, _ = env.reset()
    greedy = make_policy("greedy", cfg, seed=0)
    stop = np.random.default_rng(seed).integers(0, cfg.episode_slots, count)
    phys, queues = env.snapshot()
    for t in range(cfg.episode_slots):
        here = stop == t
        if here.any():
            now_phys, now_q = env.snapshot()
            for name in vars(phys):
                getattr(phys, name)[here] = getattr(now_phys, name)[here]
            for name in vars(queues):
                getattr(queues, name)[here] = getattr(now_q, name)[here]
        obs = env.step(greedy.act(env, obs)).obs
    env.phys, env.queues.state = phys, queues
    return env


def compare(cfg: Config, count: int, seed: int) -> dict[str, float]:
    """``ly-opt-dual`` against ``ly-opt`` (one env at a time, as it runs) and the bound, on sampled states."""
    env = sampled_states(cfg, count, seed)
    phys, q = env.snapshot()
    result = solve_slot(env.scn, phys, q, LyOptDualConfig(bound=True))
    old = LyOptPolicy().act(env, np.zeros(0))
    old_objective = evaluate(env.scn, phys, q, old).objective
    rel = (result.objective - old_objective) / np.abs(old_objective)
    gap = (result.objective - result.bound) / np.abs(result.objective)
    return {
        "no_worse": float((rel <= TOLERANCE).mean()),
        "rel_mean": float(rel.mean()),
        "rel_max": float(rel.max()),
        "gap_mean": float(gap.mean()),
        "gap_median": float(np.median(gap)),
        "gap_max": float(gap.max()),
        "bound_ok": float((result.bound <= np.minimum(result.objective, old_objective)).mean()),
    }


def bound_gap(cfg: Config, count: int, seed: int) -> tuple[float, float, float]:
    """Mean gap to the bound on ``count`` sampled states, and the bound's time per state (s)."""
    env = sampled_states(cfg, count, seed)
    phys, q = env.snapshot()
    result = solve_slot(env.scn, phys, q, LyOptDualConfig())
    start = time.perf_counter()
    bound = best_bound(env.scn, phys, q, result.prices, LyOptDualConfig())
    spent = (time.perf_counter() - start) / count
    gap = (result.objective - bound) / np.abs(result.objective)
    return float(gap.mean()), float(gap.max()), spent


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--states", type=int, default=240, help="sampled states at 5 x 3 (>= 200 for the target)")
    p.add_argument("--slots", type=int, default=5, help="slots timed per scale")
    p.add_argument("--ref-max-cvs", type=int, default=20, help="time ly-opt up to this many CVs")
    p.add_argument("--bound-states", type=int, default=8, help="sampled states for the bound at each scale")
    p.add_argument("--seed", type=int, default=0)
    args = parse(p)

    print("decision time per slot, one env (ms; CPU time of the process, wall time in brackets):")
    print(f"{'CVs x RSUs':<12}{'ly-opt-dual':>20}{'ly-opt':>20}{'bound gap mean':>16}{'max':>8}{'bound ms':>10}")
    times = {}
    for i, k in SCALES:
        cfg = scenario(i, k)
        new = seconds_per_slot(cfg, "ly-opt-dual", args.slots)
        nan = (float("nan"), float("nan"))
        old = seconds_per_slot(cfg, "ly-opt", max(1, args.slots // 2)) if i <= args.ref_max_cvs else nan
        gap_mean, gap_max, bound_s = bound_gap(cfg, args.bound_states, args.seed)
        times[(i, k)] = new[1]
        print(
            f"{f'{i} x {k}':<12}{f'{new[1] * 1e3:.1f} ({new[0] * 1e3:.1f})':>20}"
            f"{f'{old[1] * 1e3:.0f} ({old[0] * 1e3:.0f})':>20}{gap_mean:>16.2%}{gap_max:>8.2%}{bound_s * 1e3:>10.0f}"
        )
    per_cv = [times[s] / s[0] for s in ((50, 16), (100, 16))]
    print(f"CPU time per CV at 16 RSUs: {per_cv[0] * 1e3:.2f} ms (50 CVs), {per_cv[1] * 1e3:.2f} ms (100 CVs)")

    stats = compare(scenario(5, 3), args.states, args.seed)
    print(
        f"{args.states} sampled states at 5 x 3: ly-opt-dual no worse than ly-opt on {stats['no_worse']:.1%} "
        f"(tolerance {TOLERANCE:g} relative); (new - old) / |old| mean {stats['rel_mean']:+.4%}, "
        f"max {stats['rel_max']:+.4%}; gap to the lower bound mean {stats['gap_mean']:.2%}, "
        f"median {stats['gap_median']:.2%}, max {stats['gap_max']:.2%} (relative to |objective|, large where it is "
        f"near 0); bound below both objectives on {stats['bound_ok']:.0%}"
    )
    t53, t100 = times[(5, 3)], times[(100, 16)]
    summary(
        [
            target("ly-opt-dual CPU time per slot at 5 x 3", t53 * 1e3, "<=", 10.0, "ms", ".1f"),
            target("ly-opt-dual no worse than ly-opt, sampled states", stats["no_worse"], ">=", 0.99, fmt=".1%"),
            target("ly-opt-dual CPU time per slot at 100 x 16", t100, "<=", 1.0, "s", ".3f"),
        ]
    )


if __name__ == "__main__":
    main()
