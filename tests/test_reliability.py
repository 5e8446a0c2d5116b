"""Reliability of run directories: locks, parent death, verified reuse, checkpoint checksums, stale code,
non-finite training, and run-directory input errors (each a one-line CLI error)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from isac_iov import checkpoint, rundir
from isac_iov.cli import main as cli_main
from isac_iov.config import load_config
from isac_iov.env.core import BatchedEnv
from isac_iov.experiments import runner, runstore, specs
from isac_iov.learners.common import NonFiniteTraining, optimise

TINY_SETS = ["--set=num_cvs=2", "--set=episode_slots=4", "--set=algo.num_envs=1", "--set=algo.hidden=8"]
TINY_CFG = ["num_cvs=2", "episode_slots=4"]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped by a container's init, counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _wait_for(predicate, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# -- checksums and atomic files ------------------------------------------------------------------
def test_checked_files_detect_any_change_and_survive_a_crash_between_renames(tmp_path):
    path = tmp_path / "c.bin"
    rundir.save_checked(path, b"first")
    assert rundir.load_checked(path) == b"first"
    rundir.save_checked(path, b"second")
    assert (tmp_path / "c.bin.sha256").read_text().split() == [rundir.sha256_bytes(b"second")]
    # a crash after the sidecar lists both digests but before the data is replaced: the old data loads
    rundir.write_atomic(
        tmp_path / "c.bin.sha256", f"{rundir.sha256_bytes(b'third')}\n{rundir.sha256_bytes(b'second')}\n"
    )
    assert rundir.load_checked(path) == b"second"
    path.write_bytes(b"secone")  # one flipped bit
    with pytest.raises(rundir.RunDirError, match="do not match"):
        rundir.load_checked(path)
    (tmp_path / "c.bin.sha256").unlink()
    with pytest.raises(rundir.RunDirError, match="no checksum"):
        rundir.load_checked(path)
    with pytest.raises(ValueError):  # JSON output never carries NaN or Infinity
        rundir.write_json(tmp_path / "x.json", {"cost": float("nan")})
    assert not (tmp_path / "x.json").exists()


def test_code_fingerprint_covers_the_model_and_not_the_front_ends():
    code = rundir.code_fingerprint()
    assert set(code) == {"version", "fingerprint"} and len(code["fingerprint"]) == 16
    assert code == rundir.code_fingerprint()


# -- the lock ------------------------------------------------------------------------------------
HOLDER = textwrap.dedent("""
    import sys, time
    from isac_iov import rundir
    with rundir.locked(sys.argv[1]):
        print("held", flush=True)
        time.sleep(120)
""")


def _hold(directory: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_lock_names_its_holder_is_reentrant_and_dies_with_it(tmp_path):
    proc = _hold(tmp_path / "run")
    try:
        with (
            pytest.raises(rundir.RunDirBusy, match=f"in use by pid {proc.pid} "),
            rundir.locked(tmp_path / "run", wait_s=0.3),
        ):
            pass
    finally:
        proc.kill()
        proc.wait()
    # SIGKILL released it, and the lock is re-entrant in one process
    with rundir.locked(tmp_path / "run"), rundir.locked(tmp_path / "run"):
        pass
    assert [p.name for p in (tmp_path / "run").iterdir()] == [rundir.LOCK_FILE]


def test_two_train_processes_never_share_a_run_directory(tmp_path, error_line):
    out = tmp_path / "run"
    args = ["train", "--algo", "ly-dtmpo", "--episodes", "60", "--seed", "1", "--no-progress", "--out", str(out)]
    cmd = [sys.executable, "-m", "isac_iov.cli", *args, *TINY_SETS]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (out / rundir.ALGO_FILE).is_file())
    code = cli_main([*args, "--resume", *TINY_SETS])
    assert code == 2
    assert f"in use by pid {first.pid}" in error_line("train")
    assert first.wait(timeout=300) == 0, first.stderr.read()
    episodes = [line.split(",")[0] for line in (out / rundir.METRICS_FILE).read_text().splitlines()[1:]]
    assert episodes == [str(e) for e in range(60)]  # each episode once


# -- reproduce: kill and rerun --------------------------------------------------------------------
SLOW_RUNS = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from isac_iov.experiments import runner, specs

    def slow_run(spec, directory, source_dir):
        (directory / "pid").write_text(str(os.getpid()))
        with open(directory / "metrics.csv", "w") as fh:
            fh.write("episode,reward\\n")
        for episode in range(spec.episodes):
            time.sleep(0.25)
            with open(directory / "metrics.csv", "a") as fh:
                fh.write(f"{episode},{-episode}\\n")

    RUNS = [specs.RunSpec("train", "ly-dtmpo", ("num_cvs=2",), seed, 12) for seed in range(2)]

    if __name__ == "__main__":
        report = runner.execute(RUNS, Path(sys.argv[1]), workers=2, run_fn=slow_run, progress=False)
        print(len(report.executed), len(report.skipped), len(report.failed))
""")


