"""Cost and drift-plus-penalty reward: eqs. (24)-(25), (39), (44) with MODEL-NOTES 7 normalisation.

In the cost, delays are divided by the slot length tau and energies by
``E_ref``; in the drift terms, task queues and their arrivals/service by
``Q_ref`` and the virtual energy queue and its driver by the energy budget it
is driven against (see :class:`isac_iov.scenario.Normalisers`), so that the
weighted sums mix dimensionless numbers.
"""
from __future__ import annotations

import numpy as np


def cv_cost(delay_s: np.ndarray, energy_j: np.ndarray, alpha: float,
            delay_ref_s: float, energy_ref_j: float) -> np.ndarray:
    """Eq. (24), normalised: ``alpha T / tau + (1 - alpha) E / E_ref`` per CV."""
    return alpha * delay_s / delay_ref_s + (1.0 - alpha) * energy_j / energy_ref_j


def system_cost(cost_per_cv: np.ndarray) -> np.ndarray:
    """Eq. (25): the sum of the per-CV costs."""
    return cost_per_cv.sum(axis=-1)


def queue_drift(q: np.ndarray, arrivals: np.ndarray, service: np.ndarray, ref: float) -> np.ndarray:
    """One drift term of eq. (44): ``sum Q (arrivals - service)``, each factor divided by ``ref``."""
    return ((q / ref) * ((arrivals - service) / ref)).sum(axis=-1)


def drift_plus_penalty(v_control: float, cost: np.ndarray, local_drift: np.ndarray,
                       rsu_drift: np.ndarray, energy_drift: np.ndarray) -> np.ndarray:
    """The per-slot objective of P2, eq. (39); the reward of eq. (44) is its negative."""
    return v_control * cost + local_drift + rsu_drift + energy_drift
