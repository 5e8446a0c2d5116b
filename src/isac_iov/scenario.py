"""Scenario constants, random draws and mobility derived from a :class:`~isac_iov.config.Config`.

:class:`Scenario` turns the config into arrays (RSU positions ``(x, y)``, available RSU
CPU) and the normalisers of docs/model.md#normalisation, and draws vehicles, tasks (eq. 4)
and Rayleigh fading from a NumPy ``Generator``.  All draws are batched over
``(envs, vehicles[, rsus])``.

Mobility (docs/model.md#mobility): with ``mobility.source: builtin`` the CVs drive the straight road of
eq. (2) (:meth:`Scenario.draw_vehicles` draws lane, position and speed, :meth:`Scenario.advance_vehicles`
moves them and wraps them at the road's ends); with a trace, each env starts at a random row of the trace
and every slot reads the next row (:meth:`isac_iov.mobility.trace.Trace.replay`); its CVs ride in columns
drawn per episode (docs/model.md#agents-and-vehicles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Config, Range, check_trace
from .mobility.trace import Trace
from .physics import channel


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


def rsu_available_hz(cfg: Config) -> float:
    """``F^max - C^twin``: an RSU's CPU left to the CVs' parts once the twin has its reserve."""
    return cfg.rsu.cpu_max_hz * (1.0 - cfg.rsu.twin_reserve_fraction)


@dataclass
class Physical:
    """The physical state of one slot, batched ``(E, I)`` or ``(E, I, K)``."""

    x_m: np.ndarray
    y_m: np.ndarray
    velocity_x_mps: np.ndarray
    velocity_y_mps: np.ndarray
    handover: np.ndarray  # (E, I) bool: the CV's trace vehicle changed with this slot (always False on the road)
    trace_row: np.ndarray  # (E,) the trace row of this slot (-1 with builtin mobility)
    trace_column: np.ndarray  # (E, I) the trace column each CV rides in (-1 with builtin mobility)
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
        # docs/model.md#distance: the lateral offset l_k at every RSU unless rsu.y_m places them
        self.rsu_y_m = (
            np.asarray(cfg.rsu.y_m, dtype=float) if cfg.rsu.y_m else np.full(self.num_rsus, cfg.rsu.lateral_offset_m)
        )
        self.trace: Trace | None = None if cfg.mobility.source == "builtin" else check_trace(cfg)
        self.rsu_available_hz = rsu_available_hz(cfg)
        self.norm = Normalisers.from_config(cfg)

    def lane_y_m(self, lane: np.ndarray) -> np.ndarray:
        """Lateral lane centre: lanes are numbered south to north around the centre line."""
        n = self.cfg.road.num_lanes
        return (lane - (n - 1) / 2.0) * self.cfg.road.lane_width_m

    def lane_direction(self, lane: np.ndarray) -> np.ndarray:
        """+1 (eastbound) for the southern half of the lanes, -1 (westbound) for the northern half."""
        return np.where(lane < self.cfg.road.num_lanes / 2.0, 1.0, -1.0)

    def draw_vehicles(self, rng: np.random.Generator, num_envs: int) -> dict[str, np.ndarray]:
        """Initial positions and velocities, and CPU speeds, fixed for an episode.

        Builtin: lane, position and speed on the road (a lane's direction signs its velocity).  Trace: each
        env's start row and its CVs' columns (:meth:`isac_iov.mobility.trace.Trace.draw_start`), each column
        occupied for the whole episode; no handover at the start.
        """
        shape = (num_envs, self.num_cvs)
        v = self.cfg.vehicle
        if self.trace is None:
            lane = rng.integers(int(v.lane.low), int(v.lane.high) + 1, shape)
            motion = {
                "x_m": _uniform(rng, v.initial_x_m, shape),
                "y_m": self.lane_y_m(lane),
                "velocity_x_mps": self.lane_direction(lane) * _uniform(rng, v.speed_mps, shape),
                "velocity_y_mps": np.zeros(shape),
                "trace_row": np.full(num_envs, -1),
                "trace_column": np.full(shape, -1),
            }
        else:
            rows, columns = self.trace.draw_start(rng, num_envs, self.num_cvs, self.cfg.episode_slots + 1)
            motion = {**self.trace.replay(rows, columns), "trace_row": rows, "trace_column": columns}
        motion["handover"] = np.zeros(shape, dtype=bool)
        return {**motion, "cpu_hz": _uniform(rng, v.cpu_hz, shape)}

    def advance_vehicles(self, phys: Physical) -> None:
        """Move every CV by one slot: eq. (2) on the road (wrapping at its ends), or the trace's next row."""
        if self.trace is None:
            phys.x_m = channel.advance_positions(phys.x_m, phys.velocity_x_mps, self.cfg.slot_s, self.cfg.road.length_m)
            return
        phys.trace_row = phys.trace_row + 1
        for name, value in self.trace.replay(phys.trace_row, phys.trace_column).items():
            setattr(phys, name, value)

    def motion_features(self, phys: Physical) -> dict[str, np.ndarray]:
        """The observation's position and velocity features (docs/model.md#mobility), each O(1).

        Builtin: ``x`` over the road length, ``y`` over half the road's width, ``velocity`` (signed, along
        the road) over the top speed.  Trace: ``x`` and ``y`` over the network's bounding box, both
        velocity components over the trace's top speed, and the handover flag.
        """
        cfg = self.cfg
        if self.trace is None:
            return {
                "x": phys.x_m / cfg.road.length_m,
                "y": phys.y_m / (cfg.road.lane_width_m * cfg.road.num_lanes / 2.0),
                "velocity": phys.velocity_x_mps / max(cfg.vehicle.speed_mps.high, 1.0),
            }
        xmin, ymin, xmax, ymax = self.trace.boundary_m
        speed = max(self.trace.max_speed_mps, 1.0)
        # a side under a metre (a straight road's box has no height) is scaled by the other side instead
        width, height = xmax - xmin, ymax - ymin
        return {
            "x": (phys.x_m - xmin) / (width if width >= 1.0 else max(height, 1.0)),
            "y": (phys.y_m - ymin) / (height if height >= 1.0 else max(width, 1.0)),
            "velocity": phys.velocity_x_mps / speed,
            "velocity_y": phys.velocity_y_mps / speed,
            "handover": phys.handover.astype(float),
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
