"""Property-based tests of the files a user is handed: malformed ``.npz`` traces and run directories (a shared
trained run whose config, algorithm file, metrics or checkpoint were damaged or forged, sidecar and all) end in
success or in exactly one clean line naming the file; never a traceback.

``python -m pytest tests/test_fuzz_files.py --hypothesis-show-statistics`` prints how many of the generated inputs
ended in a clean error and how many were accepted.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from isac_iov import checkpoint, rundir
from isac_iov.cli import main
from isac_iov.mobility import trace as tr

TINY_SETS = ["--set=num_cvs=2", "--set=episode_slots=4", "--set=algo.num_envs=1", "--set=algo.hidden=8"]
DTYPES = [np.float64, np.float32, np.int64, np.uint8, np.bool_, np.complex128, np.dtype("<U3"), np.dtype("<M8[s]")]
ODD_VALUES = st.sampled_from([None, True, -1, 0, 10**30, 1e308, float("nan"), "x", "", [], {}, [1, [2]], {"a": [1]}])

ANY_ARRAY = st.one_of(
    hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)),
    st.sampled_from([np.array([object()]), np.array(np.nan), np.array([[np.inf, 0.0]]), np.zeros((8, 3))]),
)

NUMBERS = hnp.arrays(st.sampled_from(DTYPES[:5]), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))


def _clean(rc: int, err: str, command: str, culprit: str) -> None:
    """Success, or one ``isac-iov COMMAND: error: ...`` line naming ``culprit`` (after one-line warnings, such as
    a run recording no or another code version)."""
    if rc == 0:
        event("accepted")
        return
    event("clean error")
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith(f"isac-iov {command}: warning: ")]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"isac-iov {command}: error: ") and culprit in lines[0], lines[0]


# -- traces ------------------------------------------------------------------------------------------------------
TRACE_CHANGE = st.one_of(
    st.tuples(st.just("replace"), st.sampled_from(tr.REQUIRED), ANY_ARRAY),
    st.tuples(st.just("drop"), st.sampled_from(tr.REQUIRED), st.none()),
    st.tuples(st.just("truncate"), st.none(), st.floats(0.0, 1.0)),
    st.tuples(st.just("flip"), st.none(), st.integers(0, 10**9)),
)


@settings(max_examples=150)
@given(st.lists(TRACE_CHANGE, min_size=1, max_size=3))
def test_any_malformed_trace(tmp_path_factory, capsys, trace_arrays, changes):
    arrays: dict[str, Any] = trace_arrays()
    path = tmp_path_factory.mktemp("trace") / "t.npz"
    for kind, name, value in changes:
        if kind == "replace":
            arrays[name] = value
        elif kind == "drop":
            arrays.pop(name, None)
    np.savez(path, **arrays)
    for kind, _, value in changes:
        data = bytearray(path.read_bytes())
        if kind == "truncate":
            path.write_bytes(bytes(data[: int(value * len(data))]))
        elif kind == "flip" and data:
            data[value % len(data)] ^= 0x5A
            path.write_bytes(bytes(data))
    try:
        tr.load(path)
    except tr.TraceError as exc:
        assert str(exc).startswith(f"trace {str(path)!r}: ") and "\n" not in str(exc)
    sets = [f"--set=mobility.source={path}", "--set=num_cvs=2", "--set=episode_slots=2", "--set=rsu.x_m=[0, 20]"]
    rc = main(["evaluate", "--policy", "greedy", "--episodes", "1", "--quiet", "--set=rsu.y_m=[0, 5]", *sets])
    _clean(rc, capsys.readouterr().err, "evaluate", str(path))


# -- run directories ---------------------------------------------------------------------------------------------
def _leaves(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every leaf and container of a checkpoint tree."""
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _leaves(v, (*path, k))
    elif isinstance(node, list | tuple):
        for i, v in enumerate(node):
            out += _leaves(v, (*path, i))
    return out


def _set(node: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, tuple):
        return tuple(_set(v, rest, value) if i == head else v for i, v in enumerate(node))
    node[head] = _set(node[head], rest, value)
    return node


RUN_CHANGE = st.one_of(
    st.tuples(st.sampled_from([rundir.CONFIG_FILE, rundir.ALGO_FILE]), st.text(max_size=8), ODD_VALUES),
    st.tuples(st.sampled_from([rundir.CONFIG_FILE, rundir.ALGO_FILE, rundir.METRICS_FILE]), st.none(), st.binary()),
    st.tuples(st.just("tree"), st.integers(0, 10**6), st.one_of(ODD_VALUES, ANY_ARRAY, NUMBERS.map(torch.from_numpy))),
    st.tuples(st.just("checkpoint bytes"), st.integers(0, 10**6), st.binary(max_size=16)),
)


def _damage(run: Path, change: tuple) -> None:
    target, key, value = change
    if target == "tree":  # a forged checkpoint: well-formed file, matching sidecar, odd contents
        try:
            state = checkpoint.loads((run / rundir.CHECKPOINT_FILE).read_bytes(), "x")
        except rundir.RunDirError:  # damaged by an earlier change already
            return
        paths = _leaves(state)
        try:
            state = _set(state, paths[key % len(paths)], value)
            data = checkpoint.dumps(state)
        except TypeError:  # a value the writer itself refuses (e.g. a complex or datetime array)
            return
        rundir.save_checked(run / rundir.CHECKPOINT_FILE, data)
    elif target == "checkpoint bytes":
        data = bytearray((run / rundir.CHECKPOINT_FILE).read_bytes())
        at = key % len(data)
        rundir.save_checked(run / rundir.CHECKPOINT_FILE, bytes(data[:at] + value + data[at + len(value) :]))
    elif key is None:
        (run / target).write_bytes(value)
    else:
        data = yaml.safe_load((run / target).read_text())
        keys = sorted(data) + [key]
        data[keys[len(key) % len(keys)]] = value
        (run / target).write_text(yaml.safe_dump(data))


@settings(max_examples=80)
@given(st.lists(RUN_CHANGE, min_size=1, max_size=2), st.booleans())
def test_any_damaged_or_forged_run_directory(tmp_path_factory, capsys, trained, changes, resume):
    run = tmp_path_factory.mktemp("shared") / "run"
    shutil.copytree(trained, run, ignore=shutil.ignore_patterns(rundir.LOCK_FILE))
    for change in changes:
        _damage(run, change)
    if resume:
        argv = ["train", "--algo", "ly-dtmpo", "--episodes", "2", "--no-progress", "--resume", "--out", str(run)]
        rc = main([*argv, *TINY_SETS])
        _clean(rc, capsys.readouterr().err, "train", str(run))
    else:
        rc = main(["evaluate", "--policy", str(run), "--episodes", "1", "--quiet"])
        _clean(rc, capsys.readouterr().err, "evaluate", str(run))
