"""Run directories: their file names, atomic writes, checksums, the exclusive lock and the code fingerprint.

A run directory is written by one process at a time.  :func:`locked` takes an
exclusive ``flock`` on ``DIR/.lock`` for as long as a process works there and
writes the holder (pid, host, command) into it; a second process that meets a
held lock gets :class:`RunDirBusy`, whose message names the holder, and never
writes.  The kernel drops the lock when its holder dies, however it dies, so a
killed run never leaves a stale lock behind.  (POSIX ``flock``: on a network
file system shared by several machines it must support ``flock``; NFSv4 does.)

Every file is written atomically (:func:`write_atomic`: temporary file, fsync,
``os.replace``), so a reader sees the old or the new version, never a mix.
Checkpoints (:mod:`isac_iov.checkpoint`: safetensors, no code) carry a SHA-256 sidecar
(``checkpoint.safetensors.sha256``, see :func:`save_checked`) that :func:`load_checked` verifies,
and a finished run's
``done.json`` records the size and SHA-256 of every output
(:func:`output_digests`) and :func:`code_fingerprint`, the version of the code
that produced it, so nothing is reused that was changed or made by other code.

A run directory may come from someone else (a shared artefact), so its files are read as data and
never followed out of it: :func:`read_member` refuses a symbolic link, the lock file is opened without
following one, and :func:`write_atomic` never writes through one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

CONFIG_FILE = "config.yaml"
ALGO_FILE = "algo.yaml"
MIXTURE_FILE = "mixture.yaml"  # the other scenarios of a run trained on a mixture (learners.train)
CHECKPOINT_FILE = "checkpoint.safetensors"
LEGACY_CHECKPOINT_FILE = "checkpoint.pt"  # isac-iov 0.1's torch.save pickle, read by checkpoint.loads_legacy
METRICS_FILE = "metrics.csv"
TB_DIR = "tb"
SPEC_FILE = "spec.json"
DONE_FILE = "done.json"
ERROR_FILE = "error.txt"
SUMMARY_FILE = "summary.json"
LOCK_FILE = ".lock"
CHECKSUM_SUFFIX = ".sha256"
# Files of a directory that are not the run's outputs (book-keeping of this module and the runner).
BOOKKEEPING = frozenset({LOCK_FILE, DONE_FILE, SPEC_FILE, ERROR_FILE})


class RunDirError(ValueError):
    """A run directory that cannot be used as asked (corrupt, mismatched or busy)."""


class RunDirBusy(RunDirError):
    """Another live process holds the run directory's lock."""


# -- atomic writes and checksums -------------------------------------------------------------


def write_atomic(path: Path, data: str | bytes | memoryview) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync it, then rename it over ``path``.

    A leftover temporary file (or a symbolic link in its place) is removed first and the new one is
    created exclusively, so the write never lands anywhere but in ``path``'s directory; a symbolic link
    at ``path`` is replaced, not followed."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with open(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def refuse_link(path: Path) -> Path:
    """``path``, or :class:`RunDirError` naming it if it is a symbolic link (a shared run directory must not make
    this process read files outside it)."""
    path = Path(path)
    if path.is_symlink():
        raise RunDirError(f"{path}: a symbolic link; a run directory's files must be its own (not following it)")
    return path


