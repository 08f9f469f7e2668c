"""Sentence chrF exactly as ``sacrebleu.sentence_chrf(hyp, [ref]).score`` computes it (Popović, 2015).

sacrebleu's defaults: character n-grams of orders 1..6 over the sentence with all whitespace removed
(``''.join(sentence.split())``, no word n-grams, i.e. chrF not chrF++), beta = 2, and the effective-order
average: precision and recall are averaged over the orders where both sentences have n-grams, then
F_beta = (1 + beta^2) P R / (beta^2 P + R), times 100.  A hypothesis n-gram order counts 0 hypothesis
n-grams when the reference has none of that order (sacrebleu's rule).

For the C kernel, the tokens are the Unicode code points of the whitespace-free sentence (Python strings
are sequences of code points, as in sacrebleu); no vocabulary is needed.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["BETA", "CHAR_ORDER", "encode", "kernel_matrix", "sentence_score"]

CHAR_ORDER = 6
BETA = 2


def encode(sentences: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Code points of all whitespace-free sentences, flat: (tokens int32 [T], offsets int64 [S + 1])."""
    stripped = ["".join(sentence.split()) for sentence in sentences]
    offsets = np.zeros(len(stripped) + 1, dtype=np.int64)
    np.cumsum(np.array([len(s) for s in stripped], dtype=np.int64), out=offsets[1:])
    # surrogatepass: lone surrogates are code points of a Python str too
    raw = "".join(stripped).encode("utf-32-le", "surrogatepass")
    return np.frombuffer(raw, dtype="<u4").astype(np.int32), offsets


def sentence_score(hypothesis: str, reference: str) -> float:
    """The oracle: ``sacrebleu.sentence_chrf(hypothesis, [reference]).score`` (0..100)."""
    import sacrebleu

    return float(sacrebleu.sentence_chrf(hypothesis, [reference]).score)


def kernel_matrix(kernel, tokens, offsets, rows: tuple[int, int], cols: tuple[int, int], out) -> None:
    """Fill ``out`` (float64, C-contiguous) with the C kernel's chrF of sentences ``rows`` x ``cols``."""
    kernel.chrf_matrix(tokens, offsets, rows[0], rows[1], cols[0], cols[1], out, CHAR_ORDER, float(BETA))
