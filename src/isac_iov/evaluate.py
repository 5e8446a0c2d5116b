"""``isac-iov evaluate``: run a policy for whole episodes and summarise delay, energy, cost and queues.

``isac-iov evaluate --policy NAME [--config FILE] [--set k=v]... --episodes N --seed S --out FILE.json``

``NAME`` is a reference policy (``local``, ``offload``, ``random``, ``greedy``,
``ly-opt``; see :mod:`isac_iov.policies`) or a trained run directory; for a run
directory the scenario defaults to ``RUN_DIR/config.yaml`` when it exists, and
``--config`` / ``--set`` apply on top.  Episodes are played ``--num-envs`` at a
time (each batch seeded from ``SeedSequence(seed)``), so the same seed and
``--num-envs`` give identical results.

:func:`evaluate_policy` returns ``{"summary": ..., "slots": [...], "timing": ...}``:

* ``summary`` - means over every CV-slot of ``cost`` (eq. 24, normalised),
  ``delay_s``, ``energy_j``, ``deadline_miss_rate``, ``offload_share``
  (``1 - share_local``); per slot ``system_cost`` (eq. 25) and ``reward``
  (eq. 44); ``instrt_share``, the fraction of used CV-RSU links in InstrT mode;
  mean and max of the local, RSU and virtual energy queues at the start of each
  slot; the time-average energy per CV-slot against ``E^max / I``; and
  ``episodes``, ``seed``, ``policy``, ``config_digest``.
* ``slots`` - one record per (episode, slot, CV) with its delay, energy, cost,
  modes, queues, the slot's P2 objective and drift terms and the deadline flag.
* ``timing`` - wall time and the policy's decision time per env-slot (not part
  of the summary, which is reproducible).

:func:`format_summary_table` prints several policies' summaries side by side.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from .config import Config, ConfigError, apply_overrides, from_dict, load_config
from .env.core import BatchedEnv, Step
from .policies import REGISTRY, Policy, make_policy

DEFAULT_NUM_ENVS = 10
MODE_NAMES = ("-", "DataT", "InstrT")

# (summary key, column header, format) of the comparison table.
TABLE_COLUMNS = (
    ("cost", "cost", ".4f"), ("system_cost", "sys_cost", ".3f"), ("delay_s", "delay_s", ".3f"),
    ("energy_j", "energy_j", ".2f"), ("deadline_miss_rate", "miss", ".3f"),
    ("instrt_share", "instrT", ".3f"), ("offload_share", "offload", ".3f"), ("reward", "reward", ".3f"),
    ("local_queue_cycles_mean", "Qloc_mean", ".3g"), ("rsu_queue_cycles_mean", "Qrsu_mean", ".3g"),
    ("energy_queue_j_mean", "V_mean_j", ".3g"),
)


def _check_counts(episodes: int, seed: int, num_envs: int | None) -> None:
    if not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"--episodes: must be a positive integer, got {episodes!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"--seed: must be a non-negative integer, got {seed!r}")
    if num_envs is not None and (not isinstance(num_envs, int) or num_envs < 1):
        raise ValueError(f"--num-envs: must be a positive integer, got {num_envs!r}")


def _batch_sizes(episodes: int, num_envs: int) -> list[int]:
    full, rest = divmod(episodes, num_envs)
    return [num_envs] * full + ([rest] if rest else [])


def _slot_arrays(step: Step) -> dict[str, np.ndarray]:
    """The per-env arrays of one played slot that the summary and the records need."""
    out, q = step.outcome, step.queues
    return {
        "delay_s": out.delay_s, "energy_j": out.energy_j, "cost": out.cost,
        "deadline_miss": out.deadline_miss, "share_local": out.links.share_local,
        "mode": out.links.used.astype(int) + out.eta.astype(int),
        "local_queue_cycles": q.local_cycles, "energy_queue_j": q.energy_j, "rsu_queue_cycles": q.rsu_cycles,
        "system_cost": out.system_cost, "reward": out.reward, "objective": out.objective,
        "drift_local": out.drift_local, "drift_rsu": out.drift_rsu, "drift_energy": out.drift_energy,
    }


def _play(policy: Policy, name: str, cfg: Config, sizes: list[int], seed: int,
          progress: bool) -> tuple[dict[str, np.ndarray], float]:
    """Play every batch; arrays ``(episodes, slots, ...)`` and the total decision time."""
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(len(sizes))]
    batches: list[dict[str, np.ndarray]] = []
    act_s = 0.0
    with tqdm(total=sum(sizes) * cfg.episode_slots, desc=f"evaluate {name}", unit="slot",
              disable=not progress) as bar:
        for n, batch_seed in zip(sizes, seeds):
            env = BatchedEnv(cfg, n, seed=batch_seed)
            obs, _ = env.reset()
            policy.reset(env)
            steps = []
            done = False
            while not done:
                start = time.perf_counter()
                actions = policy.act(env, obs)
                act_s += time.perf_counter() - start
                step = env.step(actions)
                steps.append(_slot_arrays(step))
                obs, done = step.obs, step.done
                bar.update(n)
            batches.append({k: np.stack([s[k] for s in steps], axis=1) for k in steps[0]})
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}, act_s


def _summary(arr: dict[str, np.ndarray], cfg: Config, name: str, episodes: int, seed: int) -> dict[str, Any]:
    used = arr["mode"] > 0
    summary: dict[str, Any] = {
        "policy": name, "episodes": episodes, "seed": seed, "config_digest": cfg.digest(),
        "num_cvs": cfg.num_cvs, "num_rsus": cfg.num_rsus, "episode_slots": cfg.episode_slots,
        "cost": arr["cost"].mean(), "system_cost": arr["system_cost"].mean(),
        "delay_s": arr["delay_s"].mean(), "energy_j": arr["energy_j"].mean(),
        "deadline_miss_rate": arr["deadline_miss"].mean(),
        "instrt_share": (arr["mode"] == 2).sum() / used.sum() if used.any() else 0.0,
        "offload_share": (1.0 - arr["share_local"]).mean(),
        "reward": arr["reward"].mean(), "objective": arr["objective"].mean(),
    }
    for key in ("local_queue_cycles", "rsu_queue_cycles", "energy_queue_j"):
        summary[f"{key}_mean"] = arr[key].mean()
        summary[f"{key}_max"] = arr[key].max()
    summary["energy_j_per_cv_slot"] = arr["energy_j"].mean()
    summary["energy_budget_j_per_cv"] = cfg.lyapunov.energy_budget_j_per_cv
    summary["energy_budget_met"] = bool(summary["energy_j_per_cv_slot"] <= cfg.lyapunov.energy_budget_j_per_cv)
    return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in summary.items()}


def _records(arr: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One JSON-ready record per (episode, slot, CV)."""
    episodes, slots, cvs = arr["cost"].shape
    per_cv = ("delay_s", "energy_j", "cost", "share_local", "local_queue_cycles", "energy_queue_j")
    per_slot = ("system_cost", "reward", "objective", "drift_local", "drift_rsu", "drift_energy")
    lists = {k: arr[k].tolist() for k in per_cv + per_slot + ("deadline_miss", "mode", "rsu_queue_cycles")}
    records = []
    for e in range(episodes):
        for t in range(slots):
            slot_part = {k: lists[k][e][t] for k in per_slot}
            for i in range(cvs):
                modes = lists["mode"][e][t][i]
                records.append({
                    "episode": e, "slot": t, "cv": i, **{k: lists[k][e][t][i] for k in per_cv},
                    "deadline_miss": lists["deadline_miss"][e][t][i],
                    "used_links": sum(m > 0 for m in modes), "instrt_links": sum(m == 2 for m in modes),
                    "modes": [MODE_NAMES[m] for m in modes],
                    "rsu_queue_cycles": lists["rsu_queue_cycles"][e][t], **slot_part,
                })
    return records


