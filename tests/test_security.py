"""Untrusted files: a shared run directory, trace, scenario or results directory never runs code, never makes
this process read or write outside it, and a malformed one ends in one line naming the file and the field.

Every attack writes its payload as a command that would create a marker file; each test checks that the
marker was not written, and that the refusal is one clean line."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from isac_iov import checkpoint, rundir
from isac_iov.cli import main as cli_main
from isac_iov.config import ConfigError, load_config
from isac_iov.experiments import report, schema
from isac_iov.learners import load_policy
from isac_iov.mobility import trace as tr

RESUME = ["train", "--algo", "ly-dtmpo", "--episodes", "2", "--no-progress", "--resume", "--out"]
TINY_SETS = ["--set=num_cvs=2", "--set=episode_slots=4", "--set=algo.num_envs=1", "--set=algo.hidden=8"]


class _Payload:
    """Unpickling this runs ``touch marker``: the classic pickle attack."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _copy(trained: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "shared"
    shutil.copytree(trained, copy, ignore=shutil.ignore_patterns(rundir.LOCK_FILE))
    return copy


def _as_legacy(run: Path, extra: object = None, episode: int = 2) -> None:
    """Rewrite ``run``'s checkpoint as isac-iov 0.1 did (``torch.save`` pickle, ``checkpoint.pt``), with a
    matching sidecar, at ``episode``, optionally carrying ``extra`` in the learner's state."""
    state = checkpoint.loads((run / rundir.CHECKPOINT_FILE).read_bytes(), "run")
    state["episode"] = episode
    if extra is not None:
        state["learner"]["extra"] = extra
    buffer = io.BytesIO()
    torch.save(state, buffer)
    for name in (rundir.CHECKPOINT_FILE, rundir.CHECKPOINT_FILE + rundir.CHECKSUM_SUFFIX):
        (run / name).unlink()
    rundir.save_checked(run / rundir.LEGACY_CHECKPOINT_FILE, buffer.getvalue())


def _evaluate(run: Path, *extra: str) -> int:
    return cli_main(["evaluate", "--policy", str(run), "--episodes", "1", "--quiet", *extra])


# -- code in checkpoints ------------------------------------------------------------------------------------------
def test_a_pickle_payload_with_a_matching_sidecar_never_runs(trained, tmp_path, error_line):
    marker = tmp_path / "pwned"
    run = _copy(trained, tmp_path)
    _as_legacy(run, extra=_Payload(marker))
    assert _evaluate(run) == 2
    assert "checkpoint.pt: refused" in error_line("evaluate")
    assert cli_main([*RESUME, str(run), *TINY_SETS]) == 2
    assert "checkpoint.pt: refused" in error_line("train")
    assert not marker.exists()


def test_a_pickle_in_place_of_the_safetensors_file_is_refused(trained, tmp_path, error_line):
    marker = tmp_path / "pwned"
    run = _copy(trained, tmp_path)
    buffer = io.BytesIO()
    torch.save({"learner": _Payload(marker)}, buffer)
    rundir.save_checked(run / rundir.CHECKPOINT_FILE, buffer.getvalue())
    assert _evaluate(run) == 2
    assert "checkpoint.safetensors: not a safetensors checkpoint" in error_line("evaluate")
    assert not marker.exists()


def test_an_old_checkpoint_of_plain_tensors_still_loads_and_resumes_into_the_new_format(trained, tmp_path):
    run = _copy(trained, tmp_path)
    _as_legacy(run, episode=1)  # resuming trains episode 1 of 2 again, from the old checkpoint
    obs = np.random.default_rng(0).uniform(size=(3, 2, load_policy(trained).spec.obs_dim))
    old, new = load_policy(run), load_policy(trained)
    assert np.array_equal(old.act(None, obs), new.act(None, obs))  # type: ignore[arg-type]
    assert cli_main([*RESUME, str(run), *TINY_SETS]) == 0
    assert not (run / rundir.LEGACY_CHECKPOINT_FILE).exists()
    assert checkpoint.loads((run / rundir.CHECKPOINT_FILE).read_bytes(), "run")["episode"] == 2


