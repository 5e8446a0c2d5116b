"""Queues: local (16), RSU (17), virtual energy (27), Little's-law delay (18) and the backlog wait."""

from __future__ import annotations

import numpy as np


def local_queue_next(
    q_cycles: np.ndarray, cpu_hz: np.ndarray, slot_s: float, arrivals_cycles: np.ndarray
) -> np.ndarray:
    """Eq. (16): ``Q_loc(t+1) = max(Q_loc - C_cpu tau + lambda_loc, 0)``."""
    return np.maximum(q_cycles - cpu_hz * slot_s + arrivals_cycles, 0.0)


def rsu_queue_next(
    q_cycles: np.ndarray, service_hz: np.ndarray, slot_s: float, arrivals_cycles: np.ndarray
) -> np.ndarray:
    """Eq. (17): ``Q_rsu(t+1) = max(Q_rsu - F tau + sum_i lambda_i,k, 0)``."""
    return np.maximum(q_cycles - service_hz * slot_s + arrivals_cycles, 0.0)


def energy_queue_next(v_j: np.ndarray, energy_j: np.ndarray, budget_j: np.ndarray | float) -> np.ndarray:
    """Eq. (27): ``V(t+1) = max(V - E^max + E, 0)``."""
    return np.maximum(v_j - budget_j + energy_j, 0.0)


def local_arrivals_cycles(share_local: np.ndarray, data_bits: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """Term (II) of eq. (16): ``lambda_loc = l_loc G I_task``."""
    return share_local * data_bits * intensity


def rsu_arrivals_cycles(
    share_rsu: np.ndarray, data_bits: np.ndarray, intensity: np.ndarray, cotransform: np.ndarray, eta: np.ndarray
) -> np.ndarray:
    """Term (I) of eq. (17) per link: ``l_k G (eta I_co-tra + I_task)``; sum over CVs for the RSU."""
    per_bit = eta * cotransform[..., None] + intensity[..., None]
    return share_rsu * data_bits[..., None] * per_bit


def backlog_wait_s(q_cycles: np.ndarray, service_hz: np.ndarray | float) -> np.ndarray:
    """Queueing delay of a new part that waits for the backlog ahead of it: ``Q / service rate``.

    The default replacement of eq. (18) (docs/model.md#queueing-delay): bounded
    by the backlog, whatever share the part has.
    """
    return q_cycles / service_hz


def littles_law_delay_s(queue_window_sum: np.ndarray, arrival_window_sum: np.ndarray, slot_s: float) -> np.ndarray:
    """Eq. (18): ``D_queue = mean(Q) / mean(lambda)`` over the last m slots, in seconds.

    Both sums run over the same window, so the ratio of sums equals the ratio of
    means.  With no arrivals in the window the delay is zero (docs/model.md#queueing-delay).
    """
    out = np.zeros(np.broadcast(queue_window_sum, arrival_window_sum).shape)
    np.divide(queue_window_sum, arrival_window_sum, out=out, where=arrival_window_sum > 0)
    return out * slot_s
