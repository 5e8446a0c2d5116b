"""Scenario configuration: Table II of the paper plus the values it leaves open.

A :class:`Config` is a tree of frozen dataclasses.  Every random quantity is a
``[low, high]`` pair (a :class:`Range`), so ``[a, a]`` fixes it.  Configs come
from YAML files and ``--set section.key=value`` overrides and are validated
once, here, before any simulation work: unknown keys, wrong types, ``low >
high``, non-positive counts/capacities/bandwidth/slot length and non-finite
numbers raise :class:`ConfigError` naming the offending key and value.

``TABLE_II`` maps each key to the Table II row (or the docs/model.md section) it
comes from; ``isac-iov config`` prints the effective config with it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration key or value is invalid; the message names the key."""


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


@dataclass(frozen=True)
class RoadConfig:
    length_m: float = 700.0
    lane_width_m: float = 3.75
    num_lanes: int = 4


@dataclass(frozen=True)
class RsuConfig:
    x_m: tuple[float, ...] = (200.0, 350.0, 500.0)
    lateral_offset_m: float = 9.375
    height_m: float = 10.0
    coverage_m: float = 200.0
    cpu_max_hz: float = 20e9
    twin_reserve_fraction: float = 0.1
    kappa: float = 1e-28
    service: str = "work_conserving"  # "work_conserving" | "allocated" | "capacity"  (eq. 17, docs/model.md)


@dataclass(frozen=True)
class ChannelConfig:
    bandwidth_hz: float = 20e6
    noise_w: float = 1e-13
    tx_power_w: float = 1.0
    sensing_gain: float = 1.5
    pathloss_intercept_db: float = -38.4
    pathloss_slope_db: float = 21.0
    fading: bool = True
    bandwidth_sharing: str = "per_cv"  # "per_cv" (paper's C4) | "per_rsu"


@dataclass(frozen=True)
class VehicleConfig:
    speed_mps: Range = Range(12.0, 16.0)
    cpu_hz: Range = Range(2e9, 3e9)
    kappa: float = 1e-26
    initial_x_m: Range = Range(0.0, 700.0)
    lane: Range = Range(0, 3)


@dataclass(frozen=True)
class TaskConfig:
    data_bits: Range = Range(1e6, 3e6)
    instruction_bits: Range = Range(1e4, 5e4)
    intensity_cycles_per_bit: Range = Range(1500.0, 2000.0)
    cotransform_cycles_per_bit: Range = Range(100.0, 500.0)
    deadline_s: float = 1.0


@dataclass(frozen=True)
class LyapunovConfig:
    v_control: float = 5.0
    alpha: float = 0.6
    energy_budget_j_per_cv: float = 22.0
    energy_queue: str = "per_cv"  # "per_cv" | "system"
    window_slots: int = 10
    queue_delay: str = "backlog"  # "backlog" (Q / service rate) | "littles_law" (eq. 18 as printed)


@dataclass(frozen=True)
class ActionConfig:
    min_task_share: float = 0.05      # task parts below this share of a task are dropped (C5)
    min_resource_share: float = 0.01  # floor of the bandwidth and CPU weights of a used link (C4, C6)


@dataclass(frozen=True)
class TwinConfig:
    enabled: bool = True
    lag_slots: int = 0
    noise_std: float = 0.0


