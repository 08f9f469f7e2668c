"""UAS and span F1 of dependency trees, exactly as ED4UDP's ``eval.py`` computes them.

* ``uas``: correct heads / words over the corpus; the root word's head (0) counts like any other.
  No punctuation handling (the data has none).
* ``corpus_f1``: ``2 sum |P & G| / (sum |P| + sum |G|)``, P and G the per-word subtree spans of
  each sentence (:mod:`.spans`), intersected as sets per sentence; |P| = |G| = n, so this is the
  fraction of gold spans recovered, trivial spans (leaves, the whole sentence) included.  In a
  non-projective tree two words can have the same yield span; the original then counts it once in
  the intersection and twice in the sizes (so such a tree scores F1 < 1 against itself); we keep that.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._jit import Kernel
from .io import as_depbank, check_aligned

__all__ = ["DepScore", "evaluate_deps"]


@dataclass(frozen=True)
class DepScore:
    """Corpus scores, fractions in [0, 1]; ``sentences`` and ``words`` scored."""

    uas: float
    f1: float
    sentences: int
    words: int

    def __str__(self) -> str:
        return (f"UAS {100 * self.uas:.2f}  F1 {100 * self.f1:.2f}  "
                f"({self.sentences} sentences, {self.words} words)")


def _span_hits_kernel(pred_lo, pred_hi, gold_lo, gold_hi, offsets):
    """Per corpus: the number of distinct predicted spans that are gold spans, summed over sentences.

    Spans are encoded ``lo * (n + 1) + hi`` and compared through a mark table, O(W) in all.
    """
    n_sent = offsets.shape[0] - 1
    max_n = 0
    for b in range(n_sent):
        if offsets[b + 1] - offsets[b] > max_n:
            max_n = offsets[b + 1] - offsets[b]
    mark = np.zeros((max_n + 1) * (max_n + 1), np.int64)  # 1: gold span, 2: counted
    hits = 0
    for b in range(n_sent):
        o = offsets[b]
        n = offsets[b + 1] - o
        for d in range(n):
            mark[gold_lo[o + d] * (n + 1) + gold_hi[o + d]] = 1
        for d in range(n):
            key = pred_lo[o + d] * (n + 1) + pred_hi[o + d]
            if mark[key] == 1:
                hits += 1
                mark[key] = 2
        for d in range(n):
            mark[gold_lo[o + d] * (n + 1) + gold_hi[o + d]] = 0
            mark[pred_lo[o + d] * (n + 1) + pred_hi[o + d]] = 0
    return hits


span_hits_kernel = Kernel(_span_hits_kernel)


def evaluate_deps(gold, pred) -> DepScore:
    """Corpus UAS and span F1 of ``pred`` against ``gold`` (banks, paths or head lists; line-aligned)."""
    from .spans import subtree_spans

    gold = as_depbank(gold, source="gold")
    pred = as_depbank(pred, source="pred")
    check_aligned([gold, pred])
    words = int(gold.n_words.sum())
    correct = int((gold.heads == pred.heads).sum())
    g_lo, g_hi = subtree_spans(gold.heads, gold.offsets)
    p_lo, p_hi = subtree_spans(pred.heads, pred.offsets)
    hits = span_hits_kernel(p_lo, p_hi, g_lo, g_hi, gold.offsets)
    return DepScore(uas=correct / words, f1=2 * hits / (2 * words), sentences=len(gold), words=words)
