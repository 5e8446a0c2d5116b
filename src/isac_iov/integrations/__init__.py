"""Third-party trainers on isac-iov's env, each behind an optional extra (docs/integrations.md).

* :mod:`isac_iov.integrations.torchrl` (extra ``torchrl``): the PettingZoo view as a TorchRL env
  (:func:`~isac_iov.integrations.torchrl.make_env`, TorchRL's ``PettingZooWrapper`` with the learner-friendly
  options on) and :class:`~isac_iov.integrations.torchrl.TensorDictPolicy`, which puts any TorchRL policy module
  into :func:`isac_iov.evaluate.evaluate_policy` and so into every comparison table;
* :mod:`isac_iov.integrations.benchmarl` (extra ``benchmarl``): ``IsacTask``, a BenchMARL task, so
  ``Experiment(task=IsacTask.DEFAULT.get_task(), ...)`` trains any BenchMARL algorithm on the default scenario.

Importing either module without its extra raises an ``ImportError`` of one line naming the extra to install.
"""

from __future__ import annotations


def missing_extra(module: str, extra: str, exc: ImportError) -> ImportError:
    """The one-line error for ``module`` imported without ``extra`` (``exc``: the import that failed)."""
    return ImportError(
        f"{module} needs the optional extra {extra!r} ({exc}): pip install -c constraints.txt 'isac-iov[{extra}]'"
    )