@dataclass(frozen=True)
class Config:
    num_cvs: int = 5
    episode_slots: int = 30
    slot_s: float = 1.0
    road: RoadConfig = field(default_factory=RoadConfig)
    rsu: RsuConfig = field(default_factory=RsuConfig)
    channel: ChannelConfig = field(default_factory=ChannelConfig)
    vehicle: VehicleConfig = field(default_factory=VehicleConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    lyapunov: LyapunovConfig = field(default_factory=LyapunovConfig)
    action: ActionConfig = field(default_factory=ActionConfig)
    twin: TwinConfig = field(default_factory=TwinConfig)

    @property
    def num_rsus(self) -> int:
        return len(self.rsu.x_m)

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    def digest(self) -> str:
        """A short stable hash of the effective config (for run caching)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


TABLE_II: dict[str, str] = {
    "num_cvs": "Table II: number of vehicles N in [2, 6]; 5 in Sec. VII-C",
    "episode_slots": "Table II: steps per episode = 30",
    "slot_s": "Table II: duration of time slots tau = 1 s",
    "road.length_m": "Sec. VII-A: road length 700 m",
    "road.lane_width_m": "Table II: lane width L0 = 3.75 m",
    "road.num_lanes": "Sec. VII-A: four-lane road",
    "rsu.x_m": "docs/model.md#values-the-paper-leaves-open: 3 RSUs 150 m apart (Table II spacing) centred on the road",
    "rsu.lateral_offset_m": "Sec. VII-A text l_k = 9.375 m (Table II says 9.75)",
    "rsu.height_m": "Table II: RSU height H_k = 10 m",
    "rsu.coverage_m": "Table II: coverage radius 200 m",
    "rsu.cpu_max_hz": "Table II: RSU computing resources F^rsu,max = 20 GHz",
    "rsu.twin_reserve_fraction": "docs/model.md#values-the-paper-leaves-open: C^twin = 10 % of F^rsu,max (C6)",
    "rsu.kappa": "Table II: RSU energy coefficient kappa_rsu = 1e-28",
    "rsu.service": "docs/model.md#rsu-service: eq. (17) service rate (our choice)",
    "channel.bandwidth_hz": "Table II: bandwidth B = 20 MHz",
    "channel.noise_w": "Table II: AWGN sigma_0^2 = 1e-13 W",
    "channel.tx_power_w": "Table II: transmission power P_i = 1 W",
    "channel.sensing_gain": "Table II: communication gain factor Theta = 1.5",
    "channel.pathloss_intercept_db": "Sec. III-C: path loss -38.4 - 21 log10(d)",
    "channel.pathloss_slope_db": "Sec. III-C: path loss -38.4 - 21 log10(d)",
    "channel.fading": "Sec. III-C: Rayleigh small-scale fading h ~ CN(0, 1)",
    "channel.bandwidth_sharing": "docs/model.md#bandwidth: per-CV band (C4) or per-RSU shared band",
    "vehicle.speed_mps": "Table II: vehicle speed in [12, 16] m/s",
    "vehicle.cpu_hz": "Table II: CV computation capacity in [2, 3] GHz",
    "vehicle.kappa": "Table II: vehicle energy coefficient kappa_cv = 1e-26",
    "vehicle.initial_x_m": "not in the paper: initial position on the road",
    "vehicle.lane": "not in the paper: initial lane index (0-1 eastbound, 2-3 westbound)",
    "task.data_bits": "Table II: task data volume in [1, 3] Mb",
    "task.instruction_bits": "docs/model.md#values-the-paper-leaves-open: G^InsD uniform 10-50 kbit",
    "task.intensity_cycles_per_bit": "Table II: task intensity in [1500, 2000] cycles/bit",
    "task.cotransform_cycles_per_bit": "Table II: coordinate transformation in [100, 500] cycles/bit",
    "task.deadline_s": "docs/model.md#values-the-paper-leaves-open: T^max (C8), calibrated",
    "lyapunov.v_control": "Table II: Lyapunov control parameter V = 5",
    "lyapunov.alpha": "docs/model.md#values-the-paper-leaves-open: alpha = 0.6 (Fig. 6), eq. (24)",
    "lyapunov.energy_budget_j_per_cv": "docs/model.md#values-the-paper-leaves-open: E^max / I (C3), calibrated",
    "lyapunov.energy_queue": "docs/model.md#energy-queue: virtual energy queue per CV or system-wide",
    "lyapunov.window_slots": "docs/model.md#values-the-paper-leaves-open: Little's-law window m = 10 slots (eq. 18)",
    "lyapunov.queue_delay": "docs/model.md#queueing-delay: backlog / service rate, or eq. (18) as printed",
    "action.min_task_share": "docs/model.md#action-mapping: smallest task part sent anywhere (C5)",
    "action.min_resource_share": "docs/model.md#action-mapping: bandwidth/CPU weight floor of a used link",
    "twin.enabled": "Ly-DTMPO (True) vs DT-absent Ly-MAPPO (False), docs/model.md#the-digital-twin",
    "twin.lag_slots": "beyond the paper: twin lag in slots",
    "twin.noise_std": "beyond the paper: relative noise on the twin's global view",
}

_CHOICES = {
    "rsu.service": ("work_conserving", "allocated", "capacity"),
    "lyapunov.queue_delay": ("backlog", "littles_law"),
    "channel.bandwidth_sharing": ("per_cv", "per_rsu"),
    "lyapunov.energy_queue": ("per_cv", "system"),
}
# Keys that must be > 0 (counts, capacities, bandwidth, slot length, ...).
_POSITIVE = {
    "num_cvs", "episode_slots", "slot_s", "road.length_m", "road.lane_width_m",
    "road.num_lanes", "rsu.height_m", "rsu.coverage_m", "rsu.cpu_max_hz", "rsu.kappa",
    "channel.bandwidth_hz", "channel.noise_w", "channel.tx_power_w", "channel.sensing_gain",
    "channel.pathloss_slope_db", "vehicle.kappa", "vehicle.cpu_hz",
    "task.data_bits", "task.instruction_bits", "task.intensity_cycles_per_bit",
    "task.deadline_s", "lyapunov.v_control", "lyapunov.energy_budget_j_per_cv",
    "lyapunov.window_slots", "action.min_resource_share",
}
_NON_NEGATIVE = {
    "rsu.lateral_offset_m", "vehicle.speed_mps", "vehicle.initial_x_m", "vehicle.lane",
    "task.cotransform_cycles_per_bit", "twin.lag_slots", "twin.noise_std",
}
_UNIT_INTERVAL = {"rsu.twin_reserve_fraction", "lyapunov.alpha", "action.min_task_share",
                  "action.min_resource_share"}


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, Range):
        return obj.to_list()
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_to_plain(v) for v in obj]
    return obj


def _coerce(key: str, value: Any, typ: Any) -> Any:
    """Convert a YAML value to ``typ`` or raise ConfigError naming ``key``."""
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(value)
    if typ is float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: must be finite, got {value!r}")
        return float(value)
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if typ is Range:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ConfigError(f"{key}: expected [low, high], got {value!r}")
        low, high = (_coerce(key, v, float) for v in value)
        if low > high:
            raise ConfigError(f"{key}: low > high in {value!r}")
        return Range(low, high)
    if typing.get_origin(typ) is tuple:
        if not isinstance(value, (list, tuple)) or len(value) == 0:
            raise ConfigError(f"{key}: expected a non-empty list of numbers, got {value!r}")
        return tuple(_coerce(key, v, float) for v in value)
    if dataclasses.is_dataclass(typ):
        return _build(typ, value, prefix=key + ".")
    raise ConfigError(f"{key}: unsupported type {typ}")  # pragma: no cover


def _build(cls: type, data: Any, prefix: str = "") -> Any:
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]!s} (known: {', '.join(sorted(names))})")
    kwargs = {k: _coerce(prefix + k, v, hints[k]) for k, v in data.items()}
    return cls(**kwargs)


def _flat_items(cfg: Config) -> dict[str, Any]:
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


def validate(cfg: Config) -> Config:
    """Check value ranges; raise ConfigError naming the first bad key."""
    for key, val in _flat_items(cfg).items():
        vals = [val.low, val.high] if isinstance(val, Range) else (list(val) if isinstance(val, tuple) else [val])
        for v in vals:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if not math.isfinite(v):
                    raise ConfigError(f"{key}: must be finite, got {val!r}")
                if key in _POSITIVE and v <= 0:
                    raise ConfigError(f"{key}: must be > 0, got {_to_plain(val)!r}")
                if key in _NON_NEGATIVE and v < 0:
                    raise ConfigError(f"{key}: must be >= 0, got {_to_plain(val)!r}")
                if key in _UNIT_INTERVAL and not 0 <= v <= 1:
                    raise ConfigError(f"{key}: must lie in [0, 1], got {val!r}")
        if key in _CHOICES and val not in _CHOICES[key]:
            raise ConfigError(f"{key}: must be one of {_CHOICES[key]}, got {val!r}")
    if cfg.rsu.twin_reserve_fraction >= 1:
        raise ConfigError(f"rsu.twin_reserve_fraction: must be < 1, got {cfg.rsu.twin_reserve_fraction!r}")
    if cfg.vehicle.lane.high > cfg.road.num_lanes - 1:
        raise ConfigError(f"vehicle.lane: {cfg.vehicle.lane.to_list()} exceeds road.num_lanes - 1 = {cfg.road.num_lanes - 1}")
    if cfg.vehicle.initial_x_m.high > cfg.road.length_m:
        raise ConfigError(f"vehicle.initial_x_m: {cfg.vehicle.initial_x_m.to_list()} exceeds road.length_m = {cfg.road.length_m}")
    if cfg.action.min_task_share * (cfg.num_rsus + 1) >= 1:
        raise ConfigError(f"action.min_task_share: must be < 1 / (RSUs + 1) = {1 / (cfg.num_rsus + 1):.3g}, "
                          f"got {cfg.action.min_task_share!r}")
    for x in cfg.rsu.x_m:
        if not 0 <= x <= cfg.road.length_m:
            raise ConfigError(f"rsu.x_m: position {x} outside the road [0, {cfg.road.length_m}]")
    return cfg


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``section.key=value`` into a key path and a YAML-parsed value."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r}: empty key")
    return key.split("."), yaml.safe_load(raw)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of the plain config ``data`` with ``key=value`` overrides applied."""
    data = json.loads(json.dumps(data))
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for i, part in enumerate(path[:-1]):
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"unknown config key {'.'.join(path[: i + 1])} in override {text!r}")
            node = node[part]
        if path[-1] not in node:
            raise ConfigError(f"unknown config key {'.'.join(path)} in override {text!r}")
        node[path[-1]] = value
    return data