def test_reproduce_killed_and_rerun_at_once_leaves_no_worker_and_no_duplicate(tmp_path):
    script = tmp_path / "slow_runs.py"
    script.write_text(SLOW_RUNS)
    out = tmp_path / "out"
    parent = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE, text=True)
    pid_files = [out / "runs" / spec.key / "pid" for spec in _slow_specs()]
    _wait_for(lambda: all(p.is_file() and p.read_text() for p in pid_files))
    workers = [int(p.read_text()) for p in pid_files]
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    _wait_for(lambda: not any(_alive(pid) for pid in workers), timeout_s=5.0)  # they died with their parent
    rerun = subprocess.run(
        [sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=300, check=False
    )
    assert rerun.returncode == 0 and rerun.stdout.split() == ["2", "0", "0"], rerun.stderr
    for spec in _slow_specs():
        rows = (out / "runs" / spec.key / "metrics.csv").read_text().splitlines()
        assert rows == ["episode,reward"] + [f"{e},{-e}" for e in range(12)]
        assert runstore.verify(out, spec).status == "done"


def _slow_specs() -> list[specs.RunSpec]:
    return [specs.RunSpec("train", "ly-dtmpo", ("num_cvs=2",), seed, 12) for seed in range(2)]


def test_a_run_held_by_another_process_is_reported_busy_and_not_written(tmp_path, monkeypatch):
    spec = specs.RunSpec("train", "ly-dtmpo", ("num_cvs=2",), 0, 3)
    proc = _hold(runstore.run_dir(tmp_path, spec))
    monkeypatch.setattr(runstore, "LOCK_WAIT_S", 0.2)
    try:
        report = runner.execute([spec], tmp_path, workers=1, run_fn=_fake_train, progress=False)
    finally:
        proc.kill()
        proc.wait()
    assert f"in use by pid {proc.pid}" in report.failed[spec.key]
    assert [p.name for p in runstore.run_dir(tmp_path, spec).iterdir()] == [rundir.LOCK_FILE]


# -- verified reuse --------------------------------------------------------------------------------
def _fake_train(spec, directory, source_dir):
    if spec.kind == "evaluate":
        rundir.write_json(directory / rundir.SUMMARY_FILE, {"cost": float(spec.seed) + 1.0})
        return
    rows = [f"{e},{-(e + spec.seed)}" for e in range(spec.episodes)]
    (directory / rundir.METRICS_FILE).write_text("\n".join(["episode,reward", *rows]) + "\n")
    rundir.save_checked(directory / rundir.CHECKPOINT_FILE, f"weights {spec.key}".encode())


def _two_runs_and_an_evaluation() -> list[specs.RunSpec]:
    a = specs.RunSpec("train", "ly-dtmpo", ("num_cvs=2",), 0, 6)
    b = specs.RunSpec("train", "ly-dtmpo", ("num_cvs=2",), 1, 6)
    return [a, b, specs.RunSpec("evaluate", "ly-dtmpo", ("num_cvs=2",), 0, 2, source=a)]


def _snapshot(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.glob("runs/*/*"))
        if p.name in (rundir.METRICS_FILE, rundir.SUMMARY_FILE, rundir.CHECKPOINT_FILE)
    }


def test_corrupt_finished_runs_are_redone_not_reused(tmp_path, capsys):
    runs = _two_runs_and_an_evaluation()
    a, b, ev = (runstore.run_dir(tmp_path, s) for s in runs)
    assert runner.execute(runs, tmp_path, workers=1, run_fn=_fake_train, progress=False).executed
    good = _snapshot(tmp_path)
    lines = (a / rundir.METRICS_FILE).read_text().splitlines()
    (a / rundir.METRICS_FILE).write_text("\n".join(lines[:4]) + "\n")  # cut to half
    (b / rundir.DONE_FILE).write_text((ev / rundir.DONE_FILE).read_text())  # another run's done.json
    again = runner.execute(runs, tmp_path, workers=1, run_fn=_fake_train, progress=False)
    assert sorted(again.redone) == sorted(again.executed) == sorted(s.key for s in runs)
    err = capsys.readouterr().err
    assert "metrics.csv changed since the run finished; redoing it" in err and "belongs to another run" in err
    assert "its training run changed or is not done; redoing it" in err  # the evaluation follows its source
    assert _snapshot(tmp_path) == good
    (b / rundir.METRICS_FILE).write_text((b / rundir.METRICS_FILE).read_text() + "5,-6\n")  # a duplicated row
    assert runstore.verify(tmp_path, runs[1]).status == "bad"
    assert runstore.done_record(tmp_path, runs[1]) is None


