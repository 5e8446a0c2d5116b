"""Config loading, overrides and validation errors that name the key."""

import math
from pathlib import Path

import pytest

from isac_iov.cli import DESCRIPTION, build_parser, main
from isac_iov.config import PLAUSIBLE_RANGES, Config, ConfigError, Range, check_seed, edge_snr_db, load_config


def test_defaults_follow_table_ii():
    c = load_config()
    assert c.num_cvs == 5 and c.num_rsus == 3 and c.episode_slots == 30
    assert c.channel.bandwidth_hz == 20e6 and c.channel.noise_w == 1e-13 and c.channel.sensing_gain == 1.5
    assert c.vehicle.speed_mps == Range(12, 16) and c.vehicle.cpu_hz == Range(2e9, 3e9)
    assert c.rsu.cpu_max_hz == 20e9 and c.rsu.kappa == 1e-28 and c.vehicle.kappa == 1e-26
    assert c.task.intensity_cycles_per_bit == Range(1500, 2000)
    assert c.lyapunov.v_control == 5 and c.lyapunov.alpha == 0.6 and c.lyapunov.window_slots == 10


def test_yaml_and_overrides(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("num_cvs: 3\nchannel:\n  bandwidth_hz: 10.0e6\ntask:\n  data_bits: [2.0e6, 2.0e6]\n")
    c = load_config(p, ["lyapunov.v_control=10", "channel.bandwidth_sharing=per_rsu"])
    assert c.num_cvs == 3 and c.channel.bandwidth_hz == 10e6
    assert c.task.data_bits == Range(2e6, 2e6)
    assert c.lyapunov.v_control == 10.0 and c.channel.bandwidth_sharing == "per_rsu"


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("channel.bandwith_hz=1", "unknown config key channel.bandwith_hz"),
        ("nope=1", "unknown config key nope"),
        ("num_cvs=2.5", "num_cvs: expected an integer"),
        ("num_cvs=0", "num_cvs: 0 outside the plausible range [1, 1e+06]"),
        ("channel.bandwidth_hz=-1", "channel.bandwidth_hz: -1.0 outside the plausible range"),
        ("slot_s=0", "slot_s: 0.0 outside the plausible range"),
        ("rsu.cpu_max_hz=.nan", "rsu.cpu_max_hz: must be finite"),
        ("vehicle.speed_mps=[16, 12]", "vehicle.speed_mps: low > high"),
        ("vehicle.cpu_hz=[1, 2, 3]", "vehicle.cpu_hz: expected [low, high]"),
        ("channel.fading=maybe", "channel.fading: expected true/false"),
        ("channel.bandwidth_sharing=shared", "channel.bandwidth_sharing: must be one of"),
        ("lyapunov.alpha=1.5", "lyapunov.alpha: 1.5 outside the plausible range [0, 1]"),
        ("vehicle.lane=[0, 7]", "vehicle.lane"),
        ("rsu.x_m=[100, 900]", "rsu.x_m: position 900.0 outside"),
        ("num_cvs", "expected key=value"),
    ],
)
def test_bad_values_name_the_key(override, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert fragment in str(err.value)


def test_unknown_key_in_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("lyapunov:\n  V: 5\n")
    with pytest.raises(ConfigError, match="unknown config key lyapunov.V"):
        load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_fixed_ranges_and_digest():
    c = load_config(None, ["vehicle.initial_x_m=[350, 350]"])
    assert c.vehicle.initial_x_m.low == c.vehicle.initial_x_m.high == 350
    assert c.digest() != Config().digest() and Config().digest() == load_config().digest()
    assert math.isclose(c.to_dict()["vehicle"]["initial_x_m"][0], 350)


def test_config_command_prints_table_ii_rows(capsys):
    assert main(["config", "--set", "lyapunov.v_control=10"]) == 0
    out = capsys.readouterr().out
    assert "lyapunov.v_control" in out and "10.0" in out and "Table II" in out
    assert "energy_ref_j=218.8" in out and "energy_queue_ref_j=22" in out
    assert main(["config", "--set", "num_cvs=-1"]) == 2
    assert "num_cvs: -1 outside the plausible range" in capsys.readouterr().err


def test_help_opens_with_what_the_tool_is_for():
    text = build_parser().format_help()
    description = text.split("\n\n")[1]
    assert " ".join(description.split()) == DESCRIPTION and DESCRIPTION.startswith("Simulate")
    assert "``" not in text and "Command line" not in text


def _cli_error(error_line, argv):
    """Run the CLI; return its single stderr line (asserting exit status 2 and no traceback)."""
    assert main(argv) == 2
    return error_line(argv[0])


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("num_cvs: [1, 2\n", "line 2, column 1: expected ',' or ']'"),  # parser
        ("num_cvs: 'open\n", "found unexpected end of stream"),  # scanner
        ("num_cvs: *nowhere\n", "found undefined alias 'nowhere'"),  # composer
        ("num_cvs: !!python/object:os.system x\n", "could not determine a constructor"),  # constructor
        ("num_cvs: !!binary abc\n", "failed to decode base64"),
        ("num_cvs: 2001-02-30\n", "day is out of range"),
        ("num_cvs: 3\nnum_cvs: 4\n", "line 2, column 1: found duplicate key 'num_cvs'"),
        ("rsu:\n  kappa: 1.0e-28\n  kappa: 2.0e-28\n", "line 3, column 3: found duplicate key 'kappa'"),
        ("", "is empty (write {} to keep every default)"),
        ("# every line commented out\n", "is empty"),
        ("false\n", "expected a mapping of config keys at the top level, got False"),
        ("0\n", "expected a mapping of config keys at the top level, got 0"),
        ("just text\n", "expected a mapping of config keys at the top level, got 'just text'"),
        ("- 1\n- 2\n", "expected a mapping of config keys at the top level, got [1, 2]"),
        ("num_cvs: \xc3\x28\n", "invalid YAML: unacceptable character #x00c3: invalid continuation byte"),
    ],
)
def test_bad_config_files_name_the_file(tmp_path, error_line, text, fragment):
    path = tmp_path / "scenario.yaml"
    path.write_bytes(text.encode("latin-1"))
    line = _cli_error(error_line, ["config", "--config", str(path)])
    assert f"config file '{path}'" in line and fragment in line