def from_dict(data: dict[str, Any]) -> Config:
    """Build and validate a Config from a (possibly partial) plain mapping."""
    return validate(_build(Config, data))


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load defaults, then a YAML file (partial allowed), then ``key=value`` overrides."""
    data = Config().to_dict()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {str(path)!r}: expected a mapping at the top level")
        _merge(data, loaded, "")
    data = apply_overrides(data, list(overrides or []))
    return from_dict(data)


def _merge(base: dict[str, Any], new: dict[str, Any], prefix: str) -> None:
    for key, val in new.items():
        if key not in base:
            raise ConfigError(f"unknown config key {prefix}{key}")
        if isinstance(base[key], dict):
            if not isinstance(val, dict):
                raise ConfigError(f"{prefix}{key}: expected a mapping, got {val!r}")
            _merge(base[key], val, prefix + key + ".")
        else:
            base[key] = val


SCENARIO_DIR = Path(__file__).parent / "scenarios"


def scenario_overrides(name: str) -> list[str]:
    """The shipped scenario ``SCENARIO_DIR/NAME.yaml`` as sorted ``key=value`` overrides (validated)."""
    path = SCENARIO_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
        raise ConfigError(f"unknown scenario {name!r} (shipped: {known})")
    out: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, val in node.items():
            if isinstance(val, dict):
                walk(val, f"{prefix}{key}.")
            else:
                out.append(f"{prefix}{key}={json.dumps(val)}")
    walk(yaml.safe_load(path.read_text()), "")
    load_config(None, out)
    return sorted(out)


def describe(cfg: Config) -> str:
    """The effective config, one key per line, with its Table II source."""
    rows = [(k, json.dumps(_to_plain(v)), TABLE_II.get(k, "")) for k, v in _flat_items(cfg).items()]
    width_k = max(len(r[0]) for r in rows)
    width_v = max(len(r[1]) for r in rows)
    return "\n".join(f"{k:<{width_k}}  {v:<{width_v}}  {src}" for k, v, src in rows)
