"""Training one algorithm on one scenario or a mixture, with checkpoints and exact resume: :func:`train_run`,
which ``isac-iov train`` starts (:mod:`isac_iov.commands.train`).

**A mixture of scenarios.**  A list of ``S`` configs trains one policy on all of them: iteration ``n``
(``num_envs`` lockstep episodes) plays scenario ``n mod S``, each with its own batched env and generator, so
every scenario gets the same share of episodes in turn, and a resumed run continues the cycle where it stopped.
The networks must not depend on the scenario: the PPO learners with the per-link actor and critic
(``algo.actor=link``, ``algo.critic_state=link``: a mixture sets both unless the algorithm overrides say
otherwise, which is refused), the reward form ``auto`` resolves per scenario and each scenario scales its
rewards by its own statistics (:meth:`.mappo.MAPPO.retarget`).  The off-policy learners train on one scenario,
except by imitation (``imitate``), which any learner's per-link actor does on a mixture.  The run is evaluated
with ``isac-iov evaluate --policy RUN --config ANY.yaml`` on any scenario.

``init`` names a reference policy to behaviour-clone into the actor before the first episode
(:mod:`.warmstart`); by default actors start from scratch.  ``imitate`` names one whose actions the actor
imitates, with the teacher in the loop (DAgger, :mod:`.imitate`), instead of learning from rewards.
``algo_overrides`` set algorithm hyper-parameters (see the config dataclasses of :mod:`.mappo`,
:mod:`.maddpg`, :mod:`.matd3`, :mod:`.masac`).

The run directory holds

* ``config.yaml`` - the scenario actually trained on (Ly-MAPPO: twin off; a mixture's first, the others in
  ``mixture.yaml``);
* ``algo.yaml`` - algorithm name, hyper-parameters, episodes, seed and the code version
  (:func:`isac_iov.rundir.code_fingerprint`);
* ``metrics.csv`` - one row per episode (columns in :mod:`.metrics`) and ``tb/``
  TensorBoard events of the same metrics plus the learner's losses;
* ``checkpoint.safetensors`` - networks, optimisers, normalisers, the replay buffer,
  the RNG states (env generators, torch, python, numpy) and the episode
  counter and the scenario's digest, in a format that cannot carry code
  (:mod:`isac_iov.checkpoint`; a run of isac-iov 0.1 resumes from its
  ``checkpoint.pt``, read safely), written atomically with a SHA-256 sidecar
  (:func:`isac_iov.rundir.save_checked`, verified on every load) every
  ``checkpoint_every`` episodes (at the next iteration boundary) and at the end;
* ``.lock`` - held (``flock``) while a process trains here: a second one stops
  with one line naming the holder.

``resume`` continues a run from its last checkpoint, whatever killed it: rows
of ``metrics.csv`` past the checkpoint are dropped and TensorBoard events past
it purged, so the finished run has each episode exactly once and the same
metrics as an uninterrupted run with the same seed (same machine: every
generator is seeded and checkpointed, and torch runs on a fixed number of
threads, ``algo.torch_threads``; the CPU kernels used - batched matmul,
element-wise ops, indexing - are deterministic then, which the tests check by
comparing a killed-and-resumed run with an uninterrupted one).  ``resume`` on a
directory without a run starts one.  Errors, raised before anything is written:
unknown algorithm or key, ``episodes`` < 1, a seed outside ``[0, 2**63 - 1]``,
a scenario whose estimated memory (env plus :func:`learner_bytes`) exceeds
what the machine has, an ``out_dir`` that is a file or cannot be created, a
non-empty directory without ``resume``, a directory in use by another
process, a directory whose run has another scenario, algorithm,
hyper-parameters, episode count or seed, a damaged run directory or
checkpoint.  A non-finite reward, metric, loss, gradient or weight stops the
run with one line naming it and the episodes, keeping the last good checkpoint.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
import yaml

from ..config import Config, ConfigError, check_seed
from ..env.core import check_memory, estimate_memory_bytes
from ..rundir import (
    ALGO_FILE,
    CONFIG_FILE,
    LOCK_FILE,
    METRICS_FILE,
    MIXTURE_FILE,
    RunDirError,
    code_fingerprint,
    locked,
    recorded_fingerprint,
    write_atomic,
)
from . import algo_spec, checkpoint_path, effective_config, read_run
from .common import (
    ANY_SCENARIO_FORMS,
    EnvSpec,
    critic_extra_dim,
    form,
    make_algo_config,
    pooled_critic,
    uses_agent_id,
)
from .loop import TrainingLoop

FLOAT32_BYTES = 4
DEFAULT_CHECKPOINT_EVERY = 100


def train_run(
    algo: str,
    cfg: Config | list[Config],
    episodes: int,
    seed: int,
    out_dir: Path,
    resume: bool = False,
    algo_overrides: dict | None = None,
    progress: bool = True,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    init: str | None = None,
    imitate: str | None = None,
) -> Path:
    """Train ``algo`` for ``episodes`` episodes into ``out_dir`` (resuming it if asked); return ``out_dir``.

    ``init`` names a reference policy to behaviour-clone into the actor before training, ``imitate`` one to
    imitate instead of learning from rewards (:mod:`.imitate`); ``cfg`` a list of scenarios trains on their
    mixture (the module docstring).
    """
    from ..policies import REGISTRY as POLICIES

    spec = algo_spec(algo)
    for option, name in (("--init", init), ("--imitate", imitate)):
        if name is not None and name not in POLICIES:
            raise ValueError(f"{option}: unknown reference policy {name!r} (known: {', '.join(POLICIES)})")
    if init is not None and imitate is not None:
        raise ValueError("--init and --imitate: give one (an imitation run starts from the teacher's episodes)")
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes: must be a positive integer, got {episodes!r}")
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every: must be a positive integer, got {checkpoint_every!r}")
    check_seed("--seed", seed)
    cfgs = [effective_config(algo, c) for c in (cfg if isinstance(cfg, list) else [cfg])]
    if not cfgs:
        raise ValueError("train_run: no scenario given")
    cfg = cfgs[0]
    algo_cfg = make_algo_config(spec.config, _mixture_overrides(algo, spec, len(cfgs), algo_overrides, imitate))
    _warn_if_schedule_ends_early(algo_cfg, episodes)
    if getattr(algo_cfg, "reward", None) == "difference" and not all(c.twin.enabled for c in cfgs):
        raise ConfigError(f"algo.reward=difference: {algo} trains without the twin, whose replays it learns from")
    for c in cfgs:
        check_memory(
            estimate_memory_bytes(c, algo_cfg.num_envs, learner_bytes(c, algo_cfg)),
            f"training {algo} on num_cvs={c.num_cvs} CVs with {algo_cfg.num_envs} env(s)",
            "lower num_cvs, algo.num_envs, algo.hidden or algo.buffer_episodes",
        )
    meta: dict[str, Any] = {
        "algo": algo,
        "params": algo_cfg.to_dict(),
        "episodes": episodes,
        "seed": seed,
        "init": init,
        "code": code_fingerprint(),
    }
    if imitate is not None:
        meta["imitate"] = imitate
    if len(cfgs) > 1:
        meta["mixture"] = [c.digest() for c in cfgs[1:]]  # the other scenarios' digests, checked on --resume
    out_dir = Path(out_dir)
    _check_out(out_dir, resume)
    with locked(out_dir):
        started = _prepare_dir(out_dir, cfgs, meta, resume)
        threads = torch.get_num_threads()
        try:
            torch.set_num_threads(algo_cfg.torch_threads)
            run = TrainingLoop(spec.learner, cfgs, algo_cfg, episodes, seed, out_dir, checkpoint_every, init, imitate)
            run.run(started, progress)
        finally:
            torch.set_num_threads(threads)
    return out_dir


def _mixture_overrides(algo: str, spec: Any, scenarios: int, overrides: dict | None, imitate: str | None) -> dict:
    """The algorithm overrides of a run on ``scenarios`` scenarios: a mixture takes the per-link actor (and
    critic, unless it imitates) unless told otherwise, and is refused for learners or forms that depend on
    the scenario."""
    overrides = dict(overrides or {})
    if scenarios == 1:
        return overrides
    if imitate is None and not hasattr(spec.learner, "retarget"):
        raise ConfigError(
            f"{algo}: trains on one scenario (--config once); a mixture needs ly-dtmpo, ly-mappo or --imitate"
        )
    for key in ("actor",) if imitate else ("actor", "critic_state"):
        forms = ANY_SCENARIO_FORMS[key]
        if str(overrides.setdefault(key, "link")) not in forms:
            needed = " or ".join(f"algo.{key}={f}" for f in forms)
            raise ConfigError(f"algo.{key}={overrides[key]}: a mixture of scenarios needs {needed}")
    return overrides


def _warn_if_schedule_ends_early(algo_cfg: Any, episodes: int) -> None:
    """Warn when a learning rate falls to 0 before the run ends, so that the episodes after it teach nothing."""
    floor_key = next((k for k in ("lr_floor", "actor_lr_floor") if hasattr(algo_cfg, k)), None)
    if floor_key is None or getattr(algo_cfg, floor_key) > 0 or algo_cfg.anneal_episodes >= episodes:
        return
    warnings.warn(
        f"algo.{floor_key}=0 with algo.anneal_episodes={algo_cfg.anneal_episodes} < {episodes} episodes: the learning "
        f"rate is 0 from episode {algo_cfg.anneal_episodes} on (set algo.anneal_episodes={episodes})",
        stacklevel=3,
    )


def learner_bytes(cfg: Config, algo_cfg: Any) -> int:
    """An estimate of a learner's memory (float32), generous by the copy a checkpoint makes: PPO's rollout of
    ``num_envs`` episodes (observations, critic states, pre-actions, rewards), or the off-policy replay of
    ``buffer_episodes`` and the staged ``num_envs`` (each CV's own features, action and reward; per env-slot the
    twin's part and the global state or its pooled form), and the networks (actor, critics, target copies)
    with Adam's two moments.  Linear in the CVs with the scalable options (:mod:`.common`), quadratic with the
    global critic state or the joint-action critics.  Networks are counted as MLPs on the whole observation,
    per-link ones too: a few hundred thousand parameters either way, small beside the buffers at scale."""
    spec = EnvSpec.from_config(cfg)
    i, a = spec.num_cvs, spec.action_dim
    replay = getattr(algo_cfg, "buffer_episodes", None)
    link = form(algo_cfg, "critic_state", i) == "link"  # PPO's link critic reads observations alone; the off-policy
    # learners' replay keeps the pooled global state beside them
    extra = 0 if link and replay is None else critic_extra_dim(spec, pooled_critic(algo_cfg, i) or link)
    state = spec.obs_dim + extra
    if replay is None:
        per_agent, per_env_slot, episodes = spec.obs_dim + state + a + 3, 0, algo_cfg.num_envs
    else:
        per_agent, per_env_slot = spec.cv_feature_dim + a + 1, spec.obs_dim - spec.cv_feature_dim + extra
        episodes = replay + algo_cfg.num_envs
    transitions = 2 * episodes * (cfg.episode_slots + 1) * (i * per_agent + per_env_slot)
    ids = i if uses_agent_id(algo_cfg, i) else 0
    actors = (1 if algo_cfg.shared_actor else i) * _mlp_size(spec.obs_dim + ids, algo_cfg.hidden, 2 * a)
    if not hasattr(algo_cfg, "critic_actions"):  # MAPPO: one shared critic on the critic state
        critics = _mlp_size(state + ids, algo_cfg.hidden, 1)
    elif form(algo_cfg, "critic_actions", i) == "summary":
        critics = 2 * _mlp_size(state + ids + 2 * a, algo_cfg.hidden, 1)
    else:
        critics = 2 * i * _mlp_size(state + i * a, algo_cfg.hidden, 1)
    return FLOAT32_BYTES * (transitions + 3 * 2 * (actors + critics))


def _mlp_size(in_dim: int, hidden: int, out_dim: int) -> int:
    """Parameters of a two-hidden-layer MLP."""
    return (in_dim + 1) * hidden + (hidden + 1) * hidden + (hidden + 1) * out_dim


def _check_out(out_dir: Path, resume: bool) -> None:
    """Refuse an ``--out`` that cannot hold this run (before anything is written), then create it."""
    if out_dir.exists() and not out_dir.is_dir():
        raise RunDirError(f"--out {out_dir}: exists and is not a directory")
    if not resume and _has_files(out_dir):
        raise FileExistsError(f"run directory {out_dir} is not empty; pass --resume to continue its run")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"--out {out_dir}: cannot create it ({exc.strerror})") from None


def _has_files(out_dir: Path) -> bool:
    return out_dir.is_dir() and any(p.name != LOCK_FILE for p in out_dir.iterdir())


def _prepare_dir(out_dir: Path, cfgs: list[Config], meta: dict, resume: bool) -> bool:
    """Check ``out_dir`` (locked by the caller) against the requested run; write config files for a new run
    (``config.yaml`` the first scenario, ``mixture.yaml`` the others of a mixture).

    Returns whether a run already exists there (with the same identity).
    """
    if _has_files(out_dir) and not resume:  # filled between _check_out and the lock
        raise FileExistsError(f"run directory {out_dir} is not empty; pass --resume to continue its run")
    cfg = cfgs[0]
    if (out_dir / CONFIG_FILE).is_file():
        old_cfg, _, _, old_meta = read_run(out_dir, meta["algo"])
        if old_cfg.digest() != cfg.digest():
            raise ConfigError(
                f"{out_dir} holds a run of another scenario (config digest {old_cfg.digest()} "
                f"!= {cfg.digest()}); use a new --out"
            )
        for key in ("algo", "episodes", "seed", "init", "imitate", "mixture"):
            if old_meta.get(key) != meta.get(key):
                raise ConfigError(f"{out_dir} holds a run with {key} = {old_meta.get(key)!r}, not {meta.get(key)!r}")
        old_code, code = recorded_fingerprint(old_meta), meta["code"]["fingerprint"]
        if old_code != code:
            raise ConfigError(
                f"{out_dir} holds a run of other code (fingerprint {old_code}, this code {code}); resuming would "
                "mix the two: use a new --out"
            )
        diff = sorted(
            k
            for k in set(meta["params"]) | set(old_meta["params"])
            if meta["params"].get(k) != old_meta["params"].get(k)
        )
        if diff:
            k = diff[0]
            raise ConfigError(
                f"{out_dir} holds a run with algo.{k} = {old_meta['params'].get(k)!r}, not {meta['params'].get(k)!r}"
            )
        return True
    if (out_dir / METRICS_FILE).exists() or checkpoint_path(out_dir).exists():
        raise FileExistsError(f"{out_dir} has training outputs but no {CONFIG_FILE}; not resuming it")
    write_atomic(out_dir / CONFIG_FILE, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    if len(cfgs) > 1:
        others = {"scenarios": [c.to_dict() for c in cfgs[1:]]}
        write_atomic(out_dir / MIXTURE_FILE, yaml.safe_dump(others, sort_keys=False))
    write_atomic(out_dir / ALGO_FILE, yaml.safe_dump(meta, sort_keys=False))
    return False
