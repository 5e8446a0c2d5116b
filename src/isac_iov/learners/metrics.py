"""Per-episode training metrics: one row per episode, accumulated for all envs of an iteration at once.

Columns of ``metrics.csv`` (the experiments code reads these names):

==========================  ==========================================================
``episode``                 0-based episode index within the run
``reward``                  mean per slot of the team reward (eq. 44)
``cost``                    mean per CV and slot of the cost of eq. (24)
``system_cost``             mean per slot of the system cost of eq. (25)
``delay_s``, ``energy_j``   mean per CV and slot of T_task (eq. 19) and E_task (eq. 23)
``local_queue_cycles``      mean per CV and slot of Q_loc at the start of the slot
``rsu_queue_cycles``        mean per RSU and slot of Q_rsu
``energy_queue_j``          mean per CV and slot of the virtual energy queue
``deadline_miss_rate``      fraction of CV-slots whose delay exceeds T^max (C8)
``instrt_share``            fraction of used CV-RSU links that ran InstrT (0 if none)
``local_queue_cv<i>``       mean over slots of CV i's local queue (Fig. 5a)
``scenario``                a mixture's scenario, in place of the per-CV columns
                            (:mod:`.train`)
``wall_time_s``             training wall time at the end of the episode's iteration
==========================  ==========================================================
"""

from __future__ import annotations

import numpy as np

from ..env.rollout import SlotRecord

BASE_COLUMNS = (
    "episode",
    "reward",
    "cost",
    "system_cost",
    "delay_s",
    "energy_j",
    "local_queue_cycles",
    "rsu_queue_cycles",
    "energy_queue_j",
    "deadline_miss_rate",
    "instrt_share",
)


def columns(num_cvs: int, mixture: bool = False) -> list[str]:
    """The columns of a run on ``num_cvs`` CVs; a run on a mixture of scenarios has ``scenario`` (its index
    among the run's ``--config`` files) in place of the per-CV columns."""
    per_cv = ["scenario"] if mixture else [f"local_queue_cv{i}" for i in range(num_cvs)]
    return [*BASE_COLUMNS, *per_cv, "wall_time_s"]


class EpisodeMetrics:
    """Sums over the slots of ``num_envs`` parallel episodes; ``rows`` turns them into CSV rows."""

    def __init__(self, num_envs: int, num_cvs: int):
        self.num_envs, self.num_cvs = num_envs, num_cvs
        self.reset()

    def reset(self) -> None:
        self.slots = 0
        self.sums = {name: np.zeros(self.num_envs) for name in BASE_COLUMNS[1:]}
        self.used = np.zeros(self.num_envs)
        self.local_per_cv = np.zeros((self.num_envs, self.num_cvs))

    def add(self, rec: SlotRecord) -> None:
        per_env = {
            "reward": rec.reward,
            "cost": rec.cost.mean(-1),
            "system_cost": rec.system_cost,
            "delay_s": rec.delay_s.mean(-1),
            "energy_j": rec.energy_j.mean(-1),
            "local_queue_cycles": rec.local_queue_cycles.mean(-1),
            "rsu_queue_cycles": rec.rsu_queue_cycles.mean(-1),
            "energy_queue_j": rec.energy_queue_j.mean(-1),
            "deadline_miss_rate": rec.deadline_miss.mean(-1),
            "instrt_share": rec.instrt.sum((-2, -1)),
        }
        for name, value in per_env.items():
            self.sums[name] += value
        self.used += rec.used.sum((-2, -1))
        self.local_per_cv += rec.local_queue_cycles
        self.slots += 1

    def rows(self, keep: int, first_episode: int, wall_time_s: float) -> list[dict[str, float]]:
        """Rows of the first ``keep`` episodes, numbered from ``first_episode``."""
        n = max(self.slots, 1)
        means = {k: v[:keep] / n for k, v in self.sums.items()}
        used = self.used[:keep]
        means["instrt_share"] = np.divide(self.sums["instrt_share"][:keep], used, out=np.zeros(keep), where=used > 0)
        local = self.local_per_cv[:keep] / n
        rows = []
        for e in range(keep):
            row = {"episode": first_episode + e, **{k: float(v[e]) for k, v in means.items()}}
            row.update({f"local_queue_cv{i}": float(local[e, i]) for i in range(self.num_cvs)})
            row["wall_time_s"] = wall_time_s
            rows.append(row)
        return rows