def read_member(path: Path) -> bytes:
    """The bytes of the run-directory file ``path``; :class:`RunDirError` naming it if it is a symbolic link
    (a shared run directory must not make this process read files outside it) or cannot be read."""
    path = refuse_link(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise RunDirError(f"{path}: cannot read ({exc.strerror})") from None
    with open(fd, "rb") as f:
        return f.read()


def read_text_member(path: Path) -> str:
    """:func:`read_member` as UTF-8 text; :class:`RunDirError` naming the file if it is not."""
    try:
        return read_member(path).decode()
    except UnicodeDecodeError:
        raise RunDirError(f"{path}: not UTF-8 text; the run directory is damaged") from None


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON (sorted keys); non-finite numbers are refused, never written as ``NaN``/``Infinity``."""
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True, allow_nan=False))


def sha256_bytes(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """SHA-256 of the file ``path`` (a symbolic link is not followed: OSError)."""
    digest = hashlib.sha256()
    with open(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checked(path: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` with a SHA-256 sidecar, crash-safe at every instant.

    The sidecar first lists the new and the old digest, then (after the data is
    in place) only the new one; :func:`load_checked` accepts any listed digest.
    """
    path, side = Path(path), Path(str(path) + CHECKSUM_SUFFIX)
    new = sha256_bytes(data)
    old = _listed_digests(side)[:1] if path.is_file() else []
    write_atomic(side, "\n".join([new, *old]) + "\n")
    write_atomic(path, data)
    write_atomic(side, new + "\n")


def load_checked(path: Path) -> bytes:
    """The bytes of a file written by :func:`save_checked`; :class:`RunDirError` if they do not match."""
    path, side = Path(path), Path(str(path) + CHECKSUM_SUFFIX)
    if not path.is_file():
        raise RunDirError(f"{path}: no such file")
    if not side.is_file():
        raise RunDirError(f"{path}: no checksum file {side.name}; cannot verify it (written by an older version?)")
    read_member(side)  # refuses a symlinked sidecar
    data = read_member(path)
    if sha256_bytes(data) not in _listed_digests(side):
        raise RunDirError(f"{path}: contents do not match {side.name} (corrupt or changed); not loading it")
    return data


def _listed_digests(side: Path) -> list[str]:
    try:
        return [ln.strip() for ln in read_text_member(side).splitlines() if ln.strip()]
    except RunDirError:
        return []


def output_digests(directory: Path) -> dict[str, dict[str, Any]]:
    """``{file name: {"bytes", "sha256"}}`` of the run's top-level output files (book-keeping excluded)."""
    out = {}
    for path in sorted(Path(directory).iterdir()):
        if path.is_file() and not path.is_symlink() and path.name not in BOOKKEEPING and not path.name.endswith(".tmp"):
            out[path.name] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    return out


def changed_outputs(directory: Path, recorded: dict[str, dict[str, Any]]) -> str | None:
    """Why ``directory``'s outputs differ from ``recorded`` (first file that does), or None if identical."""
    for name, want in sorted(recorded.items()):
        if not _is_file_name(name) or not isinstance(want, dict) or set(want) != {"bytes", "sha256"}:
            return f"{name!r} is not a file record of this directory"
        path = Path(directory) / name
        if path.is_symlink():
            return f"{name} is a symbolic link"
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != want["bytes"] or sha256_file(path) != want["sha256"]:
            return f"{name} changed since the run finished"
    return None


def _is_file_name(name: object) -> bool:
    """Whether ``name`` is a plain file name (no directory part, not ``.`` or ``..``)."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name


def csv_rows(path: Path) -> int:
    """Data rows of a CSV file with a header line."""
    with open(path, "rb") as f:
        return max(sum(1 for _ in f) - 1, 0)


# -- the lock --------------------------------------------------------------------------------

_HELD: dict[str, list[Any]] = {}  # real path of a lock file -> [open file, depth]: re-entrant per process


@contextlib.contextmanager
def locked(directory: Path, wait_s: float = 0.0) -> Iterator[None]:
    """Hold ``directory``'s exclusive lock (creating the directory) for the ``with`` block.

    Waits up to ``wait_s`` seconds for another holder, then raises :class:`RunDirBusy`
    naming it.  Re-entrant within one process."""
    directory = Path(directory)
    key = os.path.realpath(directory / LOCK_FILE)
    if key not in _HELD:
        fh = _acquire(directory, wait_s)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} ({' '.join(sys.argv[:3])})\n")
        fh.flush()
        _HELD[key] = [fh, 0]
    _HELD[key][1] += 1
    try:
        yield
    finally:
        _HELD[key][1] -= 1
        if not _HELD[key][1]:
            _HELD.pop(key)[0].close()  # closing the descriptor releases the flock


def _acquire(directory: Path, wait_s: float) -> IO[str]:
    """The open lock file of ``directory`` with its ``flock`` taken."""
    import fcntl

    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        fh = open(fd, "a+")  # noqa: SIM115 - held open: the flock lives as long as the descriptor
    except OSError as exc:
        raise RunDirError(f"run directory {directory}: cannot write there ({exc.strerror})") from None
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                fh.close()
                raise RunDirBusy(
                    f"run directory {directory} is in use by {holder}; wait for it to finish or stop it"
                ) from None
            time.sleep(0.1)


# -- the code fingerprint --------------------------------------------------------------------

# Front ends that do not change what a run computes: the CLI, the experiment pipeline and reports.
_NOT_FINGERPRINTED = ("cli.py", "commands/", "mainjob.py", "experiments/")


def recorded_fingerprint(meta: dict) -> str | None:
    """The code fingerprint a run's ``algo.yaml`` or ``done.json`` records (None if it records none)."""
    code = meta.get("code")
    return code.get("fingerprint") if isinstance(code, dict) else None


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> dict[str, str]:
    """``{"version", "fingerprint"}``: the package version and a SHA-256 (first 16 hex digits) over the
    source of the model, policies and learners (every module except the CLI front ends, the
    experiment pipeline and reports), so two runs with equal fingerprints ran the same code."""
    from importlib import metadata

    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith(_NOT_FINGERPRINTED):
            digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    try:
        version = metadata.version("isac-iov")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        version = "unknown"
    return {"version": version, "fingerprint": digest.hexdigest()[:16]}
