"""Each equation against a value computed by hand (arithmetic in the comments)."""

import numpy as np
import pytest

from isac_iov.config import Config
from isac_iov.physics import channel, computing, cost, queues
from isac_iov.scenario import Normalisers


def test_distance_eq2():
    # dx = 200 - 100 = 100, dy = 1.875 - 9.375 = -7.5, H = 10 -> sqrt(10000 + 56.25 + 100) = 100.7782
    d = channel.distance_m(np.array([100.0]), np.array([1.875]), np.array([200.0, 100.0]), 9.375, 10.0)
    assert d[0, 0] == pytest.approx(np.sqrt(10156.25))
    # same x: sqrt(56.25 + 100) = 12.5
    assert d[0, 1] == pytest.approx(12.5)


def test_path_gain_and_rate_eq1():
    # g(100 m) = -38.4 - 21*2 = -80.4 dB = 10**-8.04 = 9.1201e-9
    g = channel.path_gain(np.array(100.0), -38.4, 21.0)
    assert g == pytest.approx(10**-8.04)
    # SNR = 1 W * 1 * 9.1201e-9 / 1e-13 = 91201 -> log2(1 + 91201) = 16.4768
    se = channel.spectral_efficiency(np.array(1.0), g, 1.0, 1e-13)
    assert se == pytest.approx(np.log2(1 + 10**-8.04 / 1e-13))
    assert se == pytest.approx(16.4768, abs=1e-4)
    # R = 1.5 * 0.5 * 20e6 * 16.4768 = 247.15 Mbit/s
    r = channel.rate_bps(np.array(0.5), se, 20e6, 1.5)
    assert r == pytest.approx(1.5 * 0.5 * 20e6 * 16.4768, rel=1e-5)


def test_coverage_and_mobility():
    assert channel.in_coverage(np.array([199.9, 200.0, 200.1]), 200.0).tolist() == [True, True, False]
    # 690 + 14 * 1 = 704 -> wraps to 4; 5 - 13 = -8 -> wraps to 692
    x = channel.advance_positions(np.array([690.0, 5.0]), np.array([14.0, -13.0]), 1.0, 700.0)
    assert x == pytest.approx([4.0, 692.0])


def test_local_eq5_eq6():
    # D = 0.5 * 2e6 * 1500 / 2.5e9 = 0.6 s ; E = 1e-26 * 0.6 * (2.5e9)^3 = 93.75 J
    d = computing.local_delay_s(np.array(0.5), np.array(2e6), np.array(1500.0), np.array(2.5e9))
    assert d == pytest.approx(0.6)
    assert computing.local_energy_j(d, np.array(2.5e9), 1e-26) == pytest.approx(93.75)


def test_upload_and_cotransform_eq7_to_eq11():
    share = np.array([[0.5]])
    # DataT: 0.5 * 2e6 / 1e8 = 0.01 s, energy 0.01 s * 1 W = 0.01 J
    up = computing.datat_upload_s(share, np.array([2e6]), np.array([[1e8]]))
    assert up[0, 0] == pytest.approx(0.01)
    assert computing.datat_upload_energy_j(up, 1.0)[0, 0] == pytest.approx(0.01)
    # InstrT instruction: 4e4 / 1e8 = 4e-4 s
    ins = computing.instruction_upload_s(share > 0, np.array([4e4]), np.array([[1e8]]))
    assert ins[0, 0] == pytest.approx(4e-4)
    # co-transformation: 0.5 * 2e6 * 300 / 9e9 = 0.03333 s; energy 1e-28 * 0.03333 * (9e9)^3 = 2.43 J
    co = computing.rsu_cycles_time_s(share, np.array([2e6]), np.array([300.0]), np.array([[9e9]]))
    assert co[0, 0] == pytest.approx(1 / 30)
    assert computing.rsu_energy_j(co, np.array([[9e9]]), 1e-28)[0, 0] == pytest.approx(2.43)


def test_zero_share_links_cost_nothing():
    z = computing.datat_upload_s(np.array([[0.0]]), np.array([2e6]), np.array([[0.0]]))
    assert z[0, 0] == 0.0 and np.isfinite(z).all()


def test_mode_selection_both_sides_eq12_eq22():
    used = np.array([True, True, True, False])
    datat = np.array([0.01, 1.0, 0.05, 1.0])
    instrt = np.array([0.0337, 0.0733, 0.05, 0.0])
    # DataT faster -> 0; InstrT faster -> 1; tie -> DataT (strict); unused -> 0
    eta = computing.select_mode(used, datat, instrt)
    assert eta.tolist() == [False, True, False, False]
    modes = computing.link_mode(used, eta)
    assert modes.tolist() == [computing.MODE_DATAT, computing.MODE_INSTRT, computing.MODE_DATAT, computing.MODE_UNUSED]
    assert [computing.MODE_NAMES[m] for m in modes] == ["DataT", "InstrT", "DataT", "-"]


