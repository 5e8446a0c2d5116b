"""Hypothesis profiles: ``default`` (bounded and derandomised, so the fuzz tests are reproducible and take well
under a minute) and ``long`` (2000 random examples per test) for deep runs:
``python -m pytest tests/test_fuzz.py --hypothesis-profile=long``.

The fuzz tests use ``capsys`` and ``tmp_path_factory`` across examples; each example reads (and so clears) the
captured output and makes its own directory, hence the suppressed function-scoped-fixture check.
"""
from hypothesis import HealthCheck, settings

_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]

settings.register_profile("default", max_examples=200, deadline=None, derandomize=True,
                          suppress_health_check=_SUPPRESSED)
settings.register_profile("long", max_examples=2000, deadline=None, suppress_health_check=_SUPPRESSED)
settings.load_profile("default")
