"""The ``greedy`` rule on what a CV knows without the twin: the heuristic to hold Ly-MAPPO against.

``greedy`` (:class:`isac_iov.policies.reference.GreedyPolicy`) reads two things that only the twin
shows a CV: how crowded each RSU is (its step 1 shares an RSU's CPU among the claims of every CV in
range) and the RSU backlogs (its step 2 waiting times and step 3 drift term).  Ly-MAPPO's actors see
neither: their twin inputs are zero (docs/model.md#twin-absent).  This script evaluates ``greedy``
with both replaced by what a lone CV can know:

* the other CVs' claims on RSU ``k`` by their mean over the evaluation's own slots, a constant of
  the scenario (mobility does not depend on actions; ``(I - 1) / I`` of the mean total claim);
* every RSU backlog by zero.

It prints the cost of this ``greedy-blind`` next to ``greedy`` and ``ly-opt``, and of ``greedy``
blind to the backlogs only (the true claims), which splits what the twin's view is worth between
the two; and of trained policies given with ``--policy RUN``.  All on the evaluation protocol of
``bench_train.py`` (``--episodes`` deterministic episodes, seed 0).  ``--scales 0.5,1,1.5`` adds
``greedy-blind`` with the others' claims at those multiples of their mean, to see whether a lone CV
does better assuming more (or less) crowded RSUs than average.

    python benchmarks/bench_local_greedy.py [--episodes 20] [--scenario default] [--policy RUN ...]
        [--scales 0.5,0.75,1.25,1.5]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from unittest import mock

import numpy as np

from benchruns import scenario_sets  # this script's folder is on sys.path when it runs
from isac_iov.config import Config, load_config
from isac_iov.env.core import BatchedEnv
from isac_iov.evaluate import evaluate_policy, resolve_config
from isac_iov.policies import Policy, make_policy, reference
from isac_iov.scenario import Physical, Scenario
from isac_iov.slot import QueueState
from isac_iov.twin import coverage_claims

TINY = reference.TINY


class ClaimRecorder(reference.GreedyPolicy):
    """``greedy`` that also sums, per RSU, the claims of all CVs in every slot it acts in."""

    name = "greedy"

    def __init__(self) -> None:
        self.claims: list[np.ndarray] = []

    def act(self, env: BatchedEnv, obs: np.ndarray) -> np.ndarray:
        phys, _ = env.snapshot()
        self.claims.append(coverage_claims(reference.link_view(env.scn, phys).reachable).sum(axis=-2))  # (E, K)
        return super().act(env, obs)


class BlindGreedy:
    """``greedy`` with no RSU backlog and the others' claims on each RSU at ``others_claim``: their mean
    ``(K,)``, or (``None``) their true values."""

    name = "greedy-blind"

    def __init__(self, others_claim: np.ndarray | None) -> None:
        self.others_claim = others_claim

    def reset(self, env: BatchedEnv) -> None:
        return None

    def act(self, env: BatchedEnv, obs: np.ndarray) -> np.ndarray:
        phys, q = env.snapshot()
        blind = dataclasses.replace(q, rsu_cycles=np.zeros_like(q.rsu_cycles))
        with mock.patch.object(reference, "greedy_rsu_hz", self._rsu_hz):
            return reference.greedy_actions(env.scn, phys, blind, reference.link_view(env.scn, phys))

    def _rsu_hz(self, scn: Scenario, phys: Physical, q: QueueState, reachable: np.ndarray) -> np.ndarray:
        """Step 1 of ``greedy`` with the fair share ``F claim / (claim + others' claims)``, the others' claims
        being ``others_claim`` (or the true ones), and no backlog term."""
        claim = coverage_claims(reachable)
        others = claim.sum(axis=-2, keepdims=True) - claim if self.others_claim is None else self.others_claim
        fair = scn.rsu_available_hz * claim / np.maximum(claim + others, TINY)
        w_t, w_e = reference._prices(scn, q)
        cycles = phys.data_bits * phys.intensity_cycles_per_bit
        links = np.maximum(reachable.sum(-1), 1)
        delay_w, energy_w = (w_t * cycles / links)[..., None], (w_e * scn.cfg.rsu.kappa * cycles)[..., None]
        f_hz = reference.best_rsu_hz(delay_w, energy_w, np.zeros_like(fair), np.maximum(fair, 1.0))
        return np.where(reachable, f_hz, 0.0)


def row(name: str, summary: dict, ref: float, greedy: float) -> str:
    return (
        f"{name:<24} cost {summary['cost']:.4f}  x ly-opt {summary['cost'] / ref:.3f}  x greedy "
        f"{summary['cost'] / greedy:.3f}  energy {summary['energy_j']:.1f} J  misses "
        f"{100 * summary['deadline_miss_rate']:.2f} %"
    )


def evaluate(policy: Policy | str, cfg: Config, episodes: int) -> dict:
    return evaluate_policy(policy, cfg, episodes, 0, record_slots=False, progress=False)["summary"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=20, help="evaluation episodes (seed 0)")
    p.add_argument("--scenario", default="default", help="'default' (Table II) or a shipped scenario name")
    p.add_argument("--policy", type=Path, action="append", default=[], help="a trained run directory (repeatable)")
    p.add_argument("--scales", default="", help="comma-separated multiples of the mean claims for greedy-blind")
    args = p.parse_args()
    try:
        scales = [float(x) for x in args.scales.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"--scales {args.scales!r}: not a comma-separated list of numbers") from None
    if any(not np.isfinite(x) or x < 0 for x in scales):
        raise SystemExit(f"--scales {args.scales!r}: every multiple must be finite and >= 0")
    cfg = load_config(None, scenario_sets(args.scenario))
    for run in args.policy:  # checked before any work
        if not (run / "config.yaml").is_file():
            raise SystemExit(f"--policy {run}: not a training run directory (no config.yaml)")
        if resolve_config(str(run), None, []).digest() != cfg.digest():
            raise SystemExit(f"--policy {run}: trained on another scenario than --scenario {args.scenario}")
    recorder = ClaimRecorder()
    greedy = evaluate(recorder, cfg, args.episodes)
    total = np.concatenate(recorder.claims).mean(axis=0)  # (K,) mean total claim per RSU
    others = total * (cfg.num_cvs - 1) / cfg.num_cvs
    blind = evaluate(BlindGreedy(others), cfg, args.episodes)
    no_backlog = evaluate(BlindGreedy(None), cfg, args.episodes)
    lyopt = evaluate("ly-opt", cfg, args.episodes)
    ref, g = lyopt["cost"], greedy["cost"]
    print(f"scenario {args.scenario}, {args.episodes} episodes, seed 0; mean total claim per RSU {np.round(total, 3)}")
    rows = [("ly-opt", lyopt), ("greedy", greedy), ("greedy, no RSU backlogs", no_backlog)]
    for name, summary in [*rows, ("greedy-blind (no twin)", blind)]:
        print(row(name, summary, ref, g))
    for scale in scales:
        scaled = evaluate(BlindGreedy(others * scale), cfg, args.episodes)
        print(row(f"greedy-blind, claims x{scale:g}", scaled, ref, g))
    for run in args.policy:
        print(row(run.name, evaluate(make_policy(str(run), cfg, 0), cfg, args.episodes), ref, g))


if __name__ == "__main__":
    main()