@pytest.mark.parametrize(
    "where, fragment",
    [
        ("/dev/null", "is not a regular file"),
        ("DIR", "is not a regular file"),
        ("DIR/missing.yaml", "does not exist"),
    ],
)
def test_config_path_that_is_not_a_file(tmp_path, error_line, where, fragment):
    path = where.replace("DIR", str(tmp_path))
    assert fragment in _cli_error(error_line, ["config", "--config", path])


def test_empty_mapping_file_keeps_the_defaults(tmp_path):
    path = tmp_path / "defaults.yaml"
    path.write_text("{}\n")
    assert load_config(path) == Config()


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("num_cvs=[1, 2", "num_cvs: --set value '[1, 2': invalid YAML: line 1, column 6"),
        ("rsu.kappa='x", 'rsu.kappa: --set value "\'x": invalid YAML'),
        ("num_cvs=*a", "num_cvs: --set value '*a': invalid YAML: line 1, column 1: found undefined alias 'a'"),
        ("num_cvs=!!python/name:os.system", "num_cvs: --set value"),
        ("rsu={kappa: 1, kappa: 2}", "found duplicate key 'kappa'"),
        ("rsu={}", "rsu: a section; set its keys (rsu.KEY=VALUE) or give a non-empty mapping, got {}"),
        ("rsu=", "rsu: a section"),
        ("channel=5", "channel: a section"),
        ("twin=[1]", "twin: a section"),
        ("rsu={V: 1}", "unknown config key rsu.V"),
        ("num_cvs=.inf", "num_cvs: expected an integer, got inf"),
        ("num_cvs=.nan", "num_cvs: expected an integer, got nan"),
        ("num_cvs=" + "9" * 400, "num_cvs: <400-digit integer> outside the plausible range"),
        ("slot_s=" + "9" * 400, "slot_s: <400-digit integer> is too large"),
        ("slot_s=-" + "9" * 400, "slot_s: <400-digit integer> is too large"),
        ("num_cvs=true", "num_cvs: expected an integer, got True"),
        ("slot_s=yes", "slot_s: expected a number, got True"),
        ("channel.bandwidth_hz=.inf", "channel.bandwidth_hz: must be finite, got inf"),
        ("vehicle.cpu_hz=[1e9, .nan]", "vehicle.cpu_hz: must be finite, got nan"),
        ("rsu.x_m=[" + ", ".join(["1.0"] * 1001) + "]", "rsu.x_m: at most 1000 entries"),
        ("num_cvs=2001-01-01", "num_cvs: expected an integer, got datetime.date(2001, 1, 1)"),
    ],
)
def test_bad_overrides_name_the_key(error_line, override, fragment):
    assert fragment in _cli_error(error_line, ["config", "--set", override])


