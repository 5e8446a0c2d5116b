"""Mobility traces: the ``.npz`` file format, its validation and the vectorised replay (docs/model.md#mobility).

A trace holds ``S`` slots of ``C`` columns.  A column is a seat that one vehicle of the traffic simulation
occupies at a time: a vehicle keeps its column from the slot it enters the network to the slot it leaves, and
the column then passes to a vehicle that entered (docs/model.md#agents-and-vehicles says how the recorder
assigns them).  In each episode, CV ``i`` of env ``e`` rides in one column ``c[e, i]``, drawn with the start
row among the columns occupied for the whole episode; the slots at which the vehicle in its column changes
are *handovers*, which the observation flags.

Arrays (``(S, C)`` unless noted; ``NaN`` / ``-1`` where a column is empty):

=================  ===============================================================================
``x_m``, ``y_m``    front-bumper position in the network's plane coordinates, metres
``speed_mps``       speed, m/s (>= 0)
``heading_rad``     direction of travel, counter-clockwise from the +x axis, radians
``lane``            index into ``lane_names`` (int)
``vehicle``         vehicle id (int, -1 = empty column): the validity mask is ``vehicle >= 0``
``lane_names``      ``(L,)`` the network's lane ids
``lane_shape_xy``   ``(P, 2)`` the lanes' centre lines, one polyline per lane ...
``lane_shape_start`` ``(L + 1,)`` ... lane ``l`` is ``lane_shape_xy[start[l]:start[l + 1]]``
``junction_x_m``    ``(J,)`` junction positions (the places for RSUs), with ``junction_y_m``
``boundary_m``      ``(4,)`` the network's bounding box ``xmin, ymin, xmax, ymax``
``slot_s``          scalar, the slot length the trace was sampled at
``net_file``        scalar string, the SUMO network the trace was recorded on
``generator``       scalar string, how the trace was made (the command line)
``sumo_version``    scalar string
=================  ===============================================================================

:func:`load` validates a file (shapes, dtypes, finite values where a column is occupied) and raises
:class:`TraceError` (a :class:`~isac_iov.errors.ConfigError`) naming the file and the array; config validation
finds a config's trace and checks it against the config (:func:`isac_iov.config.checks.check_trace`: slot
length, enough occupied columns).  This module knows nothing of configs.  Replay is pure indexing:
``Trace.replay(rows, columns)`` gives every env's CVs at its own row in one fancy-indexing step.
"""

from __future__ import annotations

import io
import itertools
import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ConfigError

GRID_ARRAYS = ("x_m", "y_m", "speed_mps", "heading_rad", "lane", "vehicle")
FLOAT_ARRAYS = ("x_m", "y_m", "speed_mps", "heading_rad")
STRING_SCALARS = ("net_file", "generator", "sumo_version")
REQUIRED = (
    *GRID_ARRAYS,
    "lane_names",
    "lane_shape_xy",
    "lane_shape_start",
    "junction_x_m",
    "junction_y_m",
    "boundary_m",
    "slot_s",
    *STRING_SCALARS,
)
# Each array's dtype kinds (NumPy ``dtype.kind``: f float, i/u integer, U string) and rank, checked before
# anything else is read from it.
ARRAY_KINDS = {
    **dict.fromkeys(FLOAT_ARRAYS, ("f", 2)),
    "lane": ("iu", 2),
    "vehicle": ("iu", 2),
    "lane_names": ("U", 1),
    "lane_shape_xy": ("fiu", 2),
    "lane_shape_start": ("iu", 1),
    "junction_x_m": ("fiu", 1),
    "junction_y_m": ("fiu", 1),
    "boundary_m": ("fiu", 1),
    "slot_s": ("f", 0),
    **dict.fromkeys(STRING_SCALARS, ("U", 0)),
}
_KIND_NAMES = {"f": "float", "fiu": "numeric", "iu": "integer", "U": "string"}
_CACHE_SIZE = 8


class TraceError(ConfigError):
    """A trace file that cannot be used; the message names the file and the array."""


