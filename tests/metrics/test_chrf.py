"""ensemblekd.metrics.chrf: code points of the whitespace-free sentence, as sacrebleu's chrF sees them."""
import numpy as np
import pytest
import sacrebleu
from hypothesis import given, settings
from sacrebleu.metrics.chrf import CHRF

from ensemblekd.metrics import chrf

from .conftest import needs_ckernel
from .strategies import sentence_lists


@settings(max_examples=100, deadline=None)
@given(sentence_lists)
def test_encode_is_whitespace_free_code_points(batch):
    tokens, offsets = chrf.encode(batch)
    assert tokens.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == len(batch) + 1
    for s, sentence in enumerate(batch):
        want = [ord(c) for c in "".join(sentence.split())]
        assert tokens[offsets[s] : offsets[s + 1]].tolist() == want


def test_encode_keeps_lone_surrogates():
    tokens, offsets = chrf.encode(["a\ud800b", ""])
    assert tokens.tolist() == [ord("a"), 0xD800, ord("b")] and offsets.tolist() == [0, 3, 3]


def test_sentence_score_is_sacrebleu():
    assert chrf.sentence_score("a cat", "the cat") == sacrebleu.sentence_chrf("a cat", ["the cat"]).score


@needs_ckernel
@pytest.mark.parametrize("char_order, beta", [(1, 1), (3, 2), (6, 3), (8, 1)])
def test_kernel_other_orders_and_betas(char_order, beta):
    from ensemblekd import _ckernel

    text = ["le chat noir", "la chatte noire", "un chien", "", "ab", "noir noir noir"]
    tokens, offsets = chrf.encode(text)
    out = np.empty((6, 6))
    _ckernel.chrf_matrix(tokens, offsets, 0, 6, 0, 6, out, char_order, float(beta))
    metric = CHRF(char_order=char_order, beta=beta)
    want = [[metric.sentence_score(h, [r]).score for r in text] for h in text]
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-9)
