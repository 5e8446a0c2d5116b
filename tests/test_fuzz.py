"""Property-based tests: whatever a user gives the CLI, a config file or the PettingZoo view, the outcome is either
success with finite outputs or exactly one clean error line naming the culprit (a key, file, option or agent);
never a traceback, never a NaN or infinity in an output file.

Generated: values of every config key (inside its plausible range, outside it, wrong types, inf/nan, huge
integers, nested sections), YAML texts, ``config`` and ``evaluate`` argument lists, PettingZoo action dictionaries
and seeds.  ``--hypothesis-show-statistics`` shows how many examples of each test ended in a clean error.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from isac_iov import parallel_env
from isac_iov.actions import ActionError
from isac_iov.cli import main
from isac_iov.config import PLAUSIBLE_RANGES, TABLE_II, Config, ConfigError

SECTIONS = sorted({k.split(".")[0] for k in TABLE_II if "." in k})
KEY_NAMES = sorted(set(TABLE_II) | set(SECTIONS))
# Upper ends for counts in runs (the plausible ranges allow far more; memory is checked separately).
RUN_CAPS = {"num_cvs": 6, "episode_slots": 3, "road.num_lanes": 8, "lyapunov.window_slots": 40, "twin.lag_slots": 40}
TINY = ["--episodes", "1", "--set", "episode_slots=2", "--quiet"]


def _defaults() -> dict[str, object]:
    flat: dict[str, object] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, val in node.items():
            if isinstance(val, dict):
                walk(val, f"{prefix}{key}.")
            else:
                flat[prefix + key] = val

    walk(Config().to_dict(), "")
    return flat


DEFAULTS = _defaults()


def _dump(value: object) -> str:
    """A value as the YAML text a user would type after ``--set key=``."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("\n...").strip()


def _finite_number(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _in_range(key: str) -> st.SearchStrategy:
    """A value of ``key`` inside its plausible range (counts capped so a run stays fast)."""
    low, high = PLAUSIBLE_RANGES[key]
    default = DEFAULTS[key]
    assert isinstance(default, (int, float, list)) and not isinstance(default, bool), key
    if isinstance(default, int):
        return st.integers(int(low), int(min(high, RUN_CAPS.get(key, high))))
    spread = (
        st.floats(math.log10(low), math.log10(high)).map(lambda e: min(max(10.0**e, low), high))
        if low > 0
        else st.floats(-3, math.log10(high)).map(lambda e: min(10.0**e, high))
        if high > 0
        else st.floats(low, high)
    )
    numbers = st.one_of(st.sampled_from([low, high]), st.floats(low, high), spread)
    if isinstance(default, list) and key == "rsu.x_m":
        return st.lists(st.floats(0.0, 700.0), min_size=1, max_size=4)
    if isinstance(default, list):
        return st.tuples(numbers, numbers).map(sorted)
    return numbers


BAD_VALUES = st.one_of(
    st.sampled_from(
        [
            1e300,
            -1e300,
            1e-300,
            -1e-300,
            -1.0,
            0.0,
            float("inf"),
            float("-inf"),
            float("nan"),
            10**400,
            -(10**400),
            2**64,
            True,
            False,
            None,
            "abc",
            "",
            "1e6x",
            [],
            {},
            [1.0, 2.0, 3.0],
            [2.0, 1.0],
            {"a": 1},
            [[1.0], [2.0]],
            "2001-02-30",
        ]
    ),
    st.floats(),
    st.integers(),
    st.text(max_size=8),
)


def _value(key: str) -> st.SearchStrategy:
    if key in PLAUSIBLE_RANGES:
        return st.one_of(_in_range(key), BAD_VALUES)
    return st.one_of(
        st.sampled_from(
            [
                "per_cv",
                "per_rsu",
                "work_conserving",
                "allocated",
                "capacity",
                "backlog",
                "littles_law",
                "system",
                True,
                False,
            ]
        ),
        BAD_VALUES,
    )


KEY_VALUE = st.sampled_from(sorted(DEFAULTS)).flatmap(lambda k: st.tuples(st.just(k), _value(k)))
IN_RANGE = st.sampled_from(sorted(PLAUSIBLE_RANGES)).flatmap(lambda k: st.tuples(st.just(k), _in_range(k)))
SECTION_VALUE = st.tuples(
    st.sampled_from(SECTIONS),
    st.one_of(
        BAD_VALUES, st.dictionaries(st.sampled_from(["kappa", "cpu_max_hz", "nope", "V"]), BAD_VALUES, max_size=2)
    ),
)


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _assert_clean(rc: int, err: str, command: str, culprits: list[str]) -> None:
    """Success, or exactly one line ``isac-iov COMMAND: error: ...`` that names one of ``culprits``."""
    if rc == 0:
        event("success")
        return
    event("clean error")
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"isac-iov {command}: error: ") and "Traceback" not in err, err
    assert any(c in lines[0] for c in culprits), (culprits, lines[0])


