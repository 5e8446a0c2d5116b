"""Multi-agent learners with the Lyapunov reward of eq. (44), and the trained-policy loader.

``REGISTRY`` maps an algorithm name to its learner class and hyper-parameter dataclass:

=============  =============================  ============================================
name           learner                        notes
=============  =============================  ============================================
``ly-dtmpo``   :class:`.mappo.MAPPO`          the paper's method; the twin's view is on
``ly-mappo``   :class:`.mappo.MAPPO`          the scenario is forced to ``twin.enabled = false``
``ly-maddpg``  :class:`.maddpg.MADDPG`        deterministic actors, per-agent central critics
``ly-matd3``   :class:`.matd3.MATD3`          twin critics, delayed actors, target smoothing
``ly-masac``   :class:`.masac.MASAC`          squashed Gaussian actors, learned temperature
=============  =============================  ============================================

All five share the action mapping (``a = sigmoid(u)``, :mod:`.networks`), the
team reward ``Step.reward`` and the training loop of :mod:`.train`.

:func:`load_policy` rebuilds the actors of a run directory written by
``isac-iov train`` and returns a policy (``reset(env)``, ``act(env, obs)``) that
acts decentrally - each CV's action depends only on its own observation row -
and deterministically (the mean action ``sigmoid(mean)``).  A run trained
without the twin zeroes the twin fields of the observations it is given, so it
never sees information it was trained without.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from ..config import Config, ConfigError, from_dict
from ..env.core import BatchedEnv
from .common import AlgoConfig, EnvSpec, as_tensor, make_algo_config
from .maddpg import MADDPG, MaddpgConfig
from .mappo import MAPPO, MappoConfig
from .masac import MASAC, MasacConfig
from .matd3 import MATD3, Matd3Config

CONFIG_FILE = "config.yaml"
ALGO_FILE = "algo.yaml"
CHECKPOINT_FILE = "checkpoint.pt"


@dataclass(frozen=True)
class AlgoSpec:
    learner: type
    config: type[AlgoConfig]
    twin: bool | None = None   # force cfg.twin.enabled to this value (None: keep the scenario's)


REGISTRY: dict[str, AlgoSpec] = {
    "ly-dtmpo": AlgoSpec(MAPPO, MappoConfig),
    "ly-mappo": AlgoSpec(MAPPO, MappoConfig, twin=False),
    "ly-maddpg": AlgoSpec(MADDPG, MaddpgConfig),
    "ly-matd3": AlgoSpec(MATD3, Matd3Config),
    "ly-masac": AlgoSpec(MASAC, MasacConfig),
}


def algo_spec(name: str) -> AlgoSpec:
    if name not in REGISTRY:
        raise ValueError(f"unknown algorithm {name!r} (known: {', '.join(REGISTRY)})")
    return REGISTRY[name]


def effective_config(name: str, cfg: Config) -> Config:
    """The scenario algorithm ``name`` trains on (Ly-MAPPO: the twin switched off)."""
    twin = algo_spec(name).twin
    if twin is None or cfg.twin.enabled == twin:
        return cfg
    return dataclasses.replace(cfg, twin=dataclasses.replace(cfg.twin, enabled=twin))


class TrainedPolicy:
    """Deterministic decentralised execution of trained actors (see the module docstring)."""

    def __init__(self, name: str, actor: torch.nn.Module, spec: EnvSpec, twin_enabled: bool):
        self.name, self.actor, self.spec, self.twin_enabled = name, actor.eval(), spec, twin_enabled

    def reset(self, env: BatchedEnv) -> None:
        got = (env.num_agents, env.obs_dim, env.action_dim)
        want = (self.spec.agents, self.spec.obs_dim, self.spec.act_dim)
        if got != want:
            raise ValueError(f"policy {self.name}: trained for (CVs, obs_dim, action_dim) = {want}, "
                             f"the env has {got}")

    def act(self, env: BatchedEnv, obs: np.ndarray) -> np.ndarray:
        o = as_tensor(obs)
        if not self.twin_enabled:
            o = o.clone()
            o[..., self.spec.cv_feature_dim:] = 0.0
        with torch.no_grad():
            return self.actor.mean_action(o).double().clamp_(0.0, 1.0).numpy()


def read_run(run_dir: Path) -> tuple[Config, str, AlgoConfig, dict]:
    """``(scenario, algorithm name, algorithm config, algo.yaml contents)`` of a run directory."""
    run_dir = Path(run_dir)
    for name in (CONFIG_FILE, ALGO_FILE):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir}: no {name}; not a training run directory")
    cfg = from_dict(yaml.safe_load((run_dir / CONFIG_FILE).read_text()))
    meta = yaml.safe_load((run_dir / ALGO_FILE).read_text())
    if not isinstance(meta, dict) or "algo" not in meta or "params" not in meta:
        raise ConfigError(f"{run_dir / ALGO_FILE}: expected keys 'algo' and 'params'")
    spec = algo_spec(meta["algo"])
    return cfg, meta["algo"], make_algo_config(spec.config, meta["params"]), meta


def load_policy(run_dir: str | Path) -> TrainedPolicy:
    """The trained actors of ``run_dir`` (its last checkpoint) as a deterministic decentralised policy."""
    run_dir = Path(run_dir)
    cfg, name, algo_cfg, _ = read_run(run_dir)
    path = run_dir / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no {CHECKPOINT_FILE}; the run has not reached a checkpoint")
    spec = EnvSpec.from_config(cfg)
    learner = algo_spec(name).learner(spec, algo_cfg)
    state = torch.load(path, map_location="cpu", weights_only=False)
    learner.actor.load_state_dict(state["learner"]["actor"])
    return TrainedPolicy(name, learner.actor, spec, cfg.twin.enabled)


__all__ = ["REGISTRY", "AlgoSpec", "TrainedPolicy", "algo_spec", "effective_config", "load_policy", "read_run"]
