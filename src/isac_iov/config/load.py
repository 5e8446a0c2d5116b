"""Reading configs: YAML files and ``--set section.key=value`` overrides, over Table II's defaults.

:func:`load_config` starts from a base config (Table II), merges a YAML file (partial allowed), applies the
overrides, builds the :class:`~.schema.Config` and validates it (:func:`.checks.validate`).  Unknown keys,
duplicate YAML keys, YAML syntax errors, wrong types, ``low > high`` and non-finite numbers raise
:class:`ConfigError` naming the offending key (or file) and value.

A config file must hold a mapping at the top level.  An empty file (or one of comments only), ``false``, ``0``
or any other scalar is an error, never "the defaults": a truncated or mistyped scenario must not silently
become Table II.  Write ``{}`` for a file that keeps every default.  A section given with
``--set section={key: value, ...}`` is merged into the section; an empty mapping or a non-mapping for a section
is an error.  :func:`coerce` is the one coercer of scenario and algorithm configs.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import typing
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from .checks import validate
from .schema import MAX_RSUS, SCENARIO_DIR, Config, Range, show


def _coerce_float(key: str, value: Any) -> float:
    """A finite float from a YAML number (or numeric string such as ``1e6``), or ConfigError naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{key}: expected a number, got {show(value)}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    except OverflowError:
        raise ConfigError(f"{key}: {show(value)} is too large") from None
    if not math.isfinite(number):
        raise ConfigError(f"{key}: must be finite, got {show(value)}")
    return number


def coerce(key: str, value: Any, typ: Any) -> Any:
    """Convert a YAML value to ``typ`` (bool, int, float, str, Range, a tuple of floats or a config section)
    or raise ConfigError naming ``key``: the one coercer of scenario and algorithm configs."""
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected an integer, got {show(value)}")
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(value)
    if typ is float:
        return _coerce_float(key, value)
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if typ is Range:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ConfigError(f"{key}: expected [low, high], got {value!r}")
        low, high = (_coerce_float(key, v) for v in value)
        if low > high:
            raise ConfigError(f"{key}: low > high in {value!r}")
        return Range(low, high)
    if typing.get_origin(typ) is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list of numbers, got {value!r}")
        if len(value) > MAX_RSUS:
            raise ConfigError(f"{key}: at most {MAX_RSUS} entries, got {len(value)}")
        return tuple(_coerce_float(key, v) for v in value)
    if isinstance(typ, type) and dataclasses.is_dataclass(typ):
        return _build(typ, value, prefix=key + ".")
    raise ConfigError(f"{key}: unsupported type {typ}")  # pragma: no cover


def _build(cls: type, data: Any, prefix: str = "") -> Any:
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {show(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted((k for k in data if k not in names), key=str)
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]!s} (known: {', '.join(sorted(names))})")
    kwargs = {k: coerce(prefix + k, v, hints[k]) for k, v in data.items()}
    return cls(**kwargs)


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # unhashable: the base class reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _one_line(exc: BaseException) -> str:
    """A YAML (or value) error as one line: problem, then where."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        context = f" ({exc.context})" if exc.context else ""
        return f"{where}{exc.problem}{context}"
    return " ".join(str(exc).split()) or type(exc).__name__


def parse_yaml(text: str | bytes, source: str) -> Any:
    """The YAML document ``text``; syntax, duplicate-key and value errors raise ConfigError naming ``source``."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise ConfigError(f"{source}: invalid YAML: {_one_line(exc)}") from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of the YAML file ``path``; any other content is a ConfigError naming the file."""
    path = Path(path)
    name = f"config file {str(path)!r}"
    if not path.exists():
        raise ConfigError(f"{name} does not exist")
    if not path.is_file():
        raise ConfigError(f"{name} is not a regular file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror}") from None
    data = parse_yaml(raw, name)
    if data is None:
        raise ConfigError(f"{name} is empty (write {{}} to keep every default)")
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: expected a mapping of config keys at the top level, got {show(data)}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``section.key=value`` into a key path and a YAML-parsed value."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r}: empty key")
    return key.split("."), parse_yaml(raw, f"{key}: --set value {raw!r}")