def test_section_override_merges_into_the_section(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("rsu:\n  cpu_max_hz: 1.2e+10\n")
    c = load_config(path, ["rsu={kappa: 2.0e-28}"])
    assert c.rsu.cpu_max_hz == 12e9 and c.rsu.kappa == 2e-28 and c.rsu.height_m == 10.0


def _flat_numeric_defaults():
    out = {}

    def walk(node, prefix):
        for k, v in node.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            elif not isinstance(v, (bool, str)):
                out[prefix + k] = v

    walk(Config().to_dict(), "")
    return out


def test_every_numeric_key_has_a_documented_plausible_range():
    numeric = _flat_numeric_defaults()
    assert set(numeric) == set(PLAUSIBLE_RANGES)
    doc = (Path(__file__).parents[1] / "docs" / "model.md").read_text()
    section = doc.split("## Plausible ranges", 1)[1].split("\n## ", 1)[0]
    for key in PLAUSIBLE_RANGES:
        assert f"| `{key}` |" in section, key


INT_KEYS = {k for k, v in Config().to_dict().items() if isinstance(v, int)} | {
    "road.num_lanes",
    "lyapunov.window_slots",
    "twin.lag_slots",
}
EXTREMES = [
    (key, value)
    for key in sorted(PLAUSIBLE_RANGES)
    for value in ("1.0e+300", "-1.0e+300", "1.0e-300")
    if value != "1.0e-300" or (PLAUSIBLE_RANGES[key][0] > 0 and key not in INT_KEYS)
]  # 1e-300 ~ an allowed 0


@pytest.mark.parametrize("key, value", EXTREMES)
def test_extreme_magnitudes_are_rejected_naming_key_and_range(key, value):
    default = _flat_numeric_defaults()[key]
    text = f"[{value}]" if key == "rsu.x_m" else f"[{value}, {value}]" if isinstance(default, list) else value
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"{key}={text}"])
    msg = str(err.value)
    assert msg.startswith(f"{key}: ") and "outside the plausible range [" in msg
    assert msg.endswith("(docs/model.md#plausible-ranges)")


def _in_ranges(cfg):
    for key, (low, high) in PLAUSIBLE_RANGES.items():
        node = cfg
        for part in key.split("."):
            node = getattr(node, part)
        vals = [node.low, node.high] if isinstance(node, Range) else list(node) if isinstance(node, tuple) else [node]
        assert all(low <= v <= high for v in vals), (key, node)


def test_defaults_shipped_scenario_and_experiment_configs_are_in_range():
    from isac_iov.config import scenario_overrides
    from isac_iov.experiments import specs

    _in_ranges(Config())
    _in_ranges(load_config(None, scenario_overrides("contention")))
    runs = specs.unique_runs(specs.build("all", specs.make_scale("full", 5)))
    assert len(runs) > 100
    for run in runs:
        _in_ranges(run.config)


@pytest.mark.parametrize(
    "key",
    [
        "slot_s",
        "road.lane_width_m",
        "rsu.lateral_offset_m",
        "rsu.height_m",
        "rsu.coverage_m",
        "rsu.cpu_max_hz",
        "rsu.kappa",
        "channel.bandwidth_hz",
        "channel.noise_w",
        "channel.tx_power_w",
        "channel.sensing_gain",
        "vehicle.speed_mps",
        "vehicle.cpu_hz",
        "vehicle.kappa",
        "task.data_bits",
        "task.instruction_bits",
        "task.intensity_cycles_per_bit",
        "task.cotransform_cycles_per_bit",
        "task.deadline_s",
        "lyapunov.v_control",
        "lyapunov.energy_budget_j_per_cv",
        "twin.noise_std",
    ],
)
@pytest.mark.parametrize("factor", [0.01, 100.0])
def test_sweeping_table_ii_100x_either_way_is_allowed(key, factor):
    default = _flat_numeric_defaults()[key]
    value = [v * factor for v in default] if isinstance(default, list) else (default or 0.1) * factor
    cfg = load_config(None, [f"{key}={value}"])
    assert cfg.to_dict() != Config().to_dict()


def test_link_budget_names_the_keys():
    with pytest.raises(ConfigError, match=r"channel: the mean SNR at the coverage edge .* -68.3 dB.*noise_w"):
        load_config(None, ["channel.pathloss_intercept_db=-150"])
    assert edge_snr_db(Config()) == pytest.approx(43.28, abs=0.01)


@pytest.mark.parametrize("seed", [-1, 2**63, True, 1.5, "1", None])
def test_check_seed_rejects_non_seeds(seed):
    with pytest.raises(ConfigError, match=r"--seed: must be an integer in \[0, 2\*\*63 - 1\]"):
        check_seed("--seed", seed)
    assert check_seed("--seed", 2**63 - 1) == 2**63 - 1