class Trace:
    """A validated trace (see the module docstring); ``path`` names it in messages."""

    def __init__(self, path: str, arrays: dict[str, np.ndarray]):
        self.path = path
        self.x_m = arrays["x_m"].astype(float)
        self.y_m = arrays["y_m"].astype(float)
        self.speed_mps = arrays["speed_mps"].astype(float)
        self.heading_rad = arrays["heading_rad"].astype(float)
        self.lane = arrays["lane"].astype(np.int64)
        self.vehicle = arrays["vehicle"].astype(np.int64)
        self.lane_names = arrays["lane_names"]
        self.lane_shape_xy = arrays["lane_shape_xy"].astype(float)
        self.lane_shape_start = arrays["lane_shape_start"].astype(np.int64)
        self.junction_x_m = arrays["junction_x_m"].astype(float)
        self.junction_y_m = arrays["junction_y_m"].astype(float)
        self.boundary_m = arrays["boundary_m"].astype(float)
        self.slot_s = float(arrays["slot_s"])
        self.net_file, self.generator, self.sumo_version = (str(arrays[k]) for k in STRING_SCALARS)
        self.valid = self.vehicle >= 0
        self.velocity_x_mps = self.speed_mps * np.cos(self.heading_rad)
        self.velocity_y_mps = self.speed_mps * np.sin(self.heading_rad)
        # handover[r, c]: the vehicle in column c at row r is not the one of row r - 1
        self.handover = np.zeros(self.vehicle.shape, dtype=bool)
        self.handover[1:] = self.vehicle[1:] != self.vehicle[:-1]
        # the replayed quantities side by side, so a slot's replay is one fancy-indexing step
        self._motion = np.stack(
            [self.x_m, self.y_m, self.velocity_x_mps, self.velocity_y_mps, self.handover.astype(float)], axis=-1
        )
        valid_speed = self.speed_mps[self.valid]
        self.max_speed_mps = float(valid_speed.max()) if valid_speed.size else 0.0
        self._windows: dict[int, np.ndarray] = {}

    @property
    def num_slots(self) -> int:
        return int(self.vehicle.shape[0])

    @property
    def num_columns(self) -> int:
        return int(self.vehicle.shape[1])

    def occupied(self, window_slots: int) -> np.ndarray:
        """``(S - window_slots + 1, C)``: column ``c`` holds a vehicle in all ``window_slots`` rows from row ``r``."""
        if window_slots not in self._windows:
            if window_slots > self.num_slots:
                self._windows[window_slots] = np.zeros((0, self.num_columns), dtype=bool)
            else:
                empty = np.concatenate([np.zeros((1, self.num_columns), int), np.cumsum(~self.valid, axis=0)])
                self._windows[window_slots] = empty[window_slots:] == empty[:-window_slots]
        return self._windows[window_slots]

    def start_rows(self, num_cvs: int, window_slots: int) -> np.ndarray:
        """Rows from which at least ``num_cvs`` columns hold a vehicle for ``window_slots`` rows."""
        return np.flatnonzero(self.occupied(window_slots).sum(axis=1) >= num_cvs)

    def draw_start(
        self, rng: np.random.Generator, num_envs: int, num_cvs: int, window_slots: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each env's start row ``(E,)``, uniform over :meth:`start_rows`, and its CVs' columns ``(E, I)``, a
        uniformly random ordered choice of distinct columns occupied for the whole window."""
        starts = self.start_rows(num_cvs, window_slots)
        rows = starts[rng.integers(len(starts), size=num_envs)]
        keys = np.where(self.occupied(window_slots)[rows], rng.random((num_envs, self.num_columns)), 2.0)
        return rows, np.argsort(keys, axis=1, kind="stable")[:, :num_cvs]

    def replay(self, rows: np.ndarray, columns: np.ndarray) -> dict[str, np.ndarray]:
        """Positions, velocities and handover flags ``(E, I)`` of env ``e``'s CVs: row ``rows[e]``, ``columns[e]``."""
        m = self._motion[rows[:, None], columns]
        return {
            "x_m": m[..., 0],
            "y_m": m[..., 1],
            "velocity_x_mps": m[..., 2],
            "velocity_y_mps": m[..., 3],
            "handover": m[..., 4] > 0.5,
        }

    def lane_shapes(self) -> list[np.ndarray]:
        """Each lane's centre line ``(points, 2)``."""
        s = self.lane_shape_start
        return [self.lane_shape_xy[a:b] for a, b in itertools.pairwise(s)]


def _fail(path: str, message: str) -> TraceError:
    return TraceError(f"trace {path!r}: {message}")


def validate(path: str, arrays: dict[str, np.ndarray]) -> Trace:
    """``arrays`` as a :class:`Trace`, or :class:`TraceError` naming ``path`` and the first bad array."""
    for name in REQUIRED:
        if name not in arrays:
            raise _fail(path, f"array {name!r} is missing")
        kinds, rank = ARRAY_KINDS[name]
        a = arrays[name]
        if not isinstance(a, np.ndarray) or a.dtype.kind not in kinds or a.ndim != rank:
            got = f"{a.dtype} of rank {a.ndim}" if isinstance(a, np.ndarray) else type(a).__name__
            raise _fail(path, f"array {name!r} must be {_KIND_NAMES[kinds]} of rank {rank}, got {got}")
    shape = arrays["x_m"].shape
    if 0 in shape:
        raise _fail(path, f"array 'x_m' must be (slots, vehicles) and non-empty, got shape {shape}")
    for name in GRID_ARRAYS:
        a = arrays[name]
        if a.shape != shape:
            raise _fail(path, f"array {name!r} has shape {a.shape}, 'x_m' has {shape}")
    valid = arrays["vehicle"] >= 0
    for name in FLOAT_ARRAYS:
        if not np.isfinite(arrays[name][valid]).all():
            raise _fail(path, f"array {name!r} has NaN or infinite values where a vehicle is present")
    if (arrays["speed_mps"][valid] < 0).any():
        raise _fail(path, "array 'speed_mps' has negative speeds")
    lanes, num_lanes = arrays["lane"], len(arrays["lane_names"])
    if ((lanes[valid] < 0) | (lanes[valid] >= num_lanes)).any() or (lanes[~valid] != -1).any():
        raise _fail(path, f"array 'lane' must index 'lane_names' ({num_lanes} lanes) where a vehicle is present")
    start, xy = arrays["lane_shape_start"], arrays["lane_shape_xy"]
    if (
        start.shape != (num_lanes + 1,)
        or xy.ndim != 2
        or xy.shape[1:] != (2,)
        or (len(start) and (start[0] != 0 or start[-1] != len(xy) or (np.diff(start) < 0).any()))
        or not np.isfinite(xy).all()
    ):
        raise _fail(path, "arrays 'lane_shape_xy' (points, 2) and 'lane_shape_start' (lanes + 1) do not match")
    jx, jy = arrays["junction_x_m"], arrays["junction_y_m"]
    if jx.ndim != 1 or jx.shape != jy.shape or not (np.isfinite(jx).all() and np.isfinite(jy).all()):
        raise _fail(path, "arrays 'junction_x_m' and 'junction_y_m' must be finite and of one length")
    box = arrays["boundary_m"]
    if box.shape != (4,) or not np.isfinite(box).all() or box[0] > box[2] or box[1] > box[3]:
        raise _fail(path, "array 'boundary_m' must be finite [xmin, ymin, xmax, ymax]")
    slot_s = arrays["slot_s"]
    if not (np.isfinite(slot_s) and slot_s > 0):
        raise _fail(path, f"array 'slot_s' must be one positive number, got {slot_s!r}")
    return Trace(path, arrays)


def save(path: str | Path, arrays: dict[str, np.ndarray]) -> Trace:
    """Validate ``arrays`` and write them, compressed, to ``path`` (atomically); return the trace."""
    path = Path(path)
    trace = validate(str(path), arrays)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)
    return trace


_cache: dict[tuple[str, int, int], Trace] = {}


def load(path: str | Path) -> Trace:
    """The validated trace in ``path`` (read once per file version: cached by path, size and mtime)."""
    p = Path(path)
    name = str(path)
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        if key in _cache:
            return _cache[key]
        if p.is_dir() or not zipfile.is_zipfile(p):
            raise _fail(name, "not a trace file (not an .npz archive)")
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except TraceError:
        raise
    except OSError as exc:
        raise _fail(name, f"cannot read: {exc.strerror or exc}") from None
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:  # not an .npz, truncated, or needing pickle
        raise _fail(name, f"not a trace file ({' '.join(str(exc).split()) or type(exc).__name__})") from None
    trace = validate(name, arrays)
    if len(_cache) >= _CACHE_SIZE:
        _cache.pop(next(iter(_cache)))
    _cache[key] = trace
    return trace
