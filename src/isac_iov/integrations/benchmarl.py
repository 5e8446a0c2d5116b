"""isac-iov as a BenchMARL task: any BenchMARL algorithm trains on the env (docs/integrations.md).

Needs the optional extra ``benchmarl`` (``pip install -c constraints.txt 'isac-iov[benchmarl]'``)::

    from benchmarl.algorithms import MappoConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig

    from isac_iov.integrations.benchmarl import IsacTask

    Experiment(
        task=IsacTask.DEFAULT.get_task(),
        algorithm_config=MappoConfig.get_from_yaml(),
        model_config=MlpConfig.get_from_yaml(),
        critic_model_config=MlpConfig.get_from_yaml(),
        seed=0,
        config=ExperimentConfig.get_from_yaml(),
    ).run()

:class:`IsacTask` is the registry entry (BenchMARL's enum of tasks; ``DEFAULT`` is the only member) and
:class:`IsacTaskConfig` its configuration: ``IsacTask.DEFAULT.get_task()`` takes the dataclass's defaults,
``get_task(config={...})`` or ``get_from_yaml(path)`` (a YAML file of the same keys) others:

* ``scenario``: a scenario YAML (e.g. ``src/isac_iov/scenarios/city.yaml``), or None for Table II's road;
* ``overrides``: ``key=value`` overrides on top of it, as ``isac-iov --set`` takes them;
* ``twin``: the digital twin on (Ly-DTMPO's setting) or off (``twin.enabled``); with it, BenchMARL's centralised
  critics read the twin's global view as the state, without it (the view is then all zeros) the observations;
* ``actions`` (``"box"``) and ``reward`` (``"per_cv"``): the PettingZoo view's options; the per-CV reward is on
  by default because BenchMARL does not normalise rewards, and the team reward, in the hundreds per slot once the
  virtual energy queue grows, drove its MAPPO to three times the energy budget, where each CV's own share kept it
  within the budget at a slightly lower cost (with more deadline misses); centred actions are off because they
  made it worse (2.6 x ``greedy`` against 1.3 x): the centred map's slope turns the outputs and noise its
  tanh-squashed Gaussian starts with into all-or-nothing shares (:mod:`isac_iov.integrations.torchrl` and
  docs/integrations.md have the measurements).

The env is :func:`isac_iov.integrations.torchrl.make_env` (TorchRL's ``PettingZooWrapper`` of the PettingZoo
view, every CV in the group ``"agents"``), continuous actions only; the action mask it carries says which entries
of a continuous action act, which no BenchMARL algorithm reads (they mask discrete choices), so the task declares
none.  Each env a factory builds draws its own seed from the experiment's, so the envs of one collector play
different episodes.  After training, ``TensorDictPolicy(experiment.policy)`` evaluates the policy with
:func:`isac_iov.evaluate.evaluate_policy`, exactly as ``isac-iov evaluate`` plays (benchmarks/bench_benchmarl.py).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..config import Config, ConfigError, load_config
from ..env.pettingzoo_env import ACTIONS, REWARDS
from . import missing_extra
from .torchrl import GROUP, make_env

try:
    from benchmarl.environments import Task, TaskClass
    from torchrl.data import Composite
    from torchrl.envs import EnvBase
except ImportError as exc:
    raise missing_extra(__name__, "benchmarl", exc) from None


@dataclasses.dataclass
class IsacTaskConfig:
    """The task's configuration (module docstring)."""

    scenario: str | None = None
    overrides: list[str] = dataclasses.field(default_factory=list)
    twin: bool = True
    actions: str = "box"
    reward: str = "per_cv"

    def __post_init__(self) -> None:
        for option, value, allowed in (("actions", self.actions, ACTIONS), ("reward", self.reward, REWARDS)):
            if value not in allowed:
                raise ConfigError(f"IsacTask {option}: must be one of {allowed}, got {value!r}")
        if not isinstance(self.twin, bool):
            raise ConfigError(f"IsacTask twin: must be true or false, got {self.twin!r}")
        if not isinstance(self.overrides, list) or not all(isinstance(o, str) for o in self.overrides):
            raise ConfigError(f"IsacTask overrides: must be a list of key=value strings, got {self.overrides!r}")

    def scenario_config(self) -> Config:
        """The scenario: ``scenario`` (or Table II), then ``overrides``, then the twin switch."""
        return load_config(self.scenario, [*self.overrides, f"twin.enabled={self.twin}"])


