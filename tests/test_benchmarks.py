"""The benchmarks' shared harness: its target lines, its summary, its options and its banner."""

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def harness(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import harness

    return harness


def test_a_target_line_names_value_bound_and_verdict(harness, capsys):
    met = harness.target("batched core", 1.5e6, ">=", 1e6, "CV-slots/s", ",.0f")
    assert met.met and capsys.readouterr().out == (
        "TARGET batched core: 1,500,000 CV-slots/s (target >= 1,000,000 CV-slots/s) met\n"
    )
    missed = harness.Target("misses", 0.021, "<=", 0.02, fmt=".1%")
    assert not missed.met and missed.line() == "TARGET misses: 2.1% (target <= 2.0%) MISSED"
    assert harness.Target("at the bound", 1.05, "<=", 1.05).met
    assert not harness.Target("not measured", math.nan, "<=", 2.0).met  # NaN never meets a target


def test_the_summary_counts_and_names_the_missed_targets(harness, capsys):
    targets = [
        harness.Target("a", 1.0, "<=", 2.0),
        harness.Target("b", 3.0, "<=", 2.0),
        harness.Target("c", 0, ">=", 1),
    ]
    assert not harness.report(targets)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [t.line() for t in targets]
    assert lines[3] == "TARGETS: 1 of 3 met; MISSED: b, c"
    assert harness.summary(targets[:1]) and capsys.readouterr().out == "TARGETS: 1 of 1 met\n"


def test_the_shared_options_and_the_banner(harness, capsys):
    p = harness.parser("Title line.\n\nMore.", seeds=5, eval_episodes=3, out="default bench_runs/x")
    args = harness.parse(p, ["--seeds", "2", "--out", "elsewhere"])
    assert (args.seeds, args.eval_episodes, args.out) == (2, 3, Path("elsewhere")) and not hasattr(args, "episodes")
    assert harness.parse(harness.parser("T.", out=Path("bench_runs/y")), []).out == Path("bench_runs/y")
    banner = capsys.readouterr().out
    assert ": Title line." in banner and re.search(r"cores, load", banner)
    assert re.search(r"code: commit ([0-9a-f]{7,}|unknown).*fingerprint [0-9a-f]{16}", banner)


def test_every_living_benchmark_runs_through_the_harness():
    scripts = sorted(BENCHMARKS.glob("bench_*.py"))
    assert [p.stem for p in scripts] == [
        "bench_batched",
        "bench_benchmarl",
        "bench_env",
        "bench_lyopt",
        "bench_mobility",
        "bench_reproduce",
        "bench_scale",
        "bench_train",
        "bench_zeroshot",
    ]
    with_targets = {
        "bench_batched",
        "bench_benchmarl",
        "bench_env",
        "bench_lyopt",
        "bench_scale",
        "bench_train",
        "bench_zeroshot",
    }
    for script in scripts:
        text = script.read_text()
        assert "args = parse(p)" in text and "argparse.ArgumentParser(" not in text, script.name
        checks = re.search(r"from harness import .*\b(target|report|summary)\b", text)
        assert bool(checks) == (script.stem in with_targets), script.name
        assert "'met' if" not in text and '"met" if' not in text, script.name  # no verdict of its own


def test_the_batched_update_benchmark_checks_its_gradients_before_timing():
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_batched.py"), "--runs", "2", "--steps", "2", "--rounds", "1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert re.search(r"TARGET stacked gradients agree with single ones \(relative\): \S+ .* met", out), out
    assert "TARGET update speed-up, 2 runs stacked:" in out and "MFLOP of matrix products" in out
