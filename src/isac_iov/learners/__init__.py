"""Multi-agent learners with the Lyapunov reward of eq. (44), and the trained-policy loader.

``REGISTRY`` maps an algorithm name to its learner class and hyper-parameter dataclass:

=============  =============================  ============================================
name           learner                        notes
=============  =============================  ============================================
``ly-dtmpo``   :class:`.mappo.MAPPO`          the paper's method; the twin's view is on
``ly-mappo``   :class:`.mappo.MAPPO`          scenario override ``twin.enabled=false``, nothing else
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
never sees information it was trained without.  A run trained by other code
(another :func:`~isac_iov.rundir.code_fingerprint`, whose observations or
model may differ) still loads, with an :class:`OtherCodeWarning` naming it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import checkpoint, plugins
from ..config import Config, ConfigError, apply_overrides, from_dict, parse_yaml
from ..env.core import BatchedEnv, dims
from ..rundir import (
    ALGO_FILE,
    CHECKPOINT_FILE,
    CONFIG_FILE,
    LEGACY_CHECKPOINT_FILE,
    RunDirError,
    code_fingerprint,
    load_checked,
    read_text_member,
    recorded_fingerprint,
)
from ..twin import hide_view
from .common import AlgoConfig, EnvSpec, as_tensor, make_algo_config
from .linknet import LinkNorm, LinkScenario
from .maddpg import MADDPG, MaddpgConfig
from .mappo import MAPPO, MappoConfig
from .masac import MASAC, MasacConfig
from .matd3 import MATD3, Matd3Config
from .networks import Actor


@dataclass(frozen=True)
class AlgoSpec:
    learner: type
    config: type[AlgoConfig]
    scenario: tuple[str, ...] = ()  # ``key=value`` overrides of the scenario the algorithm runs on


REGISTRY: dict[str, AlgoSpec] = {
    "ly-dtmpo": AlgoSpec(MAPPO, MappoConfig),
    "ly-mappo": AlgoSpec(MAPPO, MappoConfig, scenario=("twin.enabled=false",)),
    "ly-maddpg": AlgoSpec(MADDPG, MaddpgConfig),
    "ly-matd3": AlgoSpec(MATD3, Matd3Config),
    "ly-masac": AlgoSpec(MASAC, MasacConfig),
}


def algo_spec(name: str, command_line: bool = True) -> AlgoSpec:
    """The learner ``name``: a built-in one, an installed plug-in or (``command_line``) a ``module:attr``
    reference (:mod:`isac_iov.plugins`)."""
    if name in REGISTRY:
        return REGISTRY[name]
    if not plugins.known("learner", name, command_line):
        known = ", ".join([*REGISTRY, *plugins.installed("learner")])
        raise ValueError(f"unknown algorithm {name!r} (known: {known}; or package.module:attr)")
    return load_learner(name, command_line)


def load_learner(name: str, command_line: bool) -> AlgoSpec:
    """The :class:`AlgoSpec` of plug-in ``name`` (:mod:`isac_iov.plugins`): the AlgoSpec it names, or one made
    of the learner class it names and that class's ``Config``; a :class:`~isac_iov.plugins.PluginError` when
    it is neither, its config does not derive from :class:`~.common.AlgoConfig` or the learner lacks a method
    of the Learner protocol."""
    value = plugins.load("learner", name, command_line)
    if isinstance(value, AlgoSpec):
        spec = value
    elif isinstance(value, type) and isinstance(getattr(value, "Config", None), type):
        spec = AlgoSpec(value, getattr(value, "Config"))  # noqa: B009 (mypy: not every class has it)
    else:
        raise plugins.PluginError(
            f"learner {name}: expected an isac_iov.learners.AlgoSpec or a learner class with a Config attribute, "
            f"got {type(value).__name__}"
        )
    if not (isinstance(spec.config, type) and issubclass(spec.config, AlgoConfig)):
        raise plugins.PluginError(f"learner {name}: its config must derive from isac_iov.learners.common.AlgoConfig")
    needed = ("explore", "record", "end_iteration", "state_dict", "load_state_dict")
    missing = [m for m in needed if not hasattr(spec.learner, m)]
    if missing:
        raise plugins.PluginError(
            f"learner {name}: {spec.learner.__name__} lacks {', '.join(missing)} (the Learner protocol)"
        )
    return spec


def effective_config(name: str, cfg: Config) -> Config:
    """The scenario algorithm ``name`` trains on: ``cfg`` with the algorithm's overrides (Ly-MAPPO: the twin off)."""
    overrides = algo_spec(name).scenario
    return from_dict(apply_overrides(cfg.to_dict(), list(overrides))) if overrides else cfg


