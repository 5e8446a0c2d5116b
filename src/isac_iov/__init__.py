"""isac-iov: digital-twin-assisted task offloading in ISAC-enabled vehicular networks.

``from isac_iov import parallel_env`` gives the PettingZoo view of the simulator;
:class:`isac_iov.env.BatchedEnv` the batched core; :func:`isac_iov.config.load_config`
the scenario configuration (Table II defaults).
"""

from .config import Config, ConfigError, load_config
from .env.core import BatchedEnv

__version__ = "0.1.0"


def parallel_env(*args, **kwargs):
    """PettingZoo ``ParallelEnv`` of the scenario (see :mod:`isac_iov.env.pettingzoo_env`)."""
    from .env.pettingzoo_env import parallel_env as _parallel_env

    return _parallel_env(*args, **kwargs)


__all__ = ["BatchedEnv", "Config", "ConfigError", "__version__", "load_config", "parallel_env"]
