"""Where a policy's deadline misses and cost come from: ``isac-iov evaluate --breakdown``.

:func:`miss_breakdown` groups the CV-slots of an evaluation (the arrays :func:`isac_iov.evaluate.evaluate_policy`
plays) five ways, each group with its share of the CV-slots, its deadline-miss rate (C8), its mean cost (eq. 24)
and the mean part of the task it ran locally:

* ``by_rsus_used`` - how many RSUs the CV sent a part to (0: the whole task ran locally);
* ``by_crowding`` - how many CVs used the most crowded RSU the CV sent a part to that slot (``local`` when it sent
  none), in bins 1, 2-3, 4-7, 8-15 and 16 or more;
* ``by_episode_part`` - the first, middle and last third of the episode's slots (queues that grow through an
  episode show as misses that grow from one third to the next);
* ``rsus`` - the RSUs whose users missed most: for each, the CV-slots that sent it a part, their miss rate, the
  RSU's mean backlog at the start of the slot (eq. 17, cycles) and its mean number of users;
* ``cvs`` - the CVs (by index) that missed most, with their miss rate and share of all misses.

``local`` says how the policy runs work locally: the share of CV-slots that run a part locally, and the mean
part among them (a policy that spreads 10 % over every CV and one that runs 40 % on a quarter of them have the
same mean but not the same backlogs).

``rsu_cpu`` says how the RSUs' CPU is used (C6, eq. 17): of the RSU-slots in which some CV sent a part, the share
whose parts were given all of ``F^max - C^twin`` (then, under ``rsu.service = work_conserving``, nothing serves
the backlog that slot) and the mean fraction given, and the cycles a slot leaves to the RSU queues.
``objective`` splits the mean P2 objective of a slot (eq. 39) into ``V`` times the system cost and the three drift
terms: which of them carries a gap between two policies.

Group rates are of the group's own CV-slots; groups with none are left out, so every number is finite.
``format_breakdown`` prints it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .physics.computing import MODE_UNUSED

CROWD_BINS = ((1, 1, "1"), (2, 3, "2-3"), (4, 7, "4-7"), (8, 15, "8-15"), (16, None, "16+"))  # CVs on its busiest RSU
EPISODE_PARTS = ("first third", "middle third", "last third")


def _group(label: str, mask: np.ndarray, arr: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """Share of CV-slots, miss rate, mean cost and mean local part of the CV-slots in ``mask (E, T, I)``."""
    count = int(mask.sum())
    if count == 0:
        return None
    return {
        "group": label,
        "cv_slot_share": count / mask.size,
        "miss_rate": float(arr["deadline_miss"][mask].mean()),
        "cost": float(arr["cost"][mask].mean()),
        "local_share": float(arr["share_local"][mask].mean()),
    }


def _groups(pairs: list[tuple[str, np.ndarray]], arr: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    return [g for label, mask in pairs if (g := _group(label, mask, arr)) is not None]


def _crowd_masks(crowd: np.ndarray) -> list[tuple[str, np.ndarray]]:
    masks = [("local", crowd == 0)]
    for low, high, label in CROWD_BINS:
        masks.append((label, (crowd >= low) & (crowd <= (high if high is not None else np.inf))))
    return masks


def _rsu_rows(
    used: np.ndarray, users: np.ndarray, miss: np.ndarray, backlog: np.ndarray, top: int
) -> list[dict[str, Any]]:
    """The ``top`` RSUs whose users missed most deadlines (ties: by index); ``users (E, T, K)`` per RSU and slot."""
    missed = (used & miss[..., None]).sum((0, 1, 2))  # (K,) misses of CV-slots that used RSU k
    rows = []
    for k in np.argsort(-missed, kind="stable")[:top]:
        sent = used[..., k]
        if not sent.any():
            continue
        rows.append(
            {
                "rsu": int(k),
                "cv_slots": int(sent.sum()),
                "miss_rate": float(miss[sent].mean()),
                "backlog_cycles": float(backlog[..., k].mean()),
                "users": float(users[..., k].mean()),
            }
        )
    return rows


def _cv_rows(miss: np.ndarray, top: int) -> list[dict[str, Any]]:
    """The ``top`` CVs with most misses (ties: by index), and their share of all misses."""
    per_cv = miss.sum((0, 1))
    total = max(int(miss.sum()), 1)
    return [
        {"cv": int(i), "miss_rate": float(miss[..., i].mean()), "share_of_misses": float(per_cv[i] / total)}
        for i in np.argsort(-per_cv, kind="stable")[:top]
        if per_cv[i] > 0
    ]


def _busiest_used(used: np.ndarray, users: np.ndarray) -> np.ndarray:
    """``(E, T, I)``: the users that slot of the busiest RSU each CV used (0: none), one RSU at a time so that no
    temporary is larger than the ``mode`` array the evaluation keeps anyway."""
    crowd = np.zeros(used.shape[:-1], dtype=users.dtype)
    for k in range(used.shape[-1]):
        np.maximum(crowd, np.where(used[..., k], users[..., k, None], 0), out=crowd)
    return crowd


BOOKED = 1.0 - 1e-9  # an RSU whose parts got this fraction of its CPU or more serves no backlog that slot


def _rsu_cpu(used: np.ndarray, arr: dict[str, np.ndarray], available_hz: float) -> dict[str, float]:
    """How the RSUs' CPU was used (module docstring); ``used (E, T, I, K)``."""
    busy = used.any(-2)  # (E, T, K)
    given = arr["rsu_given_hz"][busy] / available_hz
    return {
        "rsu_slots_with_parts": float(busy.mean()),
        "fully_booked": float((given >= BOOKED).mean()) if busy.any() else 0.0,
        "given_fraction": float(given.mean()) if busy.any() else 0.0,
        "left_to_queues_cycles_per_slot": float(arr["rsu_backlog_arrivals"].sum(-1).mean()),
    }


