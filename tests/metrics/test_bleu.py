"""ensemblekd.metrics.bleu: sacrebleu's own tokenization, and token ids for the C kernel."""
import numpy as np
import pytest
import sacrebleu
from hypothesis import given, settings
from sacrebleu.metrics.bleu import BLEU

from ensemblekd.metrics import bleu

from .conftest import needs_ckernel
from .strategies import sentence_lists, sentences


@settings(max_examples=200, deadline=None)
@given(sentences)
def test_tokenize_is_sacrebleu_preprocessing(sentence):
    metric = BLEU(effective_order=True)  # what sacrebleu.sentence_bleu builds
    assert bleu.tokenize(sentence) == metric._preprocess_segment(sentence).split()


@settings(max_examples=100, deadline=None)
@given(sentence_lists)
def test_encode_ids_equal_iff_tokens_equal(batch):
    tokens, offsets = bleu.encode(batch)
    assert tokens.dtype == np.int32 and offsets.dtype == np.int64
    assert offsets[0] == 0 and offsets[-1] == len(tokens) and len(offsets) == len(batch) + 1
    words = [w for sentence in batch for w in bleu.tokenize(sentence)]
    assert len(words) == len(tokens)
    for s, sentence in enumerate(batch):
        assert offsets[s + 1] - offsets[s] == len(bleu.tokenize(sentence))
    pairs = {}
    for word, token in zip(words, tokens.tolist()):
        assert pairs.setdefault(word, token) == token
    assert len(set(pairs.values())) == len(pairs)


def test_sentence_score_is_sacrebleu():
    assert bleu.sentence_score("a b c d", "a b c e") == sacrebleu.sentence_bleu("a b c d", ["a b c e"]).score


@needs_ckernel
def test_kernel_on_large_token_ids():
    """n-gram ids are interned exactly: token ids near 2**31 cannot collide."""
    from ensemblekd import _ckernel

    big = 2**31 - 1
    words = {big: "x", 0: "y", 1: "z", big - 1: "w"}
    sentences = [[big, 0, big, 0, 1], [0, big, 0, big - 1], [big, big, big], [1]]
    tokens = np.array([t for s in sentences for t in s], dtype=np.int32)
    offsets = np.cumsum([0] + [len(s) for s in sentences]).astype(np.int64)
    out = np.empty((4, 4))
    _ckernel.bleu_matrix(tokens, offsets, 0, 4, 0, 4, out, 4)
    text = [" ".join(words[t] for t in s) for s in sentences]
    want = [[sacrebleu.sentence_bleu(h, [r]).score for r in text] for h in text]
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-9)


@needs_ckernel
@pytest.mark.parametrize("max_order", [1, 2, 3, 5])
def test_kernel_other_orders(max_order):
    from ensemblekd import _ckernel

    text = ["a b c a b", "a b c d", "c a b", "d d d d d d"]
    tokens, offsets = bleu.encode(text)
    out = np.empty((4, 4))
    _ckernel.bleu_matrix(tokens, offsets, 0, 4, 0, 4, out, max_order)
    want = [
        [BLEU(effective_order=True, max_ngram_order=max_order).sentence_score(h, [r]).score for r in text]
        for h in text
    ]
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-9)
