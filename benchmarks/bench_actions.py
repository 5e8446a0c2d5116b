"""What policies ask for, part by part, in the same states: local weight, task weights, bandwidth and CPU requests.

Plays ``--episodes`` episodes (seed ``--seed``) of a scenario driven by the first policy given and, in every
slot, asks each policy for its deterministic action on the same observations.  Prints, per policy, the mean
over slots and CVs of each part of the action in [0, 1] (:mod:`isac_iov.actions`): the local weight, the
task weight of each RSU, the bandwidth weight of each link and the CPU request of each link as a fraction
of the RSU (0 on a link the policy does not use).  The mean CPU request is where trained PPO actors kept
their initial 0.5 (:mod:`isac_iov.learners.mappo`, ``init_cpu_logit``).

    python benchmarks/bench_actions.py --policy greedy --policy ly-opt --policy RUN [--scenario default]
        [--episodes 8] [--seed 7]
"""

from __future__ import annotations

import argparse

import numpy as np

from benchruns import scenario_sets  # this script's folder is on sys.path when it runs
from isac_iov import BatchedEnv
from isac_iov.actions import layout
from isac_iov.config import load_config
from isac_iov.env.rollout import rollout
from isac_iov.policies import make_policy


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policy", action="append", required=True, help="a reference policy or a run directory")
    p.add_argument("--scenario", default="default", help="'default' (Table II) or a shipped scenario name")
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    cfg = load_config(None, scenario_sets(args.scenario))
    policies = [make_policy(name, cfg, args.seed) for name in args.policy]
    env = BatchedEnv(cfg, args.episodes, seed=args.seed)
    actions: list[list[np.ndarray]] = [[] for _ in policies]

    def act(obs: np.ndarray, glob: np.ndarray, t: int) -> np.ndarray:
        for policy, seen in zip(policies, actions, strict=True):
            seen.append(policy.act(env, obs))
        return actions[0][-1]

    def reset(env: BatchedEnv) -> None:
        for policy in policies:
            policy.reset(env)

    for _ in rollout(env, act, reset):
        pass
    lay = layout(cfg.num_rsus)
    print(
        f"mean action parts over {args.episodes} episodes of the {args.scenario} scenario, driven by {args.policy[0]}"
    )
    for name, seen in zip(args.policy, actions, strict=True):
        a = np.concatenate(seen).reshape(-1, lay.dim)
        parts = {
            "local": a[:, lay.local],
            "task": a[:, lay.task],
            "bandwidth": a[:, lay.bandwidth],
            "cpu": a[:, lay.cpu],
        }
        print(f"{name}: " + ", ".join(f"{k} {np.round(v.mean(0), 3)}" for k, v in parts.items()))


if __name__ == "__main__":
    main()
