"""Which part of a policy's action costs it most against a reference: ``isac-iov evaluate --part-swap REF``.

The reference policy ``REF`` (say ``ly-opt-dual``) plays the episodes, so every action below is scored on the
same states, the reference's.  On each state the exact P2 objective of the slot (eq. 39, :func:`isac_iov.slot.evaluate`,
with the twin's mode rule) is computed for

* ``reference`` - the reference's action;
* ``policy`` - the policy's action on the reference's state;
* ``local``, ``task``, ``bandwidth``, ``cpu`` - the reference's action with that part (:class:`~.actions.ActionLayout`)
  replaced by the policy's;
* ``task+cpu`` - the reference's action with the policy's offloading weights and CPU requests together: which RSU
  takes which part with how much CPU, two parts that only work together (either one alone can cost more than both).

Each row holds the mean objective per slot, its difference to the reference's, the deadline-miss rate (C8) of
the CV-slots and the mean cycles per slot that join the RSU queues unserved (the arrivals of eq. 17, Gcycles), the
work a slot leaves to the next.  A row whose objective is near the policy's names the part that carries its gap; a
row near the reference's, a part that does not.  Episodes are those of ``isac-iov evaluate`` with the same
``--episodes``, ``--seed`` and ``--num-envs`` (:func:`isac_iov.evaluate.episode_batches`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm import tqdm

from . import slot
from .actions import layout
from .config import Config
from .env.core import BatchedEnv
from .env.rollout import rollout
from .evaluate import episode_batches
from .policies import Policy

PARTS = ("local", "task", "bandwidth", "cpu")
SWAPS = {**{part: (part,) for part in PARTS}, "task+cpu": ("task", "cpu")}  # row -> the policy's parts it takes
ROWS = ("reference", "policy", *SWAPS)


def _variants(reference: np.ndarray, policy: np.ndarray, num_rsus: int) -> dict[str, np.ndarray]:
    """The actions scored on one state: the reference's, the policy's and the reference's with parts swapped."""
    lay = layout(num_rsus)
    slices = {"local": slice(lay.local, lay.local + 1), "task": lay.task, "bandwidth": lay.bandwidth, "cpu": lay.cpu}
    out = {"reference": reference, "policy": policy}
    for name, parts in SWAPS.items():
        mixed = reference.copy()
        for part in parts:
            mixed[..., slices[part]] = policy[..., slices[part]]
        out[name] = mixed
    return out


def part_swap(
    policy: Policy, reference: Policy, cfg: Config, episodes: int, seed: int, num_envs: int, progress: bool = True
) -> list[dict[str, Any]]:
    """One row per entry of :data:`ROWS` (see the module docstring), in that order."""
    sums = {name: np.zeros(3) for name in ROWS}  # objective, misses, RSU backlog arrivals (cycles)
    slots = cv_slots = 0
    with tqdm(total=episodes * cfg.episode_slots, desc="part swap", unit="slot", disable=not progress) as bar:
        for n, batch_seed in episode_batches(episodes, num_envs, seed):
            env = BatchedEnv(cfg, n, seed=batch_seed)

            def act(obs: np.ndarray, global_state: np.ndarray, t: int, env: BatchedEnv = env) -> np.ndarray:
                phys, queues = env.snapshot()
                chan = slot.link_channel(env.scn, phys)  # the same for every action scored on this state
                ours = reference.act(env, obs)
                theirs = policy.act(env, obs)
                for name, a in _variants(ours, theirs, env.scn.num_rsus).items():
                    o = slot.evaluate(env.scn, phys, queues, a, chan)
                    sums[name] += (o.objective.sum(), o.deadline_miss.sum(), o.rsu_backlog_arrivals.sum())
                return ours

            def on_reset(env: BatchedEnv) -> None:
                reference.reset(env)
                policy.reset(env)

            for _ in rollout(env, act, on_reset=on_reset):
                slots += n
                cv_slots += n * cfg.num_cvs
                bar.update(n)
    base = sums["reference"][0] / slots
    return [
        {
            "action": name,
            "objective": s[0] / slots,
            "vs_reference": s[0] / slots - base,
            "deadline_miss_rate": s[1] / cv_slots,
            "rsu_backlog_gcycles_per_slot": s[2] / slots / 1e9,
        }
        for name, s in sums.items()
    ]


def format_part_swap(rows: list[dict[str, Any]], reference: str) -> str:
    """The rows as a table, the reference named in the heading."""
    lines = [
        f"part swap on {reference}'s states (P2 objective per slot, eq. 39)",
        f"{'action':34s} {'objective':>10s} {'vs ref':>9s} {'miss':>7s} {'RSU backlog Gcycles/slot':>25s}",
    ]
    for r in rows:
        label = r["action"] if r["action"] in ("reference", "policy") else f"reference with policy's {r['action']}"
        lines.append(
            f"{label:34s} {r['objective']:10.4f} {r['vs_reference']:+9.4f} {r['deadline_miss_rate']:7.3f} "
            f"{r['rsu_backlog_gcycles_per_slot']:25.3f}"
        )
    return "\n".join(lines)