class TrainedPolicy:
    """Deterministic decentralised execution of trained actors (see the module docstring)."""

    def __init__(self, name: str, actor: Actor, spec: EnvSpec, twin_enabled: bool):
        self.name, self.actor, self.spec, self.twin_enabled = name, actor.eval(), spec, twin_enabled
        self.twin_part = spec.twin_part

    @property
    def any_scenario(self) -> bool:
        """Whether the actor acts on any number of CVs and RSUs (a ``link`` or ``exchange`` body, :mod:`.linknet`)."""
        return isinstance(self.actor.obs_norm, LinkNorm)

    def reset(self, env: BatchedEnv) -> None:
        if isinstance(self.actor.obs_norm, LinkNorm):
            self.actor.obs_norm.retarget(LinkScenario.of(env.cfg))
            self.twin_part = dims(env.cfg).twin
            return
        got = (env.num_cvs, env.obs_dim, env.action_dim)
        want = (self.spec.num_cvs, self.spec.obs_dim, self.spec.action_dim)
        if got != want:
            raise ValueError(
                f"policy {self.name}: trained for (CVs, obs_dim, action_dim) = {want}, the env has {got} "
                "(an actor trained with algo.actor=link or exchange acts on any scenario)"
            )

    def act(self, env: BatchedEnv, obs: np.ndarray) -> np.ndarray:
        o = as_tensor(obs if self.twin_enabled else hide_view(obs, self.twin_part))
        with torch.no_grad():
            return self.actor.mean_action(o).double().clamp_(0.0, 1.0).numpy()


def read_run(run_dir: Path, algo: str | None = None) -> tuple[Config, str, AlgoConfig, dict]:
    """``(scenario, algorithm name, algorithm config, algo.yaml contents)`` of a run directory.

    A learner named by a ``module:attr`` reference in ``algo.yaml`` is loaded only when the caller's ``algo``
    (given on the command line) is that same reference: a file never makes isac-iov import a module."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    for name in (CONFIG_FILE, ALGO_FILE):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir}: no {name}; not a training run directory")
    try:
        cfg = from_dict(_read_yaml(run_dir / CONFIG_FILE))
    except RunDirError:
        raise
    except ConfigError as exc:
        raise ConfigError(f"{run_dir / CONFIG_FILE}: {exc}") from None
    meta = _read_yaml(run_dir / ALGO_FILE)
    if "algo" not in meta or not isinstance(meta.get("params"), dict):
        raise ConfigError(f"{run_dir / ALGO_FILE}: expected keys 'algo' and 'params'")
    name = meta["algo"]
    if not isinstance(name, str) or not (name in REGISTRY or plugins.known("learner", name, command_line=True)):
        raise ConfigError(f"{run_dir / ALGO_FILE}: field 'algo' must name one of {', '.join(REGISTRY)}, got {name!r}")
    if plugins.is_module_ref(name) and name != algo:
        raise ConfigError(
            f"{run_dir / ALGO_FILE}: trained by {name}, a module reference isac-iov does not import from a file; "
            f"pass --algo {name} to load it"
        )
    if "code" in meta and not isinstance(meta["code"], dict):
        raise ConfigError(f"{run_dir / ALGO_FILE}: field 'code' must be a mapping, got {type(meta['code']).__name__}")
    try:
        algo_cfg = make_algo_config(algo_spec(name, command_line=name == algo).config, meta["params"])
    except (ConfigError, ValueError, TypeError) as exc:
        raise ConfigError(f"{run_dir / ALGO_FILE}: field 'params': {exc}") from None
    return cfg, name, algo_cfg, meta


def _read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in the run file ``path`` (read as data: safe YAML, no symbolic link followed)."""
    try:
        data = parse_yaml(read_text_member(path), str(path))
    except ConfigError as exc:
        raise RunDirError(f"{exc}; the run directory is damaged") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a mapping, got {type(data).__name__}; the run directory is damaged")
    return data


