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
from collections.abc import Sequence
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
        return _to_plain(self)

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
_CHOICES: dict[str, tuple[str, ...]] = {key: meta["choices"] for key, meta in KEYS.items() if meta["choices"]}
RANGES_DOC = "docs/model.md#plausible-ranges"
# The closed interval [low, high] each numeric key (both ends of a range, every entry of a list) must lie in.
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {key: meta["bounds"] for key, meta in KEYS.items() if meta["bounds"]}
MAX_RSUS = 1000
MIN_EDGE_SNR_DB = -30.0  # mean SNR at the coverage edge (docs/model.md#plausible-ranges)
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


def coerce(key: str, value: Any, typ: Any) -> Any:
    """Convert a YAML value to ``typ`` (bool, int, float, str, Range, a tuple of floats or a config section)
    or raise ConfigError naming ``key``: the one coercer of scenario and algorithm configs."""
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
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list of numbers, got {value!r}")
        if len(value) > MAX_RSUS:
            raise ConfigError(f"{key}: at most {MAX_RSUS} entries, got {len(value)}")
        return tuple(_coerce_float(key, v) for v in value)
    if isinstance(typ, type) and dataclasses.is_dataclass(typ):
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
    kwargs = {k: coerce(prefix + k, v, hints[k]) for k, v in data.items()}
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
            raise ConfigError(
                f"{key}: {_show(_to_plain(val))} outside the plausible range [{low:g}, {high:g}] ({RANGES_DOC})"
            )


def edge_snr_db(cfg: Config) -> float:
    """Mean SNR (eq. 1 without fading) of a link at the coverage edge, in dB."""
    ch = cfg.channel
    return (
        10.0 * math.log10(ch.tx_power_w / ch.noise_w)
        + ch.pathloss_intercept_db
        - ch.pathloss_slope_db * math.log10(cfg.rsu.coverage_m)
    )


def _check_relations(cfg: Config) -> None:
    """Constraints between keys (the ranges of single keys are checked before)."""
    if not cfg.rsu.x_m:
        raise ConfigError("rsu.x_m: expected a non-empty list of numbers, got []")
    if cfg.rsu.y_m and len(cfg.rsu.y_m) != len(cfg.rsu.x_m):
        raise ConfigError(
            f"rsu.y_m: {len(cfg.rsu.y_m)} entries for {len(cfg.rsu.x_m)} RSUs in rsu.x_m (or [] for "
            "rsu.lateral_offset_m at every RSU)"
        )
    if cfg.mobility.source == "builtin":
        _check_road(cfg)
    else:
        from .mobility.trace import check_config  # numpy only; a trace is read once per file

        check_config(cfg)
    _check_common(cfg)


def _check_road(cfg: Config) -> None:
    """The built-in straight road: lanes, initial positions and RSUs on it."""
    if cfg.vehicle.lane.high > cfg.road.num_lanes - 1:
        raise ConfigError(
            f"vehicle.lane: {cfg.vehicle.lane.to_list()} exceeds road.num_lanes - 1 = {cfg.road.num_lanes - 1}"
        )
    if cfg.vehicle.initial_x_m.high > cfg.road.length_m:
        raise ConfigError(
            f"vehicle.initial_x_m: {cfg.vehicle.initial_x_m.to_list()} exceeds road.length_m = {cfg.road.length_m}"
        )
    for x in cfg.rsu.x_m:
        if not 0 <= x <= cfg.road.length_m:
            raise ConfigError(f"rsu.x_m: position {x} outside the road [0, {cfg.road.length_m}]")


