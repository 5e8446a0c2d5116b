"""Where runs execute: a local process pool or a Ray cluster.

* ``local`` (:class:`LocalBackend`): a process pool of ``workers`` processes
  (``spawn`` start method), each limited to ``cpu_count // workers``
  torch/BLAS threads; ``workers=1`` runs in this process.  Each run executes in
  its locked directory under ``DIR`` (:func:`run_and_mark`).  Pool workers die
  with the process that started them (Linux parent-death signal, and a watchdog
  on the parent pid elsewhere), so a killed ``reproduce`` leaves no worker
  training behind.
* ``ray`` (:class:`RayBackend`): ``ray.init(address=ray_address)`` to join a
  cluster, or a local instance with ``num_cpus=workers`` when no address is
  given.  Each run is a task with ``num_cpus=1`` that never touches ``DIR``: the
  driver locks and prepares the run, ships its partial files (a resumed run)
  and, for an evaluation, its training run's files through Ray; the worker works
  in a private temporary directory and returns every file, which the driver
  writes (:func:`run_shipped`).  Nodes need no shared file system.  A run
  interrupted on a worker restarts from its last state the driver holds.

Either way a run is verified and marked by the run store (:mod:`.runstore`): started, checked, finished.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import rundir
from ..rundir import ERROR_FILE, LOCK_FILE
from .runstore import begin, check_outputs, finish, locked, run_dir
from .specs import RunSpec

BACKENDS = ("local", "ray")
RunFn = Callable[[RunSpec, Path, "Path | None"], None]
"""What a run does in its directory, given its training run's directory (an evaluation of a learned policy)."""


def _limit_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_and_mark(run_fn: RunFn, spec: RunSpec, out_dir: str, threads: int) -> dict[str, Any]:
    """Execute one run in its (locked) directory and write the done-marker last; return the marker."""
    _limit_threads(threads)
    directory = run_dir(Path(out_dir), spec)
    with locked(Path(out_dir), spec):
        verdict = begin(Path(out_dir), spec)
        if verdict.status == "done":
            return verdict.record
        source_dir = run_dir(Path(out_dir), spec.source) if spec.source else None
        try:
            timing = _timed_run(run_fn, spec, directory, source_dir)
        except Exception:
            rundir.write_atomic(directory / ERROR_FILE, traceback.format_exc())
            raise
        return finish(Path(out_dir), spec, timing)


def _timed_run(run_fn: RunFn, spec: RunSpec, directory: Path, source_dir: Path | None) -> dict[str, Any]:
    """Run ``run_fn`` in ``directory`` and check its outputs; its wall and CPU time and host."""
    start, cpu_start = time.perf_counter(), time.process_time()
    run_fn(spec, directory, source_dir)
    check_outputs(spec, directory)
    return {
        "wall_time_s": time.perf_counter() - start,
        "cpu_time_s": time.process_time() - cpu_start,
        "host": socket.gethostname(),
    }


def run_shipped(
    run_fn: RunFn, spec: RunSpec, files: dict[str, bytes], source_files: dict[str, bytes] | None, threads: int
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Execute one run away from the driver's disk (a Ray worker, possibly on another machine).

    The run's directory so far (``files``, empty for a new run; a partial run resumes) and its training
    run's files (``source_files``) arrive as bytes and are unpacked into a private temporary directory;
    the run's timing and every file of its directory go back to the driver, which alone writes ``--out``."""
    _limit_threads(threads)
    with tempfile.TemporaryDirectory(prefix="isac-iov-run-") as tmp:
        directory, source_dir = Path(tmp) / "run", Path(tmp) / "source"
        _unpack(files, directory)
        if source_files is not None:
            _unpack(source_files, source_dir)
        timing = _timed_run(run_fn, spec, directory, source_dir if source_files is not None else None)
        return timing, _pack(directory)


def _pack(directory: Path, top_level_only: bool = False) -> dict[str, bytes]:
    """``{relative path: bytes}`` of the files under ``directory`` (its lock file excluded)."""
    paths = directory.iterdir() if top_level_only else directory.rglob("*")
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(paths)
        if p.is_file() and p.name != LOCK_FILE
    }


