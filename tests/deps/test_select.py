"""Member selection: society entropy from its formula, forward and exhaustive selection as argmaxes."""
from itertools import combinations

import numpy as np
import pytest

from ensemblekd.deps import evaluate_deps, read_deps
from ensemblekd.deps.demo import sample_dir, sample_teachers
from ensemblekd.deps.select import _one_hot, select_teachers, society_entropy, tune_alpha


def _se(banks, subset):
    """mean over tokens of -sum_h p ln p, p the members' head distribution (written directly)."""
    heads = np.stack([banks[i].heads for i in subset])  # (k, N)
    total = 0.0
    for t in range(heads.shape[1]):
        _, counts = np.unique(heads[:, t], return_counts=True)
        p = counts / len(subset)
        total += -(p * np.log(p)).sum()
    return total / heads.shape[1]


@pytest.fixture(scope="module")
def sample():
    root = sample_dir()
    return [read_deps(p) for p in sample_teachers(root, "d")], read_deps(root / "gold" / "d.txt")


def test_society_entropy_formula(sample):
    dev, _ = sample
    oh = _one_hot(dev)
    subsets = [list(c) for c in combinations(range(len(dev)), 3)] + [[0], [1, 1]]
    got = society_entropy(oh, [s for s in subsets if len(s) == 3])
    want = [_se(dev, s) for s in subsets if len(s) == 3]
    assert np.allclose(got, want, atol=1e-12)
    assert society_entropy(oh, [[2]])[0] == 0.0  # one member: no disagreement
    assert society_entropy(oh, [[1, 1]])[0] == 0.0  # identical members


def test_forward_is_greedy_argmax_and_exhaustive_is_global_argmax(sample):
    dev, gold = sample
    uas = [evaluate_deps(gold, b).uas for b in dev]
    score = lambda s: np.mean([uas[i] for i in s]) + 0.4 * _se(dev, s)  # noqa: E731
    sel = select_teachers(dev, gold, k_max=4, alpha=0.4)
    assert sel.chosen[1] == [int(np.argmax(uas))]
    for k in range(2, 5):
        prev = sel.chosen[k - 1]
        cands = [prev + [i] for i in range(len(dev)) if i not in prev]
        best = max(cands, key=score)  # first maximum, as the original
        assert sel.chosen[k] == best and sel.scores[k] == pytest.approx(score(best), abs=1e-12)
    ex = select_teachers(dev, gold, k_max=3, alpha=0.4, method="exhaustive")
    assert ex.chosen[3] == list(max(combinations(range(len(dev)), 3), key=lambda c: score(list(c))))
    # alpha 0: pure dev UAS
    assert select_teachers(dev, gold, k_max=3, alpha=0.0, method="exhaustive").chosen[3] == sorted(
        np.argsort(uas)[::-1][:3].tolist())


def test_start_and_bad_arguments(sample):
    dev, gold = sample
    assert select_teachers(dev, gold, k_max=3, start=[4]).chosen[1] == [4]
    with pytest.raises(ValueError, match="k_max=9"):
        select_teachers(dev, gold, k_max=9)
    with pytest.raises(ValueError, match="method="):
        select_teachers(dev, gold, method="backward")
    with pytest.raises(ValueError, match="start="):
        select_teachers(dev, gold, start=[0, 0])


def test_tune_alpha_returns_the_first_best(sample):
    dev, gold = sample
    best, table = tune_alpha(dev, gold, k=3, alphas=[0.0, 0.4, 1.0])
    assert [a for a, _ in table] == [0.0, 0.4, 1.0]
    assert best == next(a for a, u in table if u == max(u for _, u in table))
