"""The examples run as a user would run them, on a small budget, and learn."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_ippo_example_learns_from_the_pettingzoo_view_alone():
    text = (ROOT / "examples" / "ippo.py").read_text()
    assert len(text.splitlines()) < 250 and "isac_iov.learners" not in text  # one file on the public API
    args = ["--episodes", "32", "--episodes-per-update", "8", "--eval-episodes", "2", "--hidden", "32"]
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ippo.py"), *args], capture_output=True, text=True, check=True
    ).stdout
    rewards = [float(r) for r in re.findall(r"reward per agent-slot (-?[\d.]+)", out)]
    assert len(rewards) == 2 and rewards[-1] > rewards[0]  # updates 1 and 4: the reward rose
    cost, greedy = map(float, re.search(r"IPPO cost ([\d.]+), greedy ([\d.]+)", out).groups())
    assert 0 < greedy < cost < 10  # 32 episodes are far from greedy; examples/README.md has the full run
