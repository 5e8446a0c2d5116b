"""Checkpoints that cannot carry code: a state tree in one safetensors file.

A training run's state (a learner's ``state_dict()``, the RNG states, the book-keeping of
:mod:`isac_iov.learners.train`) is a tree of dicts, lists and tuples whose leaves are torch tensors,
NumPy arrays, and plain numbers, strings, booleans or ``None``.  :func:`dumps` writes it as a
`safetensors <https://huggingface.co/docs/safetensors>`_ file: every tensor and array as raw bytes under
the names ``t0, t1, ...``, and the rest of the tree as JSON in the header's metadata (``isac_iov.tree``),
each array replaced by a reference to its name.  Neither part can hold code, and :func:`loads` reads
them with ``json`` and ``safetensors`` alone.  A value of another type is refused when the checkpoint is
written (:class:`TypeError`); a file that is not such a checkpoint, or whose tree is malformed, is
refused when it is read with :class:`~isac_iov.rundir.RunDirError`, one line naming the file.

The tree's JSON form: a plain number, string, boolean or ``null`` stands for itself (integers of any
size, so a PCG64 state round-trips); every container or array is a list whose first element says what
it is: ``["dict", [[key, value], ...]]`` (keys are strings or integers, as in an optimiser's state),
``["list", [...]]``, ``["tuple", [...]]``, ``["tensor", name]`` and ``["ndarray", name]``.

Checkpoints of isac-iov 0.1 (``checkpoint.pt``, a ``torch.save`` pickle) are read by
:func:`loads_legacy` through PyTorch's restricted unpickler (``weights_only=True``), which builds only
tensors, plain containers and the three NumPy globals an array needs; anything else in such a file is
refused without being run.
"""

from __future__ import annotations

import importlib
import io
import json
import struct
from typing import Any

import numpy as np
import torch

from .rundir import RunDirError

TREE_KEY = "isac_iov.tree"
FORMAT_KEY = "isac_iov.format"
FORMAT = "isac-iov checkpoint 1"
_PLAIN = (bool, int, float, str, type(None))
_MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit on the JSON header


def dumps(tree: Any) -> bytes:
    """The safetensors bytes of ``tree`` (see the module docstring); :class:`TypeError` names a leaf of
    any other type by its path."""
    arrays: dict[str, np.ndarray] = {}
    encoded = _encode(tree, arrays, "state")
    from safetensors.numpy import save

    metadata = {FORMAT_KEY: FORMAT, TREE_KEY: json.dumps(encoded, separators=(",", ":"))}
    return save(arrays, metadata=metadata)


def loads(data: bytes | memoryview, source: str) -> Any:
    """The tree stored by :func:`dumps` in ``data``; :class:`RunDirError` naming ``source`` if ``data`` is not
    such a checkpoint."""
    metadata = _header_metadata(bytes(data[:8]), data, source)
    if metadata.get(FORMAT_KEY) != FORMAT or TREE_KEY not in metadata:
        raise RunDirError(f"{source}: not an isac-iov checkpoint (no {FORMAT!r} tree in its header)")
    from safetensors.numpy import load

    try:
        arrays = load(bytes(data))
        tree = json.loads(metadata[TREE_KEY])
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for damaged files
        raise RunDirError(f"{source}: unreadable checkpoint ({_first_line(exc)})") from None
    return _decode(tree, arrays, source, "state")


def loads_legacy(data: bytes | memoryview, source: str) -> Any:
    """The tree of an isac-iov 0.1 ``torch.save`` checkpoint, unpickled by PyTorch's restricted unpickler
    with NumPy arrays (and nothing else beyond tensors and containers) allowed."""
    multiarray = importlib.import_module("numpy._core.multiarray" if hasattr(np, "_core") else "numpy.core.multiarray")
    allowed = [np.ndarray, np.dtype, type(np.dtype(np.uint32)), multiarray._reconstruct]
    try:
        with torch.serialization.safe_globals(allowed):
            tree = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the restricted unpickler raises several types
        raise RunDirError(
            f"{source}: refused: an old-format checkpoint holding more than tensors and arrays "
            f"({_first_line(exc)}); it may carry code, so it is never loaded"
        ) from None
    return _plain_arrays(tree, source)


