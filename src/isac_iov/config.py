"""Scenario configuration: Table II of the paper plus the values it leaves open.

A :class:`Config` is a tree of frozen dataclasses.  Every random quantity is a
``[low, high]`` pair (a :class:`Range`), so ``[a, a]`` fixes it.  Configs come
from YAML files and ``--set section.key=value`` overrides and are validated
once, here, before any simulation work: unknown keys, duplicate YAML keys,
YAML syntax errors, wrong types, ``low > high``, non-finite numbers and values
outside the plausible range of their quantity (``PLAUSIBLE_RANGES``,
docs/model.md#plausible-ranges) raise :class:`ConfigError` naming the offending
key (or file) and value.

A config file must hold a mapping at the top level.  An empty file (or one of
comments only), ``false``, ``0`` or any other scalar is an error, never "the
defaults": a truncated or mistyped scenario must not silently become Table II.
Write ``{}`` for a file that keeps every default.  A section given with
``--set section={key: value, ...}`` is merged into the section; an empty
mapping or a non-mapping for a section is an error.

``TABLE_II`` maps each key to the Table II row (or the docs/model.md section) it
comes from; ``isac-iov config`` prints the effective config with it.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
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
RANGES_DOC = "docs/model.md#plausible-ranges"
# The closed interval [low, high] each numeric key (both ends of a range, every entry of a list) must lie in.
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "num_cvs": (1, 1_000_000),
    "episode_slots": (1, 1_000_000),
    "slot_s": (1e-3, 1e4),
    "road.length_m": (1.0, 1e6),
    "road.lane_width_m": (1e-2, 1e3),
    "road.num_lanes": (1, 1000),
    "rsu.x_m": (0.0, 1e6),
    "rsu.lateral_offset_m": (0.0, 1e4),
    "rsu.height_m": (1e-2, 1e4),
    "rsu.coverage_m": (1.0, 1e6),
    "rsu.cpu_max_hz": (1e6, 1e15),
    "rsu.twin_reserve_fraction": (0.0, 0.99),
    "rsu.kappa": (1e-36, 1e-20),
    "channel.bandwidth_hz": (1e3, 1e12),
    "channel.noise_w": (1e-20, 1e-6),
    "channel.tx_power_w": (1e-6, 1e4),
    "channel.sensing_gain": (1e-3, 1e3),
    "channel.pathloss_intercept_db": (-200.0, 0.0),
    "channel.pathloss_slope_db": (0.1, 100.0),
    "vehicle.speed_mps": (0.0, 1e4),
    "vehicle.cpu_hz": (1e6, 1e13),
    "vehicle.kappa": (1e-34, 1e-18),
    "vehicle.initial_x_m": (0.0, 1e6),
    "vehicle.lane": (0.0, 999.0),
    "task.data_bits": (1.0, 1e12),
    "task.instruction_bits": (1.0, 1e12),
    "task.intensity_cycles_per_bit": (1.0, 1e7),
    "task.cotransform_cycles_per_bit": (0.0, 1e7),
    "task.deadline_s": (1e-3, 1e6),
    "lyapunov.v_control": (1e-3, 1e6),
    "lyapunov.alpha": (0.0, 1.0),
    "lyapunov.energy_budget_j_per_cv": (1e-3, 1e15),
    "lyapunov.window_slots": (1, 1_000_000),
    "action.min_task_share": (0.0, 0.5),
    "action.min_resource_share": (1e-4, 1.0),
    "twin.lag_slots": (0, 1_000_000),
    "twin.noise_std": (0.0, 10.0),
}
MAX_RSUS = 1000
MIN_EDGE_SNR_DB = -30.0   # mean SNR at the coverage edge (docs/model.md#plausible-ranges)
MAX_SEED = 2**63 - 1


def _show(value: Any) -> str:
    """``repr`` of a config value, with huge integers shortened to their digit count."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"<{len(str(abs(value)))}-digit integer>"
    return repr(value)


def check_seed(name: str, seed: Any) -> int:
    """``seed`` as an int in ``[0, MAX_SEED]``, or ConfigError naming ``name`` (an option or argument)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"{name}: must be an integer in [0, 2**63 - 1], got {_show(seed)}")
    return int(seed)


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, Range):
        return obj.to_list()
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_to_plain(v) for v in obj]
    return obj


def _coerce_float(key: str, value: Any) -> float:
    """A finite float from a YAML number (or numeric string such as ``1e6``), or ConfigError naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{key}: expected a number, got {_show(value)}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    except OverflowError:
        raise ConfigError(f"{key}: {_show(value)} is too large") from None
    if not math.isfinite(number):
        raise ConfigError(f"{key}: must be finite, got {_show(value)}")
    return number


def _coerce(key: str, value: Any, typ: Any) -> Any:
    """Convert a YAML value to ``typ`` or raise ConfigError naming ``key``."""
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected an integer, got {_show(value)}")
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(value)
    if typ is float:
        return _coerce_float(key, value)
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if typ is Range:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ConfigError(f"{key}: expected [low, high], got {value!r}")
        low, high = (_coerce_float(key, v) for v in value)
        if low > high:
            raise ConfigError(f"{key}: low > high in {value!r}")
        return Range(low, high)
    if typing.get_origin(typ) is tuple:
        if not isinstance(value, (list, tuple)) or len(value) == 0:
            raise ConfigError(f"{key}: expected a non-empty list of numbers, got {value!r}")
        if len(value) > MAX_RSUS:
            raise ConfigError(f"{key}: at most {MAX_RSUS} entries, got {len(value)}")
        return tuple(_coerce_float(key, v) for v in value)
    if dataclasses.is_dataclass(typ):
        return _build(typ, value, prefix=key + ".")
    raise ConfigError(f"{key}: unsupported type {typ}")  # pragma: no cover