def test_one_run_spelled_two_ways_is_one_finished_run(tmp_path):
    default = specs.RunSpec("train", "ly-dtmpo", ("num_cvs=2",), 0, 6)
    spelled = specs.RunSpec("train", "ly-dtmpo", ("lyapunov.v_control=5", "num_cvs=2"), 0, 6)  # 5 = the default
    assert default.key == spelled.key and default.to_dict() != spelled.to_dict()
    runner.execute([default], tmp_path, workers=1, run_fn=_fake_train, progress=False)
    assert runstore.done_record(tmp_path, spelled) is not None


def test_a_run_that_logs_an_episode_twice_fails_instead_of_finishing(tmp_path):
    def duplicating(spec, directory, source_dir):
        _fake_train(spec, directory, source_dir)
        with open(directory / rundir.METRICS_FILE, "a") as fh:
            fh.write("5,-5\n")

    spec = _two_runs_and_an_evaluation()[0]
    report = runner.execute([spec], tmp_path, workers=1, run_fn=duplicating, progress=False)
    assert "expected episodes 0..5 once each, found 7 rows" in report.failed[spec.key]
    assert runstore.verify(tmp_path, spec).status == "todo"


def test_runs_of_other_code_are_refused_or_redone_on_request(tmp_path, monkeypatch, capsys):
    runs = _two_runs_and_an_evaluation()
    runner.execute(runs, tmp_path, workers=1, run_fn=_fake_train, progress=False)
    monkeypatch.setattr(rundir, "code_fingerprint", lambda: {"version": "9.9", "fingerprint": "0" * 16})
    with pytest.raises(rundir.RunDirError, match=r"3 run\(s\) .* made by other code .*--redo-stale"):
        runner.execute(runs, tmp_path, workers=1, run_fn=_fake_train, progress=False)
    redone = runner.execute(runs, tmp_path, workers=1, run_fn=_fake_train, progress=False, redo_stale=True)
    assert sorted(redone.redone) == sorted(s.key for s in runs)
    record = json.loads((runstore.run_dir(tmp_path, runs[0]) / rundir.DONE_FILE).read_text())
    assert record["code"] == {"version": "9.9", "fingerprint": "0" * 16}


def test_reproduce_refuses_stale_runs_in_one_line_and_workers_zero(tmp_path, monkeypatch, error_line):
    assert cli_main(["reproduce", "table3", "--tiny", "--seeds", "1", "--out", str(tmp_path), "--workers", "0"]) == 2
    assert "--workers" in error_line("reproduce")
    spec = specs.build("table3", specs.make_scale("tiny", 1))[0].runs()[0]
    directory = runstore.run_dir(tmp_path, spec)
    directory.mkdir(parents=True)
    rundir.write_json(directory / rundir.SPEC_FILE, {**spec.to_dict(), "code": {"version": "0", "fingerprint": "x"}})
    assert cli_main(["reproduce", "table3", "--tiny", "--seeds", "1", "--out", str(tmp_path), "--workers", "1"]) == 2
    assert "started by other code (isac-iov 0, code fingerprint x)" in error_line("reproduce")


# -- checkpoints and run-directory inputs ---------------------------------------------------------
def _damaged_copy(trained: Path, tmp_path: Path, damage) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy, ignore=shutil.ignore_patterns(rundir.LOCK_FILE))
    damage(copy)
    return copy