def evaluate_policy(policy: Policy | str, cfg: Config, episodes: int, seed: int, num_envs: int | None = None,
                    record_slots: bool = True, progress: bool = True) -> dict[str, Any]:
    """Play ``episodes`` episodes of ``policy`` (an object or a name for :func:`make_policy`)."""
    _check_counts(episodes, seed, num_envs)
    if isinstance(policy, str):
        policy = make_policy(policy, cfg, seed)
    name = getattr(policy, "name", type(policy).__name__)
    sizes = _batch_sizes(episodes, min(num_envs or DEFAULT_NUM_ENVS, episodes))
    start = time.perf_counter()
    arr, act_s = _play(policy, name, cfg, sizes, seed, progress)
    env_slots = episodes * cfg.episode_slots
    return {
        "summary": _summary(arr, cfg, name, episodes, seed),
        "slots": _records(arr) if record_slots else [],
        "timing": {"wall_s": time.perf_counter() - start, "act_s_per_env_slot": act_s / env_slots,
                   "num_envs": sizes[0]},
    }


def _fmt(value: Any, spec: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return format(value, spec)


def format_summary_table(rows: dict[str, dict[str, Any]]) -> str:
    """A fixed-width table, one row per policy name, of the main summary figures (``-`` if absent)."""
    width = max([len("policy")] + [len(n) for n in rows])
    cells = [[format(n, f"<{width}")] + [_fmt(s[k], f) if k in s else "-" for k, _, f in TABLE_COLUMNS]
             for n, s in rows.items()]
    widths = [max([len(h)] + [len(r[j + 1]) for r in cells]) for j, (_, h, _) in enumerate(TABLE_COLUMNS)]
    header = format("policy", f"<{width}") + "".join(f"  {h:>{w}}" for (_, h, _), w in zip(TABLE_COLUMNS, widths))
    lines = [header, "-" * len(header)]
    lines += [r[0] + "".join(f"  {c:>{w}}" for c, w in zip(r[1:], widths)) for r in cells]
    return "\n".join(lines)


def format_summary(summary: dict[str, Any]) -> str:
    """One summary as a two-column ``key  value`` listing."""
    width = max(len(k) for k in summary)
    return "\n".join(f"{k:<{width}}  {_fmt(v, '.6g')}" for k, v in summary.items())


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .cli import add_config_arguments
    p.add_argument("--policy", required=True, help="local | offload | random | greedy | ly-opt | RUN_DIR")
    add_config_arguments(p)
    p.add_argument("--episodes", type=int, default=20, help="episodes to play (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the episodes and of the policy (default 0)")
    p.add_argument("--num-envs", type=int, default=None,
                   help=f"episodes played at once (default min(episodes, {DEFAULT_NUM_ENVS}))")
    p.add_argument("--out", default=None, help="write summary, per-slot records and timing to this JSON file")
    p.add_argument("--no-slots", action="store_true", help="leave the per-slot records out of the JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def resolve_config(policy: str, config: str | None, overrides: list[str]) -> Config:
    """The scenario: ``RUN_DIR/config.yaml`` for a run directory (if present), then ``config``, then overrides."""
    run_cfg = Path(policy) / "config.yaml"
    if policy in REGISTRY or not run_cfg.is_file():
        return load_config(config, overrides)
    data = load_config(run_cfg).to_dict()
    if config is not None:
        data = _merge_file(data, Path(config))
    return from_dict(apply_overrides(data, overrides))


def _merge_file(base: dict[str, Any], path: Path) -> dict[str, Any]:
    """``base`` updated (recursively) with the YAML mapping in ``path``; unknown keys fail in ``from_dict``."""
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {str(path)!r}: expected a mapping at the top level")

    def merge(node: dict[str, Any], new: dict[str, Any]) -> None:
        for key, val in new.items():
            if isinstance(node.get(key), dict) and isinstance(val, dict):
                merge(node[key], val)
            else:
                node[key] = val
    merge(base, loaded)
    return base


def main(args: argparse.Namespace) -> int:
    _check_counts(args.episodes, args.seed, args.num_envs)
    cfg = resolve_config(args.policy, args.config, args.overrides)
    policy = make_policy(args.policy, cfg, args.seed)
    out = Path(args.out) if args.out else None
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    result = evaluate_policy(policy, cfg, args.episodes, args.seed, args.num_envs,
                             record_slots=not args.no_slots, progress=not args.quiet)
    print(format_summary(result["summary"]))
    timing = result["timing"]
    print(f"decision time per env-slot: {timing['act_s_per_env_slot'] * 1e3:.2f} ms   wall: {timing['wall_s']:.1f} s")
    if out is not None:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(out)
        print(f"wrote {out}")
    return 0
