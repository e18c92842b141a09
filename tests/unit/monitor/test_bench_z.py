"""bench.estimation_tasks.z_vs_perfect: the yardstick that tells the estimator's misses from the
windows' own noise must itself tell them apart."""

from __future__ import annotations

import numpy as np
from bench.estimation_tasks import z_vs_perfect


def test_a_perfect_estimators_own_hits_score_near_zero() -> None:
    rng = np.random.default_rng(0)
    chances = rng.uniform(0.6, 0.99, 400)
    zs = [z_vs_perfect(rng.random(400) < chances, chances) for _ in range(300)]
    # a standard normal: mean near 0, spread near 1, few beyond 2
    assert abs(np.mean(zs)) < 0.2
    assert 0.85 < np.std(zs) < 1.15
    assert np.mean(np.abs(zs) > 2) < 0.1


def test_an_estimator_that_loses_a_tenth_of_the_windows_scores_far_below() -> None:
    rng = np.random.default_rng(1)
    chances = np.full(400, 0.9)
    hits = (rng.random(400) < chances) & (rng.random(400) > 0.1)
    assert z_vs_perfect(hits, chances) < -3


def test_certain_windows() -> None:
    certain = np.ones(5)
    assert z_vs_perfect(np.ones(5, bool), certain) == 0.0
    assert z_vs_perfect(np.array([1, 1, 1, 1, 0], bool), certain) == -np.inf
