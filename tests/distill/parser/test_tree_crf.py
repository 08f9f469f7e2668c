"""Tree CRF inside algorithm against enumeration of all binary trees."""
import math

import pytest
import torch

from ensemblekd.distill.parser.tree_crf import inside_log_partition, span_marginals, tree_crf_loss

from .._oracles import binary_trees, tree_score


def _scores(b, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, n + 1, n + 1, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_log_partition_matches_enumeration(n):
    s = _scores(3, n, seed=n)
    got = inside_log_partition(s, torch.tensor([n, n, n]))
    for b in range(3):
        want = math.log(sum(math.exp(tree_score(s[b].tolist(), t)) for t in binary_trees(0, n)))
        assert float(got[b]) == pytest.approx(want, rel=1e-10)


def test_padding_does_not_leak():
    s = _scores(3, 6, seed=1)
    lengths = torch.tensor([6, 3, 1])
    got = inside_log_partition(s, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone = inside_log_partition(s[b:b + 1, : n + 1, : n + 1].contiguous(), torch.tensor([n]))
        assert float(got[b]) == pytest.approx(float(alone[0]), rel=1e-12)
    s2 = s.clone()
    s2[1, 2:, 4:] = 1e3  # spans outside sentence 1 (length 3)
    assert float(inside_log_partition(s2, lengths)[1]) == pytest.approx(float(got[1]), rel=1e-12)


def test_marginals_match_enumeration():
    n = 5
    s = _scores(1, n, seed=3)
    trees = binary_trees(0, n)
    weights = [math.exp(tree_score(s[0].tolist(), t)) for t in trees]
    z = sum(weights)
    marg = span_marginals(s, torch.tensor([n]))[0]
    for i in range(n):
        for j in range(i + 1, n + 1):
            want = sum(w for w, t in zip(weights, trees) if (i, j) in t) / z
            assert float(marg[i, j]) == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_loss_is_nll_and_union_is_the_mean():
    n = 4
    s = _scores(1, n, seed=4).requires_grad_(True)
    trees = binary_trees(0, n)
    logz = math.log(sum(math.exp(tree_score(s[0].tolist(), t)) for t in trees))

    def weights(tree_list):
        w = torch.zeros(1, n + 1, n + 1, dtype=torch.float64)
        for t in tree_list:
            for i, j in t:
                w[0, i, j] += 1.0 / len(tree_list)
        return w

    one = tree_crf_loss(s, torch.tensor([n]), weights([trees[0]]))
    assert float(one.detach()) == pytest.approx(logz - tree_score(s[0].tolist(), trees[0]), rel=1e-10)
    union = tree_crf_loss(s, torch.tensor([n]), weights([trees[0], trees[3]]))
    want = 0.5 * ((logz - tree_score(s[0].tolist(), trees[0])) + (logz - tree_score(s[0].tolist(), trees[3])))
    assert float(union.detach()) == pytest.approx(want, rel=1e-10)
    union.backward()
    assert torch.isfinite(s.grad).all()


def test_errors():
    with pytest.raises(ValueError, match="shape"):
        inside_log_partition(torch.zeros(2, 3, 4), torch.tensor([2, 2]))
    with pytest.raises(ValueError, match="lengths"):
        inside_log_partition(torch.zeros(1, 3, 3), torch.tensor([3]))
