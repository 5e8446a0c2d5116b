"""The shipped scenarios (docs/model.md#more-scenarios): every scenario file loads and a short ``greedy``
evaluation of it runs; every trace scenario's trace validates, its RSUs cover every street, its header names its
set (training or test) and the command that made its trace, and that command (with the header's ``netgenerate``
line for a network of its own) records the shipped trace."""

from __future__ import annotations

import json
import math
import re
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from isac_iov.cli import main
from isac_iov.config import SCENARIO_DIR, check_trace, load_config, resolve_trace
from isac_iov.mobility import record as rec
from isac_iov.mobility import trace as tr
from isac_iov.physics import channel
from isac_iov.scenario import Scenario

SCENARIOS = sorted(SCENARIO_DIR.glob("*.yaml"))
# Every scenario with a trace is in exactly one set: learners train on the first, are tested zero-shot on the second.
SPLIT = {"city": "TRAINING", "grid3x5": "TRAINING", "rand": "TRAINING", "spider": "TEST", "highway": "TEST"}
MAX_TRACE_BYTES = 1.1e6


def _header(name: str) -> list[str]:
    lines = (SCENARIO_DIR / f"{name}.yaml").read_text().splitlines()
    return [line.lstrip("#").strip() for line in lines if line.startswith("#")]


def _options(command: str) -> dict[str, str]:
    """The options of an ``isac-iov mobility record`` command (numbers written as floats), without ``--out``."""
    words = command.split()
    words = words[words.index("record") + 1 :]
    options = dict(zip(words[::2], words[1::2], strict=True))
    options.pop("--out", None)
    return {k: repr(float(v)) if re.fullmatch(r"[0-9.]+", v) else v for k, v in options.items()}


def _street_points(trace: tr.Trace, step_m: float = 1.0) -> np.ndarray:
    """Points at most ``step_m`` apart along every lane centre line of the trace's network, ``(P, 2)``."""
    points = []
    for a, b in pairwise(trace.lane_shape_start):
        shape = trace.lane_shape_xy[a:b]
        for p, q in pairwise(shape):
            n = int(np.hypot(*(q - p)) / step_m) + 2
            points.append(p + np.linspace(0.0, 1.0, n)[:, None] * (q - p))
    return np.concatenate(points)


def test_every_trace_scenario_is_in_the_training_or_the_test_set():
    traced = {p.stem for p in SCENARIOS if load_config(p).mobility.source != "builtin"}
    assert traced == set(SPLIT)
    assert {p.stem for p in SCENARIO_DIR.glob("*.npz")} == set(SPLIT)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_shipped_scenario_loads_and_a_short_greedy_evaluation_runs(tmp_path, path: Path):
    cfg = load_config(path)
    if cfg.mobility.source != "builtin":
        check_trace(cfg)  # the trace loads, validates and fits num_cvs, episode_slots and slot_s
    out = tmp_path / "e.json"
    args = ["evaluate", "--policy", "greedy", "--config", str(path), "--episodes", "1", "--seed", "0", "--quiet"]
    assert main([*args, "--set", "episode_slots=3", "--no-slots", "--out", str(out)]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert math.isfinite(summary["cost"]) and summary["cost"] > 0
    assert (summary["num_cvs"], summary["num_rsus"]) == (cfg.num_cvs, cfg.num_rsus)


@pytest.mark.parametrize("name", sorted(SPLIT))
def test_trace_scenarios_cover_every_street_and_name_their_set_and_command(name):
    cfg = load_config(SCENARIO_DIR / f"{name}.yaml")
    trace = check_trace(cfg)
    assert cfg.mobility.source == name and resolve_trace(name).stat().st_size < MAX_TRACE_BYTES
    assert len(trace.start_rows(cfg.num_cvs, cfg.episode_slots + 1)) > 500  # many distinct episode windows
    scn = Scenario(cfg)
    points = _street_points(trace)
    distance = channel.distance_m(points[:, 0], points[:, 1], scn.rsu_x_m, scn.rsu_y_m, cfg.rsu.height_m)
    assert distance.min(axis=1).max() < cfg.rsu.coverage_m  # every point of every lane reaches an RSU
    header = _header(name)
    other = {"TRAINING": "TEST", "TEST": "TRAINING"}[SPLIT[name]]
    assert any(f"{SPLIT[name]} set" in line for line in header) and not any(f"{other} set" in line for line in header)
    recorded = [line for line in header if line.startswith("isac-iov mobility record ")]
    assert len(recorded) == 1 and _options(recorded[0]) == _options(trace.generator)


@pytest.mark.parametrize("name", sorted(set(SPLIT) - {"city"}))  # city: tests/test_mobility.py
def test_a_shipped_trace_is_what_its_header_commands_record(tmp_path, name):
    shipped = tr.load(resolve_trace(name))
    options = _options(shipped.generator)
    grid, net = options.get("--grid"), None
    if grid is None:  # a network of its own: the header's netgenerate command makes it again
        (command,) = [line.split() for line in _header(name) if line.startswith("netgenerate ")]
        out = command.index("--output-file")
        assert command[out + 1] == options["--net"] == shipped.net_file
        net = tmp_path / shipped.net_file
        rec._run_tool([rec._tool("netgenerate"), *command[1:out], "--output-file", str(net), *command[out + 2 :]])
    head = rec.record(
        tmp_path / "t.npz",
        40,
        net=net,
        grid=(int(grid.split("x")[0]), int(grid.split("x")[1])) if grid else None,
        block_m=float(options.get("--block-m", "200")),
        vehicles=int(float(options["--vehicles"])),
        warmup_slots=int(float(options["--warmup-slots"])),
        seed=int(float(options["--seed"])),
    )
    c = head.num_columns
    for array in ("x_m", "y_m", "speed_mps", "vehicle", "lane"):
        assert np.array_equal(getattr(head, array), getattr(shipped, array)[:40, :c], equal_nan=True), array
    # the heading passes through numpy's sin, cos and arctan2, whose last bit depends on the CPU's SIMD code path
    np.testing.assert_allclose(head.heading_rad, shipped.heading_rad[:40, :c], rtol=0, atol=1e-12)
    for array in ("junction_x_m", "junction_y_m", "lane_names", "boundary_m"):
        assert np.array_equal(getattr(head, array), getattr(shipped, array)), array
