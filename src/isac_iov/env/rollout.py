"""One episode loop and one per-slot record, shared by training, evaluation and the PettingZoo view.

:func:`rollout` plays one episode in every env of a :class:`~.core.BatchedEnv`
from a reset, asking ``act(obs, global_state, t)`` for each slot's actions and
yielding each slot's :class:`~.core.Step`.  :meth:`SlotRecord.of` reads from a
step the arrays every consumer of a played slot needs - training metrics
(:mod:`isac_iov.learners.metrics`), evaluation summaries and per-slot records
(:mod:`isac_iov.evaluate`) and the PettingZoo ``infos`` - so each quantity,
including the mode of every link, is derived in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..physics.computing import MODE_INSTRT, MODE_UNUSED, link_mode
from .core import BatchedEnv, Step

Act = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def rollout(env: BatchedEnv, act: Act, on_reset: Callable[[BatchedEnv], None] | None = None) -> Iterator[Step]:
    """Reset ``env`` (then call ``on_reset(env)``, e.g. a policy's ``reset``) and play one episode:
    ``act(obs, global_state, t)`` -> actions, one Step per slot."""
    obs, glob = env.reset()
    if on_reset is not None:
        on_reset(env)
    for t in range(env.cfg.episode_slots):
        step = env.step(act(obs, glob, t))
        yield step
        obs, glob = step.obs, step.global_state


@dataclass(frozen=True)
class SlotRecord:
    """The per-env arrays of one played slot: ``(E, I)`` per CV, ``(E, I, K)`` per link, ``(E, K)`` per RSU,
    ``(E,)`` per system.  Queues are those at the start of the slot."""

    delay_s: np.ndarray  # (E, I) T_task, eq. (19)
    energy_j: np.ndarray  # (E, I) E_task, eq. (23)
    cost: np.ndarray  # (E, I) eq. (24)
    deadline_miss: np.ndarray  # (E, I) C8 violated
    share_local: np.ndarray  # (E, I) the part run locally
    mode: np.ndarray  # (E, I, K) MODE_UNUSED, MODE_DATAT or MODE_INSTRT
    local_queue_cycles: np.ndarray  # (E, I)
    energy_queue_j: np.ndarray  # (E, I)
    rsu_queue_cycles: np.ndarray  # (E, K)
    rsu_given_hz: np.ndarray  # (E, K) CPU given to this slot's parts (C6)
    rsu_backlog_arrivals: np.ndarray  # (E, K) cycles this slot leaves to the RSU queues (eq. 17)
    system_cost: np.ndarray  # (E,) eq. (25)
    reward: np.ndarray  # (E,) eq. (44)
    objective: np.ndarray  # (E,) eq. (39)
    drift_local: np.ndarray  # (E,) the drift summands of eq. (39)
    drift_rsu: np.ndarray
    drift_energy: np.ndarray

    @classmethod
    def of(cls, step: Step) -> SlotRecord:
        out, q = step.outcome, step.queues
        return cls(
            delay_s=out.delay_s,
            energy_j=out.energy_j,
            cost=out.cost,
            deadline_miss=out.deadline_miss,
            share_local=out.links.share_local,
            mode=link_mode(out.links.used, out.eta),
            local_queue_cycles=q.local_cycles,
            energy_queue_j=q.energy_j,
            rsu_queue_cycles=q.rsu_cycles,
            rsu_given_hz=out.links.rsu_given_hz,
            rsu_backlog_arrivals=out.rsu_backlog_arrivals,
            system_cost=out.system_cost,
            reward=step.reward,
            objective=out.objective,
            drift_local=out.drift_local,
            drift_rsu=out.drift_rsu,
            drift_energy=out.drift_energy,
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The fields by name (the arrays themselves, not copies)."""
        return dict(vars(self))

    @property
    def used(self) -> np.ndarray:
        """``(E, I, K)``: links that carry a part of the task."""
        return self.mode != MODE_UNUSED

    @property
    def instrt(self) -> np.ndarray:
        """``(E, I, K)``: links that ran InstrT."""
        return self.mode == MODE_INSTRT

    def cv_info(self) -> dict[str, np.ndarray]:
        """Per-CV arrays ``(E, I, ...)`` of the PettingZoo ``infos``; ``rsu_queue_cycles`` is the RSU backlog
        each CV sees (the same for all CVs of an env)."""
        return {
            "delay_s": self.delay_s,
            "energy_j": self.energy_j,
            "cost": self.cost,
            "instrt": self.instrt,
            "used": self.used,
            "deadline_miss": self.deadline_miss,
            "local_queue_cycles": self.local_queue_cycles,
            "rsu_queue_cycles": np.broadcast_to(self.rsu_queue_cycles[:, None, :], self.mode.shape),
            "energy_queue_j": self.energy_queue_j,
            "share_local": self.share_local,
        }