def _check_common(cfg: Config) -> None:
    """The relations that hold for every mobility: the smallest task part and the link budget."""
    if cfg.action.min_task_share * (cfg.num_rsus + 1) >= 1:
        raise ConfigError(
            f"action.min_task_share: must be < 1 / (RSUs + 1) = {1 / (cfg.num_rsus + 1):.3g}, "
            f"got {cfg.action.min_task_share!r}"
        )
    if edge_snr_db(cfg) < MIN_EDGE_SNR_DB:
        raise ConfigError(
            f"channel: the mean SNR at the coverage edge (rsu.coverage_m) is {edge_snr_db(cfg):.1f} dB, "
            f"below {MIN_EDGE_SNR_DB:g} dB: raise channel.tx_power_w or channel.pathloss_intercept_db, "
            f"lower channel.noise_w, channel.pathloss_slope_db or rsu.coverage_m ({RANGES_DOC})"
        )


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

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # unhashable: the base class reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
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


def split_algo_overrides(texts: list[str]) -> tuple[list[str], dict[str, Any]]:
    """``--set`` texts split into the scenario's and the algorithm's (``algo.KEY=VALUE``, as ``{KEY: VALUE}``)."""
    overrides = {}
    for text in [t for t in texts if t.startswith("algo.")]:
        path, value = parse_override(text)
        if len(path) != 2:
            raise ConfigError(f"override {text!r}: expected algo.KEY=VALUE")
        overrides[path[1]] = value
    return [t for t in texts if not t.startswith("algo.")], overrides


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
                raise ConfigError(
                    f"{key}: a section; set its keys ({key}.KEY=VALUE) or give a non-empty mapping, got {_show(value)}"
                )
            _merge(node[path[-1]], value, key + ".")
        else:
            node[path[-1]] = value
    return data


def from_dict(data: dict[str, Any]) -> Config:
    """Build and validate a Config from a (possibly partial) plain mapping."""
    return validate(_build(Config, data))


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, base: Config | None = None
) -> Config:
    """``base`` (default: Table II), then a YAML file (partial allowed), then ``key=value`` overrides."""
    data = (base or Config()).to_dict()
    if path is not None:
        _merge(data, _paths_from_folder(read_config_file(path), Path(path).parent), "")
    data = apply_overrides(data, list(overrides or []))
    return from_dict(data)


def _paths_from_folder(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``data`` of a scenario file in ``folder`` with a relative trace path (``mobility.source: x.npz``) made
    relative to that folder, so a scenario file and its trace can move together."""
    mobility = data.get("mobility")
    source = mobility.get("source") if isinstance(mobility, dict) else None
    if isinstance(source, str) and source.endswith(".npz") and not Path(source).is_absolute():
        data = {**data, "mobility": {**mobility, "source": str(folder / source)}}  # type: ignore[dict-item]
    return data


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
    """The effective config, one key per line, with its declared source and allowed values (:data:`KEYS`)."""
    return aligned([(k, json.dumps(_to_plain(v)), _allowed(k), TABLE_II[k]) for k, v in _flat_items(cfg).items()])


def aligned(rows: Sequence[Sequence[str]]) -> str:
    """``rows`` as lines of columns two spaces apart, every column but the last padded to its widest cell."""
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(row[c].ljust(w) for c, w in enumerate(widths)), row[-1]]) for row in rows)


def _allowed(key: str) -> str:
    """The values ``key`` admits, as declared: its plausible range, its choices, or its type."""
    meta = KEYS[key]
    if meta["bounds"]:
        return f"[{meta['bounds'][0]:g}, {meta['bounds'][1]:g}]"
    if meta["allowed"]:
        return str(meta["allowed"])
    return " | ".join(meta["choices"]) if meta["choices"] else "true | false"


def add_config_arguments(p: argparse.ArgumentParser, several: bool = False) -> None:
    """The ``--config FILE`` (repeatable when ``several``: a list) and repeated ``--set key=value`` options
    shared by commands."""
    if several:
        p.add_argument(
            "--config",
            action="append",
            default=None,
            help="YAML scenario file (partial allowed); repeat it to train on a mixture of scenarios",
        )
    else:
        p.add_argument("--config", default=None, help="YAML scenario file (partial allowed)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set lyapunov.v_control=10 (repeatable; "
        "`isac-iov config` lists every key with its allowed values)",
    )
