"""The scenario config's schema: Table II of the paper plus the values it leaves open.

A :class:`Config` is a tree of frozen dataclasses.  Every random quantity is a ``[low, high]`` pair (a
:class:`Range`), so ``[a, a]`` fixes it.  Each key declares once, in its field metadata (:func:`_key`), the
Table II row (or the docs/model.md section) it comes from, its plausible range (docs/model.md#plausible-ranges)
and its choices; :data:`KEYS`, :data:`TABLE_II`, :data:`CHOICES` and :data:`PLAUSIBLE_RANGES` collect them for
validation (:mod:`.checks`) and for ``isac-iov config`` (:mod:`.table`).  Reading YAML files and ``--set``
overrides into a Config is :mod:`.load`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Range:
    """A closed interval ``[low, high]`` from which a quantity is drawn uniformly."""

    low: float
    high: float

    @property
    def mean(self) -> float:
        return 0.5 * (self.low + self.high)

    def to_list(self) -> list[float]:
        return [float(self.low), float(self.high)]


def _key(
    default: Any,
    source: str,
    bounds: tuple[float, float] | None = None,
    choices: tuple[str, ...] | None = None,
    allowed: str | None = None,
) -> Any:
    """A config key with its documentation: ``source`` (its Table II row, or the docs/model.md section that
    settles it), plausible ``bounds`` (docs/model.md#plausible-ranges; both ends of a range, every entry of
    a list), the allowed ``choices``, or, for a free-form string, a description of what it ``allowed``.
    ``isac-iov config``, validation and the tables below read these."""
    return field(default=default, metadata={"source": source, "bounds": bounds, "choices": choices, "allowed": allowed})


@dataclass(frozen=True)
class RoadConfig:
    length_m: float = _key(700.0, "Sec. VII-A: road length 700 m", bounds=(1.0, 1e6))
    lane_width_m: float = _key(3.75, "Table II: lane width L0 = 3.75 m", bounds=(0.01, 1000.0))
    num_lanes: int = _key(4, "Sec. VII-A: four-lane road", bounds=(1, 1000))


@dataclass(frozen=True)
class RsuConfig:
    x_m: tuple[float, ...] = _key(
        (200.0, 350.0, 500.0),
        "docs/model.md#values-the-paper-leaves-open: 3 RSUs 150 m apart (Table II), centred",
        bounds=(0.0, 1e6),
    )
    y_m: tuple[float, ...] = _key(
        (),
        "docs/model.md#distance: RSU y coordinates, one per rsu.x_m; empty = rsu.lateral_offset_m for every RSU",
        bounds=(-1e6, 1e6),
    )
    lateral_offset_m: float = _key(9.375, "Sec. VII-A text l_k = 9.375 m (Table II says 9.75)", bounds=(0.0, 10000.0))
    height_m: float = _key(10.0, "Table II: RSU height H_k = 10 m", bounds=(0.01, 10000.0))
    coverage_m: float = _key(200.0, "Table II: coverage radius 200 m", bounds=(1.0, 1e6))
    cpu_max_hz: float = _key(20e9, "Table II: RSU computing resources F^rsu,max = 20 GHz", bounds=(1e6, 1e15))
    twin_reserve_fraction: float = _key(
        0.1, "docs/model.md#values-the-paper-leaves-open: C^twin = 10 % of F^rsu,max (C6)", bounds=(0.0, 0.99)
    )
    kappa: float = _key(1e-28, "Table II: RSU energy coefficient kappa_rsu = 1e-28", bounds=(1e-36, 1e-20))
    service: str = _key(
        "work_conserving",
        "docs/model.md#rsu-service: eq. (17) service rate (our choice)",
        choices=("work_conserving", "allocated", "capacity"),
    )


@dataclass(frozen=True)
class ChannelConfig:
    bandwidth_hz: float = _key(20e6, "Table II: bandwidth B = 20 MHz", bounds=(1000.0, 1e12))
    noise_w: float = _key(1e-13, "Table II: AWGN sigma_0^2 = 1e-13 W", bounds=(1e-20, 1e-6))
    tx_power_w: float = _key(1.0, "Table II: transmission power P_i = 1 W", bounds=(1e-6, 10000.0))
    sensing_gain: float = _key(1.5, "Table II: communication gain factor Theta = 1.5", bounds=(0.001, 1000.0))
    pathloss_intercept_db: float = _key(-38.4, "Sec. III-C: path loss -38.4 - 21 log10(d)", bounds=(-200.0, 0.0))
    pathloss_slope_db: float = _key(21.0, "Sec. III-C: path loss -38.4 - 21 log10(d)", bounds=(0.1, 100.0))
    fading: bool = _key(True, "Sec. III-C: Rayleigh small-scale fading h ~ CN(0, 1)")
    bandwidth_sharing: str = _key(
        "per_cv", "docs/model.md#bandwidth: per-CV band (C4) or per-RSU shared band", choices=("per_cv", "per_rsu")
    )


@dataclass(frozen=True)
class VehicleConfig:
    speed_mps: Range = _key(Range(12.0, 16.0), "Table II: vehicle speed in [12, 16] m/s", bounds=(0.0, 10000.0))
    cpu_hz: Range = _key(Range(2e9, 3e9), "Table II: CV computation capacity in [2, 3] GHz", bounds=(1e6, 1e13))
    kappa: float = _key(1e-26, "Table II: vehicle energy coefficient kappa_cv = 1e-26", bounds=(1e-34, 1e-18))
    initial_x_m: Range = _key(Range(0.0, 700.0), "not in the paper: initial position on the road", bounds=(0.0, 1e6))
    lane: Range = _key(
        Range(0, 3), "not in the paper: initial lane index (0-1 eastbound, 2-3 westbound)", bounds=(0.0, 999.0)
    )


@dataclass(frozen=True)
class TaskConfig:
    data_bits: Range = _key(Range(1e6, 3e6), "Table II: task data volume in [1, 3] Mb", bounds=(1.0, 1e12))
    instruction_bits: Range = _key(
        Range(1e4, 5e4), "docs/model.md#values-the-paper-leaves-open: G^InsD uniform 10-50 kbit", bounds=(1.0, 1e12)
    )
    intensity_cycles_per_bit: Range = _key(
        Range(1500.0, 2000.0), "Table II: task intensity in [1500, 2000] cycles/bit", bounds=(1.0, 1e7)
    )
    cotransform_cycles_per_bit: Range = _key(
        Range(100.0, 500.0), "Table II: coordinate transformation in [100, 500] cycles/bit", bounds=(0.0, 1e7)
    )
    deadline_s: float = _key(
        1.0, "docs/model.md#values-the-paper-leaves-open: T^max (C8), calibrated", bounds=(0.001, 1e6)
    )


@dataclass(frozen=True)
class LyapunovConfig:
    v_control: float = _key(5.0, "Table II: Lyapunov control parameter V = 5", bounds=(0.001, 1e6))
    alpha: float = _key(
        0.6, "docs/model.md#values-the-paper-leaves-open: alpha = 0.6 (Fig. 6), eq. (24)", bounds=(0.0, 1.0)
    )
    energy_budget_j_per_cv: float = _key(
        22.0, "docs/model.md#values-the-paper-leaves-open: E^max / I (C3), calibrated", bounds=(0.001, 1e15)
    )
    energy_queue: str = _key(
        "per_cv", "docs/model.md#energy-queue: virtual energy queue per CV or system-wide", choices=("per_cv", "system")
    )
    window_slots: int = _key(
        10,
        "docs/model.md#values-the-paper-leaves-open: Little's-law window m = 10 slots (eq. 18)",
        bounds=(1, 1_000_000),
    )
    queue_delay: str = _key(
        "backlog",
        "docs/model.md#queueing-delay: backlog / service rate, or eq. (18) as printed",
        choices=("backlog", "littles_law"),
    )


@dataclass(frozen=True)
class ActionConfig:
    min_task_share: float = _key(
        0.05, "docs/model.md#action-mapping: smallest task part sent anywhere (C5)", bounds=(0.0, 0.5)
    )
    min_resource_share: float = _key(
        0.01, "docs/model.md#action-mapping: bandwidth/CPU weight floor of a used link", bounds=(0.0001, 1.0)
    )


@dataclass(frozen=True)
class TwinConfig:
    enabled: bool = _key(True, "Ly-DTMPO (True) vs DT-absent Ly-MAPPO (False), docs/model.md#the-digital-twin")
    lag_slots: int = _key(0, "beyond the paper: twin lag in slots", bounds=(0, 1_000_000))
    noise_std: float = _key(0.0, "beyond the paper: relative noise on the twin's global view", bounds=(0.0, 10.0))


@dataclass(frozen=True)
class MobilityConfig:
    source: str = _key(
        "builtin",
        "docs/model.md#mobility: the straight road of eq. (2), or a recorded SUMO trace replayed",
        allowed="builtin | a shipped trace name | PATH.npz",
    )


@dataclass(frozen=True)
class Config:
    num_cvs: int = _key(5, "Table II: number of vehicles N in [2, 6]; 5 in Sec. VII-C", bounds=(1, 1_000_000))
    episode_slots: int = _key(30, "Table II: steps per episode = 30", bounds=(1, 1_000_000))
    slot_s: float = _key(1.0, "Table II: duration of time slots tau = 1 s", bounds=(0.001, 10000.0))
    road: RoadConfig = field(default_factory=RoadConfig)
    rsu: RsuConfig = field(default_factory=RsuConfig)
    channel: ChannelConfig = field(default_factory=ChannelConfig)
    vehicle: VehicleConfig = field(default_factory=VehicleConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    lyapunov: LyapunovConfig = field(default_factory=LyapunovConfig)
    action: ActionConfig = field(default_factory=ActionConfig)
    twin: TwinConfig = field(default_factory=TwinConfig)
    mobility: MobilityConfig = field(default_factory=MobilityConfig)

    @property
    def num_rsus(self) -> int:
        return len(self.rsu.x_m)

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    def digest(self) -> str:
        """A short stable hash of the effective config (for run caching)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _declared(cls: type, prefix: str = "") -> dict[str, dict[str, Any]]:
    """``{dotted key: field metadata}`` of every leaf key of ``cls``, in declaration order."""
    hints = typing.get_type_hints(cls)
    out: dict[str, dict[str, Any]] = {}
    for f in dataclasses.fields(cls):
        if f.metadata:
            out[prefix + f.name] = dict(f.metadata)
        else:
            out.update(_declared(hints[f.name], prefix + f.name + "."))
    return out


