"""Numbers the paper reports in Section VII-C, transcribed for side-by-side comparison.

Percentages are Ly-DTMPO's relative improvement over the named baseline:
reward gain ``(R_dt - R_b) / |R_b|``, cost/delay/energy reduction
``(c_b - c_dt) / c_b``, in percent.  A ``(low, high)`` pair is a range the
paper gives instead of one value ("about 2-3 %").
"""

from __future__ import annotations

# Section VII-A: the training budget, the scenario of Table III and Figs. 4-5, and the sweep of Fig. 6.
EPISODES = 1800
STEADY_WINDOW = 50  # Table III note 1: the steady reward is the mean of the last 50 episodes
TABLE_III_CVS, TABLE_III_RSUS = 5, 3
NUM_CVS: tuple[int, ...] = (2, 3, 4, 5, 6)

# Table III: steady reward (mean of the last STEADY_WINDOW episodes), coefficient of variation,
# first episode reaching 95 % of the steady reward.
TABLE_III: dict[str, dict[str, float]] = {
    "ly-maddpg": {"steady_reward": -3.412, "cv": 0.530, "conv_episode": 185},
    "ly-masac": {"steady_reward": -3.031, "cv": 0.366, "conv_episode": 278},
    "ly-matd3": {"steady_reward": -4.541, "cv": 0.333, "conv_episode": 579},
    "ly-mappo": {"steady_reward": -3.555, "cv": 0.672, "conv_episode": 1398},
    "ly-dtmpo": {"steady_reward": -2.549, "cv": 0.411, "conv_episode": 1711},
}

# VII-C-1: steady-reward gain of Ly-DTMPO over each baseline (percent).
REWARD_GAIN_PCT: dict[str, float] = {"ly-maddpg": 25.3, "ly-matd3": 43.9, "ly-masac": 15.9, "ly-mappo": 28.3}

# VII-C-3, Fig. 6a: cost reduction of Ly-DTMPO at 3 and 4 CVs and averaged over 2-6 CVs (percent).
COST_REDUCTION_PCT: dict[str, dict[str, float]] = {
    "3": {"ly-mappo": 10.57, "ly-masac": 3.41, "ly-matd3": 2.68, "ly-maddpg": 20.09},
    "4": {"ly-mappo": 0.24, "ly-masac": 1.36, "ly-matd3": 2.86, "ly-maddpg": 22.62},
    "mean": {"ly-mappo": 2.81, "ly-masac": 3.85, "ly-matd3": 4.02, "ly-maddpg": 10.03},
}

# Fig. 6b: delay reduction at 3 CVs and averaged over 2-6 CVs (percent).
DELAY_REDUCTION_PCT: dict[str, dict[str, float]] = {
    "3": {"ly-mappo": 10.6, "ly-maddpg": 20.2, "ly-masac": 2.6, "ly-matd3": 12.8},
    "mean": {"ly-mappo": 2.8, "ly-maddpg": 9.8, "ly-masac": 3.0, "ly-matd3": 3.7},
}

# Fig. 6c: energy reduction at 6 CVs and averaged over 2-6 CVs (percent).
ENERGY_REDUCTION_PCT: dict[str, dict[str, float | tuple[float, float]]] = {
    "6": {"ly-mappo": 2.6, "ly-masac": 79.4, "ly-matd3": 62.5, "ly-maddpg": 71.1},
    "mean": {"ly-mappo": (2.0, 3.0), "ly-masac": 46.0, "ly-matd3": 36.0, "ly-maddpg": 37.0},
}

# VII-C-4, Fig. 7b: Ly-DTMPO system average cost at convergence per Lyapunov V
# (V = 5 and 10 are both given as "about 0.42").
V_COST: dict[float, float] = {5.0: 0.42, 10.0: 0.42, 50.0: 0.552, 100.0: 0.781}
