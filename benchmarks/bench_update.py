"""Cost of one off-policy gradient update, with the critics on raw or on mapped actions, as a ratio in one run.

For each off-policy learner, fills a replay with ``--iterations`` iterations of
random episodes of the default scenario, then times ``--updates`` calls of
``learner.update`` on fresh minibatches (one thread, after a warm-up), once with
``algo.critic_action_input=raw`` and once with ``effective`` (the default,
:func:`isac_iov.learners.offpolicy.mapped_actions`), interleaved in rounds so
that a change in the machine's speed hits both alike.  Prints milliseconds per
update and the ratio.  A training episode of the paper's protocol runs
``episode_slots * updates_per_step / num_envs`` updates (3.75 by default), which
is most of its time.

    python benchmarks/bench_update.py [--algos ly-maddpg,ly-matd3,ly-masac] [--updates 100] [--rounds 3]
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


def filled_learner(algo: str, critic_input: str, iterations: int) -> OffPolicyLearner:
    """``algo``'s learner with a replay of ``iterations`` iterations of its (random warm-up) episodes."""
    cfg = load_config(None, [])
    spec = algo_spec(algo)
    algo_cfg = make_algo_config(spec.config, {"critic_action_input": critic_input, "warmup_episodes": 10**6})
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
        batch = learner.replay.sample(learner.cfg.batch_size)
        batch["rew"] = learner.scale_rewards(batch["rew"])
        batches.append(batch)
    start = time.perf_counter()
    for batch in batches:
        learner.update(batch)
    return 1e3 * (time.perf_counter() - start) / updates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algos", default="ly-maddpg,ly-matd3,ly-masac")
    p.add_argument("--updates", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iterations", type=int, default=4, help="iterations of random episodes in the replay")
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"{'algo':<10}{'raw ms':>9}{'mapped ms':>11}{'ratio':>8}")
    for algo in (a for a in args.algos.split(",") if a):
        learners = {k: filled_learner(algo, k, args.iterations) for k in ("raw", "effective")}
        for learner in learners.values():
            ms_per_update(learner, 10)  # warm-up
        times: dict[str, list[float]] = {k: [] for k in learners}
        for _ in range(args.rounds):
            for key, learner in learners.items():
                times[key].append(ms_per_update(learner, args.updates))
        raw, mapped = (float(np.median(times[k])) for k in ("raw", "effective"))
        print(f"{algo:<10}{raw:9.1f}{mapped:11.1f}{mapped / raw:8.2f}", flush=True)


if __name__ == "__main__":
    main()