KEYS = _declared(Config)
TABLE_II: dict[str, str] = {key: meta["source"] for key, meta in KEYS.items()}
CHOICES: dict[str, tuple[str, ...]] = {key: meta["choices"] for key, meta in KEYS.items() if meta["choices"]}
# The closed interval [low, high] each numeric key (both ends of a range, every entry of a list) must lie in.
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {key: meta["bounds"] for key, meta in KEYS.items() if meta["bounds"]}
MAX_RSUS = 1000  # entries of a list key (rsu.x_m, rsu.y_m)
SCENARIO_DIR = Path(__file__).parent.parent / "scenarios"  # the shipped scenarios (NAME.yaml) and traces (NAME.npz)


def show(value: Any) -> str:
    """``repr`` of a config value, with huge integers shortened to their digit count."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"<{len(str(abs(value)))}-digit integer>"
    return repr(value)


def to_plain(obj: Any) -> Any:
    """A config (or a part of one) as plain YAML/JSON data: ranges and tuples as lists, sections as dicts."""
    if isinstance(obj, Range):
        return obj.to_list()
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [to_plain(v) for v in obj]
    return obj


def flat_items(cfg: Config) -> dict[str, Any]:
    """``{dotted key: value}`` of every leaf key of ``cfg``, in declaration order."""
    out: dict[str, Any] = {}

    def walk(obj: Any, prefix: str) -> None:
        for f in dataclasses.fields(obj):
            val = getattr(obj, f.name)
            if dataclasses.is_dataclass(val) and not isinstance(val, Range):
                walk(val, prefix + f.name + ".")
            else:
                out[prefix + f.name] = val

    walk(cfg, "")
    return out
