"""Sentence BLEU exactly as ``sacrebleu.sentence_bleu(hyp, [ref]).score`` computes it (Papineni et al., 2002).

sacrebleu's defaults for sentence BLEU: the ``13a`` tokenizer (mteval-v13a) applied to ``sentence.rstrip()``,
mixed case, word n-grams of orders 1..4 with clipped counts, brevity penalty against the one reference,
``exp`` smoothing (NIST: the k-th order with no match gets precision 100 / (2^k * total)), and *effective
order* (orders with no hypothesis n-gram are left out of the geometric mean).

This module prepares sentences for the C kernel: each distinct sentence is tokenized ONCE with sacrebleu's
own tokenizer and every token is mapped to an integer id (ids shared by the whole batch).  The kernel then
builds n-gram ids from token ids and computes the statistics and the score of every pair (cext/scores.h
follows ``BLEU.compute_bleu`` operation by operation).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

__all__ = ["MAX_ORDER", "encode", "kernel_matrix", "sentence_score", "tokenize"]

MAX_ORDER = 4


@lru_cache(maxsize=1)
def _tokenizer():
    from sacrebleu.metrics.bleu import BLEU

    # the tokenizer object sacrebleu.sentence_bleu builds with its default tokenize='13a'
    return BLEU(tokenize=BLEU.TOKENIZER_DEFAULT, effective_order=True).tokenizer


def tokenize(sentence: str) -> list[str]:
    """sacrebleu's BLEU preprocessing of one segment: ``13a(sentence.rstrip()).split()``."""
    return _tokenizer()(sentence.rstrip()).split()


def encode(sentences: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of all sentences, flat: (tokens int32 [T], offsets int64 [S + 1]).

    Sentence s is ``tokens[offsets[s]:offsets[s + 1]]``; equal tokens get equal ids.  O(total characters).
    """
    vocab: dict[str, int] = {}
    cache: dict[str, list[int]] = {}
    ids: list[int] = []
    offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
    for s, sentence in enumerate(sentences):
        sentence_ids = cache.get(sentence)
        if sentence_ids is None:
            sentence_ids = [vocab.setdefault(tok, len(vocab)) for tok in tokenize(sentence)]
            cache[sentence] = sentence_ids
        ids.extend(sentence_ids)
        offsets[s + 1] = len(ids)
    return np.asarray(ids, dtype=np.int32), offsets


def sentence_score(hypothesis: str, reference: str) -> float:
    """The oracle: ``sacrebleu.sentence_bleu(hypothesis, [reference]).score`` (0..100)."""
    import sacrebleu

    return float(sacrebleu.sentence_bleu(hypothesis, [reference]).score)


def kernel_matrix(kernel, tokens, offsets, rows: tuple[int, int], cols: tuple[int, int], out) -> None:
    """Fill ``out`` (float64, C-contiguous) with the C kernel's BLEU of sentences ``rows`` x ``cols``."""
    kernel.bleu_matrix(tokens, offsets, rows[0], rows[1], cols[0], cols[1], out, MAX_ORDER)
