"""Cost of one off-policy gradient update under two values of one hyper-parameter, as a ratio in one run.

For each off-policy learner, fills a replay with ``--iterations`` iterations of
warm-up episodes of the default scenario (played as ``algo.warmup_actions``
says: by default the initial policy), then times ``--updates`` calls of
``learner.update`` on fresh minibatches (one thread, after a warm-up), once per
value of ``--key`` (default ``critic_action_input``: the critics on the raw
actions against the mapped ones, :func:`isac_iov.learners.offpolicy_critics.mapped_actions`),
interleaved in rounds so that a change in the machine's speed hits both alike.
Prints milliseconds per update and the ratio of the second value to the first.
A training episode of the paper's protocol runs ``episode_slots *
updates_per_step / num_envs`` updates (7.5 for Ly-MADDPG, 3.75 for the others
by default), which is most of its time.  Updates are timed as training runs
them: Ly-MADDPG's and Ly-MATD3's actors step in every other one (``policy_delay``).

    python benchmarks/bench_update.py [--algos ly-maddpg,ly-matd3,ly-masac] [--key critic_action_input]
        [--values raw,effective] [--updates 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from isac_iov import BatchedEnv
from isac_iov.config import load_config
from isac_iov.env.rollout import rollout
from isac_iov.learners import algo_spec
from isac_iov.learners.common import EnvSpec, make_algo_config
from isac_iov.learners.offpolicy import OffPolicyLearner


def filled_learner(algo: str, overrides: dict[str, str], iterations: int) -> OffPolicyLearner:
    """``algo``'s learner under ``overrides`` with a replay of ``iterations`` iterations of its warm-up episodes
    (no update while they are played)."""
    cfg = load_config(None, [])
    spec = algo_spec(algo)
    algo_cfg = make_algo_config(spec.config, {**overrides, "warmup_episodes": 10**6})
    torch.manual_seed(0)
    learner = spec.learner(EnvSpec.from_config(cfg), algo_cfg)
    assert isinstance(learner, OffPolicyLearner)
    env = BatchedEnv(cfg, learner.num_envs, seed=0)
    for _ in range(iterations):
        for t, step in enumerate(rollout(env, learner.explore)):
            learner.record(step, t)
        learner.end_iteration(learner.num_envs)
    return learner


def ms_per_update(learner: OffPolicyLearner, updates: int) -> float:
    batches = []
    for _ in range(updates):
        batches.append(learner.sample_batch())
    start = time.perf_counter()
    for batch in batches:
        learner.update(batch)
        learner.updates += 1  # as training counts them: the policy delay sees each update
    return 1e3 * (time.perf_counter() - start) / updates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algos", default="ly-maddpg,ly-matd3,ly-masac")
    p.add_argument("--updates", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iterations", type=int, default=4, help="iterations of random episodes in the replay")
    p.add_argument("--key", default="critic_action_input", help="the algo key whose values are compared")
    p.add_argument("--values", default="raw,effective", help="two values of --key")
    args = p.parse_args()
    values = args.values.split(",")
    if len(values) != 2:
        p.error(f"--values: give two values separated by a comma, got {args.values!r}")
    torch.set_num_threads(1)
    print(f"ms per update, {args.key} = {values[0]} / {values[1]}")
    print(f"{'algo':<10}{values[0]:>12}{values[1]:>12}{'ratio':>8}")
    for algo in (a for a in args.algos.split(",") if a):
        learners = {v: filled_learner(algo, {args.key: v}, args.iterations) for v in values}
        for learner in learners.values():
            ms_per_update(learner, 10)  # warm-up
        times: dict[str, list[float]] = {v: [] for v in learners}
        for _ in range(args.rounds):
            for value, learner in learners.items():
                times[value].append(ms_per_update(learner, args.updates))
        first, second = (float(np.median(times[v])) for v in values)
        print(f"{algo:<10}{first:12.1f}{second:12.1f}{second / first:8.2f}", flush=True)


if __name__ == "__main__":
    main()
