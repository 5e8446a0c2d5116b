"""The digital twin: mirrors the physical state, keeps the queues, picks modes, gives the global view.

Each slot the environment core calls, in order:

1. :meth:`DigitalTwin.select_modes` - DataT or InstrT per CV-RSU link (eqs. 12, 22,
   docs/model.md#mode);
2. :meth:`DigitalTwin.update` - advance the local, RSU and virtual energy queues
   (eqs. 16, 17, 27) and the Little's-law windows (eq. 18);
3. :meth:`DigitalTwin.mirror` - record the new physical state and form the view.

:meth:`DigitalTwin.global_view` returns what only the twin knows: every CV's
features, the RSU queues, ``G_rsu = [sum, mean, max]`` of them (Sec. VI-B) and
the RSU load of eq. (40)'s RSU information (:func:`rsu_load`,
docs/model.md#twin-view).  The paper's twin is perfect; ``twin.lag_slots``
delays that view by d slots and ``twin.noise_std`` multiplies it by
``1 + noise_std * N(0, 1)`` (queues and loads floored at zero), drawn once per
slot, so every read of one slot's view sees the same noise.  The agents' own
local features and the queues used by the physics are always exact.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from .physics import computing, queues
from .scenario import Physical, Scenario
from .slot import Links, Outcome, QueueState

# The twin's load view of one RSU, in order (see rsu_load).
LOAD_FEATURE_NAMES = ("coverage_fraction", "contention", "demand", "cpu_given")
LOAD_FEATURES = len(LOAD_FEATURE_NAMES)


def coverage_claims(reachable: np.ndarray) -> np.ndarray:
    """Each CV's claim on each RSU ``(E, I, K)``: ``1 / n_i`` on the ``n_i`` RSUs it reaches, 0 elsewhere."""
    return reachable / np.maximum(reachable.sum(axis=-1, keepdims=True), 1)


def rsu_load(scn: Scenario, phys: Physical, reachable: np.ndarray, last_cpu_hz: np.ndarray) -> np.ndarray:
    """The twin's load view of each RSU ``(E, K, 4)`` (docs/model.md#twin-view), all O(1), in the
    order of ``LOAD_FEATURE_NAMES``:

    1. the fraction of CVs in its coverage;
    2. its contention ``sum_i 1 / n_i`` over the CVs in coverage (``n_i`` = RSUs CV i reaches), so
       ``(F^max - C^twin) / n_i / contention`` is CV i's fair share of its CPU;
    3. the cycles of this slot's tasks of the CVs in coverage, each spread over its ``n_i`` RSUs,
       in mean-task cycles;
    4. the CPU it gave to the previous slot's parts, as a fraction of ``F^max - C^twin``.
    """
    claim = coverage_claims(reachable)
    cycles = (phys.data_bits * phys.intensity_cycles_per_bit)[..., None]
    features = {"coverage_fraction": reachable.mean(axis=-2), "contention": claim.sum(axis=-2),
                "demand": (claim * cycles).sum(axis=-2) / scn.norm.queue_ref_cycles,
                "cpu_given": last_cpu_hz / scn.rsu_available_hz}
    return np.stack([features[name] for name in LOAD_FEATURE_NAMES], axis=-1)


class DigitalTwin:
    """Twin of ``E`` parallel environments with ``I`` CVs and ``K`` RSUs."""

    def __init__(self, scn: Scenario, num_envs: int, rng: np.random.Generator):
        self.scn = scn
        self.num_envs = num_envs
        self.rng = rng
        self.window = scn.cfg.lyapunov.window_slots
        self.lag = scn.cfg.twin.lag_slots
        self.noise_std = scn.cfg.twin.noise_std
        self.queues: QueueState
        self._history: deque[tuple[np.ndarray, np.ndarray, np.ndarray]] = deque(maxlen=self.lag + 1)
        self._view: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

    def reset(self, cv_features: np.ndarray, phys: Physical, reachable: np.ndarray) -> None:
        """Empty queues and windows; mirror the first slot's CV features ``(E, I, F)`` and physical state."""
        e, i, k = self.num_envs, self.scn.num_cvs, self.scn.num_rsus
        m1 = max(self.window - 1, 0)
        self.queues = QueueState(
            local_cycles=np.zeros((e, i)), rsu_cycles=np.zeros((e, k)), energy_j=np.zeros((e, i)),
            local_window=np.zeros((e, i)), local_arrival_window=np.zeros((e, i)),
            rsu_window=np.zeros((e, k)), rsu_arrival_window=np.zeros((e, k)),
        )
        # Ring buffers of the last m-1 slots for the window sums of eq. (18).
        self._ring = {name: np.zeros((m1,) + getattr(self.queues, name).shape)
                      for name in ("local_window", "local_arrival_window", "rsu_window", "rsu_arrival_window")}
        self._ring_pos = 0
        self._last_cpu_hz = np.zeros((e, k))
        self._history.clear()
        self.mirror(cv_features, phys, reachable)

    def select_modes(self, ln: Links) -> np.ndarray:
        """Eqs. (12), (22): ``eta = 1`` (InstrT) where its upload-side time is smaller."""
        return computing.select_mode(ln.used, ln.datat_s, ln.instrt_s)

    def update(self, phys: Physical, out: Outcome) -> None:
        """Advance the queues of eqs. (16), (17), (27) and the windows of eq. (18) past this slot."""
        q, tau = self.queues, self.scn.cfg.slot_s
        current = {"local_window": q.local_cycles, "local_arrival_window": out.local_arrivals,
                   "rsu_window": q.rsu_cycles, "rsu_arrival_window": out.rsu_arrivals}
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
        self._last_cpu_hz = out.links.rsu_given_hz
        self.queues = QueueState(
            local_cycles=queues.local_queue_next(q.local_cycles, phys.cpu_hz, tau, out.local_arrivals),
            rsu_cycles=queues.rsu_queue_next(q.rsu_cycles, out.rsu_service_hz, tau, out.rsu_backlog_arrivals),
            energy_j=queues.energy_queue_next(q.energy_j, out.energy_driver_j, out.energy_budget_j),
            **sums,
        )

    def mirror(self, cv_features: np.ndarray, phys: Physical, reachable: np.ndarray) -> None:
        """Record this slot's CV features ``(E, I, F)``, RSU queues and loads; form the (lagged, noisy) view."""
        load = rsu_load(self.scn, phys, reachable, self._last_cpu_hz)
        self._history.append((cv_features.copy(), self.queues.rsu_cycles.copy(), load))
        feats, q_rsu, load = self._history[0]
        if self.noise_std > 0:
            def noisy(x: np.ndarray) -> np.ndarray:
                return x * (1.0 + self.noise_std * self.rng.standard_normal(x.shape))
            feats, q_rsu, load = noisy(feats), np.maximum(noisy(q_rsu), 0.0), np.maximum(noisy(load), 0.0)
        g_rsu = np.stack([q_rsu.sum(-1), q_rsu.mean(-1), q_rsu.max(-1)], axis=-1)
        self._view = (feats, q_rsu, g_rsu, load)

    def global_view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(cv_features (E, I, F), rsu_queues (E, K), g_rsu (E, 3), load (E, K, 4))`` as the twin sees them.

        Queues are in cycles; the view is ``lag_slots`` old (or the oldest kept) and noisy if set,
        with one noise draw per slot.
        """
        return self._view