def _unpack(files: dict[str, bytes], directory: Path) -> None:
    """Write ``files`` (from :func:`_pack`) under ``directory``, each atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise rundir.RunDirError(f"a shipped run file {name!r} would land outside {directory}; refusing it")
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        rundir.write_atomic(path, data)


def _die_with_parent(parent_pid: int) -> None:
    """Pool-worker initializer: end this worker when the process that started it dies.

    Linux: the kernel's parent-death signal (``PR_SET_PDEATHSIG``); everywhere: a daemon thread
    that polls the parent pid once a second."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            pass
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


class LocalBackend:
    """A process pool of ``workers`` processes (none for one worker: runs execute in this process)."""

    def __init__(self, workers: int, threads: int):
        self.threads = threads
        self.pool = None
        if workers > 1:
            self.pool = cf.ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_die_with_parent,
                initargs=(os.getpid(),),
            )

    def submit(self, run_fn: RunFn, spec: RunSpec, out_dir: str) -> cf.Future:
        if self.pool is not None:
            return self.pool.submit(run_and_mark, run_fn, spec, out_dir, self.threads)
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(run_and_mark(run_fn, spec, out_dir, self.threads))
        except Exception as exc:  # noqa: BLE001 - any failure of a run is reported by the scheduler, as from the pool
            fut.set_exception(exc)
        return fut

    def wait(self, handles: list[Any], timeout_s: float) -> list[Any]:
        return list(cf.wait(handles, timeout=timeout_s, return_when=cf.FIRST_COMPLETED).done)

    @staticmethod
    def result(handle: cf.Future) -> dict[str, Any]:
        return handle.result()

    def close(self, cancel: bool = False) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=not cancel, cancel_futures=cancel)


class RayBackend:
    """Ray tasks of one CPU each, on the cluster at ``address`` or a local instance of ``workers`` CPUs."""

    def __init__(self, workers: int, threads: int, address: str | None):
        try:
            import ray
        except ImportError:
            raise ValueError("--backend ray needs Ray: pip install 'isac-iov[ray]'") from None
        self.ray = ray
        self.threads = threads
        self.owns = not ray.is_initialized()
        if self.owns:
            if address:
                ray.init(address=address)
            else:
                ray.init(num_cpus=workers, include_dashboard=False)
        self.remote = ray.remote(num_cpus=1)(run_shipped)
        self.held: dict[Any, tuple[RunSpec, Path, contextlib.ExitStack]] = {}

    def submit(self, run_fn: RunFn, spec: RunSpec, out_dir: str) -> Any:
        """Lock and prepare the run here, ship it to a worker with the files it needs (see
        :func:`run_shipped`); the lock is held until :meth:`result` has written what comes back."""
        out, lock = Path(out_dir), contextlib.ExitStack()
        directory = run_dir(out, spec)
        lock.enter_context(locked(out, spec))
        handle: Any
        try:
            verdict = begin(out, spec)
            if verdict.status == "done":
                handle = self.ray.put(verdict.record)
            else:
                source = _pack(run_dir(out, spec.source), top_level_only=True) if spec.source else None
                handle = self.remote.remote(run_fn, spec, _pack(directory), source, self.threads)
        except BaseException:
            lock.close()
            raise
        self.held[handle] = (spec, out, lock)
        return handle

    def wait(self, handles: list[Any], timeout_s: float) -> list[Any]:
        ready, _ = self.ray.wait(list(handles), num_returns=1, timeout=timeout_s)
        return ready

    def result(self, handle: Any) -> dict[str, Any]:
        spec, out, lock = self.held.pop(handle)
        with lock:
            try:
                value = self.ray.get(handle)
            except Exception as exc:
                rundir.write_atomic(run_dir(out, spec) / ERROR_FILE, str(exc))
                raise
            if isinstance(value, dict):  # finished by another process before it was submitted
                return value
            timing, files = value
            _unpack(files, run_dir(out, spec))
            return finish(out, spec, timing)

    def close(self, cancel: bool = False) -> None:
        for _, _, lock in self.held.values():
            lock.close()
        self.held.clear()
        if self.owns:
            self.ray.shutdown()
