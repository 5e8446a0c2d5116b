"""Scenario constants and random draws derived from a :class:`~isac_iov.config.Config`.

:class:`Scenario` turns the config into arrays (RSU positions, available RSU
CPU) and the normalisers of docs/model.md#normalisation, and draws vehicles, tasks (eq. 4)
and Rayleigh fading from a NumPy ``Generator``.  All draws are batched over
``(envs, vehicles[, rsus])``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Config, Range


@dataclass(frozen=True)
class Normalisers:
    """Scales that make eq. (24) and eq. (44) dimensionless (docs/model.md#normalisation).

    ``delay_ref_s`` is the slot length tau; ``energy_ref_j`` is the energy of a
    mean task run locally at the mean CV speed (eq. 6); ``queue_ref_cycles`` is
    the cycles of a mean task (``mean G * mean I_task``); ``energy_queue_ref_j``
    scales the virtual energy queue and its driver in eq. (44): the budget
    each ``V_i`` is driven against (``E^max / I`` per CV, or ``E^max`` for the
    system-wide queue), so the queue is measured in slots' worth of budget.
    """

    delay_ref_s: float
    energy_ref_j: float
    queue_ref_cycles: float
    energy_queue_ref_j: float

    @classmethod
    def from_config(cls, cfg: Config) -> Normalisers:
        cycles = cfg.task.data_bits.mean * cfg.task.intensity_cycles_per_bit.mean
        return cls(
            delay_ref_s=cfg.slot_s,
            energy_ref_j=cfg.vehicle.kappa * cfg.vehicle.cpu_hz.mean**2 * cycles,
            queue_ref_cycles=cycles,
            energy_queue_ref_j=cfg.lyapunov.energy_budget_j_per_cv
            * (cfg.num_cvs if cfg.lyapunov.energy_queue == "system" else 1),
        )


@dataclass
class Physical:
    """The physical state of one slot, batched ``(E, I)`` or ``(E, I, K)``."""

    x_m: np.ndarray
    y_m: np.ndarray
    velocity_mps: np.ndarray
    cpu_hz: np.ndarray
    data_bits: np.ndarray
    instruction_bits: np.ndarray
    intensity_cycles_per_bit: np.ndarray
    cotransform_cycles_per_bit: np.ndarray
    fading_power: np.ndarray

    def take(self, index: np.ndarray | slice | int) -> Physical:
        """The same state restricted (or repeated) along the env axis."""
        return Physical(**{k: v[index] for k, v in vars(self).items()})


def _uniform(rng: np.random.Generator, r: Range, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(r.low, r.high, shape) if r.high > r.low else np.full(shape, r.low)


class Scenario:
    """Constants and samplers for one config; ``I`` CVs and ``K`` RSUs."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.num_cvs = cfg.num_cvs
        self.num_rsus = cfg.num_rsus
        self.rsu_x_m = np.asarray(cfg.rsu.x_m, dtype=float)
        self.rsu_available_hz = cfg.rsu.cpu_max_hz * (1.0 - cfg.rsu.twin_reserve_fraction)
        self.norm = Normalisers.from_config(cfg)

    def lane_y_m(self, lane: np.ndarray) -> np.ndarray:
        """Lateral lane centre: lanes are numbered south to north around the centre line."""
        n = self.cfg.road.num_lanes
        return (lane - (n - 1) / 2.0) * self.cfg.road.lane_width_m

    def lane_direction(self, lane: np.ndarray) -> np.ndarray:
        """+1 (eastbound) for the southern half of the lanes, -1 (westbound) for the northern half."""
        return np.where(lane < self.cfg.road.num_lanes / 2.0, 1.0, -1.0)

    def draw_vehicles(self, rng: np.random.Generator, num_envs: int) -> dict[str, np.ndarray]:
        """Initial positions, lanes, speeds and CPU speeds, fixed for an episode."""
        shape = (num_envs, self.num_cvs)
        v = self.cfg.vehicle
        lane = rng.integers(int(v.lane.low), int(v.lane.high) + 1, shape)
        return {
            "x_m": _uniform(rng, v.initial_x_m, shape),
            "y_m": self.lane_y_m(lane),
            "velocity_mps": self.lane_direction(lane) * _uniform(rng, v.speed_mps, shape),
            "cpu_hz": _uniform(rng, v.cpu_hz, shape),
        }

    def draw_tasks(self, rng: np.random.Generator, num_envs: int) -> dict[str, np.ndarray]:
        """Eq. (4): one task per CV per slot, plus this slot's Rayleigh fading power ``|h|^2``."""
        shape = (num_envs, self.num_cvs)
        t = self.cfg.task
        fading_shape = shape + (self.num_rsus,)
        fading = rng.exponential(1.0, fading_shape) if self.cfg.channel.fading else np.ones(fading_shape)
        return {
            "data_bits": _uniform(rng, t.data_bits, shape),
            "instruction_bits": _uniform(rng, t.instruction_bits, shape),
            "intensity_cycles_per_bit": _uniform(rng, t.intensity_cycles_per_bit, shape),
            "cotransform_cycles_per_bit": _uniform(rng, t.cotransform_cycles_per_bit, shape),
            "fading_power": fading,
        }

    def new_physical(self, rng: np.random.Generator, num_envs: int) -> Physical:
        return Physical(**self.draw_vehicles(rng, num_envs), **self.draw_tasks(rng, num_envs))
