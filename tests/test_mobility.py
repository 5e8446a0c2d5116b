"""Mobility: 2-D distances, the default scenario unchanged, trace files, their replay, SUMO recording, the city
scenario and the ``isac-iov mobility`` command (docs/model.md#mobility)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from isac_iov.cli import main
from isac_iov.config import SCENARIO_DIR, ConfigError, load_config, resolve_trace
from isac_iov.env.core import OWN_FEATURE_NAMES, TRACE_FEATURE_NAMES, BatchedEnv, dims
from isac_iov.mobility import record as rec
from isac_iov.mobility import trace as tr
from isac_iov.physics import channel
from isac_iov.policies import make_policy
from isac_iov.scenario import Scenario

CITY = str(SCENARIO_DIR / "city.yaml")


# --------------------------------------------------------------------------------------- 2-D distance


def test_distance_is_three_dimensional_from_2d_positions():
    # CV at (3, 4) and (10, -2); RSUs at (0, 0) and (6, 2), mast 12 m: sqrt(3^2 + 4^2 + 12^2) = 13, ...
    d = channel.distance_m(
        np.array([3.0, 10.0]), np.array([4.0, -2.0]), np.array([0.0, 6.0]), np.array([0.0, 2.0]), 12.0
    )
    assert np.allclose(d, [[13.0, math.sqrt(9 + 4 + 144)], [math.sqrt(100 + 4 + 144), math.sqrt(16 + 16 + 144)]])


def test_rsu_y_defaults_to_the_lateral_offset_and_can_place_each_rsu():
    assert np.array_equal(Scenario(load_config(None, [])).rsu_y_m, [9.375, 9.375, 9.375])
    assert np.array_equal(Scenario(load_config(None, ["rsu.lateral_offset_m=4"])).rsu_y_m, [4.0, 4.0, 4.0])
    scn = Scenario(load_config(None, ["rsu.y_m=[-9, 0, 20]"]))
    assert np.array_equal(scn.rsu_y_m, [-9.0, 0.0, 20.0])
    with pytest.raises(ConfigError, match=r"^rsu.y_m: 2 entries for 3 RSUs"):
        load_config(None, ["rsu.y_m=[1, 2]"])


# Stored from the code before positions became 2-D (commit 83195a7), not regenerated.
BEFORE_GREEDY = {"cost": 0.2941550214691367, "delay_s": 0.43578920972086355, "reward": -5.5976343883706114}
BEFORE_RANDOM = {"cost": 0.9344675458264597, "energy_j": 95.9303955852001, "reward": -897.5318428041835}
BEFORE_STEPS = (268.93867091721756, 1029.6849313515092, -10.349032071516538, 605.2453799366625)


@pytest.mark.parametrize("policy, before", [("greedy", BEFORE_GREEDY), ("random", BEFORE_RANDOM)])
def test_default_scenario_evaluation_is_unchanged(tmp_path, policy, before):
    out = tmp_path / "e.json"
    assert main(["evaluate", "--policy", policy, "--episodes", "3", "--seed", "0", "--quiet", "--out", str(out)]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert {k: summary[k] for k in before} == pytest.approx(before, rel=1e-13, abs=0)


def test_default_scenario_observations_and_positions_are_unchanged():
    cfg = load_config(None, [])
    env = BatchedEnv(cfg, 2, seed=7)
    obs, _ = env.reset()
    policy = make_policy("greedy", cfg, 0)
    policy.reset(env)
    for _ in range(40):  # over an episode boundary
        step = env.step(policy.act(env, obs))
        obs = env.reset()[0] if step.done else step.obs
    # Since then the energy queue is observed as log(1 + V/B) (docs/model.md, eq. 40): undo that, and the
    # observations are what they were. Each CV's queue is in its own observation and in every agent's global state.
    log_v = obs[..., dims(cfg).own("energy_queue")]
    change = (np.expm1(log_v) - log_v).sum()
    assert change > 0.1  # the episode has built energy queues
    critic_sum = step.critic_state.sum() + (1 + cfg.num_cvs) * change
    got = (obs.sum() + change, critic_sum, step.reward.sum(), env.phys.x_m[1, 3])
    assert got == pytest.approx(BEFORE_STEPS, rel=1e-12, abs=0)
    assert dims(cfg).own_names == OWN_FEATURE_NAMES


# --------------------------------------------------------------------------------------- trace files


def test_trace_round_trip_and_replay(tmp_path, trace_arrays):
    arrays = trace_arrays()
    arrays["vehicle"][5:, 1] = 7  # column 1 changes vehicle at row 5 ...
    arrays["x_m"][5:, 1] = 50.0  # ... which drives elsewhere
    path = tmp_path / "t.npz"
    tr.save(path, arrays)
    trace = tr.load(path)
    for name in tr.GRID_ARRAYS:
        assert np.array_equal(getattr(trace, name), arrays[name]), name
    assert trace.slot_s == 1.0 and trace.net_file == "hand.net.xml" and trace.num_slots == 8
    assert np.array_equal(trace.handover, np.isin(np.arange(8), [5])[:, None] & (np.arange(3) == 1))
    rows = np.array([0, 4, 6])
    got = trace.replay(rows, np.array([[0, 1], [2, 1], [1, 0]]))
    assert np.array_equal(got["x_m"], [[0.0, 10.0], [20.0, 10.0], [50.0, 0.0]])
    assert np.array_equal(got["y_m"], [[0.0, 0.0], [4.0, 4.0], [6.0, 6.0]])
    assert np.allclose(got["velocity_x_mps"], 0.0) and np.allclose(got["velocity_y_mps"], 1.0)
    assert np.array_equal(trace.replay(np.array([5]), np.array([[0, 1, 2]]))["handover"], [[False, True, False]])


def test_start_rows_avoid_empty_columns(trace_arrays):
    arrays = trace_arrays(slots=10)
    arrays["vehicle"][4, 2] = -1  # column 2 empty at row 4
    for name in tr.FLOAT_ARRAYS:
        arrays[name][4, 2] = np.nan
    arrays["lane"][4, 2] = -1
    trace = tr.validate("t.npz", arrays)
    assert trace.start_rows(2, 3).tolist() == list(range(8))  # columns 0-1 always occupied: rows 0..10-3
    assert trace.start_rows(3, 3).tolist() == [0, 1, 5, 6, 7]  # windows of 3 rows that miss row 4
    assert trace.start_rows(4, 3).size == 0 and trace.start_rows(3, 11).size == 0
    # two CVs starting at row 3 ride in columns 0 and 1 (column 2 is empty at row 4), in random order
    rows, columns = trace.draw_start(np.random.default_rng(0), 200, 2, 3)
    assert set(rows.tolist()) == set(range(8))
    late = rows >= 5
    assert {tuple(c) for c in columns[rows == 3]} == {(0, 1), (1, 0)}
    assert {tuple(c) for c in columns[late]} == {(a, b) for a in range(3) for b in range(3) if a != b}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("y_m"), "array 'y_m' is missing"),
        (lambda a: a.update(speed_mps=np.ones((8, 2))), "array 'speed_mps' has shape (8, 2), 'x_m' has (8, 3)"),
        (lambda a: a["x_m"].__setitem__((3, 1), np.nan), "array 'x_m' has NaN or infinite values"),
        (lambda a: a.update(vehicle=a["vehicle"].astype(float)), "array 'vehicle' must be integer"),
        (lambda a: a["lane"].__setitem__((0, 0), 3), "array 'lane' must index 'lane_names'"),
        (lambda a: a.update(slot_s=np.array(-1.0)), "array 'slot_s' must be one positive number"),
        (lambda a: a.update(boundary_m=np.array([5.0, 0.0, 1.0, 1.0])), "array 'boundary_m' must be finite"),
    ],
)
def test_invalid_traces_are_refused_naming_file_and_array(tmp_path, change, message, trace_arrays):
    arrays = trace_arrays()
    change(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(tr.TraceError) as err:
        tr.load(path)
    assert str(err.value).startswith(f"trace {str(path)!r}: ") and message in str(err.value)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated zip", b"\x93NUMPY\x01", b"plain text"])
def test_files_that_are_no_trace_are_refused_in_one_line(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(tr.TraceError, match=r"^trace '.*junk.npz': not a trace file \(.+\)$"):
        tr.load(path)


def test_trace_config_errors_name_the_key(tmp_path, trace_arrays):
    path = tmp_path / "t.npz"
    tr.save(path, trace_arrays(slots=8, slot_s=0.5))
    cases = [
        ([f"mobility.source={path}"], "was sampled every 0.5 s but slot_s is 1 s"),
        ([f"mobility.source={path}", "slot_s=0.5", "num_cvs=4"], "num_cvs = 4 columns all hold a vehicle"),
        ([f"mobility.source={path}", "slot_s=0.5", "episode_slots=8"], "no 9 consecutive slots"),
        (
            ["mobility.source=nope"],
            "expected builtin, a shipped trace (city, grid3x5, highway, rand, spider) or a PATH.npz, got 'nope'",
        ),
        ([f"mobility.source={tmp_path / 'missing.npz'}"], "cannot read"),
    ]
    for overrides, message in cases:
        with pytest.raises(ConfigError) as err:
            load_config(None, overrides)
        assert str(err.value).startswith("mobility.source: ") and message in str(err.value), str(err.value)
    rc = main(["evaluate", "--policy", "local", "--set", f"mobility.source={path}", "--episodes", "1", "--quiet"])
    assert rc == 2


def test_env_replays_the_trace_from_its_own_row_with_handover_in_the_observation(tmp_path, trace_arrays):
    arrays = trace_arrays(slots=12)
    arrays["vehicle"][6:, 0] = 9  # CV 0 takes over another vehicle at row 6
    arrays["x_m"][6:, 0] = 20.0
    path = tmp_path / "t.npz"
    tr.save(path, arrays)
    cfg = load_config(
        None, [f"mobility.source={path}", "num_cvs=2", "episode_slots=4", "rsu.x_m=[0, 20]", "rsu.y_m=[0, 5]"]
    )
    d = dims(cfg)
    assert d.own_names == OWN_FEATURE_NAMES + TRACE_FEATURE_NAMES and d.cv_feature_dim == 13 + 3 * 2
    env = BatchedEnv(cfg, 16, seed=0)
    obs, _ = env.reset()
    rows, cols = env.phys.trace_row.copy(), env.phys.trace_column.copy()
    assert rows.min() >= 0 and rows.max() <= 12 - 5 and len(set(rows.tolist())) > 1  # its own random row each
    assert (cols[:, 0] != cols[:, 1]).all() and len({tuple(c) for c in cols}) > 1  # and its own columns
    a, handovers = np.zeros((16, 2, env.action_dim)), 0
    for t in range(4):
        at = (rows[:, None] + t, cols)
        assert np.array_equal(env.phys.x_m, arrays["x_m"][at])
        assert np.array_equal(env.phys.y_m, arrays["y_m"][at])
        expected = (arrays["vehicle"][at] != arrays["vehicle"][rows[:, None] + t - 1, cols]) & (t > 0)
        assert np.array_equal(obs[..., d.own("handover")], expected.astype(float))
        handovers += int(expected.sum())
        assert np.allclose(obs[..., d.own("y")], arrays["y_m"][at] / 100.0)
        dist = np.hypot(np.hypot(env.phys.x_m[..., None] - [0.0, 20.0], env.phys.y_m[..., None] - [0.0, 5.0]), 10.0)
        assert np.allclose(obs[..., d.link("distance")], dist / cfg.rsu.coverage_m)
        obs = env.step(a).obs
    assert handovers > 0


# --------------------------------------------------------------------------------------- SUMO


def test_paper_road_trace_reproduces_the_builtin_mobility(tmp_path):
    cfg = load_config(None, ["num_cvs=6", "episode_slots=60"])
    env = BatchedEnv(cfg, 1, seed=3)
    env.reset()
    p = env.phys
    cvs = rec.road_vehicles(cfg, p.x_m[0], p.y_m[0], p.velocity_x_mps[0])
    trace = rec.record(tmp_path / "road.npz", 61, cfg, road_vehicles=cvs)
    assert trace.num_columns == 6 and trace.valid.all()
    assert trace.handover.sum() >= 3  # vehicles passed the road's end and were succeeded
    replay = load_config(None, [f"mobility.source={tmp_path / 'road.npz'}", "num_cvs=6", "episode_slots=60"])
    env_trace = BatchedEnv(replay, 1, seed=0)
    env_trace.reset()
    assert env_trace.phys.trace_row[0] == 0  # the only window of 61 rows
    cv = env_trace.phys.trace_column[0]  # the trace CV i rides in column cv[i], the built-in CV cv[i]'s
    for _ in range(60):
        assert np.abs(env_trace.phys.x_m - env.phys.x_m[:, cv]).max() < 1e-6
        assert np.abs(env_trace.phys.y_m - env.phys.y_m[:, cv]).max() < 1e-9
        assert np.abs(env_trace.phys.velocity_x_mps - env.phys.velocity_x_mps[:, cv]).max() < 1e-9
        env.scn.advance_vehicles(env.phys)
        env_trace.scn.advance_vehicles(env_trace.phys)


def test_grid_trace_keeps_the_first_columns_occupied_and_is_reproducible(tmp_path):
    kwargs = {"grid": (3, 3), "block_m": 100.0, "vehicles": 8, "warmup_slots": 20, "seed": 1}
    trace = rec.record(tmp_path / "g.npz", 200, **kwargs)
    occupied = trace.valid.sum(axis=1)
    assert occupied.min() >= 8
    # columns 0..n-1 are occupied whenever n vehicles are in the network
    assert all(trace.valid[t, : occupied[t]].all() and not trace.valid[t, occupied[t] :].any() for t in range(200))
    assert trace.handover[:, :8].sum() > 0  # vehicles left and agents took over others
    junctions = set(zip(trace.junction_x_m.tolist(), trace.junction_y_m.tolist(), strict=True))
    assert junctions == {(x, y) for x in (0.0, 100.0, 200.0) for y in (0.0, 100.0, 200.0)}
    assert (tmp_path / "g.net.xml").is_file()
    again = rec.record(tmp_path / "h.npz", 200, **kwargs)
    assert np.array_equal(again.x_m, trace.x_m, equal_nan=True) and np.array_equal(again.vehicle, trace.vehicle)
    # a route file on that network, played as it is: vehicle 2 moves down into column 0 when vehicle 0 leaves
    routes = tmp_path / "r.rou.xml"
    routes.write_text(
        '<routes><route id="east" edges="A0B0 B0C0"/><route id="north" edges="A0A1 A1A2"/>'
        '<vehicle id="a" route="east" depart="0"/><vehicle id="b" route="north" depart="3"/>'
        '<vehicle id="c" route="east" depart="6"/></routes>'
    )
    played = rec.record(tmp_path / "r.npz", 40, net=tmp_path / "g.net.xml", routes=routes)
    assert played.num_columns == 3 and set(np.unique(played.vehicle).tolist()) == {-1, 0, 1, 2}
    leaves = np.flatnonzero(played.vehicle[:, 0] == 2)
    assert leaves.size and (played.vehicle[: leaves[0], 0] == 0).any() and (played.vehicle[leaves[0] - 1, 2] == 2)


def test_record_without_sumo_says_to_install_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "libsumo", None)  # import libsumo now raises ImportError
    rc = main(["mobility", "record", "--slots", "5", "--out", str(tmp_path / "t.npz")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "install the sumo extra" in err[0]


# --------------------------------------------------------------------------------------- city scenario


def test_city_scenario_replays_without_importing_sumo(tmp_path):
    code = (
        "import sys, json\n"
        "from isac_iov.cli import main\n"
        f"rc = main(['evaluate', '--policy', 'greedy', '--config', {CITY!r}, '--episodes', '1', '--quiet',"
        f" '--set', 'episode_slots=5', '--no-slots', '--out', {str(tmp_path / 'c.json')!r}])\n"
        "sumo = ('libsumo', 'sumolib', 'traci', 'sumo')\n"
        "print(json.dumps([rc, sorted(m for m in sys.modules if m.split('.')[0] in sumo)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0, []]
    summary = json.loads((tmp_path / "c.json").read_text())["summary"]
    assert summary["num_cvs"] == 50 and summary["num_rsus"] == 16


def test_city_scenario_matches_its_trace():
    cfg = load_config(CITY)
    trace = tr.load(resolve_trace(cfg.mobility.source))
    assert (cfg.num_cvs, cfg.num_rsus) == (50, 16)
    # an RSU at each junction of the trace's network
    junctions = sorted(zip(trace.junction_x_m.tolist(), trace.junction_y_m.tolist(), strict=True))
    assert sorted(zip(cfg.rsu.x_m, cfg.rsu.y_m, strict=True)) == junctions
    assert len(trace.start_rows(50, cfg.episode_slots + 1)) > 1000
    # every street point is covered: the farthest street point from all junctions is half a block away
    assert math.hypot(100.0 + 2 * 3.75, 10.0) < cfg.rsu.coverage_m


def test_mobility_plot_draws_the_city(tmp_path, capsys):
    out = tmp_path / "tracks.png"
    assert main(["mobility", "plot", "city", "--config", CITY, "--out", str(out), "--tracks", "4"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    assert main(["mobility", "plot", "city", "--out", str(out), "--tracks", "0"]) == 2
    assert "--tracks must be >= 1" in capsys.readouterr().err


def test_a_recorded_paper_road_trace_is_evaluated_and_trained_on(tmp_path, capsys):
    path = tmp_path / "road.npz"
    assert main(["mobility", "record", "--vehicles", "4", "--slots", "40", "--seed", "2", "--out", str(path)]) == 0
    out = capsys.readouterr().out
    assert "40 slots of 1 s, 4 columns, 4-4 vehicles per slot" in out and "junctions" not in out
    assert (tmp_path / "road.net.xml").is_file()
    sets = ["--set", f"mobility.source={path}", "--set", "num_cvs=3", "--set", "episode_slots=10"]
    assert main(["evaluate", "--policy", "greedy", "--episodes", "2", "--quiet", *sets]) == 0
    run = tmp_path / "run"
    assert main(["train", "--algo", "ly-dtmpo", "--episodes", "2", "--seed", "0", "--out", str(run), *sets]) == 0
    assert main(["evaluate", "--policy", str(run), "--episodes", "1", "--quiet"]) == 0
    # no junctions on the road: the default config's RSUs are drawn
    assert main(["mobility", "plot", str(path), "--out", str(tmp_path / "road.png")]) == 0


def test_the_shipped_city_trace_is_what_its_command_records(tmp_path):
    shipped = tr.load(resolve_trace("city"))
    assert shipped.generator.startswith("isac-iov mobility record --grid 4x4 --block-m 200.0 --vehicles 50")
    assert "--warmup-slots 300" in shipped.generator and "--seed 0" in shipped.generator
    head = rec.record(tmp_path / "c.npz", 40, grid=(4, 4), block_m=200.0, vehicles=50, warmup_slots=300, seed=0)
    c = head.num_columns
    for name in ("x_m", "y_m", "speed_mps", "vehicle", "lane"):
        assert np.array_equal(getattr(head, name), getattr(shipped, name)[:40, :c], equal_nan=True), name
    # the heading passes through numpy's sin, cos and arctan2, whose last bit depends on the CPU's SIMD code path
    np.testing.assert_allclose(head.heading_rad, shipped.heading_rad[:40, :c], rtol=0, atol=1e-12)
    assert np.array_equal(head.junction_x_m, shipped.junction_x_m) and np.array_equal(
        head.lane_names, shipped.lane_names
    )


def test_a_relative_trace_path_in_a_scenario_file_is_read_from_the_files_folder(tmp_path, trace_arrays, monkeypatch):
    folder = tmp_path / "study"
    folder.mkdir()
    tr.save(folder / "t.npz", trace_arrays())
    (folder / "s.yaml").write_text("num_cvs: 2\nepisode_slots: 3\nmobility: {source: t.npz}\n")
    monkeypatch.chdir(tmp_path)  # not the scenario's folder
    cfg = load_config(folder / "s.yaml", [])
    assert Path(cfg.mobility.source) == folder / "t.npz"
    assert load_config(None, ["num_cvs=2", "episode_slots=3", "mobility.source=study/t.npz"]).mobility.source == (
        "study/t.npz"
    )


def test_positions_on_a_network_without_height_are_scaled_by_its_length(tmp_path, trace_arrays):
    arrays = trace_arrays()
    arrays["boundary_m"] = np.array([0.0, 0.0, 20.0, 0.0])  # a straight road: no height
    arrays["x_m"][:] = 10.0
    path = tmp_path / "road.npz"
    tr.save(path, arrays)
    cfg = load_config(None, ["num_cvs=2", "episode_slots=3", f"mobility.source={path}", "rsu.x_m=[0, 20]"])
    env = BatchedEnv(cfg, 2, seed=0)
    obs, _ = env.reset()
    d = dims(cfg)
    assert np.allclose(obs[..., d.own("x")], 0.5)  # 10 m over the 20 m length
    assert (np.abs(obs[..., d.own("y")]) <= 8.0 / 20.0).all()  # y over the length too, never in metres