def _encode(node: Any, arrays: dict[str, np.ndarray], path: str) -> Any:
    if isinstance(node, np.generic):
        node = node.item()
    if isinstance(node, _PLAIN):
        return node
    if isinstance(node, torch.Tensor | np.ndarray):
        name = f"t{len(arrays)}"
        is_tensor = isinstance(node, torch.Tensor)
        array = node.detach().cpu().numpy() if isinstance(node, torch.Tensor) else node
        if array.dtype.kind not in "biuf":
            raise TypeError(f"checkpoint: {path} is an array of {array.dtype}; only numbers and booleans are stored")
        arrays[name] = array if array.flags.c_contiguous else array.copy(order="C")
        return ["tensor" if is_tensor else "ndarray", name]
    if isinstance(node, dict):
        items = []
        for key, value in node.items():
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise TypeError(f"checkpoint: {path} has a key of type {type(key).__name__}")
            items.append([key, _encode(value, arrays, f"{path}/{key}")])
        return ["dict", items]
    if isinstance(node, list | tuple):
        kind = "list" if isinstance(node, list) else "tuple"
        return [kind, [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(node)]]
    raise TypeError(f"checkpoint: {path} is a {type(node).__name__}, which a checkpoint does not store")


def _decode(node: Any, arrays: dict[str, np.ndarray], source: str, path: str) -> Any:
    if isinstance(node, _PLAIN):
        return node
    if not (isinstance(node, list) and len(node) == 2 and isinstance(node[0], str)):
        raise RunDirError(f"{source}: malformed checkpoint tree at {path}")
    kind, body = node
    if kind in ("tensor", "ndarray"):
        if not isinstance(body, str) or body not in arrays:
            raise RunDirError(f"{source}: checkpoint tree at {path} names a missing array {body!r}")
        array = arrays[body].copy()
        return torch.from_numpy(array) if kind == "tensor" else array
    if kind in ("list", "tuple") and isinstance(body, list):
        items = [_decode(v, arrays, source, f"{path}[{i}]") for i, v in enumerate(body)]
        return items if kind == "list" else tuple(items)
    if kind == "dict" and isinstance(body, list):
        out = {}
        for item in body:
            ok = isinstance(item, list) and len(item) == 2 and isinstance(item[0], str | int)
            if not ok or isinstance(item[0], bool):
                raise RunDirError(f"{source}: malformed checkpoint tree at {path} (a dict entry)")
            out[item[0]] = _decode(item[1], arrays, source, f"{path}/{item[0]}")
        return out
    raise RunDirError(f"{source}: malformed checkpoint tree at {path} (unknown node {kind!r})")


def _header_metadata(prefix: bytes, data: bytes | memoryview, source: str) -> dict[str, Any]:
    """The ``__metadata__`` of a safetensors header: an 8-byte little-endian length, then JSON."""
    if len(prefix) < 8:
        raise RunDirError(f"{source}: not a safetensors checkpoint (too short)")
    (size,) = struct.unpack("<Q", prefix)
    if size > min(_MAX_HEADER_BYTES, len(data) - 8):
        raise RunDirError(f"{source}: not a safetensors checkpoint (header length {size} out of range)")
    try:
        header = json.loads(bytes(data[8 : 8 + size]))
    except (ValueError, UnicodeDecodeError):
        raise RunDirError(f"{source}: not a safetensors checkpoint (its header is not JSON)") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _plain_arrays(node: Any, source: str) -> Any:
    """``node`` with NumPy arrays of numbers only (an object array of a legacy file is refused)."""
    if isinstance(node, np.ndarray) and node.dtype.kind not in "biuf":
        raise RunDirError(f"{source}: refused: an array of {node.dtype} in an old-format checkpoint")
    if isinstance(node, dict):
        return {k: _plain_arrays(v, source) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return type(node)(_plain_arrays(v, source) for v in node)
    return node


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