def _checked(config: dict[str, Any], where: str) -> dict[str, Any]:
    """``config`` completed with the defaults and checked by :class:`IsacTaskConfig`, or one-line ConfigError."""
    if not isinstance(config, dict):
        raise ConfigError(f"{where}: expected a mapping of IsacTask options, got {type(config).__name__}")
    known = {f.name for f in dataclasses.fields(IsacTaskConfig)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown IsacTask option(s) {unknown} (known: {sorted(known)})")
    return dataclasses.asdict(IsacTaskConfig(**config))


class IsacTaskClass(TaskClass):
    """BenchMARL's task object for isac-iov: builds the env and names its parts (module docstring)."""

    def __init__(self, name: str, config: dict[str, Any] | None):
        super().__init__(name, _checked(config or {}, "IsacTask config"))
        self.options = IsacTaskConfig(**self.config)
        self.scenario = self.options.scenario_config()

    def get_env_fun(
        self, num_envs: int, continuous_actions: bool, seed: int | None, device: Any
    ) -> Callable[[], EnvBase]:
        """A factory of single envs (BenchMARL batches them); the k-th env built gets seed ``(seed, k)``."""
        counter = itertools.count()
        cfg, options = self.scenario, self.options

        def build() -> EnvBase:
            k = next(counter)
            env_seed = None if seed is None else int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
            return make_env(cfg, env_seed, actions=options.actions, reward=options.reward, device=device)

        return build

    def supports_continuous_actions(self) -> bool:
        return True

    def supports_discrete_actions(self) -> bool:
        return False

    def has_render(self, env: EnvBase) -> bool:
        return False

    def max_steps(self, env: EnvBase) -> int:
        return self.scenario.episode_slots

    def group_map(self, env: EnvBase) -> dict[str, list[str]]:
        return env.group_map

    def observation_spec(self, env: EnvBase) -> Composite:
        agents = env.observation_spec[GROUP]  # the observation and the action mask
        return Composite({GROUP: Composite({"observation": agents["observation"].clone()}, shape=agents.shape)})

    def state_spec(self, env: EnvBase) -> Composite | None:
        spec = env.observation_spec
        return Composite({"state": spec["state"].clone()}) if "state" in spec else None

    def action_mask_spec(self, env: EnvBase) -> Composite | None:
        return None

    def info_spec(self, env: EnvBase) -> Composite | None:
        return None

    def action_spec(self, env: EnvBase) -> Composite:
        return env.full_action_spec

    @staticmethod
    def env_name() -> str:
        return "isac_iov"


class IsacTask(Task):
    """The registry entry: ``IsacTask.DEFAULT.get_task()`` is the task with :class:`IsacTaskConfig`'s defaults."""

    DEFAULT = None

    @staticmethod
    def associated_class() -> type[IsacTaskClass]:
        return IsacTaskClass

    def get_from_yaml(self, path: str | None = None) -> TaskClass:
        """The task with the options of the YAML file ``path`` (the defaults for keys it leaves out; all the
        defaults without a path: isac-iov ships no YAML inside BenchMARL's configuration folder)."""
        if path is None:
            return self.get_task(config=dataclasses.asdict(IsacTaskConfig()))
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read the IsacTask options: {exc}") from None
        if isinstance(data, dict):
            data.pop("defaults", None)  # BenchMARL's Hydra header, if the file has one
        return self.get_task(config=_checked(data, str(path)))