def test_checkpoint_trees_round_trip_exactly_and_refuse_other_objects():
    gen = np.random.default_rng(7)
    tree = {
        "w": torch.arange(6.0).reshape(2, 3).T,  # not contiguous
        "step": torch.tensor(4.0),  # 0-d
        "empty": torch.zeros((0, 5)),
        "opt": {0: {"exp_avg": torch.ones(2)}, 1: [0, 1]},
        "rng": (gen.bit_generator.state, np.random.get_state()),
        "n": np.float64(0.25),
        "none": None,
        "big": 2**100 + 1,
    }
    back = checkpoint.loads(checkpoint.dumps(tree), "t")
    assert torch.equal(back["w"], tree["w"]) and back["step"].shape == () and back["empty"].shape == (0, 5)
    assert back["opt"][0]["exp_avg"].tolist() == [1.0, 1.0] and back["opt"][1] == [0, 1]
    assert back["rng"][0] == gen.bit_generator.state and isinstance(back["rng"][1], tuple)
    assert np.array_equal(back["rng"][1][1], tree["rng"][1][1]) and back["rng"][1][1].dtype == np.uint32
    assert back["n"] == 0.25 and back["none"] is None and back["big"] == 2**100 + 1
    with pytest.raises(TypeError, match=r"state/bad is a _Payload"):
        checkpoint.dumps({"bad": _Payload(Path("x"))})
    with pytest.raises(TypeError, match="array of object"):
        checkpoint.dumps({"bad": np.array([object()])})


@pytest.mark.parametrize(
    "tree",
    [["bogus", 1], ["tensor", "t99"], ["dict", [[1.5, 2]]], ["dict", [[True, 2]]], ["list", 3], {"a": 1}],
)
def test_malformed_checkpoint_trees_are_refused_in_one_line(tree):
    from safetensors.numpy import save

    data = save({}, metadata={checkpoint.FORMAT_KEY: checkpoint.FORMAT, checkpoint.TREE_KEY: json.dumps(tree)})
    with pytest.raises(rundir.RunDirError, match=r"^src.st: malformed checkpoint tree|^src.st: checkpoint tree"):
        checkpoint.loads(data, "src.st")


# -- code in other files ------------------------------------------------------------------------------------------
def test_a_pickle_bearing_npz_trace_is_refused(tmp_path, trace_arrays, error_line):
    marker = tmp_path / "pwned"
    arrays = trace_arrays()
    arrays["net_file"] = np.array([_Payload(marker)], dtype=object)
    path = tmp_path / "evil.npz"
    np.savez(path, **arrays)  # object arrays are pickled into the archive
    assert (
        cli_main(["evaluate", "--policy", "greedy", "--episodes", "1", "--quiet", f"--set=mobility.source={path}"]) == 2
    )
    assert "evil.npz" in error_line("evaluate")
    assert not marker.exists()


def test_python_tags_in_yaml_are_refused(trained, tmp_path, error_line):
    marker = tmp_path / "pwned"
    tag = f'!!python/object/apply:os.system ["touch {marker}"]'
    scenario = tmp_path / "evil.yaml"
    scenario.write_text(f"num_cvs: {tag}\n")
    assert cli_main(["evaluate", "--policy", "greedy", "--episodes", "1", "--config", str(scenario)]) == 2
    assert "evil.yaml" in error_line("evaluate")
    run = _copy(trained, tmp_path)
    (run / rundir.ALGO_FILE).write_text(f"algo: {tag}\nparams: {{}}\n")
    assert _evaluate(run) == 2
    assert "algo.yaml" in error_line("evaluate")
    assert not marker.exists()


# -- files outside the run directory ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [rundir.CONFIG_FILE, rundir.ALGO_FILE, rundir.CHECKPOINT_FILE])
def test_a_symlinked_run_file_is_not_followed(trained, tmp_path, name, error_line):
    run = _copy(trained, tmp_path)
    outside = tmp_path / "outside"
    shutil.copy(run / name, outside)
    (run / name).unlink()
    (run / name).symlink_to(outside)
    assert _evaluate(run) == 2
    assert f"{name}: a symbolic link" in error_line("evaluate")