def _json_strict(text: str) -> object:
    def reject(token: str) -> None:
        raise AssertionError(f"non-finite token {token} in output JSON")

    return json.loads(text, parse_constant=reject)


# --------------------------------------------------------------------------------------- config


@given(KEY_VALUE)
def test_any_value_of_any_key(capsys, key_value):
    key, value = key_value
    rc, out, err = _run(capsys, ["config", "--set", f"{key}={_dump(value)}"])
    _assert_clean(rc, err, "config", [key])
    if rc == 0:
        assert "nan" not in out.split() and "inf" not in out.split()


@given(SECTION_VALUE)
def test_any_value_of_a_section(capsys, section_value):
    section, value = section_value
    rc, _, err = _run(capsys, ["config", "--set", f"{section}={_dump(value)}"])
    _assert_clean(rc, err, "config", [section])


@given(st.text(max_size=40))
def test_any_text_after_set(capsys, text):
    rc, _, err = _run(capsys, ["config", "--set", f"lyapunov.v_control={text}"])
    _assert_clean(rc, err, "config", ["lyapunov.v_control"])


@given(st.text(max_size=60))
def test_any_set_argument(capsys, text):
    rc, _, err = _run(capsys, ["config", "--set", text])
    _assert_clean(rc, err, "config", [text.split("=", 1)[0].strip()[:20] or "override", "override", "--set"])


