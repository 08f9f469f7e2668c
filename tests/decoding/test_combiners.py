"""Combiners: properties checked against direct computations from the formulas."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ensemblekd.decoding import EBBS, Average, Single, Vote
from ensemblekd.decoding.search import split_finishing

from .oracles import single_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("single_thread")

EOS = 0


def _inputs(seed, B, K, Z, V, dead=True):
    g = torch.Generator().manual_seed(seed)
    lp = torch.log_softmax(torch.randn(B, K, Z, V, generator=g) * 2, dim=-1)
    scores = -torch.rand(B, Z, generator=g) * 3
    if dead:
        scores[:, Z - 1:] = float("-inf") if Z > 1 else 0.0
    return lp, scores


shapes = st.tuples(st.integers(0, 10_000), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4),
                   st.integers(2, 7))


def _lower_members(lp_k, s, Z, last):
    """Python: lower beam of one component for one sentence -> {(i, y): value}."""
    cands = sorted(((float(s[i] + lp_k[i, y]), i, y) for i in range(lp_k.shape[0]) for y in range(lp_k.shape[1])),
                   key=lambda c: (-c[0], c[1] * lp_k.shape[1] + c[2]))
    out, running = {}, 0
    for rank, (v, i, y) in enumerate(cands):
        if v == float("-inf"):
            continue
        if last or y == EOS:
            if rank < Z:
                out[(i, y)] = v
        elif running < Z:
            running += 1
            out[(i, y)] = v
    return out


@settings(max_examples=60, deadline=None)
@given(shape=shapes, last=st.booleans(), voting=st.sampled_from(["sum", "max", "count"]), weighted=st.booleans())
def test_ebbs_union_scores_and_provenance(shape, last, voting, weighted):
    seed, B, K, Z, V = shape
    lp, s = _inputs(seed, B, K, Z, V)
    weights = [1 + (seed + 7 * k) % 3 for k in range(K)] if weighted else None
    w = np.array(weights if weighted else [1.0] * K, dtype=float)
    w = w / w.sum()
    cand = EBBS(weights=weights, voting=voting)(lp, s, eos_token_id=EOS, beam_size=Z, last_step=last)
    for b in range(B):
        support = {}
        for k in range(K):
            for key, v in _lower_members(lp[b, k].double().numpy(), s[b].double().numpy(), Z, last).items():
                support.setdefault(key, {})[k] = v
        got = {}
        for j in range(cand.scores.shape[1]):
            sc = float(cand.scores[b, j])
            if sc == float("-inf"):
                continue
            key = (int(cand.parents[b, j]), int(cand.tokens[b, j]))
            assert key not in got, "a candidate appears twice"
            got[key] = (j, sc, tuple(np.nonzero(cand.provenance[b, j].numpy())[0]))
        assert set(got) == set(support)
        for key, by_k in support.items():
            j, sc, prov = got[key]
            assert prov == tuple(sorted(by_k))
            if voting == "max":
                want = max(math.log(w[k] / w.max()) + v for k, v in by_k.items())
            else:
                want = math.log(sum(w[k] * math.exp(v) for k, v in by_k.items()))
            assert sc == pytest.approx(want, abs=1e-4)
        # ranking: by score (sum/max) or by (weighted count, score)
        order = sorted(got.values(), key=lambda x: x[0])
        if voting == "count":
            keys = [(round(sum(w[k] for k in support[key]), 6), got[key][1]) for key in
                    sorted(got, key=lambda kk: got[kk][0])]
            assert keys == sorted(keys, key=lambda x: (-x[0], -x[1]))
        else:
            assert [o[1] for o in order] == sorted((o[1] for o in order), reverse=True)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, last=st.booleans())
def test_ebbs_k1_lower_beam_is_single_rule(shape, last):
    seed, B, _, Z, V = shape
    lp, s = _inputs(seed, B, 1, Z, V)
    single = Single()(lp, s, eos_token_id=EOS, beam_size=Z)
    fin, keep = split_finishing(single.tokens, single.scores, EOS, Z, last)
    ebbs = EBBS()(lp, s, eos_token_id=EOS, beam_size=Z, last_step=last)
    for b in range(B):
        member = (fin | keep)[b]
        want = list(zip(single.parents[b][member].tolist(), single.tokens[b][member].tolist(),
                        single.scores[b][member].tolist()))
        valid = ebbs.scores[b] > float("-inf")
        got = list(zip(ebbs.parents[b][valid].tolist(), ebbs.tokens[b][valid].tolist(),
                       ebbs.scores[b][valid].tolist()))
        assert got == want  # same order, bit-identical scores


@settings(max_examples=40, deadline=None)
@given(shape=shapes, weighted=st.booleans())
def test_average_formulas(shape, weighted):
    seed, B, K, Z, V = shape
    lp, s = _inputs(seed, B, K, Z, V, dead=False)
    weights = [0.5 + (seed + k) % 4 for k in range(K)] if weighted else None
    w = np.array(weights if weighted else [1.0] * K)
    w = w / w.sum()
    p = lp.double().exp().numpy()
    arith = Average(weights=weights).combine(lp).double().numpy()
    np.testing.assert_allclose(arith, np.log(np.einsum("bkzv,k->bzv", p, w)), atol=1e-5)
    geo = Average(weights=weights, mean="geometric").combine(lp).double().numpy()
    mix = np.einsum("bkzv,k->bzv", lp.double().numpy(), w)
    np.testing.assert_allclose(geo, mix - np.log(np.exp(mix).sum(-1, keepdims=True)), atol=1e-5)
    cand = Average(weights=weights)(lp, s, eos_token_id=EOS, beam_size=Z)
    flat = (torch.from_numpy(arith).float() + s[:, :, None]).reshape(B, -1)
    top = torch.topk(flat, min(2 * Z, Z * V)).values
    torch.testing.assert_close(cand.scores, top, atol=1e-5, rtol=0)


def test_average_zero_weight_ignores_component():
    lp, s = _inputs(3, 2, 2, 2, 5, dead=False)
    lp[:, 1, :, 2] = float("-inf")
    for mean in ("arithmetic", "geometric"):
        out = Average(weights=[1, 0], mean=mean).combine(lp)
        torch.testing.assert_close(out, lp[:, 0], atol=1e-5, rtol=0)


@settings(max_examples=40, deadline=None)
@given(shape=shapes)
def test_vote_winner(shape):
    seed, B, K, _, V = shape
    lp, _ = _inputs(seed, B, K, 1, V)
    s = torch.zeros(B, 1)
    cand = Vote()(lp, s, eos_token_id=EOS, beam_size=1)
    avg = Average().combine(lp)[:, 0]
    for b in range(B):
        votes = np.bincount(lp[b, :, 0].argmax(-1).numpy(), minlength=V)
        best = max(range(V), key=lambda y: (votes[y], float(avg[b, y])))
        assert int(cand.tokens[b, 0]) == best and int(cand.parents[b, 0]) == 0
        assert float(cand.scores[b, 0]) == pytest.approx(float(avg[b, best]), abs=1e-5)
        assert tuple(np.nonzero(cand.provenance[b, 0].numpy())[0]) == tuple(np.nonzero(
            lp[b, :, 0].argmax(-1).numpy() == best)[0])
        assert int(cand.tokens[b, 1]) != best and float(cand.scores[b, 1]) > float("-inf")


def test_vote_tie_goes_to_higher_average():
    # two components, each votes for a different token: the more probable on average wins
    lp = torch.log(torch.tensor([[[[0.1, 0.5, 0.4]]], [[[0.1, 0.2, 0.7]]]])).permute(1, 0, 2, 3)
    cand = Vote()(lp, torch.zeros(1, 1), eos_token_id=EOS, beam_size=1)
    assert int(cand.tokens[0, 0]) == 2  # avg p: token1 0.35, token2 0.55
    cand = Vote(weights=[3, 1])(lp, torch.zeros(1, 1), eos_token_id=EOS, beam_size=1)
    assert int(cand.tokens[0, 0]) == 1  # weighted votes decide first


def test_single_requires_one_component():
    lp, s = _inputs(0, 1, 2, 2, 4)
    with pytest.raises(ValueError, match="one component"):
        Single()(lp, s, eos_token_id=EOS, beam_size=2)


@pytest.mark.parametrize("cls", [Average, Vote, EBBS])
@pytest.mark.parametrize("weights, message", [
    ([1, -1, 1], "non-negative"),
    ([0, 0, 0], "all be zero"),
    ([1, float("nan"), 1], "finite"),
    ([], "empty"),
    (["a"], "numbers"),
])
def test_bad_weights(cls, weights, message):
    with pytest.raises(ValueError, match=message):
        cls(weights=weights)


@pytest.mark.parametrize("comb", [Average(weights=[1, 2]), Vote(weights=[1, 2]), EBBS(weights=[1, 2])])
def test_weights_length_checked(comb):
    lp, s = _inputs(0, 1, 3, 2, 4)
    with pytest.raises(ValueError, match="2 weights for 3 components"):
        comb(lp, s, eos_token_id=EOS, beam_size=2)


def test_bad_options():
    with pytest.raises(ValueError, match="voting"):
        EBBS(voting="median")
    with pytest.raises(ValueError, match="mean"):
        Average(mean="harmonic")


def test_combiners_do_not_modify_inputs():
    lp, s = _inputs(1, 2, 3, 3, 6)
    lp0, s0 = lp.clone(), s.clone()
    for comb in (Average(), Average(mean="geometric"), Vote(), EBBS(), EBBS(voting="count")):
        comb(lp, s, eos_token_id=EOS, beam_size=3)
        assert torch.equal(lp, lp0) and torch.equal(s, s0)


def test_split_finishing_rule():
    tokens = torch.tensor([[0, 5, 0, 6, 7, 0, 8]])
    scores = torch.tensor([[-1.0, -2, -3, -4, float("-inf"), -6, -7]])
    fin, keep = split_finishing(tokens, scores, 0, 2, False)
    assert fin.tolist() == [[True, False, False, False, False, False, False]]  # EOS at rank 2 is dropped
    assert keep.tolist() == [[False, True, False, True, False, False, False]]  # -inf never counts
    fin, keep = split_finishing(tokens, scores, (0, 5), 2, False)
    assert fin.tolist()[0][:2] == [True, True] and keep.tolist()[0] == [False, False, False, True, False, False, True]
    fin, keep = split_finishing(tokens, scores, 0, 3, True)
    assert fin.tolist() == [[True, True, True, False, False, False, False]] and not keep.any()


def test_geometric_mean_keeps_minus_inf():
    lp, _ = _inputs(2, 1, 2, 1, 5, dead=False)
    lp[0, 1, 0, 3] = float("-inf")
    out = Average(mean="geometric").combine(lp)
    assert torch.isneginf(out[0, 0, 3]) and torch.isfinite(out[0, 0, [0, 1, 2, 4]]).all()
    lp[0, :, 0, :] = float("-inf")
    assert torch.isneginf(Average(mean="geometric").combine(lp)).all()