def test_symlinks_planted_in_a_run_directory_never_get_written_through(trained, tmp_path, error_line):
    run = _copy(trained, tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (run / rundir.LOCK_FILE).symlink_to(victim)
    assert cli_main([*RESUME, str(run), *TINY_SETS]) == 2
    assert "cannot write there" in error_line("train")
    (run / rundir.LOCK_FILE).unlink()
    (run / (rundir.METRICS_FILE + ".tmp")).symlink_to(victim)  # a planted temporary file of write_atomic
    assert cli_main([*RESUME, str(run), *TINY_SETS]) == 0
    assert victim.read_text() == "precious\n"


def test_done_records_cannot_point_outside_the_run(tmp_path):
    directory = tmp_path / "run"
    directory.mkdir()
    (tmp_path / "secret").write_text("x")
    for name in ("../secret", "/etc/passwd", "."):
        assert "is not a file record" in rundir.changed_outputs(directory, {name: {"bytes": 1, "sha256": "0"}})


# -- malformed files: one line naming file and field --------------------------------------------------------------
@pytest.mark.parametrize(
    "algo_yaml, message",
    [
        ("algo: [ly-dtmpo]\nparams: {}\n", "algo.yaml: field 'algo' must name one of"),
        ("algo: ly-dtmpo\nparams: {hidden: [1]}\n", "algo.yaml: field 'params': algo.hidden"),
        ("algo: ly-dtmpo\nparams: {}\ncode: 5\n", "algo.yaml: field 'code' must be a mapping"),
        ("algo: ly-dtmpo\nparams: []\n", "algo.yaml: expected keys 'algo' and 'params'"),
    ],
)
def test_malformed_algo_yaml_gets_one_line(trained, tmp_path, algo_yaml, message, error_line):
    run = _copy(trained, tmp_path)
    (run / rundir.ALGO_FILE).write_text(algo_yaml)
    assert _evaluate(run) == 2
    assert message in error_line("evaluate")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(junction_x_m=np.array(["a", "b"])), "'junction_x_m' must be numeric of rank 1, got <U1"),
        (lambda a: a.update(lane_shape_start=np.array(["0", "2"])), "'lane_shape_start' must be integer of rank 1"),
        (lambda a: a.update(boundary_m=np.array("0 0 1 1")), "'boundary_m' must be numeric of rank 1"),
        (lambda a: a.update(lane_names=np.array("n_0")), "'lane_names' must be string of rank 1, got <U3 of rank 0"),
        (lambda a: a.update(x_m=np.zeros((8, 3, 1))), "'x_m' must be float of rank 2, got float64 of rank 3"),
        (lambda a: a.update(slot_s=np.array([1.0])), "'slot_s' must be float of rank 0"),
        (lambda a: a.update(generator=np.array(3)), "'generator' must be string of rank 0"),
    ],
)
def test_trace_arrays_are_checked_for_dtype_and_rank(tmp_path, trace_arrays, change, message, error_line):
    arrays = trace_arrays()
    change(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    assert cli_main(["evaluate", "--policy", "greedy", "--episodes", "1", f"--set=mobility.source={path}"]) == 2
    err = error_line("evaluate")
    assert "bad.npz" in err and message in err


def test_an_npy_file_named_npz_is_refused_in_one_line(tmp_path):
    path = tmp_path / "plain.npz"
    with open(path, "wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(ConfigError, match=r"^trace '.*plain.npz': not a trace file \(not an .npz archive\)$"):
        tr.load(path)


def test_a_malformed_results_directory_gets_one_line_naming_file_and_field(tmp_path):
    shutil.copytree(Path(__file__).parents[1] / "docs" / "results" / "results", tmp_path / "results")
    path = tmp_path / "results" / "table3.json"
    data = json.loads(path.read_text())
    data["scalars"][3]["mean"] = "x"
    path.write_text(json.dumps(data))
    with pytest.raises(schema.ResultFileError, match=r"table3.json: field scalars\[3\].mean must be a number"):
        report.write_report(tmp_path)
    path.write_text("[1, 2")
    with pytest.raises(schema.ResultFileError, match="table3.json: not valid JSON"):
        report.write_report(tmp_path)
    timing = tmp_path / "results" / "timing.json"
    shutil.copy(Path(__file__).parents[1] / "docs" / "results" / "results" / "table3.json", path)
    t = json.loads(timing.read_text())
    t["training_seconds"]["ly-dtmpo"]["max"] = None
    timing.write_text(json.dumps(t))
    with pytest.raises(schema.ResultFileError, match=r"timing.json: field training_seconds.ly-dtmpo.max must be"):
        report.write_report(tmp_path)


def test_scenario_files_load_as_data_only(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("num_cvs: !!python/name:os.system\n")
    with pytest.raises(ConfigError, match="s.yaml"):
        load_config(path, [])
    path.write_text(yaml.safe_dump({"num_cvs": 3}))
    assert load_config(path, []).num_cvs == 3
