"""Environment throughput in CV-slots per second.

Measures, in one process and one run so the ratios are comparable:
the batched core at 1, 64 and 1024 environments of the default scenario, at 64 of 50 CVs on its road and at
64 of ``city.yaml`` (50 CVs, 16 RSUs: 16 links per CV instead of 3); the PettingZoo view stepped
one environment at a time; the decision time of ``ly-opt`` per slot; and what the difference reward's replays
(``BatchedEnv.what_if_local``, :mod:`isac_iov.replay`) add to a slot on the city and on the 200-CV stand-in of
``reproduce scale`` (8 envs, a training run's batch).
Actions are drawn up front so only the simulator is timed, in CPU time of the process (the simulator is
single-threaded NumPy: on an idle machine the same as wall time, and less stretched by other work on the cores).

    python benchmarks/bench_env.py [--seconds 3] [--lyopt-slots 10]
"""

from __future__ import annotations

import time

import numpy as np

from harness import parse, parser, summary, target  # this script's folder is on sys.path when it runs
from isac_iov import BatchedEnv, load_config, parallel_env, replay, slot
from isac_iov.config import SCENARIO_DIR
from isac_iov.experiments.specs.scaling import standin_overrides


def batched_rate(cfg, num_envs: int, seconds: float) -> float:
    """CV-slots per second of the batched core with ``num_envs`` envs under random actions."""
    env = BatchedEnv(cfg, num_envs, seed=0)
    env.reset()
    actions = np.random.default_rng(0).uniform(size=(cfg.episode_slots, num_envs, cfg.num_cvs, env.action_dim))
    slots, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        for a in actions:
            env.step(a)
        env.reset()
        slots += cfg.episode_slots
    return slots * num_envs * cfg.num_cvs / (time.process_time() - start)


def _rate_pettingzoo(cfg, seconds: float) -> float:
    env = parallel_env(cfg, seed=0)
    rng = np.random.default_rng(0)
    acts = [
        {a: rng.uniform(size=env.action_space(a).shape) for a in env.possible_agents} for _ in range(cfg.episode_slots)
    ]
    slots, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        env.reset()
        for a in acts:
            env.step(a)
        slots += cfg.episode_slots
    return slots * cfg.num_cvs / (time.process_time() - start)


def replay_cost(cfg, slots: int = 5, num_envs: int = 8) -> tuple[float, float]:
    """CPU time of the difference reward's replays of a slot by neighbourhood and of the whole slot, each over that
    of the slot itself (links, modes and outcome), under random actions."""
    env = BatchedEnv(cfg, num_envs, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    spent = np.zeros(3)
    for _ in range(slots):
        a = rng.uniform(size=(num_envs, cfg.num_cvs, env.action_dim))
        phys, q = env.snapshot()
        marks = [time.process_time()]
        ln = slot.links(env.scn, phys, a, env._chan)
        out = slot.outcome(env.scn, phys, q, ln, slot.select_modes(ln))
        marks.append(time.process_time())
        replay.objective_if_local(env.scn, phys, q, a, out, env._chan)
        marks.append(time.process_time())
        replay.whole_slot_if_local(env.scn, phys, q, a, env._chan)
        marks.append(time.process_time())
        spent += np.diff(marks)
        env.step(a)
    return spent[1] / spent[0], spent[2] / spent[0]


def _lyopt_seconds_per_slot(cfg, slots: int) -> float:
    from isac_iov.policies import make_policy

    env = BatchedEnv(cfg, 1, seed=0)
    obs, _ = env.reset()
    policy = make_policy("ly-opt", cfg, seed=0)
    policy.reset(env)
    start = time.perf_counter()
    for _ in range(slots):
        obs = env.step(policy.act(env, obs)).obs
    return (time.perf_counter() - start) / slots


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    p.add_argument("--lyopt-slots", type=int, default=10)
    args = parse(p)
    cfg = load_config()
    print(f"scenario: {cfg.num_cvs} CVs, {cfg.num_rsus} RSUs, {cfg.episode_slots} slots/episode")
    pz = _rate_pettingzoo(cfg, args.seconds)
    rows = [("pettingzoo view, 1 env at a time", pz)]
    for n in (1, 64, 1024):
        rows.append((f"batched core, {n} envs", batched_rate(cfg, n, args.seconds)))
    print(f"{'configuration':<36}{'CV-slots/s':>14}{'x pettingzoo':>14}")
    for name, rate in rows:
        print(f"{name:<36}{rate:>14,.0f}{rate / pz:>14.1f}")
    best = rows[-1][1]
    at_scale = batched_rate(load_config(None, ["num_cvs=50"]), 64, args.seconds)
    city = load_config(SCENARIO_DIR / "city.yaml")
    at_city = batched_rate(city, 64, args.seconds)
    for name, rate in (
        ("batched core, 64 envs of 50 CVs", at_scale),
        (f"batched core, 64 envs of city.yaml ({city.num_cvs} CVs, {city.num_rsus} RSUs)", at_city),
    ):
        print(f"{name:<36}{rate:>14,.0f}{rate / pz:>14.1f}")
    for name, replay_cfg in (("city.yaml", city), ("the 200-CV stand-in", load_config(None, standin_overrides(200)))):
        by_neighbourhood, whole = replay_cost(replay_cfg)
        print(
            f"difference-reward replays of a slot on {name} (8 envs): {by_neighbourhood:.1f} x the slot's own time "
            f"by neighbourhood, {whole:.1f} x replaying the whole slot"
        )
    targets = [
        target("batched core at 1024 envs", best, ">=", 1.5e6, "CV-slots/s", ",.0f"),
        target("per-CV rate at 1024 envs of 5 CVs / at 64 envs of 50 CVs", best / at_scale, "<=", 2.0, "x", ".2f"),
        target("batched core at 1024 envs / pettingzoo view", best / pz, ">=", 50.0, "x", ".1f"),
    ]
    if args.lyopt_slots > 0:
        print(
            f"ly-opt decision time: {_lyopt_seconds_per_slot(cfg, args.lyopt_slots) * 1e3:.1f} ms per slot "
            f"({cfg.num_cvs} CVs, {cfg.num_rsus} RSUs)"
        )
    summary(targets)


if __name__ == "__main__":
    main()
