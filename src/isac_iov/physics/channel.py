"""V2I channel and mobility: eqs. (1)-(2) and the coverage rule (docs/model.md#distance, #coverage).

Shapes: vehicles ``(..., I)``, RSUs ``(K,)``, links ``(..., I, K)``.  Positions are 2-D plane coordinates
``(x, y)`` for vehicles and RSUs alike; on the built-in straight road ``x`` runs along the road and ``y`` across
it, and a trace (docs/model.md#mobility) gives any ``(x, y)``.
"""

from __future__ import annotations

import numpy as np


def distance_m(
    x_m: np.ndarray, y_m: np.ndarray, rsu_x_m: np.ndarray, rsu_y_m: np.ndarray, rsu_height_m: float
) -> np.ndarray:
    """Eq. (2): 3-D distance from each CV at ``(x_i(t), y_i(t))`` to each RSU at ``(x_k, y_k)``, height ``H_k``.

    The live position is used (docs/model.md#distance), so mobility changes the channel; on the straight
    road ``y_k`` is the lateral offset ``l_k`` of every RSU unless ``rsu.y_m`` places them.
    """
    dx = rsu_x_m - x_m[..., None]
    dy = y_m[..., None] - rsu_y_m
    return np.sqrt(dx * dx + dy * dy + rsu_height_m * rsu_height_m)


def path_gain(distance: np.ndarray, intercept_db: float, slope_db: float) -> np.ndarray:
    """Large-scale gain g of eq. (1): ``intercept_db - slope_db * log10(d)`` in dB, as a linear ratio."""
    return np.exp((intercept_db - slope_db * np.log10(distance)) * (np.log(10.0) / 10.0))


def spectral_efficiency(fading_power: np.ndarray, gain: np.ndarray, tx_power_w: float, noise_w: float) -> np.ndarray:
    """``log2(1 + P |h|^2 g / sigma^2)`` of eq. (1), in bit/s/Hz over the whole band."""
    return np.log2(1.0 + tx_power_w * fading_power * gain / noise_w)


def rate_bps(
    bandwidth_share: np.ndarray | float, spectral_eff: np.ndarray, bandwidth_hz: float, sensing_gain: float
) -> np.ndarray:
    """Eq. (1): ``R = Theta * b * B * log2(1 + SNR)`` in bit/s."""
    return sensing_gain * bandwidth_share * bandwidth_hz * spectral_eff


def in_coverage(distance: np.ndarray, coverage_m: float) -> np.ndarray:
    """docs/model.md#coverage: an RSU is reachable in a slot iff it is within its coverage radius."""
    return distance <= coverage_m


def advance_positions(x_m: np.ndarray, velocity_mps: np.ndarray, slot_s: float, road_length_m: float) -> np.ndarray:
    """``x_i(t+1) = x_i(t) + v_i tau`` (eq. 2), wrapping around at the road's ends."""
    return np.mod(x_m + velocity_mps * slot_s, road_length_m)
