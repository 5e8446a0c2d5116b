"""Shared test configuration: Hypothesis profiles, the config variants every environment test runs over,
the one-line CLI error reader, an environment played a few slots into an episode, a tiny trained run directory
(``trained``, made once per session), the arrays of a small hand-made trace (``trace_arrays``) and a training run
stopped right after a given checkpoint (``stopped_after``).

Hypothesis profiles: ``default`` (bounded and derandomised, so the fuzz tests are reproducible and take well
under a minute) and ``long`` (2000 random examples per test) for deep runs:
``python -m pytest tests/test_fuzz.py --hypothesis-profile=long``.
The fuzz tests use ``capsys`` and ``tmp_path_factory`` across examples; each example reads (and so clears) the
captured output and makes its own directory, hence the suppressed function-scoped-fixture check.

Config variants (:data:`CONFIG_VARIANTS`): a test taking the ``variant`` fixture runs once per variant, the way
PettingZoo tests every environment over its arguments: the default scenario, the twin switched off, lagged and
noisy, the per-RSU band, the system-wide energy queue, RSUs serving at full capacity, and 2 and 6 CVs.
"""

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from isac_iov import BatchedEnv, load_config
from isac_iov.actions import layout

_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]

settings.register_profile(
    "default", max_examples=200, deadline=None, derandomize=True, suppress_health_check=_SUPPRESSED
)
settings.register_profile("long", max_examples=2000, deadline=None, suppress_health_check=_SUPPRESSED)
settings.load_profile("default")

CONFIG_VARIANTS: dict[str, list[str]] = {
    "default": [],
    "twin_off": ["twin.enabled=false"],
    "twin_lag": ["twin.lag_slots=2"],
    "twin_noise": ["twin.noise_std=0.3"],
    "per_rsu_band": ["channel.bandwidth_sharing=per_rsu"],
    "system_energy_queue": ["lyapunov.energy_queue=system"],
    "capacity_service": ["rsu.service=capacity"],
    "2_cvs": ["num_cvs=2"],
    "6_cvs": ["num_cvs=6"],
}


@pytest.fixture(params=list(CONFIG_VARIANTS))
def variant(request: pytest.FixtureRequest) -> list[str]:
    """The config overrides of one of :data:`CONFIG_VARIANTS` (the test runs once per variant)."""
    return CONFIG_VARIANTS[request.param]


@pytest.fixture
def error_line(capsys: pytest.CaptureFixture[str]) -> Callable[..., str]:
    """``error_line(command, quiet=False)``: the captured stderr of a failed ``isac-iov COMMAND``, asserted to be
    one ``isac-iov COMMAND: error: ...`` line without a traceback (and, with ``quiet``, nothing on stdout)."""

    def read(command: str, quiet: bool = False) -> str:
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert err.startswith(f"isac-iov {command}: error: ") and "\n" not in err, captured.err
        assert "Traceback" not in err and not (quiet and captured.out), captured
        return err

    return read


def _small_trace(slots: int = 8, columns: int = 3, slot_s: float = 1.0) -> dict[str, np.ndarray]:
    """A small hand-made trace: column c drives north at x = 10 c, 1 m per slot, one vehicle per column."""
    t = np.arange(slots, dtype=float)[:, None]
    c = np.arange(columns)
    return {
        "x_m": np.broadcast_to(10.0 * c, (slots, columns)).copy(),
        "y_m": np.broadcast_to(t, (slots, columns)).copy(),
        "speed_mps": np.ones((slots, columns)),
        "heading_rad": np.full((slots, columns), np.pi / 2),
        "lane": np.zeros((slots, columns), dtype=np.int64),
        "vehicle": np.broadcast_to(c, (slots, columns)).copy(),
        "lane_names": np.array(["n_0"]),
        "lane_shape_xy": np.array([[0.0, 0.0], [0.0, 100.0]]),
        "lane_shape_start": np.array([0, 2]),
        "junction_x_m": np.array([0.0, 20.0]),
        "junction_y_m": np.array([0.0, 5.0]),
        "boundary_m": np.array([0.0, 0.0, 20.0, 100.0]),
        "slot_s": np.array(slot_s),
        "net_file": np.array("hand.net.xml"),
        "generator": np.array("test"),
        "sumo_version": np.array("none"),
    }


TINY_RUN_SETS = ["--set=num_cvs=2", "--set=episode_slots=4", "--set=algo.num_envs=1", "--set=algo.hidden=8"]


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Ly-DTMPO run directory trained for 2 episodes at 2 CVs (``TINY_RUN_SETS``); tests that damage it copy it."""
    from isac_iov.cli import main

    out = tmp_path_factory.mktemp("trained") / "run"
    assert (
        main(["train", "--algo", "ly-dtmpo", "--episodes", "2", "--no-progress", "--out", str(out), *TINY_RUN_SETS])
        == 0
    )
    return out


@pytest.fixture
def trace_arrays() -> Callable[..., dict[str, np.ndarray]]:
    """``trace_arrays(slots=8, columns=3, slot_s=1.0)``: the arrays of a small valid hand-made trace."""
    return _small_trace


@pytest.fixture
def played_env() -> Callable[..., tuple[BatchedEnv, np.ndarray]]:
    """``played_env(overrides, seed, slots=4, num_envs=2)``: an env and its observations ``slots`` slots into an
    episode of random play that asks for little RSU CPU, so RSU backlogs build."""

    def play(overrides: list[str], seed: int, slots: int = 4, num_envs: int = 2) -> tuple[BatchedEnv, np.ndarray]:
        env = BatchedEnv(load_config(None, overrides), num_envs, seed=seed)
        obs, _ = env.reset()
        rng = np.random.default_rng(seed)
        for _ in range(slots):
            a = rng.uniform(size=(num_envs, env.num_cvs, env.action_dim))
            a[..., layout(env.num_rsus).cpu] *= 0.1
            obs = env.step(a).obs
        return env, obs

    return play


@pytest.fixture
def stopped_after(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], contextlib.AbstractContextManager[None]]:
    """``with stopped_after(episode): train_run(...)``: the run stops (``KeyboardInterrupt``, as on Ctrl-C) right
    after it writes the checkpoint of ``episode``; the ``with`` block asserts that it did."""
    from isac_iov.learners.loop import TrainingLoop

    save = TrainingLoop._save_checkpoint

    @contextlib.contextmanager
    def stop(episode: int) -> Iterator[None]:
        def save_then_stop(run: TrainingLoop) -> None:
            save(run)
            if run.episode == episode:
                raise KeyboardInterrupt

        with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
            patch.setattr(TrainingLoop, "_save_checkpoint", save_then_stop)
            yield

    return stop
