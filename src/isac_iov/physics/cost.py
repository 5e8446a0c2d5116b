"""Cost and drift-plus-penalty reward: eqs. (24)-(25), (39), (44), normalised as in docs/model.md#normalisation.

In the cost, delays are divided by the slot length tau and energies by
``E_ref``; in the drift terms, task queues and their arrivals/service by
``Q_ref`` and the virtual energy queue and its driver by the energy budget it
is driven against (see :class:`isac_iov.scenario.Normalisers`), so that the
weighted sums mix dimensionless numbers.
"""

from __future__ import annotations

import numpy as np

from .sums import divide_where, sum_last, sum_over_cvs


def cv_cost(
    delay_s: np.ndarray, energy_j: np.ndarray, alpha: float, delay_ref_s: float, energy_ref_j: float
) -> np.ndarray:
    """Eq. (24), normalised: ``alpha T / tau + (1 - alpha) E / E_ref`` per CV."""
    return alpha * delay_s / delay_ref_s + (1.0 - alpha) * energy_j / energy_ref_j


def system_cost(cost_per_cv: np.ndarray) -> np.ndarray:
    """Eq. (25): the sum of the per-CV costs."""
    return cost_per_cv.sum(axis=-1)


def queue_drift_terms(q: np.ndarray, arrivals: np.ndarray, service: np.ndarray, ref: float) -> np.ndarray:
    """The per-queue summands ``Q (arrivals - service)`` of a drift term of eq. (44), each factor over ``ref``."""
    return (q / ref) * ((arrivals - service) / ref)


def queue_drift(q: np.ndarray, arrivals: np.ndarray, service: np.ndarray, ref: float) -> np.ndarray:
    """One drift term of eq. (44): ``sum Q (arrivals - service)``, each factor divided by ``ref``."""
    return queue_drift_terms(q, arrivals, service, ref).sum(axis=-1)


def per_cv_objective(
    v_control: float,
    cost_per_cv: np.ndarray,
    local_terms: np.ndarray,
    rsu_terms: np.ndarray,
    link_arrivals: np.ndarray,
    energy_terms: np.ndarray,
) -> np.ndarray:
    """Eq. (39) split over CVs ``(..., I)``; the shares sum exactly to the system objective.

    CV i owns its cost, its local-queue and energy-queue summands and a share of
    each RSU's summand ``rsu_terms (..., K)`` in proportion to its arrivals there
    ``link_arrivals (..., I, K)`` (equal shares at an RSU nobody sends to).
    """
    total = sum_over_cvs(link_arrivals, keepdims=True)
    weight = divide_where(link_arrivals, total, total > 0, 1.0 / link_arrivals.shape[-2])
    return v_control * cost_per_cv + local_terms + sum_last(weight * rsu_terms[..., None, :]) + energy_terms


def drift_plus_penalty(
    v_control: float, cost: np.ndarray, local_drift: np.ndarray, rsu_drift: np.ndarray, energy_drift: np.ndarray
) -> np.ndarray:
    """The per-slot objective of P2, eq. (39); the reward of eq. (44) is its negative."""
    return v_control * cost + local_drift + rsu_drift + energy_drift