def _nested(flat: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, val in flat.items():
        *sections, name = key.split(".")
        node = out
        for s in sections:
            node = node.setdefault(s, {})
        node[name] = val
    return out


@given(
    st.dictionaries(
        st.sampled_from(sorted(DEFAULTS) + ["nope", "rsu.V"]),
        st.one_of(BAD_VALUES, st.sampled_from([1, 5, 0.5, 2e9])),
        max_size=4,
    )
)
def test_any_config_file(tmp_path_factory, capsys, flat):
    path = tmp_path_factory.mktemp("cfg") / "scenario.yaml"
    path.write_text(yaml.safe_dump(_nested(flat)))
    rc, _, err = _run(capsys, ["config", "--config", str(path)])
    _assert_clean(rc, err, "config", [str(path)] + list(flat) + ["unknown config key"])


@given(
    st.one_of(
        st.text(max_size=80),
        st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
        st.sampled_from(
            [
                "num_cvs: [1, 2",
                "a: 'x\n",
                "*nope",
                "!!python/object:os.system x",
                "num_cvs: !!binary xyz",
                "num_cvs: 3\nnum_cvs: 4\n",
                "rsu:\n  kappa: 1\n  kappa: 2\n",
                "false",
                "0",
                "",
                "# only a comment\n",
                "[1, 2]",
                "- a\n- b\n",
                "{}",
                "~",
            ]
        ),
    )
)
def test_any_yaml_text_as_config_file(tmp_path_factory, capsys, text):
    path = tmp_path_factory.mktemp("yaml") / "scenario.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    rc, _, err = _run(capsys, ["config", "--config", str(path)])
    _assert_clean(rc, err, "config", [str(path), "unknown config key"] + KEY_NAMES)


# --------------------------------------------------------------------------------------- evaluate


def _evaluate_args(tmp: str) -> st.SearchStrategy:
    option = st.one_of(
        st.tuples(st.just("--episodes"), st.sampled_from(["1", "2", "0", "-1", "x", "1e3", "9" * 30, ""])),
        st.tuples(st.just("--seed"), st.sampled_from(["0", "7", "-1", "a", str(2**63), str(2**63 - 1), "9" * 400])),
        st.tuples(st.just("--num-envs"), st.sampled_from(["1", "2", "0", "-5", "1.5"])),
        st.tuples(st.just("--set"), KEY_VALUE.map(lambda kv: f"{kv[0]}={_dump(kv[1])}")),
        st.tuples(st.just("--set"), st.sampled_from(["rsu={}", "num_cvs=2000000", "channel=3", "nope=1", "num_cvs"])),
        st.tuples(st.just("--out"), st.sampled_from([f"{tmp}/o.json", tmp, "/proc/x", f"{tmp}/sub/o.json", ""])),
        st.tuples(st.just("--config"), st.sampled_from(["/dev/null", tmp, f"{tmp}/missing.yaml"])),
    )
    policy = st.sampled_from(["local", "offload", "random", "greedy", "nope", tmp, ""])
    return st.tuples(policy, st.lists(option, max_size=3))


@given(st.data())
def test_any_evaluate_command(tmp_path_factory, capsys, data):
    tmp = str(tmp_path_factory.mktemp("eval"))
    policy, options = data.draw(_evaluate_args(tmp))
    argv = ["evaluate", "--policy", policy, "--episodes", "1", "--set", "episode_slots=2", "--quiet"]
    argv += [part for opt in options for part in opt]
    rc, _, err = _run(capsys, argv)
    culprits = [
        f"policy {policy!r}",
        policy or "--policy",
        "--policy",
        "--episodes",
        "--seed",
        "--num-envs",
        "--out",
        "--config",
        "config file",
        "memory",
    ]
    culprits += [opt[1].split("=", 1)[0] for opt in options if opt[0] == "--set"] + ["override"]
    _assert_clean(rc, err, "evaluate", culprits)
    outs = [opt[1] for opt in options if opt[0] == "--out"]
    if rc == 0 and outs and outs[-1].endswith(".json"):
        summary = _json_strict(Path(outs[-1]).read_text())["summary"]
        assert all(_finite_number(v) for v in summary.values() if isinstance(v, float))
    assert not [p for p in outs if p and os.path.exists(p + ".tmp")]


@given(st.lists(IN_RANGE, min_size=1, max_size=3), st.sampled_from(["local", "offload", "random", "greedy"]))
def test_in_range_configs_give_finite_results(tmp_path_factory, capsys, key_values, policy):
    out = tmp_path_factory.mktemp("ok") / "o.json"
    sets = [part for k, v in key_values for part in ("--set", f"{k}={_dump(v)}")]
    rc, _, err = _run(capsys, ["evaluate", "--policy", policy, *TINY, *sets, "--out", str(out)])
    _assert_clean(rc, err, "evaluate", [k for k, _ in key_values] + ["memory"])
    if rc == 0:
        data = _json_strict(out.read_text())
        numbers = [v for v in data["summary"].values() if isinstance(v, float)]
        numbers += [r[k] for r in data["slots"] for k in ("delay_s", "energy_j", "cost", "reward")]
        assert all(_finite_number(v) for v in numbers)


# --------------------------------------------------------------------------------------- PettingZoo

_ENV = parallel_env(overrides=["num_cvs=3", "episode_slots=3"])
AGENTS = list(_ENV.possible_agents)
DIM = _ENV.core.action_dim

GOOD_ACTION = st.lists(st.floats(0.0, 1.0), min_size=DIM, max_size=DIM).map(np.array)
BAD_ACTION = st.one_of(
    st.sampled_from(
        [
            None,
            "abc",
            "0.5",
            b"x",
            0.5,
            [],
            {},
            1j,
            [0.5] * (DIM + 1),
            [0.5] * (DIM - 1),
            [[0.5] * DIM],
            [np.nan] * DIM,
            [np.inf] * DIM,
            [1.5] * DIM,
            [-0.1] * DIM,
            [[0.5], [0.5, 0.5]],
            np.full((1, DIM), 0.5),
            np.full(DIM, 0.5, dtype=complex),
        ]
    ),
    st.lists(st.floats(), min_size=DIM, max_size=DIM),
    st.lists(st.floats(0, 1), max_size=2 * DIM),
)
ACTION_DICT = st.one_of(
    st.fixed_dictionaries({a: GOOD_ACTION for a in AGENTS}),
    st.dictionaries(
        st.one_of(st.sampled_from(AGENTS + ["cv_9", "cv_-1", "", "agent"]), st.integers(), st.none()),
        st.one_of(GOOD_ACTION, BAD_ACTION),
        max_size=5,
    ),
    st.fixed_dictionaries({a: GOOD_ACTION for a in AGENTS}).flatmap(
        lambda d: st.tuples(st.sampled_from(AGENTS), BAD_ACTION).map(lambda kv: {**d, kv[0]: kv[1]})
    ),
    st.sampled_from([None, [], "cv_0", 3]),
)


@given(ACTION_DICT, st.integers(0, 3))
def test_any_pettingzoo_actions(actions, steps_before):
    env = _ENV
    env.reset(seed=0)
    for _ in range(min(steps_before, 3)):
        env.step({a: np.full(DIM, 0.5) for a in env.agents})
    keys = list(actions) if isinstance(actions, dict) else []
    try:
        obs, rewards, _, _, _ = env.step(actions)
    except (ActionError, RuntimeError) as exc:
        event("clean error")
        message = str(exc)
        assert "\n" not in message
        culprits = [repr(k) for k in keys] + [str(k) for k in keys] + ["reset()", "actions:"]
        assert any(c in message for c in culprits), message
        return
    event("success")
    assert isinstance(actions, dict) and set(actions) == set(AGENTS)
    assert all(np.isfinite(o).all() for o in obs.values()) and all(math.isfinite(r) for r in rewards.values())


@given(
    st.one_of(
        st.integers(-(2**70), 2**70),
        st.text(max_size=4),
        st.floats(),
        st.none(),
        st.booleans(),
        st.just(np.int64(3)),
        st.lists(st.integers(), max_size=2),
    )
)
def test_any_pettingzoo_seed(seed):
    try:
        obs, _ = _ENV.reset(seed=seed)
    except ConfigError as exc:
        event("clean error")
        assert "seed" in str(exc) and "[0, 2**63 - 1]" in str(exc)
        return
    event("success")
    assert seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and 0 <= seed < 2**63)
    assert all(np.isfinite(o).all() for o in obs.values())


# --------------------------------------------------------------------------------------- as a user runs it


@pytest.mark.parametrize(
    "argv, culprit",
    [
        (["config", "--set", "num_cvs=.inf"], "num_cvs"),
        (["config", "--set", "rsu={}"], "rsu"),
        (["evaluate", "--policy", "greedy", "--set", "num_cvs=1000000", "--quiet"], "num_cvs=1000000"),
    ],
)
def test_subprocess_prints_one_line_and_exits_2(argv, culprit):
    proc = subprocess.run(
        [sys.executable, "-m", "isac_iov.cli", *argv], capture_output=True, text=True, timeout=120, check=False
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and culprit in lines[0], proc.stderr
    assert lines[0].startswith(f"isac-iov {argv[0]}: error: ")
