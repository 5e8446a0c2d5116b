"""Config loading, overrides and validation errors that name the key."""
import math

import pytest

from isac_iov.cli import main
from isac_iov.config import Config, ConfigError, Range, load_config


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


@pytest.mark.parametrize("override, fragment", [
    ("channel.bandwith_hz=1", "unknown config key channel.bandwith_hz"),
    ("nope=1", "unknown config key nope"),
    ("num_cvs=2.5", "num_cvs: expected an integer"),
    ("num_cvs=0", "num_cvs: must be > 0"),
    ("channel.bandwidth_hz=-1", "channel.bandwidth_hz: must be > 0"),
    ("slot_s=0", "slot_s: must be > 0"),
    ("rsu.cpu_max_hz=.nan", "rsu.cpu_max_hz: must be finite"),
    ("vehicle.speed_mps=[16, 12]", "vehicle.speed_mps: low > high"),
    ("vehicle.cpu_hz=[1, 2, 3]", "vehicle.cpu_hz: expected [low, high]"),
    ("channel.fading=maybe", "channel.fading: expected true/false"),
    ("channel.bandwidth_sharing=shared", "channel.bandwidth_sharing: must be one of"),
    ("lyapunov.alpha=1.5", "lyapunov.alpha: must lie in [0, 1]"),
    ("vehicle.lane=[0, 7]", "vehicle.lane"),
    ("rsu.x_m=[100, 900]", "rsu.x_m: position 900.0 outside"),
    ("num_cvs", "expected key=value"),
])
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
    assert "num_cvs: must be > 0" in capsys.readouterr().err