def _objective_parts(arr: dict[str, np.ndarray], v_control: float) -> dict[str, float]:
    """The mean per slot of each summand of eq. (39); they add up to the mean objective."""
    return {
        "v_cost": float(v_control * arr["system_cost"].mean()),
        "drift_local": float(arr["drift_local"].mean()),
        "drift_rsu": float(arr["drift_rsu"].mean()),
        "drift_energy": float(arr["drift_energy"].mean()),
    }


def miss_breakdown(arr: dict[str, np.ndarray], available_hz: float, v_control: float, top: int = 5) -> dict[str, Any]:
    """The breakdown of the module docstring from evaluation arrays ``(episodes, slots, CVs[, RSUs])``, for RSUs
    of ``available_hz`` CPU (``F^max - C^twin``) and the scenario's ``V`` (``lyapunov.v_control``)."""
    used = arr["mode"] != MODE_UNUSED  # (E, T, I, K)
    n_used = used.sum(-1)
    users = used.sum(-2)  # (E, T, K) CVs sending each RSU a part
    miss = arr["deadline_miss"].astype(bool)
    crowd = _busiest_used(used, users)
    slots = arr["cost"].shape[1]
    parts = np.array_split(np.arange(slots), len(EPISODE_PARTS))
    by_part = []
    for label, index in zip(EPISODE_PARTS, parts, strict=True):
        mask = np.zeros(arr["cost"].shape, dtype=bool)
        mask[:, index] = True
        by_part.append((label, mask))
    local = arr["share_local"]
    running = local > 0
    return {
        "cv_slots": int(local.size),
        "miss_rate": float(miss.mean()),
        "by_rsus_used": _groups([(str(n), n_used == n) for n in range(int(n_used.max()) + 1)], arr),
        "by_crowding": _groups(_crowd_masks(crowd), arr),
        "by_episode_part": _groups(by_part, arr),
        "rsus": _rsu_rows(used, users, miss, arr["rsu_queue_cycles"], top),
        "cvs": _cv_rows(miss, top),
        "local": {
            "mean_share": float(local.mean()),
            "cv_slots_running_locally": float(running.mean()),
            "share_among_them": float(local[running].mean()) if running.any() else 0.0,
        },
        "rsu_cpu": _rsu_cpu(used, arr, available_hz),
        "objective": _objective_parts(arr, v_control),
    }


def _table(title: str, rows: list[dict[str, Any]]) -> list[str]:
    lines = [title, f"  {'':<14}{'CV-slots':>9}{'misses':>9}{'cost':>9}{'local':>8}"]
    lines += [
        f"  {r['group']:<14}{r['cv_slot_share']:>9.1%}{r['miss_rate']:>9.1%}{r['cost']:>9.4f}{r['local_share']:>8.1%}"
        for r in rows
    ]
    return lines


def format_breakdown(b: dict[str, Any]) -> str:
    """:func:`miss_breakdown` as text tables."""
    lines = [f"where the misses are: {b['cv_slots']} CV-slots, {b['miss_rate']:.1%} missed"]
    lines += _table("by RSUs used (0: all local)", b["by_rsus_used"])
    lines += _table("by CVs on the busiest RSU used", b["by_crowding"])
    lines += _table("by part of the episode", b["by_episode_part"])
    lines.append("RSUs whose users missed most")
    lines.append(f"  {'RSU':<6}{'CV-slots':>9}{'misses':>9}{'backlog Gcycles':>17}{'users':>7}")
    lines += [
        f"  {r['rsu']:<6}{r['cv_slots']:>9}{r['miss_rate']:>9.1%}{r['backlog_cycles'] / 1e9:>17.3f}{r['users']:>7.2f}"
        for r in b["rsus"]
    ]
    lines.append("CVs that missed most")
    lines.append(f"  {'CV':<6}{'misses':>9}{'of all':>9}")
    lines += [f"  {r['cv']:<6}{r['miss_rate']:>9.1%}{r['share_of_misses']:>9.1%}" for r in b["cvs"]]
    loc = b["local"]
    lines.append(
        f"local: {loc['cv_slots_running_locally']:.1%} of CV-slots run a part locally, "
        f"{loc['share_among_them']:.1%} of the task among them ({loc['mean_share']:.1%} overall)"
    )
    cpu, obj = b["rsu_cpu"], b["objective"]
    lines.append(
        f"RSU CPU: {cpu['fully_booked']:.1%} of RSU-slots with parts fully booked, {cpu['given_fraction']:.1%} of "
        f"F^max - C^twin given on average; {cpu['left_to_queues_cycles_per_slot'] / 1e9:.3f} Gcycles a slot left "
        "to the RSU queues"
    )
    lines.append(
        f"objective per slot (eq. 39): V x cost {obj['v_cost']:.4f}, local drift {obj['drift_local']:.4f}, "
        f"RSU drift {obj['drift_rsu']:.4f}, energy drift {obj['drift_energy']:.4f}"
    )
    return "\n".join(lines)
