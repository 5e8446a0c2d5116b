"""Local and RSU computing, uploads and mode choice: eqs. (5)-(15), (19)-(23).

Vehicle arrays are ``(..., I)``; link arrays ``(..., I, K)``.  A link with a
zero task share contributes zero time and zero energy; its rate and CPU may be
zero too (the safe divisions below never produce NaN or inf for it).
"""

from __future__ import annotations

import numpy as np

from .sums import divide_where, max_last, sum_last


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` where ``num > 0``; 0 where ``num == 0`` (unused links)."""
    return divide_where(num, den, num > 0, 0.0)


def local_delay_s(
    share_local: np.ndarray, data_bits: np.ndarray, intensity: np.ndarray, cpu_hz: np.ndarray
) -> np.ndarray:
    """Eq. (5): ``D_loc = l_loc G I_task / C_cpu``."""
    return share_local * data_bits * intensity / cpu_hz


def local_energy_j(delay_s: np.ndarray, cpu_hz: np.ndarray, kappa: float) -> np.ndarray:
    """Eq. (6): ``E_loc = kappa_cv D_loc C_cpu^3``."""
    return kappa * delay_s * cpu_hz**3


def datat_upload_s(share_rsu: np.ndarray, data_bits: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Eq. (7): raw-data upload time ``l_k G / R``."""
    return _safe_div(share_rsu * data_bits[..., None], rate)


def datat_upload_energy_j(upload_s: np.ndarray, tx_power_w: float) -> np.ndarray:
    """Eq. (8): ``E_DataT = D_DataT P``."""
    return upload_s * tx_power_w


def instruction_upload_s(used: np.ndarray, instruction_bits: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Eq. (9): ``G_InsD / R``; each RSU that gets a share receives the whole instruction."""
    return _safe_div(used * instruction_bits[..., None], rate)


def rsu_cycles_time_s(
    share_rsu: np.ndarray, data_bits: np.ndarray, intensity: np.ndarray, rsu_cpu_hz: np.ndarray
) -> np.ndarray:
    """Eqs. (10) and (13): ``l_k G I / F`` for the coordinate transformation or the task."""
    return _safe_div(share_rsu * (data_bits * intensity)[..., None], rsu_cpu_hz)


def rsu_energy_j(delay_s: np.ndarray, rsu_cpu_hz: np.ndarray, kappa: float) -> np.ndarray:
    """Eqs. (11) and (14): ``kappa_rsu D F^3``."""
    return kappa * delay_s * rsu_cpu_hz * rsu_cpu_hz * rsu_cpu_hz


def select_mode(used: np.ndarray, datat_s: np.ndarray, instrt_s: np.ndarray) -> np.ndarray:
    """Eqs. (12), (22) as settled in docs/model.md#mode: ``eta = 1`` (InstrT) iff it is strictly faster.

    ``instrt_s`` is the instruction upload (9) plus the coordinate transformation (10).
    Unused links get ``eta = 0``.
    """
    return used & (instrt_s < datat_s)


# Link mode codes (docs/model.md#mode) and their names, indexed by code.
MODE_UNUSED, MODE_DATAT, MODE_INSTRT = 0, 1, 2
MODE_NAMES = ("-", "DataT", "InstrT")


def link_mode(used: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """The mode code of each link from its use and its :func:`select_mode` choice (``eta`` implies ``used``)."""
    return used.astype(int) + eta.astype(int)


def task_delay_s(
    share_local: np.ndarray, local_total_s: np.ndarray, used: np.ndarray, rsu_total_s: np.ndarray
) -> np.ndarray:
    """Eqs. (19), (21): the max over the local part and every RSU part with a non-zero share."""
    loc = np.where(share_local > 0, local_total_s, 0.0)
    rsu = max_last(np.where(used, rsu_total_s, 0.0))
    return np.maximum(loc, rsu)


def task_energy_j(
    local_j: np.ndarray, eta: np.ndarray, datat_j: np.ndarray, cotransform_j: np.ndarray, compute_j: np.ndarray
) -> np.ndarray:
    """Eq. (23): ``E_loc + sum_k [(1 - eta) E_DataT + eta E_co-tra + E_compt]``."""
    return local_j + sum_last(np.where(eta, cotransform_j, datat_j)) + sum_last(compute_j)
