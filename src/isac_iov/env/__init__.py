"""Environments: the batched core and its PettingZoo view."""

from .core import BatchedEnv, Step

__all__ = ["BatchedEnv", "Step"]
