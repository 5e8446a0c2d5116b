"""The digital twin: mirrors the physical state, picks modes, gives the global view - and nothing else.

Each slot the environment core calls, in order:

1. :meth:`DigitalTwin.select_modes` - DataT or InstrT per CV-RSU link (eqs. 12, 22,
   docs/model.md#mode), through :func:`isac_iov.slot.select_modes`, the rule
   every per-slot evaluation uses;
2. (the core advances the true queues, :mod:`isac_iov.state`);
3. :meth:`DigitalTwin.mirror` - record the new physical state, the RSU queues
   and the CPU each RSU gave, and form the view.

:meth:`DigitalTwin.global_view` returns what only the twin knows: every CV's
features, the RSU queues, ``G_rsu = [sum, mean, max]`` of them (Sec. VI-B) and
the RSU load of eq. (40)'s RSU information (:func:`rsu_load`,
docs/model.md#twin-view).  The paper's twin is perfect; ``twin.lag_slots``
delays that view by d slots and ``twin.noise_std`` multiplies it by
``1 + noise_std * N(0, 1)`` (queues and loads floored at zero), drawn once per
slot, so every read of one slot's view sees the same noise.  The agents' own
local features and the queues used by the physics are always exact.

With ``twin.enabled = false`` (the DT-absent Ly-MAPPO, docs/model.md#twin-absent)
:meth:`DigitalTwin.view_features` gives zeros of the same shapes, and
:func:`hide_view` zeroes the twin part of observations a policy trained
without the twin is given: the twin alone decides what the agents see of it.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .physics.sums import max_last, sum_last, sum_over_cvs
from .scenario import Physical, Scenario
from .slot import Links, select_modes

# The twin's load view of one RSU, in order (see rsu_load).
LOAD_FEATURE_NAMES = ("coverage_fraction", "contention", "demand", "cpu_given")
LOAD_FEATURES = len(LOAD_FEATURE_NAMES)


def coverage_claims(reachable: np.ndarray) -> np.ndarray:
    """Each CV's claim on each RSU ``(E, I, K)``: ``1 / n_i`` on the ``n_i`` RSUs it reaches, 0 elsewhere."""
    return reachable / np.maximum(sum_last(reachable.astype(float)), 1.0)[..., None]


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
    features = {
        "coverage_fraction": sum_over_cvs(reachable.astype(float)) / reachable.shape[-2],
        "contention": sum_over_cvs(claim),
        "demand": sum_over_cvs(claim * cycles) / scn.norm.queue_ref_cycles,
        "cpu_given": last_cpu_hz / scn.rsu_available_hz,
    }
    return np.stack([features[name] for name in LOAD_FEATURE_NAMES], axis=-1)


def hide_view(obs: np.ndarray, twin_part: slice) -> np.ndarray:
    """A copy of observations ``obs`` with the twin-provided part zeroed (what a twin-less agent sees)."""
    hidden = obs.copy() if isinstance(obs, np.ndarray) else obs.clone()
    hidden[..., twin_part] = 0.0
    return hidden


class DigitalTwin:
    """Twin of ``E`` parallel environments with ``I`` CVs and ``K`` RSUs."""

    def __init__(self, scn: Scenario, num_envs: int, rng: np.random.Generator):
        self.scn = scn
        self.num_envs = num_envs
        self.rng = rng
        self.enabled = scn.cfg.twin.enabled
        self.lag = scn.cfg.twin.lag_slots
        self.noise_std = scn.cfg.twin.noise_std
        self._history: deque[tuple[np.ndarray, np.ndarray, np.ndarray]] = deque(maxlen=self.lag + 1)
        self._view: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

    def reset(self, cv_features: np.ndarray, phys: Physical, reachable: np.ndarray, rsu_cycles: np.ndarray) -> None:
        """Forget the past; mirror the first slot (``rsu_cycles`` (E, K) the RSU queues; no CPU given yet)."""
        self._history.clear()
        self.mirror(cv_features, phys, reachable, rsu_cycles, np.zeros_like(rsu_cycles))

    def select_modes(self, ln: Links) -> np.ndarray:
        """Eqs. (12), (22): ``eta = 1`` (InstrT) where its upload-side time is smaller."""
        return select_modes(ln)

    def mirror(
        self,
        cv_features: np.ndarray,
        phys: Physical,
        reachable: np.ndarray,
        rsu_cycles: np.ndarray,
        rsu_given_hz: np.ndarray,
    ) -> None:
        """Record this slot's CV features ``(E, I, F)``, RSU queues ``(E, K)`` and loads (with the CPU
        ``rsu_given_hz`` (E, K) each RSU gave in the slot before); form the (lagged, noisy) view."""
        load = rsu_load(self.scn, phys, reachable, rsu_given_hz)
        # no copies: the env makes new feature and queue arrays every slot, never writes to old ones and hands
        # out copies only (the observation holds a copy of the features)
        self._history.append((cv_features, rsu_cycles, load))
        feats, q_rsu, load = self._history[0]
        if self.noise_std > 0:

            def noisy(x: np.ndarray) -> np.ndarray:
                return x * (1.0 + self.noise_std * self.rng.standard_normal(x.shape))

            feats, q_rsu, load = noisy(feats), np.maximum(noisy(q_rsu), 0.0), np.maximum(noisy(load), 0.0)
        total = sum_last(q_rsu)
        g_rsu = np.stack([total, total / q_rsu.shape[-1], max_last(q_rsu)], axis=-1)
        self._view = (feats, q_rsu, g_rsu, load)

    def global_view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(cv_features (E, I, F), rsu_queues (E, K), g_rsu (E, 3), load (E, K, 4))`` as the twin sees them.

        Queues are in cycles; the view is ``lag_slots`` old (or the oldest kept) and noisy if set,
        with one noise draw per slot.
        """
        return self._view

    def view_features(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rsu_part (E, K+3+4K), all_cvs (E, I*F))``: the view as observation entries (queues in mean-task
        cycles), zeros when the twin is absent."""
        feats, q_rsu, g_rsu, load = self._view
        e = self.num_envs
        if not self.enabled:
            return np.zeros((e, q_rsu.shape[-1] + g_rsu.shape[-1] + load[0].size)), np.zeros((e, feats[0].size))
        q_ref = self.scn.norm.queue_ref_cycles
        return np.concatenate([q_rsu / q_ref, g_rsu / q_ref, load.reshape(e, -1)], axis=-1), feats.reshape(e, -1)
