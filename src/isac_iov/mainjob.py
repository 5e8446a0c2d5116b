"""The main job on a scenario (default: Table II, 5 CVs, 3 RSUs), which ``isac-iov run`` starts
(:mod:`isac_iov.commands.run`):

1. Train Ly-DTMPO under the paper's protocol (1800 episodes of 30 slots) into ``OUT/ly-dtmpo`` - resumable: run
   the command again after an interruption and it continues from the last checkpoint; a finished run is not
   redone (:func:`isac_iov.learners.train.train_run`).
2. Evaluate the trained actors (decentralised, mean action) and the reference policies ``ly-opt-dual``,
   ``ly-opt``, ``greedy``, ``offload``, ``local`` and ``random`` on the same evaluation episodes
   (:func:`compare`).
3. Save every summary to ``OUT/comparison.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import Config
from .evaluate import evaluate_policy
from .learners import load_policy
from .policies import REGISTRY as POLICIES

ALGO = "ly-dtmpo"
REFERENCE_POLICIES = tuple(POLICIES)
COMPARISON_FILE = "comparison.json"


def compare(run_dir: Path, cfg: Config, episodes: int, seed: int) -> dict[str, dict[str, Any]]:
    """The evaluation summaries of the trained run in ``run_dir`` (as ``ly-dtmpo``) and of every reference
    policy, each on the same ``episodes`` episodes of ``cfg`` from ``seed``."""
    summaries = {ALGO: evaluate_policy(load_policy(run_dir), cfg, episodes, seed, record_slots=False)["summary"]}
    for name in REFERENCE_POLICIES:
        summaries[name] = evaluate_policy(name, cfg, episodes, seed, record_slots=False)["summary"]
    return summaries