def _flip_a_weight_bit(run: Path) -> None:
    data = bytearray((run / rundir.CHECKPOINT_FILE).read_bytes())
    data[len(data) // 2] ^= 0x10
    (run / rundir.CHECKPOINT_FILE).write_bytes(bytes(data))


def _edit_cvs(run: Path) -> None:
    cfg = yaml.safe_load((run / rundir.CONFIG_FILE).read_text())
    cfg["num_cvs"] = 3
    (run / rundir.CONFIG_FILE).write_text(yaml.safe_dump(cfg))


DAMAGES = {
    "bit flip": (_flip_a_weight_bit, "do not match checkpoint.safetensors.sha256"),
    "truncated": (
        lambda r: (r / rundir.CHECKPOINT_FILE).write_bytes((r / rundir.CHECKPOINT_FILE).read_bytes()[:99]),
        "do not match",
    ),
    "zero bytes": (lambda r: (r / rundir.CHECKPOINT_FILE).write_bytes(b""), "do not match"),
    "no checksum": (lambda r: (r / "checkpoint.safetensors.sha256").unlink(), "no checksum file"),
    "garbage yaml": (lambda r: (r / rundir.CONFIG_FILE).write_text("num_cvs: [1,\n"), "config.yaml"),
    "yaml scalar": (lambda r: (r / rundir.ALGO_FILE).write_text("7\n"), "algo.yaml: expected a mapping"),
    "cv count edited": (_edit_cvs, "trained on another scenario"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_run_directories_are_one_line_errors(trained, tmp_path, damage, error_line):
    fn, message = DAMAGES[damage]
    run = _damaged_copy(trained, tmp_path, fn)
    assert cli_main(["evaluate", "--policy", str(run), "--episodes", "1", "--quiet"]) == 2
    assert message in error_line("evaluate")
    if damage != "cv count edited":  # train --resume compares config.yaml with the requested scenario first
        assert (
            cli_main(
                [
                    "train",
                    "--algo",
                    "ly-dtmpo",
                    "--episodes",
                    "2",
                    "--no-progress",
                    "--resume",
                    "--out",
                    str(run),
                    *TINY_SETS,
                ]
            )
            == 2
        )
        assert message.split(":")[-1].strip() in error_line("train")


def test_train_validates_seed_and_out_before_writing(tmp_path, error_line):
    out = tmp_path / "run"
    for seed in ("-1", str(2**64)):
        assert cli_main(["train", "--algo", "ly-dtmpo", "--seed", seed, "--out", str(out), *TINY_SETS]) == 2
        assert "seed" in error_line("train")
        assert not out.exists()
    (tmp_path / "file").write_text("x")
    assert cli_main(["train", "--algo", "ly-dtmpo", "--out", str(tmp_path / "file"), *TINY_SETS]) == 2
    assert "not a directory" in error_line("train")
    assert cli_main(["train", "--algo", "ly-dtmpo", "--out", "/proc/isac-iov-run", *TINY_SETS]) == 2
    assert "cannot create it" in error_line("train")
    assert cli_main(["train", "--algo", "ly-masac", "--out", str(out), "--set=num_cvs=1000000"]) == 2
    assert "training ly-masac on num_cvs=1000000 CVs with 8 env(s) needs about" in error_line("train")
    assert not out.exists()
    assert (
        cli_main(["train", "--algo", "ly-dtmpo", "--episodes", "1", "--no-progress", "--out", str(out), *TINY_SETS])
        == 0
    )


# -- non-finite training -----------------------------------------------------------------------------
def test_non_finite_gradient_stops_before_the_step():
    net = torch.nn.Linear(2, 1)
    before = [p.detach().clone() for p in net.parameters()]
    loss = (net(torch.ones(1, 2)) * float("nan")).sum()
    with pytest.raises(NonFiniteTraining, match="non-finite gradient of the Linear"):
        optimise(torch.optim.Adam(net.parameters()), net, loss, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


@pytest.mark.parametrize("algo", ["ly-dtmpo", "ly-maddpg"])
def test_non_finite_reward_stops_training_keeping_the_last_good_checkpoint(algo, tmp_path, monkeypatch, error_line):
    calls = {"n": 0}
    step = BatchedEnv.step

    def poisoned(self, actions):
        out = step(self, actions)
        calls["n"] += 1
        if calls["n"] > 3 * 4:  # from episode 3 on (4 slots an episode)
            out.reward[:] = np.nan
        return out

    monkeypatch.setattr(BatchedEnv, "step", poisoned)
    out = tmp_path / "run"
    assert (
        cli_main(
            [
                "train",
                "--algo",
                algo,
                "--episodes",
                "6",
                "--checkpoint-every",
                "2",
                "--no-progress",
                "--out",
                str(out),
                *TINY_SETS,
            ]
        )
        == 2
    )
    err = error_line("train")
    assert "non-finite reward in slot 0 in episodes 3..3" in err and "last good checkpoint (episode 2) is kept" in err
    state = checkpoint.loads((out / rundir.CHECKPOINT_FILE).read_bytes(), "out")
    assert state["episode"] == 2
    assert all(torch.isfinite(v).all() for v in state["learner"]["actor"].values())
    assert len((out / rundir.METRICS_FILE).read_text().splitlines()) == 1 + 3


def test_config_digest_guards_the_loaded_scenario(trained):
    from isac_iov.learners import read_checkpoint

    cfg = load_config(None, TINY_CFG)
    assert read_checkpoint(trained, cfg)["episode"] == 2
    with pytest.raises(rundir.RunDirError, match="another scenario"):
        read_checkpoint(trained, load_config(None, ["num_cvs=3", "episode_slots=4"]))