def test_task_delay_eq19_ignores_unused_parts():
    # local 0.6 s, RSU parts 0.3 (used) and 5.0 (unused) -> 0.6
    d = computing.task_delay_s(np.array([0.5]), np.array([0.6]), np.array([[True, False]]), np.array([[0.3, 5.0]]))
    assert d[0] == pytest.approx(0.6)
    # no local share: local time ignored -> max over used RSU parts = 0.3
    d = computing.task_delay_s(np.array([0.0]), np.array([9.0]), np.array([[True, False]]), np.array([[0.3, 5.0]]))
    assert d[0] == pytest.approx(0.3)


def test_task_energy_eq23():
    # 10 + [DataT link: 0.01 + 2] + [InstrT link: 2.43 + 3] = 17.44
    e = computing.task_energy_j(
        np.array([10.0]),
        np.array([[False, True]]),
        np.array([[0.01, 7.0]]),
        np.array([[9.0, 2.43]]),
        np.array([[2.0, 3.0]]),
    )
    assert e[0] == pytest.approx(17.44)


def test_queues_eq16_eq17_eq27_with_floor():
    # 5e9 - 2.5e9 + 1e9 = 3.5e9 ; 1e9 - 2.5e9 + 0 < 0 -> 0
    q = queues.local_queue_next(np.array([5e9, 1e9]), np.array([2.5e9, 2.5e9]), 1.0, np.array([1e9, 0.0]))
    assert q.tolist() == [3.5e9, 0.0]
    # RSU: 4e9 - 18e9 * 0.5 + 6e9 = 1e9
    assert queues.rsu_queue_next(np.array([4e9]), np.array([18e9]), 0.5, np.array([6e9]))[0] == pytest.approx(1e9)
    # energy: 10 - 30 + 40 = 20 ; 0 - 30 + 10 -> 0
    assert queues.energy_queue_next(np.array([10.0, 0.0]), np.array([40.0, 10.0]), 30.0).tolist() == [20.0, 0.0]


def test_arrivals():
    # local: 0.25 * 2e6 * 1600 = 8e8 cycles
    assert queues.local_arrivals_cycles(np.array(0.25), np.array(2e6), np.array(1600.0)) == pytest.approx(8e8)
    # RSU, InstrT: 0.5 * 2e6 * (300 + 1600) = 1.9e9 ; DataT: 0.5 * 2e6 * 1600 = 1.6e9
    lam = queues.rsu_arrivals_cycles(
        np.array([[0.5, 0.5]]), np.array([2e6]), np.array([1600.0]), np.array([300.0]), np.array([[True, False]])
    )
    assert lam[0].tolist() == pytest.approx([1.9e9, 1.6e9])


def test_littles_law_eq18_and_empty_window():
    # mean Q / mean lambda = 3e9 / 6e9 = 0.5 slot = 0.5 s at tau = 1 s, 1.0 s at tau = 2 s
    assert queues.littles_law_delay_s(np.array(3e9), np.array(6e9), 1.0) == pytest.approx(0.5)
    assert queues.littles_law_delay_s(np.array(3e9), np.array(6e9), 2.0) == pytest.approx(1.0)
    # no arrivals in the window: zero, never NaN (docs/model.md#queueing-delay)
    d = queues.littles_law_delay_s(np.array([5e9, 0.0]), np.array([0.0, 0.0]), 1.0)
    assert d.tolist() == [0.0, 0.0]


def test_cost_eq24_eq25():
    # 0.6 * 0.5 / 1 + 0.4 * 50 / 218.75 = 0.3 + 0.0914286 = 0.3914286
    c = cost.cv_cost(np.array([0.5, 1.0]), np.array([50.0, 0.0]), 0.6, 1.0, 218.75)
    assert c[0] == pytest.approx(0.3914286, rel=1e-6)
    assert c[1] == pytest.approx(0.6)
    assert cost.system_cost(c) == pytest.approx(0.9914286, rel=1e-6)


def test_drift_plus_penalty_eq44():
    # Q/ref = 2, (lam - C tau)/ref = (1 - 0.5) = 0.5 -> 1.0 ; plus 3 and 4 ; + V * cost = 5 * 0.4 -> 10.0
    d = cost.queue_drift(np.array([7e9]), np.array([3.5e9]), np.array([1.75e9]), 3.5e9)
    assert d == pytest.approx(1.0)
    assert cost.drift_plus_penalty(5.0, np.array(0.4), d, np.array(3.0), np.array(4.0)) == pytest.approx(10.0)


