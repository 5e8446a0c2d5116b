"""Your algorithm next to the paper's: policies and learners from other packages, by name.

Two ways to name one, wherever isac-iov takes a policy or a learner (``evaluate --policy``, ``train --algo``,
``reproduce scale --algos``; ``train --init`` and ``--imitate`` take the built-in reference policies only):

* **an installed entry point**: a package declares, in its ``pyproject.toml``, ::

      [project.entry-points."isac_iov.learners"]
      my-learner = "my_pkg.learner:SPEC"

      [project.entry-points."isac_iov.policies"]
      my-policy = "my_pkg.policy:make_policy"

  and ``my-learner`` / ``my-policy`` then work as the built-in names do, also in run directories;
* **a module reference** ``my_pkg.my_module:attr``, on the command line only: isac-iov imports ``my_pkg.my_module``
  (found on ``sys.path``, which holds the current directory under ``python -m``) and takes ``attr``.

Names read from files (a run directory's ``algo.yaml``, a reproduction's ``spec.json``) resolve through the
built-in registries and installed entry points only: a file never makes isac-iov import a module it names.  A run
trained with ``--algo my_pkg.mod:MyLearner`` is therefore evaluated with the same reference given again on the
command line (``isac-iov evaluate --policy RUN --algo my_pkg.mod:MyLearner``), or once its package registers it.

What the attribute must be:

* a **policy** plug-in is a callable ``make(cfg: Config, seed: int) -> Policy`` (the :class:`isac_iov.policies.Policy`
  protocol: ``name``, ``reset(env)``, ``act(env, obs)``);
* a **learner** plug-in is an :class:`isac_iov.learners.AlgoSpec` (learner class, hyper-parameter dataclass deriving
  from :class:`isac_iov.learners.common.AlgoConfig`, scenario overrides), or a learner class with a ``Config``
  attribute naming its hyper-parameter dataclass.  The learner implements
  :class:`isac_iov.learners.common.Learner` and is built as ``cls(EnvSpec, config)``.

Every failure is one line naming the reference: module not found, attribute missing, wrong kind of object.
"""

from __future__ import annotations

import importlib
import re
from importlib.metadata import EntryPoint, entry_points
from typing import Any

GROUPS = {"learner": "isac_iov.learners", "policy": "isac_iov.policies"}
MODULE_REF = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


class PluginError(ValueError):
    """A plug-in reference that cannot be used (one line naming it)."""


def is_module_ref(name: str) -> bool:
    """Whether ``name`` is a ``package.module:attr`` reference."""
    return bool(MODULE_REF.match(name))


def installed(kind: str) -> dict[str, EntryPoint]:
    """The installed entry points of ``kind`` (``learner`` or ``policy``) by name; nothing is imported."""
    return {ep.name: ep for ep in entry_points(group=GROUPS[kind])}


def known(kind: str, name: str, command_line: bool) -> bool:
    """Whether ``name`` names a plug-in of ``kind`` without importing anything: an installed entry point, or
    (``command_line``) a module reference."""
    return name in installed(kind) or (command_line and is_module_ref(name))


def load_policy_maker(name: str, command_line: bool) -> Any:
    """The ``make(cfg, seed)`` of policy plug-in ``name`` (see the module docstring)."""
    value = load("policy", name, command_line)
    if not callable(value):
        raise PluginError(f"policy {name}: expected a callable make(cfg, seed) -> Policy, got {type(value).__name__}")
    return value


def check_policy(name: str, policy: Any) -> Any:
    """``policy`` if it has what :class:`isac_iov.policies.Policy` asks, else a :class:`PluginError`."""
    missing = [m for m in ("reset", "act") if not callable(getattr(policy, m, None))]
    if missing:
        raise PluginError(f"policy {name}: the object it made lacks {', '.join(missing)} (the Policy protocol)")
    return policy


def load(kind: str, name: str, command_line: bool) -> Any:
    """The object plug-in ``name`` of ``kind`` names: an installed entry point's, or (``command_line``) a module
    reference's attribute; what it must be is checked by the caller (:func:`load_policy_maker`,
    :func:`isac_iov.learners.load_learner`)."""
    eps = installed(kind)
    if name in eps:
        try:
            return eps[name].load()
        except (ImportError, AttributeError) as exc:  # a broken installed package: name it in one line
            raise PluginError(f"{kind} {name}: entry point {eps[name].value} failed to load ({exc})") from None
    if not is_module_ref(name):
        raise PluginError(f"{kind} {name!r}: not installed as an entry point of {GROUPS[kind]}")
    if not command_line:
        raise PluginError(
            f"{kind} {name}: a module reference read from a file is not imported; give it on the command line "
            f"or install it as an entry point of {GROUPS[kind]}"
        )
    module_name, attr = name.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise PluginError(f"{kind} {name}: module {exc.name!r} not found") from None
    value: Any = module
    for part in attr.split("."):
        if not hasattr(value, part):
            raise PluginError(f"{kind} {name}: module {module_name} has no attribute {attr!r}")
        value = getattr(value, part)
    return value
