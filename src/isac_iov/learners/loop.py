"""The training loop of ``isac-iov train`` (:mod:`.train`): iterations of ``num_envs`` lockstep episodes, on
one scenario or, in turn, on each scenario of a mixture, with metrics, TensorBoard events, checkpoints and an
exact resume.  :class:`TrainingLoop` runs in a run directory :func:`.train.train_run` has checked and locked.

A checkpoint holds the learner's state (networks, optimisers, normalisers, replay), an imitation's aggregates,
every generator's state (each scenario's env and twin, torch, python, numpy) and the episode counter, in a format
that cannot carry code (:mod:`isac_iov.checkpoint`); a resumed run drops the metrics rows and TensorBoard events
past it, so the finished run has each episode exactly once.
"""

from __future__ import annotations

import csv
import io
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from .. import checkpoint
from ..config import Config
from ..env.core import BatchedEnv
from ..env.rollout import SlotRecord, rollout
from ..rundir import (
    CHECKPOINT_FILE,
    CHECKSUM_SUFFIX,
    LEGACY_CHECKPOINT_FILE,
    METRICS_FILE,
    TB_DIR,
    RunDirError,
    read_text_member,
    save_checked,
    write_atomic,
)
from . import checkpoint_path, read_checkpoint
from .common import EnvSpec, Learner, NonFiniteTraining
from .imitate import Imitation
from .metrics import EpisodeMetrics, columns
from .rewards import learns_from_replays


