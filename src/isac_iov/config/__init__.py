"""Scenario configuration: Table II of the paper plus the values it leaves open.

* :mod:`.schema` - the :class:`Config` dataclasses; each key declares its source, plausible range and choices
  once (field metadata), and :data:`KEYS`, :data:`TABLE_II`, :data:`PLAUSIBLE_RANGES` collect them;
* :mod:`.load` - YAML files and ``--set key=value`` overrides into a Config (:func:`load_config`), shipped
  scenarios (:func:`scenario_overrides`);
* :mod:`.checks` - validation of ranges and relations, the mobility trace against the config, seeds;
* :mod:`.table` - the effective config as a table with sources and allowed values (``isac-iov config``).

Every error names the offending key, file or value (:class:`ConfigError`, from :mod:`isac_iov.errors`).
The names below are the package's public interface: import them from ``isac_iov.config``.
"""

from ..errors import ConfigError
from .checks import MAX_SEED, MIN_EDGE_SNR_DB, RANGES_DOC, check_seed, check_trace, edge_snr_db, resolve_trace, validate
from .load import (
    apply_overrides,
    coerce,
    from_dict,
    load_config,
    parse_override,
    parse_yaml,
    read_config_file,
    scenario_overrides,
    split_algo_overrides,
    variations,
)
from .schema import (
    CHOICES,
    KEYS,
    MAX_RSUS,
    PLAUSIBLE_RANGES,
    SCENARIO_DIR,
    TABLE_II,
    ActionConfig,
    ChannelConfig,
    Config,
    LyapunovConfig,
    MobilityConfig,
    Range,
    RoadConfig,
    RsuConfig,
    TaskConfig,
    TwinConfig,
    VehicleConfig,
)
from .table import aligned, describe

__all__ = [
    "CHOICES",
    "KEYS",
    "MAX_RSUS",
    "MAX_SEED",
    "MIN_EDGE_SNR_DB",
    "PLAUSIBLE_RANGES",
    "RANGES_DOC",
    "SCENARIO_DIR",
    "TABLE_II",
    "ActionConfig",
    "ChannelConfig",
    "Config",
    "ConfigError",
    "LyapunovConfig",
    "MobilityConfig",
    "Range",
    "RoadConfig",
    "RsuConfig",
    "TaskConfig",
    "TwinConfig",
    "VehicleConfig",
    "aligned",
    "apply_overrides",
    "check_seed",
    "check_trace",
    "coerce",
    "describe",
    "edge_snr_db",
    "from_dict",
    "load_config",
    "parse_override",
    "parse_yaml",
    "read_config_file",
    "resolve_trace",
    "scenario_overrides",
    "split_algo_overrides",
    "validate",
    "variations",
]