def checkpoint_path(run_dir: Path) -> Path:
    """The checkpoint file of ``run_dir``: ``checkpoint.safetensors``, or an old run's ``checkpoint.pt``."""
    path = Path(run_dir) / CHECKPOINT_FILE
    legacy = Path(run_dir) / LEGACY_CHECKPOINT_FILE
    return legacy if not (path.exists() or path.is_symlink()) and legacy.is_file() else path


def read_checkpoint(run_dir: Path, cfg: Config) -> dict[str, Any]:
    """The verified last checkpoint of ``run_dir``, trained on scenario ``cfg`` (:class:`RunDirError` if
    it is missing, does not match its checksum, cannot be read or was trained on another scenario).

    Nothing in it can run code (:mod:`isac_iov.checkpoint`)."""
    path = checkpoint_path(run_dir)
    if not (path.is_file() or path.is_symlink()):
        raise FileNotFoundError(f"{run_dir}: no {CHECKPOINT_FILE}; the run has not reached a checkpoint")
    data = load_checked(path)
    read = checkpoint.loads_legacy if path.name == LEGACY_CHECKPOINT_FILE else checkpoint.loads
    state = read(data, str(path))
    if not isinstance(state, dict) or not isinstance(state.get("learner"), dict):
        raise RunDirError(f"{path}: not a checkpoint of isac-iov train")
    if state.get("config_digest", cfg.digest()) != cfg.digest():
        raise RunDirError(
            f"{path}: trained on another scenario than {Path(run_dir) / CONFIG_FILE} says (was config.yaml edited?)"
        )
    return state


class OtherCodeWarning(UserWarning):
    """A trained run was made by another version of the model, policy or learner code than the running one."""


def load_policy(run_dir: str | Path, algo: str | None = None) -> TrainedPolicy:
    """The trained actors of ``run_dir`` (its last checkpoint) as a deterministic decentralised policy
    (``algo``: the command line's ``--algo``, needed for a run of a ``module:attr`` learner, :func:`read_run`)."""
    run_dir = Path(run_dir)
    cfg, name, algo_cfg, meta = read_run(run_dir, algo)
    trained_by, code = recorded_fingerprint(meta), code_fingerprint()["fingerprint"]
    if trained_by != code:
        warnings.warn(
            f"{run_dir} was trained by other code (fingerprint {trained_by}, this code {code}); its observations "
            "or model may differ from this code's",
            OtherCodeWarning,
            stacklevel=2,
        )
    state = read_checkpoint(run_dir, cfg)
    spec = EnvSpec.from_config(cfg)
    learner = algo_spec(name, command_line=name == algo).learner(spec, algo_cfg)
    try:
        learner.actor.load_state_dict(state["learner"]["actor"])
    except (KeyError, RuntimeError, TypeError, AttributeError) as exc:
        raise RunDirError(
            f"{checkpoint_path(run_dir)}: does not fit the actor of {name} on this scenario "
            f"({str(exc).splitlines()[0]})"
        ) from None
    return TrainedPolicy(name, learner.actor, spec, cfg.twin.enabled)


__all__ = [
    "REGISTRY",
    "AlgoSpec",
    "OtherCodeWarning",
    "TrainedPolicy",
    "algo_spec",
    "checkpoint_path",
    "effective_config",
    "load_policy",
    "read_checkpoint",
    "read_run",
]
