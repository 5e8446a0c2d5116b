"""Action mapping onto C4, C5, C6, coverage masking and bad-action errors."""

import numpy as np
import pytest

from isac_iov import actions as act


def test_task_shares_mask_unreachable_and_normalise():
    # weights local 0.2, RSU0 0.4, RSU1 0.4 (out of coverage), RSU2 0 -> local 0.2/0.6, RSU0 0.4/0.6
    a = np.array([[0.2, 0.4, 0.4, 0.0] + [0.0] * 6])
    loc, rsu = act.task_shares(a, np.array([[True, False, True]]))
    assert loc[0] == pytest.approx(1 / 3)
    assert rsu[0].tolist() == pytest.approx([2 / 3, 0.0, 0.0])


def test_all_zero_weights_run_locally():
    loc, rsu = act.task_shares(np.zeros((1, 10)), np.ones((1, 3), bool))
    assert loc[0] == 1.0 and rsu.sum() == 0.0


def test_parts_below_the_minimum_share_are_dropped_exactly():
    # weights local 0.5, RSU0 0.48, RSU1 0.02 -> RSU1's part 0.02 < 0.05 is dropped, the rest renormalised
    a = np.array([[0.5, 0.48, 0.02, 0.0] + [0.0] * 6])
    loc, rsu = act.task_shares(a, np.ones((1, 3), bool), min_share=0.05)
    assert loc[0] == pytest.approx(0.5 / 0.98)
    assert rsu[0].tolist() == pytest.approx([0.48 / 0.98, 0.0, 0.0])
    # a small local weight is dropped too: the task goes to the RSUs only
    a = np.array([[0.01, 0.5, 0.5, 0.0] + [0.0] * 6])
    loc, rsu = act.task_shares(a, np.ones((1, 3), bool), min_share=0.05)
    assert loc[0] == 0.0 and rsu[0].tolist() == pytest.approx([0.5, 0.5, 0.0])
    rng = np.random.default_rng(1)
    loc, rsu = act.task_shares(rng.uniform(size=(256, 10)) ** 4, rng.uniform(size=(256, 3)) > 0.3, 0.05)
    parts = np.concatenate([loc[:, None], rsu], axis=-1)
    assert np.allclose(parts.sum(-1), 1.0) and ((parts == 0) | (parts >= 0.05)).all()


def test_shares_sum_to_one_random():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(64, 5, 10))
    reach = rng.uniform(size=(64, 5, 3)) > 0.4
    loc, rsu = act.task_shares(a, reach)
    assert np.allclose(loc + rsu.sum(-1), 1.0)
    assert (rsu[~reach] == 0).all()
    assert (loc >= 0).all() and (rsu >= 0).all()


def test_bandwidth_per_cv_floor_and_sum():
    # used links RSU0 (weight 0.5) and RSU1 (weight 0 -> floor 1e-3); RSU2 unused
    a = np.zeros((1, 10))
    a[0, 4] = 0.5
    b = act.bandwidth_shares(a, np.array([[True, True, False]]), "per_cv", 1e-3)
    assert b[0].tolist() == pytest.approx([0.5 / 0.501, 0.001 / 0.501, 0.0])
    assert b.sum() == pytest.approx(1.0)


def test_bandwidth_per_rsu_split_among_users():
    # two CVs use RSU0 with weights 0.3 and 0.1 -> 0.75 and 0.25 of RSU0's band
    a = np.zeros((2, 10))
    a[0, 4] = 0.3
    a[1, 4] = 0.1
    used = np.array([[True, False, False], [True, False, False]])
    b = act.bandwidth_shares(a, used, "per_rsu", 1e-3)
    assert b[:, 0].tolist() == pytest.approx([0.75, 0.25])


def test_rsu_cpu_scaled_to_capacity_c6():
    # requests 0.6 + 0.9 = 1.5 > 1 -> 0.4 and 0.6 of 18 GHz; a lone request 0.2 stays 0.2
    a = np.zeros((2, 10))
    a[0, 7] = 0.6
    a[1, 7] = 0.9
    a[0, 8] = 0.2
    used = np.array([[True, True, False], [True, False, False]])
    f = act.rsu_cpu_hz(a, used, 18e9, 1e-3)
    assert f[:, 0].tolist() == pytest.approx([7.2e9, 10.8e9])
    assert f[0, 1] == pytest.approx(3.6e9)
    assert f[:, 2].tolist() == [0.0, 0.0]


def test_check_actions_errors():
    good = np.full((2, 5, 10), 0.5)
    assert act.check_actions(good, (2, 5, 10)).shape == (2, 5, 10)
    with pytest.raises(act.ActionError, match="shape"):
        act.check_actions(good[:, :4], (2, 5, 10))
    bad = good.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(act.ActionError, match=r"non-finite .*\(1, 2, 3\)"):
        act.check_actions(bad, (2, 5, 10))
    bad = good.copy()
    bad[0, 0, 9] = 1.5
    with pytest.raises(act.ActionError, match=r"1.5 at index \(0, 0, 9\) outside"):
        act.check_actions(bad, (2, 5, 10))
