"""Learners and env at city scale: training time, memory and cost next to the default scenario; env throughput.

For the default scenario (Table II, 5 CVs x 3 RSUs) and a large one, trains Ly-DTMPO and one off-policy
learner (``--offpolicy``, default Ly-MASAC) for ``--episodes`` episodes with their default options (above 16
CVs ``auto`` picks the scalable ones: no agent id, per-link actor and critics, and for the off-policy learners
minibatches of 64 joint transitions instead of 128, Ly-MADDPG's 32 with an actor step size of 1e-4),
each run in a fresh subprocess so its peak RSS (``resource.getrusage``) is its own.  Prints per scenario:

* training wall time per episode and in total, and peak RSS (target <= 2 GiB);
* the cost (eq. 24), energy, deadline misses and reward of the trained policies (deterministic, ``--eval-episodes``
  episodes, evaluation seed 0) next to ``greedy``, and ``ly-opt`` where it is affordable (up to ``--lyopt-cvs``
  CVs: its per-slot solver grows fast with the CVs);
* env throughput of the batched core (``--envs`` envs, random actions drawn up front) in CV-slots/s at the
  scenario's CV count and at ``--cvs`` more, and the ratio of the default scenario's per-CV rate to each
  (target: within 2x); each case is measured ``--repeats`` times, interleaved with the others, and its best
  rate counts, so a load change on a shared machine does not decide the ratio.

The large scenario is a shipped one (``--scenario city``) or, by default, ``standin``: a builtin straight road
standing in for the city (50 CVs, a 3200 m road with 16 RSUs of 37.5 GHz 200 m apart, vehicles spread over the
whole road).
Runs and evaluations are kept under ``--out`` and reused when the command is run again, if this code made them from
the same inputs (:mod:`benchruns`).

    python benchmarks/bench_scale.py [--scenario standin|NAME] [--episodes 300] [--offpolicy ly-masac]
                                     [--cvs 100,200] [--envs 64] [--seconds 2] [--repeats 3] [--out DIR]
"""

from __future__ import annotations

from pathlib import Path

from bench_env import batched_rate  # this script's folder is on sys.path when it runs
from benchruns import evaluate, train
from benchruns import scenario_sets as shipped_sets
from harness import parse, parser, summary, target
from isac_iov.config import Config, ConfigError, load_config
from isac_iov.experiments.specs import standin_overrides

TARGET_RSS_GIB = 2.0
TARGET_RATIO = 2.0
STANDIN = list(standin_overrides(50))  # the city's CVs per RSU and RSU CPU per CV (16 x 37.5 GHz / 50 = 12 GHz)


def scenario_sets(name: str) -> list[str]:
    """``key=value`` overrides of scenario ``name``: ``default``, ``standin`` or a shipped scenario."""
    return list(STANDIN) if name == "standin" else shipped_sets(name)


def main() -> None:
    p = parser(__doc__, episodes=300, eval_episodes=10, out=Path("bench_runs/scale"))
    p.add_argument("--scenario", default="standin", help="'standin' (builtin 50 x 16 road) or a shipped scenario")
    p.add_argument("--offpolicy", default="ly-masac", help="the off-policy learner to train")
    p.add_argument("--lyopt-cvs", type=int, default=10, help="evaluate ly-opt on scenarios up to this many CVs")
    p.add_argument("--cvs", default="100,200", help="further CV counts for the env throughput of the large scenario")
    p.add_argument("--envs", type=int, default=64, help="batched envs for the throughput")
    p.add_argument("--seconds", type=float, default=2.0, help="time per throughput measurement")
    p.add_argument("--repeats", type=int, default=3, help="throughput measurements per case (the best counts)")
    p.add_argument("--skip-training", action="store_true", help="env throughput only")
    args = parse(p)
    scenarios = {"default": [], args.scenario: scenario_sets(args.scenario)}

    print(f"env throughput: batched core, {args.envs} envs, random actions, best of {args.repeats} interleaved runs")
    print(f"{'scenario':<12}{'CVs':>6}{'RSUs':>6}{'CV-slots/s':>14}{'default/this':>14}")
    large = scenarios[args.scenario]
    counts = [load_config(None, large).num_cvs, *(int(c) for c in args.cvs.split(",") if c)]
    cases: list[tuple[str, Config]] = [("default", load_config())]
    for n in counts:
        try:
            cases.append((args.scenario, load_config(None, [*large, f"num_cvs={n}"])))
        except ConfigError as err:  # e.g. a mobility trace holding fewer vehicles at once
            print(f"{args.scenario} at {n} CVs skipped: {err}")
    rates = [0.0] * len(cases)
    for _ in range(args.repeats):  # interleaved, so a load change on a shared machine hits every case alike
        rates = [max(r, batched_rate(cfg, args.envs, args.seconds)) for r, (_, cfg) in zip(rates, cases, strict=True)]
    for (name, cfg), rate in zip(cases, rates, strict=True):
        print(f"{name:<12}{cfg.num_cvs:>6}{cfg.num_rsus:>6}{rate:>14,.0f}{rates[0] / rate:>14.2f}", flush=True)
    targets = [
        target(
            f"per-CV env rate, default / {name} at {cfg.num_cvs} CVs", rates[0] / rate, "<=", TARGET_RATIO, "x", ".2f"
        )
        for (name, cfg), rate in zip(cases[1:], rates[1:], strict=True)
    ]
    if args.skip_training:
        summary(targets)
        return

    header = (
        f"{'scenario':<12}{'policy':<10}{'cost':>8}{'/greedy':>9}{'energy J':>10}{'miss':>7}{'reward':>10}"
        f"{'s/episode':>11}{'train s':>9}{'RSS GiB':>9}"
    )
    lines, rss = [], []
    for name, sets in scenarios.items():
        cfg = load_config(None, sets)
        out = args.out / name
        out.mkdir(parents=True, exist_ok=True)
        print(f"{name}: {cfg.num_cvs} CVs, {cfg.num_rsus} RSUs; training {args.episodes} episodes ...", flush=True)
        refs = ["greedy"] + (["ly-opt"] if cfg.num_cvs <= args.lyopt_cvs else [])
        evals = {r: evaluate(r, sets, args.eval_episodes, out / f"eval-{r}.json") for r in refs}
        trained = {}
        for algo in ("ly-dtmpo", args.offpolicy):
            trained[algo] = train(algo, args.episodes, 0, list(sets), out / algo)
            rss.append(trained[algo]["rss_gib"])
            evals[algo] = evaluate(str(out / algo), sets, args.eval_episodes, out / algo / "eval.json")
        greedy = evals["greedy"]["cost"]
        for policy, e in evals.items():
            t = trained.get(policy)
            timing = (
                f"{t['wall_s'] / args.episodes:>11.3f}{t['wall_s']:>9.0f}{t['rss_gib']:>9.2f}"
                if t
                else f"{'':>11}{'':>9}{'':>9}"
            )
            lines.append(
                f"{name:<12}{policy:<10}{e['cost']:>8.4f}{e['cost'] / greedy:>9.3f}{e['energy_j']:>10.1f}"
                f"{e['deadline_miss_rate']:>7.3f}{e['reward']:>10.2f}{timing}"
            )
    print(header)
    print("\n".join(lines))
    print(f"(seed 0, {args.episodes} training episodes, {args.eval_episodes} evaluation episodes)")
    targets.append(target("peak RSS of every training run", max(rss), "<=", TARGET_RSS_GIB, "GiB", ".2f"))
    summary(targets)


if __name__ == "__main__":
    main()
