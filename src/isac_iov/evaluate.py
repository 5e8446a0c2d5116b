"""Evaluation: run a policy for whole episodes and summarise delay, energy, cost and queues.

``isac-iov evaluate`` (:mod:`isac_iov.commands.evaluate`) runs :func:`evaluate_policy` on a reference policy
(``local``, ``offload``, ``random``, ``greedy``, ``ly-opt``; see :mod:`isac_iov.policies`) or a trained run
directory; for a run directory the scenario is ``RUN_DIR/config.yaml`` unless another config is given
(:func:`resolve_config`; over Table II's defaults, as for any policy: a run whose actor has the ``link`` body
acts on any scenario).  Episodes are played ``num_envs`` at a time (each batch seeded from
``SeedSequence(seed)``), so the same seed and ``num_envs`` give identical results.

Before any work, :func:`evaluate_policy` checks the counts and the seed (:func:`check_counts`) and the memory
the run needs (:func:`memory_bytes`, refused with the estimate when it exceeds what the machine has).  The
JSON text of a result (:func:`to_json`) never holds ``NaN`` or ``Infinity``: a non-finite number is an error
naming its field.

:func:`evaluate_policy` returns ``{"summary": ..., "slots": [...], "timing": ...}``:

* ``summary`` - means over every CV-slot of ``cost`` (eq. 24, normalised),
  ``delay_s``, ``energy_j``, ``deadline_miss_rate``, ``offload_share``
  (``1 - share_local``); per slot ``system_cost`` (eq. 25) and ``reward``
  (eq. 44); ``instrt_share``, the fraction of used CV-RSU links in InstrT mode;
  mean and max of the local, RSU and virtual energy queues at the start of each
  slot; ``energy_budget_met``, whether the time-average energy per CV-slot
  ``energy_j`` stays within ``E^max / I`` (``energy_budget_j_per_cv``); and
  ``episodes``, ``seed``, ``policy``, ``config_digest``.
* ``slots`` - one record per (episode, slot, CV) with its delay, energy, cost,
  modes, queues, the slot's P2 objective and drift terms and the deadline flag.
* ``timing`` - wall time and the policy's decision time per env-slot (not part
  of the summary, which is reproducible);
* ``breakdown`` (with ``breakdown=True``) - where the deadline misses and the cost come from
  (:mod:`isac_iov.breakdown`).

:func:`format_summary_table` prints several policies' summaries side by side.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .breakdown import miss_breakdown
from .config import Config, ConfigError, check_seed, load_config
from .env.core import BatchedEnv, check_memory, estimate_memory_bytes, slot_bytes
from .env.rollout import SlotRecord, rollout
from .physics.computing import MODE_INSTRT, MODE_NAMES, MODE_UNUSED
from .policies import REGISTRY, LyOptDualPolicy, LyOptPolicy, Policy, make_policy
from .policies.lyopt_dual import decision_bytes
from .rundir import CONFIG_FILE, refuse_link
from .scenario import rsu_available_hz

DEFAULT_NUM_ENVS = 10
KEPT_ARRAYS_PER_CV = 7  # per-CV float arrays kept of every played slot (see env.rollout.SlotRecord)
KEPT_ARRAYS_PER_SLOT = 6  # per-slot scalars kept
KEPT_ARRAYS_PER_RSU = 3  # per-RSU arrays kept
RECORD_BYTES = 4000  # one per-CV-slot record in memory and as JSON text, before its per-RSU fields
RECORD_BYTES_PER_RSU = 400

# (summary key, column header, format) of the comparison table.
TABLE_COLUMNS = (
    ("cost", "cost", ".4f"),
    ("system_cost", "sys_cost", ".3f"),
    ("delay_s", "delay_s", ".3f"),
    ("energy_j", "energy_j", ".2f"),
    ("deadline_miss_rate", "miss", ".3f"),
    ("instrt_share", "instrT", ".3f"),
    ("offload_share", "offload", ".3f"),
    ("reward", "reward", ".3f"),
    ("local_queue_cycles_mean", "Qloc_mean", ".3g"),
    ("rsu_queue_cycles_mean", "Qrsu_mean", ".3g"),
    ("energy_queue_j_mean", "V_mean_j", ".3g"),
)


def check_counts(episodes: int, seed: int, num_envs: int | None) -> None:
    """Refuse an episode count, seed or ``num_envs`` an evaluation cannot run with (errors name the option)."""
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"--episodes: must be a positive integer, got {episodes!r}")
    check_seed("--seed", seed)
    if num_envs is not None and (isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1):
        raise ValueError(f"--num-envs: must be a positive integer, got {num_envs!r}")


def _lyopt_bytes(policy: LyOptPolicy, cfg: Config) -> int:
    """Peak memory of one ``ly-opt`` decision: its largest batch of evaluated joint actions and its probes."""
    c = policy.config
    dim = cfg.num_cvs * (1 + 3 * cfg.num_rsus)
    batch = max(
        c.population * dim, c.population * (2 * c.line_steps + c.random_trials), 3 + c.jitter_starts + c.random_starts
    )
    return batch * slot_bytes(cfg) + 2 * 8 * c.population * dim * dim


def memory_bytes(policy: Policy, cfg: Config, episodes: int, num_envs: int, record_slots: bool) -> int:
    """Estimated peak memory of :func:`evaluate_policy`: env, kept per-slot arrays, records and their JSON."""
    i, k = cfg.num_cvs, cfg.num_rsus
    env_slots = episodes * cfg.episode_slots
    kept = 2 * 8 * env_slots * (KEPT_ARRAYS_PER_CV * i + i * k + KEPT_ARRAYS_PER_RSU * k + KEPT_ARRAYS_PER_SLOT)
    records = env_slots * i * (RECORD_BYTES + RECORD_BYTES_PER_RSU * k) if record_slots else 0
    policy_bytes = _lyopt_bytes(policy, cfg) if isinstance(policy, LyOptPolicy) else 0
    if isinstance(policy, LyOptDualPolicy):
        policy_bytes = decision_bytes(policy.config, cfg, num_envs)
    return estimate_memory_bytes(cfg, num_envs, kept + records + policy_bytes)


def _batch_sizes(episodes: int, num_envs: int) -> list[int]:
    full, rest = divmod(episodes, num_envs)
    return [num_envs] * full + ([rest] if rest else [])


def envs_at_once(episodes: int, num_envs: int | None) -> int:
    """How many of ``episodes`` an evaluation plays at once: ``num_envs``, by default :data:`DEFAULT_NUM_ENVS`."""
    return min(num_envs or DEFAULT_NUM_ENVS, episodes)


def episode_batches(episodes: int, num_envs: int, seed: int) -> list[tuple[int, int]]:
    """``(envs, env seed)`` of each batch an evaluation of ``episodes`` plays, ``num_envs`` at a time."""
    sizes = _batch_sizes(episodes, min(num_envs, episodes))
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(len(sizes))]
    return list(zip(sizes, seeds, strict=True))


def _play(
    policy: Policy, name: str, cfg: Config, episodes: int, num_envs: int, seed: int, progress: bool
) -> tuple[dict[str, np.ndarray], float]:
    """Play every batch; arrays ``(episodes, slots, ...)`` and the total decision time."""
    batches: list[dict[str, np.ndarray]] = []
    act_s = 0.0
    with tqdm(total=episodes * cfg.episode_slots, desc=f"evaluate {name}", unit="slot", disable=not progress) as bar:
        for n, batch_seed in episode_batches(episodes, num_envs, seed):
            arrays, batch_act_s = _play_batch(policy, BatchedEnv(cfg, n, seed=batch_seed), bar)
            batches.append(arrays)
            act_s += batch_act_s
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}, act_s


def _play_batch(policy: Policy, env: BatchedEnv, bar: tqdm) -> tuple[dict[str, np.ndarray], float]:
    """Play the lockstep episodes of ``env``; arrays ``(E, slots, ...)`` and the decision time."""
    act_s = 0.0

    def act(obs: np.ndarray, global_state: np.ndarray, t: int) -> np.ndarray:
        nonlocal act_s
        start = time.perf_counter()
        actions = policy.act(env, obs)
        act_s += time.perf_counter() - start
        return actions

    slots = []
    for step in rollout(env, act, on_reset=policy.reset):
        slots.append(SlotRecord.of(step).arrays())
        bar.update(env.num_envs)
    return {k: np.stack([s[k] for s in slots], axis=1) for k in slots[0]}, act_s


def _summary(arr: dict[str, np.ndarray], cfg: Config, name: str, episodes: int, seed: int) -> dict[str, Any]:
    used = arr["mode"] != MODE_UNUSED
    summary: dict[str, Any] = {
        "policy": name,
        "episodes": episodes,
        "seed": seed,
        "config_digest": cfg.digest(),
        "num_cvs": cfg.num_cvs,
        "num_rsus": cfg.num_rsus,
        "episode_slots": cfg.episode_slots,
        "cost": arr["cost"].mean(),
        "system_cost": arr["system_cost"].mean(),
        "delay_s": arr["delay_s"].mean(),
        "energy_j": arr["energy_j"].mean(),
        "deadline_miss_rate": arr["deadline_miss"].mean(),
        "instrt_share": (arr["mode"] == MODE_INSTRT).sum() / used.sum() if used.any() else 0.0,
        "offload_share": (1.0 - arr["share_local"]).mean(),
        "reward": arr["reward"].mean(),
        "objective": arr["objective"].mean(),
    }
    for key in ("local_queue_cycles", "rsu_queue_cycles", "energy_queue_j"):
        summary[f"{key}_mean"] = arr[key].mean()
        summary[f"{key}_max"] = arr[key].max()
    summary["energy_budget_j_per_cv"] = cfg.lyapunov.energy_budget_j_per_cv
    summary["energy_budget_met"] = bool(summary["energy_j"] <= cfg.lyapunov.energy_budget_j_per_cv)
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
                records.append(
                    {
                        "episode": e,
                        "slot": t,
                        "cv": i,
                        **{k: lists[k][e][t][i] for k in per_cv},
                        "deadline_miss": lists["deadline_miss"][e][t][i],
                        "used_links": sum(m != MODE_UNUSED for m in modes),
                        "instrt_links": sum(m == MODE_INSTRT for m in modes),
                        "modes": [MODE_NAMES[m] for m in modes],
                        "rsu_queue_cycles": lists["rsu_queue_cycles"][e][t],
                        **slot_part,
                    }
                )
    return records


def evaluate_policy(
    policy: Policy | str,
    cfg: Config,
    episodes: int,
    seed: int,
    num_envs: int | None = None,
    record_slots: bool = True,
    progress: bool = True,
    breakdown: bool = False,
) -> dict[str, Any]:
    """Play ``episodes`` episodes of ``policy`` (an object or a name for :func:`make_policy`); with ``breakdown``,
    the result has where its misses come from too (:func:`isac_iov.breakdown.miss_breakdown`)."""
    check_counts(episodes, seed, num_envs)
    if isinstance(policy, str):
        policy = make_policy(policy, cfg, seed)
    name = getattr(policy, "name", type(policy).__name__)
    batch = envs_at_once(episodes, num_envs)
    check_memory(
        memory_bytes(policy, cfg, episodes, batch, record_slots),
        f"evaluating {name} on {episodes} episode(s) of num_cvs={cfg.num_cvs} CVs, {batch} env(s) at a time",
        "lower num_cvs, --episodes or --num-envs, or add --no-slots",
    )
    start = time.perf_counter()
    arr, act_s = _play(policy, name, cfg, episodes, batch, seed, progress)
    env_slots = episodes * cfg.episode_slots
    result = {
        "summary": _summary(arr, cfg, name, episodes, seed),
        "slots": _records(arr) if record_slots else [],
        "timing": {
            "wall_s": time.perf_counter() - start,
            "act_s_per_env_slot": act_s / env_slots,
            "num_envs": batch,
        },
    }
    if breakdown:
        result["breakdown"] = miss_breakdown(arr, rsu_available_hz(cfg), cfg.lyapunov.v_control)
    return result


def _fmt(value: Any, spec: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return format(value, spec)


def format_summary_table(rows: dict[str, dict[str, Any]]) -> str:
    """A fixed-width table, one row per policy name, of the main summary figures (``-`` if absent)."""
    width = max([len("policy")] + [len(n) for n in rows])
    cells = [
        [format(n, f"<{width}")] + [_fmt(s[k], f) if k in s else "-" for k, _, f in TABLE_COLUMNS]
        for n, s in rows.items()
    ]
    widths = [max([len(h)] + [len(r[j + 1]) for r in cells]) for j, (_, h, _) in enumerate(TABLE_COLUMNS)]
    header = format("policy", f"<{width}") + "".join(
        f"  {h:>{w}}" for (_, h, _), w in zip(TABLE_COLUMNS, widths, strict=True)
    )
    lines = [header, "-" * len(header)]
    lines += [r[0] + "".join(f"  {c:>{w}}" for c, w in zip(r[1:], widths, strict=True)) for r in cells]
    return "\n".join(lines)


def format_summary(summary: dict[str, Any]) -> str:
    """One summary as a two-column ``key  value`` listing."""
    width = max(len(k) for k in summary)
    return "\n".join(f"{k:<{width}}  {_fmt(v, '.6g')}" for k, v in summary.items())


def resolve_config(policy: str, config: str | None, overrides: list[str]) -> Config:
    """The scenario: ``config`` (else, for a run directory, its ``config.yaml``), then overrides."""
    run_cfg = Path(policy) / CONFIG_FILE
    if config is not None or policy in REGISTRY or not (run_cfg.is_file() or run_cfg.is_symlink()):
        return load_config(config, overrides)
    try:
        base = load_config(refuse_link(run_cfg))
    except ConfigError as exc:
        raise ConfigError(f"{exc}" if str(run_cfg) in str(exc) else f"{run_cfg}: {exc}") from None
    return load_config(None, overrides, base=base)


def _non_finite_field(obj: Any, path: str) -> str | None:
    """The path (``summary.cost``, ``slots[3].delay_s``) of the first NaN or infinite number in ``obj``."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else path
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, val in items:
        found = _non_finite_field(val, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}".lstrip("."))
        if found:
            return found
    return None


def to_json(result: dict[str, Any]) -> str:
    """``result`` as JSON text; a NaN or infinite number is a ValueError naming its field."""
    bad = _non_finite_field(result, "")
    if bad is not None:
        raise ValueError(f"--out: {bad} is not finite; nothing written")
    return json.dumps(result, indent=1, allow_nan=False)
