"""The main job (`isac-iov run`) end to end on a tiny setting, and its resume."""

import json

from isac_iov.cli import main


def test_run_trains_evaluates_and_resumes(tmp_path, capsys):
    args = [
        "run",
        "--set",
        "episode_slots=4",
        "--set",
        "num_cvs=2",
        "--episodes",
        "4",
        "--eval-episodes",
        "1",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    summaries = json.loads((tmp_path / "comparison.json").read_text())
    references = {"ly-opt-dual", "ly-opt", "greedy", "greedy-blind", "offload", "local", "random"}
    assert set(summaries) == {"ly-dtmpo", *references}
    assert summaries["local"]["offload_share"] == 0.0
    assert summaries["ly-opt"]["reward"] >= summaries["random"]["reward"]
    assert "ly-dtmpo" in out and "ly-opt" in out
    rows = (tmp_path / "ly-dtmpo" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 4
    assert main(args) == 0  # the finished run is kept, not retrained or duplicated
    assert (tmp_path / "ly-dtmpo" / "metrics.csv").read_text().splitlines() == rows


def test_run_rejects_bad_eval_episodes(tmp_path, capsys):
    assert main(["run", "--eval-episodes", "0", "--out", str(tmp_path)]) == 2
    assert "--eval-episodes" in capsys.readouterr().err
