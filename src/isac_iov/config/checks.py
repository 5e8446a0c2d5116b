"""Config validation: every value in its plausible range and the relations between keys.

:func:`validate` checks a built :class:`~.schema.Config` once, before any simulation work: a choice key outside
its choices, a number outside the plausible range of its quantity (:data:`~.schema.PLAUSIBLE_RANGES`,
docs/model.md#plausible-ranges), RSUs off the built-in road, a smallest task part too large for the RSUs, a link
budget too weak at the coverage edge, or a mobility trace that does not fit the config (:func:`check_trace`)
raise :class:`ConfigError` naming the first bad key.  :func:`check_seed` checks a seed option.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..mobility.trace import Trace, TraceError, load
from .schema import CHOICES, PLAUSIBLE_RANGES, SCENARIO_DIR, Config, Range, flat_items, show, to_plain

RANGES_DOC = "docs/model.md#plausible-ranges"
MIN_EDGE_SNR_DB = -30.0  # mean SNR at the coverage edge (docs/model.md#plausible-ranges)
MAX_SEED = 2**63 - 1
SLOT_TOLERANCE = 1e-9  # relative difference allowed between a trace's slot_s and the config's


def check_seed(name: str, seed: Any) -> int:
    """``seed`` as an int in ``[0, MAX_SEED]``, or ConfigError naming ``name`` (an option or argument)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"{name}: must be an integer in [0, 2**63 - 1], got {show(seed)}")
    return int(seed)


def _check_range(key: str, val: Any) -> None:
    low, high = PLAUSIBLE_RANGES[key]
    vals = [val.low, val.high] if isinstance(val, Range) else (list(val) if isinstance(val, tuple) else [val])
    for v in vals:
        if not low <= v <= high:
            raise ConfigError(
                f"{key}: {show(to_plain(val))} outside the plausible range [{low:g}, {high:g}] ({RANGES_DOC})"
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
        check_trace(cfg)
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
    for key, val in flat_items(cfg).items():
        if key in CHOICES and val not in CHOICES[key]:
            raise ConfigError(f"{key}: must be one of {CHOICES[key]}, got {val!r}")
        if key in PLAUSIBLE_RANGES:
            _check_range(key, val)
    _check_relations(cfg)
    return cfg


def resolve_trace(source: str, key: str = "mobility.source") -> Path:
    """The file of ``source``: a shipped trace ``NAME`` (``scenarios/NAME.npz``) or a ``PATH.npz``; errors name
    ``key``."""
    shipped = SCENARIO_DIR / f"{source}.npz"
    if source and "/" not in source and "." not in source and shipped.is_file():
        return shipped
    if source.endswith(".npz"):
        return Path(source)
    known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.npz")))
    builtin = "builtin, " if key == "mobility.source" else ""
    raise ConfigError(f"{key}: expected {builtin}a shipped trace ({known}) or a PATH.npz, got {source!r}")


def check_trace(cfg: Config) -> Trace:
    """The trace of ``cfg.mobility.source``, checked against the config; ConfigError names the key."""
    path = resolve_trace(cfg.mobility.source)
    try:
        trace = load(path)
    except TraceError as exc:
        raise ConfigError(f"mobility.source: {exc}") from None
    if abs(trace.slot_s - cfg.slot_s) > SLOT_TOLERANCE * cfg.slot_s:
        raise ConfigError(
            f"mobility.source: trace {str(path)!r} was sampled every {trace.slot_s:g} s but slot_s is "
            f"{cfg.slot_s:g} s (record it with --slot-s {cfg.slot_s:g})"
        )
    window = cfg.episode_slots + 1
    if not len(trace.start_rows(cfg.num_cvs, window)):
        raise ConfigError(
            f"mobility.source: trace {str(path)!r} ({trace.num_slots} slots, {trace.num_columns} columns) has no "
            f"{window} consecutive slots (episode_slots + 1) in which num_cvs = {cfg.num_cvs} columns all hold a "
            "vehicle"
        )
    return trace