def split_algo_overrides(texts: list[str]) -> tuple[list[str], dict[str, Any]]:
    """``--set`` texts split into the scenario's and the algorithm's (``algo.KEY=VALUE``, as ``{KEY: VALUE}``)."""
    overrides = {}
    for text in [t for t in texts if t.startswith("algo.")]:
        path, value = parse_override(text)
        if len(path) != 2:
            raise ConfigError(f"override {text!r}: expected algo.KEY=VALUE")
        overrides[path[1]] = value
    return [t for t in texts if not t.startswith("algo.")], overrides


def variations(texts: list[str]) -> list[list[str]]:
    """The ``key=value`` override lists of every combination of the ``--vary KEY=[V1, V2, ...]`` texts
    (``[[]]`` without any), the last text varying fastest."""
    combos: list[list[str]] = [[]]
    for text in texts:
        path, values = parse_override(text)
        if not isinstance(values, list) or not values:
            raise ConfigError(f"--vary {text!r}: expected KEY=[V1, V2, ...], a non-empty list of values")
        key = ".".join(path)
        texts_of = [v if isinstance(v, str) else json.dumps(v) for v in values]  # "1.0e10" stays as written
        combos = [combo + [f"{key}={v}"] for combo in combos for v in texts_of]
    return combos


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of the plain config ``data`` with ``key=value`` overrides applied.

    A value for a section (``rsu={cpu_max_hz: 1.0e+10}``) is merged into it; it must be a non-empty mapping.
    """
    data = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for i, part in enumerate(path[:-1]):
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"unknown config key {'.'.join(path[: i + 1])} in override {text!r}")
            node = node[part]
        key = ".".join(path)
        if path[-1] not in node:
            raise ConfigError(f"unknown config key {key} in override {text!r}")
        if isinstance(node[path[-1]], dict):
            if not isinstance(value, dict) or not value:
                raise ConfigError(
                    f"{key}: a section; set its keys ({key}.KEY=VALUE) or give a non-empty mapping, got {show(value)}"
                )
            _merge(node[path[-1]], value, key + ".")
        else:
            node[path[-1]] = value
    return data


def from_dict(data: dict[str, Any]) -> Config:
    """Build and validate a Config from a (possibly partial) plain mapping."""
    return validate(_build(Config, data))


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, base: Config | None = None
) -> Config:
    """``base`` (default: Table II), then a YAML file (partial allowed), then ``key=value`` overrides."""
    data = (base or Config()).to_dict()
    if path is not None:
        _merge(data, _paths_from_folder(read_config_file(path), Path(path).parent), "")
    data = apply_overrides(data, list(overrides or []))
    return from_dict(data)


def _paths_from_folder(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``data`` of a scenario file in ``folder`` with a relative trace path (``mobility.source: x.npz``) made
    relative to that folder, so a scenario file and its trace can move together."""
    mobility = data.get("mobility")
    source = mobility.get("source") if isinstance(mobility, dict) else None
    if isinstance(source, str) and source.endswith(".npz") and not Path(source).is_absolute():
        data = {**data, "mobility": {**mobility, "source": str(folder / source)}}  # type: ignore[dict-item]
    return data


def _merge(base: dict[str, Any], new: dict[str, Any], prefix: str) -> None:
    for key, val in new.items():
        if key not in base:
            raise ConfigError(f"unknown config key {prefix}{key}")
        if isinstance(base[key], dict):
            if not isinstance(val, dict):
                raise ConfigError(f"{prefix}{key}: expected a mapping, got {show(val)}")
            _merge(base[key], val, prefix + key + ".")
        else:
            base[key] = val


def scenario_overrides(name: str) -> list[str]:
    """The shipped scenario ``SCENARIO_DIR/NAME.yaml`` as sorted ``key=value`` overrides (validated)."""
    path = SCENARIO_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
        raise ConfigError(f"unknown scenario {name!r} (shipped: {known})")
    out: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, val in node.items():
            if isinstance(val, dict):
                walk(val, f"{prefix}{key}.")
            else:
                out.append(f"{prefix}{key}={json.dumps(val)}")

    walk(read_config_file(path), "")
    load_config(None, out)
    return sorted(out)
