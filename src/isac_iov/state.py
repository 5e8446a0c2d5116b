"""The true queues of ``E`` environments from slot to slot: eqs. (16), (17), (27) and the windows of eq. (18).

:class:`Queues` is physics: it holds the local, RSU and virtual energy queues
(:class:`~isac_iov.slot.QueueState`) at the start of the current slot and
advances them past each played slot with the pure functions of
:mod:`isac_iov.physics.queues`.  It also keeps ring buffers of the last
``m - 1`` slots (``lyapunov.window_slots`` = m) for the Little's-law window sums
of eq. (18).  The digital twin (:mod:`isac_iov.twin`) only reads these queues.
"""

from __future__ import annotations

import numpy as np

from .physics import queues
from .scenario import Physical, Scenario
from .slot import Outcome, QueueState

WINDOWS = ("local_window", "local_arrival_window", "rsu_window", "rsu_arrival_window")


class Queues:
    """The queues of ``num_envs`` environments with the scenario's ``I`` CVs and ``K`` RSUs."""

    def __init__(self, scn: Scenario, num_envs: int):
        self.scn, self.num_envs = scn, num_envs
        self.window = scn.cfg.lyapunov.window_slots
        self.state: QueueState

    def reset(self) -> None:
        """Empty queues and windows."""
        e, i, k = self.num_envs, self.scn.num_cvs, self.scn.num_rsus
        self.state = QueueState(
            local_cycles=np.zeros((e, i)),
            rsu_cycles=np.zeros((e, k)),
            energy_j=np.zeros((e, i)),
            local_window=np.zeros((e, i)),
            local_arrival_window=np.zeros((e, i)),
            rsu_window=np.zeros((e, k)),
            rsu_arrival_window=np.zeros((e, k)),
        )
        m1 = max(self.window - 1, 0)
        self._ring = {name: np.zeros((m1,) + getattr(self.state, name).shape) for name in WINDOWS}
        self._ring_pos = 0

    def advance(self, phys: Physical, out: Outcome) -> None:
        """Advance the queues of eqs. (16), (17), (27) and the windows of eq. (18) past the slot ``out``."""
        q, tau = self.state, self.scn.cfg.slot_s
        current = {
            "local_window": q.local_cycles,
            "local_arrival_window": out.local_arrivals,
            "rsu_window": q.rsu_cycles,
            "rsu_arrival_window": out.rsu_arrivals,
        }
        sums = {}
        for name, value in current.items():
            ring = self._ring[name]
            if len(ring):
                sums[name] = getattr(q, name) - ring[self._ring_pos] + value
                ring[self._ring_pos] = value
            else:
                sums[name] = getattr(q, name)
        if self.window > 1:
            self._ring_pos = (self._ring_pos + 1) % (self.window - 1)
        self.state = QueueState(
            local_cycles=queues.local_queue_next(q.local_cycles, phys.cpu_hz, tau, out.local_arrivals),
            rsu_cycles=queues.rsu_queue_next(q.rsu_cycles, out.rsu_service_hz, tau, out.rsu_backlog_arrivals),
            energy_j=queues.energy_queue_next(q.energy_j, out.energy_driver_j, out.energy_budget_j),
            **sums,
        )
