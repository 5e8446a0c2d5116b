"""The fast sums of physics/sums.py agree with NumPy's to the bit, including the sign of zero."""

import numpy as np
import pytest

from isac_iov.physics.sums import max_last, sum_last, sum_over_cvs


def _arrays(seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        shape = tuple(int(n) for n in rng.integers(1, 12, size=int(rng.integers(1, 4)))) + (int(rng.integers(1, 20)),)
        x = rng.standard_normal(shape) * 10.0 ** rng.integers(-8, 8, shape)
        x[rng.random(shape) < 0.2] = 0.0
        x[rng.random(shape) < 0.1] = -0.0
        yield x


@pytest.mark.parametrize("seed", [0, 1])
def test_sums_equal_numpy_to_the_bit(seed):
    for x in _arrays(seed):
        assert sum_last(x).tobytes() == x.sum(axis=-1).tobytes(), x.shape
        assert max_last(x).tobytes() == x.max(axis=-1).tobytes(), x.shape
        if x.ndim >= 2:
            assert sum_over_cvs(x).tobytes() == x.sum(axis=-2).tobytes(), x.shape
            assert sum_over_cvs(x, keepdims=True).tobytes() == x.sum(axis=-2, keepdims=True).tobytes()
            assert sum_over_cvs(x, keepdims=True).shape == x.sum(axis=-2, keepdims=True).shape


def test_a_sum_of_negative_zeros_is_positive_zero_as_in_numpy():
    x = np.full((4, 3), -0.0)
    assert np.signbit(x.sum(-1)).sum() == 0 and np.signbit(sum_last(x)).sum() == 0