class TrainingLoop:
    """The training loop of one run (the module docstring)."""

    def __init__(
        self,
        learner_cls: type,
        cfgs: list[Config],
        algo_cfg: Any,
        episodes: int,
        seed: int,
        out_dir: Path,
        checkpoint_every: int,
        init: str | None = None,
        imitate: str | None = None,
    ):
        self.cfg, self.episodes, self.out_dir, self.every = cfgs[0], episodes, out_dir, checkpoint_every
        self.seed, self.init = seed, init
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        self.envs = [BatchedEnv(c, algo_cfg.num_envs, seed=mixture_seed(seed, j)) for j, c in enumerate(cfgs)]
        for env, c in zip(self.envs, cfgs, strict=True):
            env.what_if_local = imitate is None and learns_from_replays(algo_cfg, c)  # rewards.step_rewards
            env.reset()
        self.specs = [EnvSpec.from_config(c) for c in cfgs]
        self.learner: Learner = learner_cls(self.specs[0], algo_cfg)
        self.metrics = [EpisodeMetrics(algo_cfg.num_envs, c.num_cvs) for c in cfgs]
        self.mixture = len(cfgs) > 1
        self.columns = columns(cfgs[0].num_cvs, self.mixture)
        self.imitation = Imitation(self.learner.actor, cfgs, imitate, seed, episodes) if imitate else None
        self.episode, self.elapsed_s = 0, 0.0
        self.saved_episode: int | None = None  # episode count of the last checkpoint written or loaded

    def run(self, started: bool, progress: bool) -> None:
        if started and checkpoint_path(self.out_dir).is_file():
            self._load_checkpoint()
        elif self.init is not None:
            from .warmstart import warm_start

            warm_start(self.learner, self.cfg, self.init, self.seed, progress=progress)
        self._truncate_metrics()
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(self.out_dir / TB_DIR), purge_step=self.episode)
        bar = tqdm(total=self.episodes, initial=self.episode, disable=not progress, unit="ep", desc=self.out_dir.name)
        t0 = time.perf_counter() - self.elapsed_s
        try:
            while self.episode < self.episodes:
                keep = min(self.learner.num_envs, self.episodes - self.episode)
                try:
                    losses = self._iteration(keep)
                    self.elapsed_s = time.perf_counter() - t0
                    rows = self._rows(keep)
                    self._check_finite(rows, losses)
                except NonFiniteTraining as exc:
                    raise NonFiniteTraining(self._stopped(exc, keep)) from None
                self._log(writer, rows, losses)
                previous, self.episode = self.episode, self.episode + keep
                if self.episode // self.every > previous // self.every or self.episode == self.episodes:
                    self._save_checkpoint()
                bar.update(keep)
                bar.set_postfix(
                    reward=f"{np.mean([r['reward'] for r in rows]):.2f}",
                    cost=f"{np.mean([r['cost'] for r in rows]):.3f}",
                )
        finally:
            bar.close()
            writer.close()

    @property
    def scenario(self) -> int:
        """Which scenario of the mixture the next iteration plays (the cycle of the module docstring)."""
        return (self.episode // self.learner.num_envs) % len(self.envs)

    def _iteration(self, keep: int) -> dict[str, float]:
        j = self.scenario
        metrics, imitation = self.metrics[j], self.imitation
        if self.mixture and imitation is None:
            self.learner.retarget(self.specs[j], j)  # type: ignore[attr-defined]  # checked by _mixture_overrides
        metrics.reset()
        env = self.envs[j]
        steps = rollout(env, self.learner.explore) if imitation is None else imitation.play(j, env, keep)
        for t, step in enumerate(steps):
            if not np.isfinite(step.reward).all():
                raise NonFiniteTraining(f"non-finite reward in slot {t}")
            if imitation is None:
                self.learner.record(step, t)
            metrics.add(SlotRecord.of(step))
        return self.learner.end_iteration(keep) if imitation is None else imitation.fit(self.episode + keep)

    def _rows(self, keep: int) -> list[dict[str, float]]:
        """The metrics rows of the iteration just played (a mixture's: the scenario's index, no per-CV columns)."""
        rows = self.metrics[self.scenario].rows(keep, self.episode, self.elapsed_s)
        if self.mixture:
            rows = [{**{k: r[k] for k in self.columns if k in r}, "scenario": self.scenario} for r in rows]
        return rows

    def _log(self, writer: Any, rows: list[dict[str, float]], losses: dict[str, float]) -> None:
        with open(self.out_dir / METRICS_FILE, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns, lineterminator="\n").writerows(rows)
        for row in rows:
            for key in self.columns[1:-1]:
                writer.add_scalar(f"episode/{key}", row[key], row["episode"])
        last = rows[-1]["episode"]
        for key, value in losses.items():
            writer.add_scalar(f"loss/{key}", value, last)

    def _check_finite(self, rows: list[dict[str, float]], losses: dict[str, float]) -> None:
        """Raise :class:`NonFiniteTraining` naming the first non-finite metric, loss or weight."""
        for row in rows:
            bad = next((k for k, v in row.items() if not np.isfinite(v)), None)
            if bad is not None:
                raise NonFiniteTraining(f"non-finite {bad} (metrics of episode {int(row['episode'])})")
        bad = next((k for k, v in losses.items() if not np.isfinite(v)), None)
        if bad is not None:
            raise NonFiniteTraining(f"non-finite loss {bad}")
        for owner, module in vars(self.learner).items():
            if isinstance(module, torch.nn.Module):
                for name, p in module.named_parameters():
                    if not torch.isfinite(p).all():
                        raise NonFiniteTraining(f"non-finite weight {owner}.{name}")

    def _stopped(self, exc: Exception, keep: int) -> str:
        """The one-line message of a run stopped by a non-finite quantity."""
        kept = (
            f"its last good checkpoint (episode {self.saved_episode}) is kept in {self.out_dir}"
            if self.saved_episode is not None
            else "no checkpoint was written"
        )
        return (
            f"training stopped: {exc} in episodes {self.episode}..{self.episode + keep - 1}; {kept} "
            "(check the scenario's magnitudes and the learning rates)"
        )

    # -- files ---------------------------------------------------------------------------------
    def _truncate_metrics(self) -> None:
        """Keep the header and the complete rows of episodes before the checkpoint."""
        path = self.out_dir / METRICS_FILE
        rows = list(csv.reader(io.StringIO(read_text_member(path))))[1:] if path.exists() or path.is_symlink() else []
        text = io.StringIO()
        out = csv.writer(text, lineterminator="\n")
        out.writerow(self.columns)
        out.writerows(r for r in rows if len(r) == len(self.columns) and _episode(r[0]) < self.episode)
        write_atomic(path, text.getvalue())

    def _save_checkpoint(self) -> None:
        env = self.envs[0]
        state: dict[str, Any] = {
            "episode": self.episode,
            "elapsed_s": self.elapsed_s,
            "learner": self.learner.state_dict(),
            "config_digest": self.cfg.digest(),
            "rng": {
                "env": env.rng.bit_generator.state,
                "twin": env.twin.rng.bit_generator.state,
                "torch": torch.get_rng_state(),
                "python": random.getstate(),
                "numpy": np.random.get_state(),
            },
        }
        if self.imitation is not None:
            state["imitation"] = self.imitation.state_dict()
        if self.mixture:
            others = self.envs[1:]
            state["rng"]["mixture"] = [[e.rng.bit_generator.state, e.twin.rng.bit_generator.state] for e in others]
        save_checked(self.out_dir / CHECKPOINT_FILE, checkpoint.dumps(state))
        for legacy in (LEGACY_CHECKPOINT_FILE, LEGACY_CHECKPOINT_FILE + CHECKSUM_SUFFIX):
            (self.out_dir / legacy).unlink(missing_ok=True)  # a resumed old run now lives in the new file
        self.saved_episode = self.episode

    def _load_checkpoint(self) -> None:
        path = checkpoint_path(self.out_dir)
        state = read_checkpoint(self.out_dir, self.cfg)
        episode, elapsed_s = state.get("episode"), state.get("elapsed_s")
        if not (type(episode) is int and 0 <= episode <= self.episodes and isinstance(elapsed_s, int | float)):
            raise RunDirError(f"{path}: fields 'episode' and 'elapsed_s' must be counts within the run")
        try:
            self.learner.load_state_dict(state["learner"])
            rng = state["rng"]
            self.envs[0].rng.bit_generator.state = rng["env"]
            self.envs[0].twin.rng.bit_generator.state = rng["twin"]
            for env, (env_rng, twin_rng) in zip(self.envs[1:], rng.get("mixture", []), strict=True):
                env.rng.bit_generator.state, env.twin.rng.bit_generator.state = env_rng, twin_rng
            torch.set_rng_state(rng["torch"])
            random.setstate(rng["python"])
            np.random.set_state(rng["numpy"])
            if self.imitation is not None:
                self.imitation.load_state_dict(state["imitation"])
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise RunDirError(
                f"{path}: does not fit this algorithm's networks and generators ({str(exc).splitlines()[0]})"
            ) from None
        self.episode, self.elapsed_s, self.saved_episode = episode, float(elapsed_s), episode


def mixture_seed(seed: int, scenario: int) -> int:
    """The env seed of scenario ``scenario`` of a mixture: ``seed`` for the first, derived for the others."""
    if scenario == 0:
        return seed
    return int(np.random.SeedSequence([seed, scenario]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _episode(cell: str) -> float:
    """The episode number of a metrics row (infinity for a damaged cell, so the row is dropped)."""
    try:
        return int(cell)
    except ValueError:
        return float("inf")
