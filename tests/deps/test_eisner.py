"""Eisner's DP: optimal against brute force, ties as the original, numba == Python twin."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ensemblekd.deps import arc_votes, eisner_best_tree, eisner_packed

from .oracles import arc_score, is_projective, projective_trees, ref_acc


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7])
def test_best_tree_is_optimal_among_all_projective_trees(kernels, n):
    rng = np.random.default_rng(n)
    trees = projective_trees(n, single_root=False)
    for _ in range(4 if n < 7 else 1):
        scores = rng.normal(size=(n + 1, n + 1))
        heads = eisner_best_tree(scores)
        assert is_projective(list(heads))
        best = max(arc_score(t, scores) for t in trees)
        assert arc_score(heads, scores) == pytest.approx(best, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 6), seed=st.integers(0, 10**6))
def test_integer_scores_with_ties_follow_the_smallest_split_rule(n, seed):
    """Small integer scores tie everywhere; the kernel agrees with the rule written as a recursion."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 5))
    teachers = [list(projective_trees(n)[rng.integers(len(projective_trees(n)))]) for _ in range(k)]
    assert eisner_best_tree(arc_votes(teachers)).tolist() == ref_acc(teachers)


def test_packed_batch_equals_one_call_per_sentence(kernels):
    rng = np.random.default_rng(1)
    mats = [rng.normal(size=(n + 1, n + 1)) for n in (3, 1, 6, 2)]
    flat = np.concatenate([m.reshape(-1) for m in mats])
    offsets = np.cumsum([0] + [m.size for m in mats[:-1]])
    heads = eisner_packed(flat, offsets, [m.shape[0] - 1 for m in mats])
    assert heads.tolist() == sum((eisner_best_tree(m).tolist() for m in mats), [])


def test_minus_inf_forbids_arcs(kernels):
    scores = np.zeros((4, 4))
    scores[0, 2] = 5.0
    scores[0, 1] = scores[0, 3] = -np.inf  # only word 2 may attach to ROOT
    heads = eisner_best_tree(scores)
    assert heads[1] == 0 and heads[0] != 0 and heads[2] != 0


@pytest.mark.parametrize("bad, message", [
    (np.zeros((3, 2)), "expected \\(n\\+1, n\\+1\\)"),
    (np.zeros((1, 1)), "n >= 1"),
    (np.full((3, 3), np.nan), "no NaN"),
])
def test_bad_scores_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        eisner_best_tree(bad)
