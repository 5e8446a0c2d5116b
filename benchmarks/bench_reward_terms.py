"""What each policy's reward is made of: the penalty and the three drift terms of eq. (39), per slot.

The reward of eq. (44) is minus ``V * system cost + local drift + RSU drift + energy drift``; the learners
maximise it, while the tables rank policies by the cost of eq. (24) alone.  The two can disagree: a policy
that runs a large virtual energy queue and then spends under the budget collects a large negative energy
drift, so on an overloaded scenario one policy can beat another on cost and lose to it on reward (or the
reverse).  This prints, per policy, the mean
per slot of each summand, the reward and the cost, and the mean virtual energy queue, on the episodes
``isac-iov evaluate --episodes N --seed S`` plays (its per-slot records, whose cost and reward it also prints).

    python benchmarks/bench_reward_terms.py --policy greedy --policy ly-opt --policy RUN [--scenario contention]
        [--episodes 20] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from benchruns import scenario_sets  # this script's folder is on sys.path when it runs
from isac_iov.evaluate import evaluate_policy, resolve_config

TERMS = ("penalty", "drift_local", "drift_rsu", "drift_energy")


def reward_terms(policy_name: str, scenario: str, episodes: int, seed: int) -> dict[str, float]:
    """Mean per slot of each summand of eq. (39), the reward, the cost and the energy queue for one policy."""
    cfg = resolve_config(policy_name, None, scenario_sets(scenario))
    records = evaluate_policy(policy_name, cfg, episodes, seed, progress=False)["slots"]
    # one record per (episode, slot, CV): per-slot fields repeat once per CV, so plain means are per-slot means
    mean = {key: float(np.mean([r[key] for r in records])) for key in (*TERMS[1:], "reward", "cost", "energy_queue_j")}
    mean["penalty"] = cfg.lyapunov.v_control * float(np.mean([r["system_cost"] for r in records]))
    return mean


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policy", action="append", required=True, help="a reference policy or a run directory")
    p.add_argument(
        "--scenario", default="default", help="'default' (Table II) or a shipped scenario name (over a run's own)"
    )
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    columns = (*TERMS, "reward", "cost", "energy_queue_j")
    print(f"mean per slot over {args.episodes} episodes (seed {args.seed}) of the {args.scenario} scenario")
    print(f"{'policy':<28}" + "".join(f"{c:>15}" for c in columns))
    for name in args.policy:
        row = reward_terms(name, args.scenario, args.episodes, args.seed)
        print(f"{name[-28:]:<28}" + "".join(f"{row[c]:>15.4g}" for c in columns))


if __name__ == "__main__":
    main()
