"""The CYK DP against brute-force enumeration of all binary trees (n <= 8), numba and Python twin."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ensemblekd.trees import cyk_best_tree, cyk_best_trees, cyk_packed
from ensemblekd.trees.cyk import cyk_kernel

from .oracles import all_binary_trees, brute_best_score, brute_first_max_tree, tree_score


def _scores(n, values):
    return st.tuples(st.just(n), arrays(np.float64, (n, n + 1), elements=values))


small_ints = st.integers(0, 3).map(float)  # many ties: the tie rule matters
floats = st.floats(-10, 10, allow_nan=False, allow_infinity=False)


def _both(scores):
    """Run the numba kernel and the twin directly on one sentence; return both span arrays."""
    flat = np.ascontiguousarray(scores).reshape(-1)
    args = (flat, np.zeros(1, np.int64), np.array([scores.shape[0]], np.int64))
    return cyk_kernel.nb(*args)[0], cyk_kernel.py(*args)[0]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 8).flatmap(lambda n: _scores(n, small_ints)))
def test_ties_take_the_first_maximum_like_enumeration(case):
    n, scores = case
    expected = brute_first_max_tree(scores)
    for spans in _both(scores):
        assert {tuple(s) for s in spans.tolist()} == expected


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 8).flatmap(lambda n: _scores(n, floats)))
def test_best_score_matches_enumeration(case):
    n, scores = case
    for spans in _both(scores):
        got = {tuple(s) for s in spans.tolist()}
        assert got in set(all_binary_trees(0, n))  # a binary tree over all n words
        assert len(spans) == n - 1
        assert tree_score(got, scores) == pytest.approx(brute_best_score(scores), abs=1e-9)


@pytest.mark.parametrize("n", [1, 2, 5, 17])
def test_output_is_preorder_with_root_first(n, kernels):
    rng = np.random.default_rng(n)
    spans = cyk_best_tree(rng.normal(size=(n, n + 1)))
    assert spans.dtype == np.int64 and spans.shape == (max(n - 1, 0), 2)
    if n > 1:
        assert spans[0].tolist() == [0, n]
    order = sorted(spans.tolist(), key=lambda s: (s[0], -s[1]))
    assert spans.tolist() == order


def test_batched_equals_one_by_one(kernels):
    rng = np.random.default_rng(0)
    mats = [rng.integers(0, 3, size=(n, n + 1)).astype(float) for n in (1, 7, 3, 30, 2, 12)]
    batched = cyk_best_trees(mats)
    for m, spans in zip(mats, batched):
        assert np.array_equal(spans, cyk_best_tree(m))


def test_packed_entry_point_with_gaps_and_empty_sentences(kernels):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(3, 4))
    flat = np.concatenate([a.ravel(), [99.0] * 3, b.ravel()])
    spans, offsets = cyk_packed(flat, np.array([0, 23, 23]), np.array([4, 0, 3]))
    assert offsets.tolist() == [0, 3, 3, 5]
    assert np.array_equal(spans[0:3], cyk_best_tree(a))
    assert np.array_equal(spans[3:5], cyk_best_tree(b))


def test_identical_scores_give_right_branching():
    # every tree scores the same: the first maximum (smallest left part) at every node
    spans = cyk_best_tree(np.zeros((5, 6)))
    assert spans.tolist() == [[0, 5], [1, 5], [2, 5], [3, 5]]


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((3, 3)), r"shape \(3, 3\); expected \(n, n\+1\)"),
        (np.zeros((0, 1)), "n >= 1"),
        (np.zeros(4), "expected"),
        (np.array([[0.0, np.nan]]), "finite"),
        (np.array([[0.0, np.inf]]), "finite"),
    ],
)
def test_bad_scores_are_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        cyk_best_tree(bad)


def test_bad_packed_offsets_are_rejected():
    with pytest.raises(ValueError, match="outside scores"):
        cyk_packed(np.zeros(6), np.array([1]), np.array([2]))
    with pytest.raises(ValueError, match="expected equal"):
        cyk_packed(np.zeros(6), np.array([0, 0]), np.array([2]))
    with pytest.raises(ValueError, match=r"scores\[1\]"):
        cyk_best_trees([np.zeros((2, 3)), np.zeros((2, 2))])