def _build(cls: type, data: Any, prefix: str = "") -> Any:
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {_show(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted((k for k in data if k not in names), key=str)
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


def _check_range(key: str, val: Any) -> None:
    low, high = PLAUSIBLE_RANGES[key]
    vals = [val.low, val.high] if isinstance(val, Range) else (list(val) if isinstance(val, tuple) else [val])
    for v in vals:
        if not low <= v <= high:
            raise ConfigError(f"{key}: {_show(_to_plain(val))} outside the plausible range [{low:g}, {high:g}] "
                              f"({RANGES_DOC})")


def edge_snr_db(cfg: Config) -> float:
    """Mean SNR (eq. 1 without fading) of a link at the coverage edge, in dB."""
    ch = cfg.channel
    return (10.0 * math.log10(ch.tx_power_w / ch.noise_w) + ch.pathloss_intercept_db
            - ch.pathloss_slope_db * math.log10(cfg.rsu.coverage_m))


def _check_relations(cfg: Config) -> None:
    """Constraints between keys (the ranges of single keys are checked before)."""
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
    if edge_snr_db(cfg) < MIN_EDGE_SNR_DB:
        raise ConfigError(f"channel: the mean SNR at the coverage edge (rsu.coverage_m) is {edge_snr_db(cfg):.1f} dB, "
                          f"below {MIN_EDGE_SNR_DB:g} dB: raise channel.tx_power_w or channel.pathloss_intercept_db, "
                          f"lower channel.noise_w, channel.pathloss_slope_db or rsu.coverage_m ({RANGES_DOC})")


def validate(cfg: Config) -> Config:
    """Check value ranges and relations; raise ConfigError naming the first bad key."""
    for key, val in _flat_items(cfg).items():
        if key in _CHOICES and val not in _CHOICES[key]:
            raise ConfigError(f"{key}: must be one of {_CHOICES[key]}, got {val!r}")
        if key in PLAUSIBLE_RANGES:
            _check_range(key, val)
    _check_relations(cfg)
    return cfg


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:       # unhashable: the base class reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                            f"found duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _one_line(exc: BaseException) -> str:
    """A YAML (or value) error as one line: problem, then where."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        context = f" ({exc.context})" if exc.context else ""
        return f"{where}{exc.problem}{context}"
    return " ".join(str(exc).split()) or type(exc).__name__


def parse_yaml(text: str | bytes, source: str) -> Any:
    """The YAML document ``text``; syntax, duplicate-key and value errors raise ConfigError naming ``source``."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise ConfigError(f"{source}: invalid YAML: {_one_line(exc)}") from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of the YAML file ``path``; any other content is a ConfigError naming the file."""
    path = Path(path)
    name = f"config file {str(path)!r}"
    if not path.exists():
        raise ConfigError(f"{name} does not exist")
    if not path.is_file():
        raise ConfigError(f"{name} is not a regular file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror}") from None
    data = parse_yaml(raw, name)
    if data is None:
        raise ConfigError(f"{name} is empty (write {{}} to keep every default)")
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: expected a mapping of config keys at the top level, got {_show(data)}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``section.key=value`` into a key path and a YAML-parsed value."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r}: empty key")
    return key.split("."), parse_yaml(raw, f"{key}: --set value {raw!r}")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of the plain config ``data`` with ``key=value`` overrides applied.

    A value for a section (``rsu={cpu_max_hz: 1.0e+10}``) is merged into it; it must be a non-empty mapping.
    """
    data = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for i, part in enumerate(path[:-1]):
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"unknown config key {'.'.join(path[: i + 1])} in override {text!r}")
            node = node[part]
        key = ".".join(path)
        if path[-1] not in node:
            raise ConfigError(f"unknown config key {key} in override {text!r}")
        if isinstance(node[path[-1]], dict):
            if not isinstance(value, dict) or not value:
                raise ConfigError(f"{key}: a section; set its keys ({key}.KEY=VALUE) or give a non-empty mapping, "
                                  f"got {_show(value)}")
            _merge(node[path[-1]], value, key + ".")
        else:
            node[path[-1]] = value
    return data


def from_dict(data: dict[str, Any]) -> Config:
    """Build and validate a Config from a (possibly partial) plain mapping."""
    return validate(_build(Config, data))


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                base: Config | None = None) -> Config:
    """``base`` (default: Table II), then a YAML file (partial allowed), then ``key=value`` overrides."""
    data = (base or Config()).to_dict()
    if path is not None:
        _merge(data, read_config_file(path), "")
    data = apply_overrides(data, list(overrides or []))
    return from_dict(data)


def _merge(base: dict[str, Any], new: dict[str, Any], prefix: str) -> None:
    for key, val in new.items():
        if key not in base:
            raise ConfigError(f"unknown config key {prefix}{key}")
        if isinstance(base[key], dict):
            if not isinstance(val, dict):
                raise ConfigError(f"{prefix}{key}: expected a mapping, got {_show(val)}")
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
    walk(read_config_file(path), "")
    load_config(None, out)
    return sorted(out)


def describe(cfg: Config) -> str:
    """The effective config, one key per line, with its Table II source."""
    rows = [(k, json.dumps(_to_plain(v)), TABLE_II.get(k, "")) for k, v in _flat_items(cfg).items()]
    width_k = max(len(r[0]) for r in rows)
    width_v = max(len(r[1]) for r in rows)
    return "\n".join(f"{k:<{width_k}}  {v:<{width_v}}  {src}" for k, v, src in rows)


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """The ``--config FILE`` and repeated ``--set key=value`` options shared by commands."""
    p.add_argument("--config", default=None, help="YAML scenario file (partial allowed)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set lyapunov.v_control=10 (repeatable)")