def test_normalisers_from_table_ii():
    # E_ref = 1e-26 * (2.5e9)^2 * (2e6 * 1750) = 218.75 J ; Q_ref = 2e6 * 1750 = 3.5e9 cycles
    n = Normalisers.from_config(Config())
    assert n.energy_ref_j == pytest.approx(218.75)
    assert n.queue_ref_cycles == pytest.approx(3.5e9)
    assert n.delay_ref_s == 1.0


def test_backlog_wait_is_the_backlog_over_the_service_rate():
    # 3e9 cycles ahead at 2 GHz: 1.5 s; an empty queue: no wait, whatever the part's share
    assert queues.backlog_wait_s(np.array([3e9, 0.0]), np.array([2e9, 2e9])).tolist() == [1.5, 0.0]


def test_rsu_service_rules_eq17():
    from types import SimpleNamespace

    from isac_iov.slot import rsu_service

    # one RSU, two CVs: parts of 3e9 and 1e9 cycles on 2 GHz and 4 GHz; F^max - C^twin = 18 GHz, tau = 1 s
    lam = np.array([[[3e9], [1e9]]])
    ln = SimpleNamespace(
        rsu_cpu_hz=np.array([[[2e9], [4e9]]]), rsu_given_hz=np.array([[6e9]]), used=np.array([[[True], [True]]])
    )
    # work-conserving: 1e9 cycles are left over (3e9 - 2e9; the second part finishes); idle CPU 18 - 6 = 12 GHz
    arrivals, service = rsu_service("work_conserving", lam, ln, 18e9, 1.0)
    assert arrivals.tolist() == [[1e9]] and service.tolist() == [[12e9]]
    # allocated: all 4e9 cycles arrive, served at the 6 GHz given; capacity: at 18 GHz
    assert [x.tolist() for x in rsu_service("allocated", lam, ln, 18e9, 1.0)] == [[[4e9]], [[6e9]]]
    assert [x.tolist() for x in rsu_service("capacity", lam, ln, 18e9, 1.0)] == [[[4e9]], [[18e9]]]
    # allocated with nobody offloading: the whole CPU serves the backlog (nothing strands)
    idle = SimpleNamespace(
        rsu_cpu_hz=np.zeros((1, 2, 1)), rsu_given_hz=np.zeros((1, 1)), used=np.zeros((1, 2, 1), bool)
    )
    assert rsu_service("allocated", np.zeros((1, 2, 1)), idle, 18e9, 1.0)[1].tolist() == [[18e9]]


def test_per_cv_objective_splits_eq39_exactly():
    # V = 5; costs 0.2, 0.4; local summands 0.1, -0.1; RSU summands 0.6 (RSU0), 0.3 (RSU1); energy 0.05, 0
    # RSU0's arrivals 1 : 3 -> 0.15, 0.45; nobody sends to RSU1 -> 0.15 each
    # CV0: 1.0 + 0.1 + 0.15 + 0.15 + 0.05 = 1.45 ; CV1: 2.0 - 0.1 + 0.45 + 0.15 + 0 = 2.5 ; total 3.95
    per_cv = cost.per_cv_objective(
        5.0,
        np.array([0.2, 0.4]),
        np.array([0.1, -0.1]),
        np.array([0.6, 0.3]),
        np.array([[1.0, 0.0], [3.0, 0.0]]),
        np.array([0.05, 0.0]),
    )
    assert per_cv.tolist() == pytest.approx([1.45, 2.5])
    assert per_cv.sum() == pytest.approx(cost.drift_plus_penalty(5.0, 0.6, 0.0, 0.9, 0.05))


def test_twin_rsu_load_hand_computed():
    from types import SimpleNamespace

    from isac_iov.scenario import Scenario
    from isac_iov.twin import rsu_load

    scn = Scenario(Config())
    # CV0 reaches both RSUs, CV1 only RSU1; both tasks are one mean task (2e6 bit * 1750 = Q_ref cycles)
    phys = SimpleNamespace(data_bits=np.array([[2e6, 2e6]]), intensity_cycles_per_bit=np.array([[1750.0, 1750.0]]))
    reach = np.array([[[True, True], [False, True]]])
    load = rsu_load(scn, phys, reach, np.array([[9e9, 0.0]]))
    assert load[0, :, 0].tolist() == [0.5, 1.0]  # fraction of CVs in coverage
    assert load[0, :, 1].tolist() == [0.5, 1.5]  # contention: 1/2 ; 1/2 + 1/1
    assert load[0, :, 2].tolist() == [0.5, 1.5]  # demanded mean-task cycles, spread over reachable RSUs
    assert load[0, :, 3].tolist() == [0.5, 0.0]  # last slot's CPU given / 18 GHz
