"""The CYK dynamic program: the binary tree with the largest total span score.

Given a score for every span of an ``n``-word sentence, find the binary tree ``T`` maximizing
``sum(scores[i, j] for [i, j) in T)``.  With ``scores[i, j]`` = the (weighted) number of teachers
containing span ``[i, j)`` this is the generative tree average of Shayegh et al., "Ensemble
Distillation for Unsupervised Constituency Parsing" (ICLR 2024); with a neural model's span
scores it is the decoder of a span-based parser.  One DP serves both.

Recurrence (end-exclusive spans)::

    best[i, i+1] = scores[i, i+1]
    best[i, j]   = scores[i, j] + max_{i<k<j} best[i, k] + best[k, j]

Ties take the FIRST maximum over ``k`` (the smallest left part), as the original implementation
does; on teacher votes, ties are common and the rule moves F1 by 1-2 points.
Time O(n^3), memory O(n^2) per sentence.  The kernel (:func:`_cyk_kernel`) works on a batch of
sentences packed into one flat array, so many sentences cost one kernel call.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .._jit import Kernel

__all__ = ["cyk_best_tree", "cyk_best_trees", "cyk_packed"]


def _cyk_kernel(scores, score_offsets, n_words):
    """Batched CYK.  Sentence b has ``n = n_words[b]`` words and its (n, n+1) score matrix stored
    row-major at ``scores[score_offsets[b] : score_offsets[b] + n*(n+1)]``.

    Returns ``(spans, span_offsets)``: sentence b's tree is ``spans[span_offsets[b]:span_offsets[b+1]]``,
    int64 rows ``[start, end)`` of its ``n-1`` internal nodes (root first, preorder; none for n <= 1).
    """
    n_sent = n_words.shape[0]
    span_offsets = np.zeros(n_sent + 1, np.int64)
    max_n = 1
    for b in range(n_sent):
        n = n_words[b]
        span_offsets[b + 1] = span_offsets[b] + (n - 1 if n > 1 else 0)
        if n > max_n:
            max_n = n
    spans = np.empty((span_offsets[n_sent], 2), np.int64)
    best = np.zeros((max_n + 1, max_n + 1))  # best[i, j]
    best_t = np.zeros((max_n + 1, max_n + 1))  # best_t[j, i] = best[i, j]: contiguous inner loop
    split = np.zeros((max_n + 1, max_n + 1), np.int64)
    stack = np.empty((max_n + 1, 2), np.int64)
    for b in range(n_sent):
        n = n_words[b]
        if n < 2:
            continue
        base = score_offsets[b]
        width = n + 1
        for i in range(n):
            v = scores[base + i * width + i + 1]
            best[i, i + 1] = v
            best_t[i + 1, i] = v
        for length in range(2, n + 1):
            for i in range(n - length + 1):
                j = i + length
                arg = i + 1
                top = best[i, i + 1] + best_t[j, i + 1]
                for k in range(i + 2, j):
                    v = best[i, k] + best_t[j, k]
                    if v > top:  # strict: the first maximum wins
                        top = v
                        arg = k
                v = scores[base + i * width + j] + top
                best[i, j] = v
                best_t[j, i] = v
                split[i, j] = arg
        o = span_offsets[b]
        stack[0, 0] = 0
        stack[0, 1] = n
        depth = 1
        while depth > 0:
            depth -= 1
            i = stack[depth, 0]
            j = stack[depth, 1]
            spans[o, 0] = i
            spans[o, 1] = j
            o += 1
            k = split[i, j]
            if j - k >= 2:  # push the right part first so that the left part comes out first
                stack[depth, 0] = k
                stack[depth, 1] = j
                depth += 1
            if k - i >= 2:
                stack[depth, 0] = i
                stack[depth, 1] = k
                depth += 1
    return spans, span_offsets


cyk_kernel = Kernel(_cyk_kernel)


def cyk_packed(scores: np.ndarray, score_offsets: np.ndarray, n_words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched entry point on packed arrays (see :func:`_cyk_kernel`); validates, then one kernel call.

    Args:
        scores: float64 (sum of n*(n+1),) finite; sentence b's (n, n+1) matrix, row-major.
        score_offsets: int64 (B,), start of each sentence's matrix in ``scores``.
        n_words: int64 (B,), sentence lengths (>= 0).
    Returns:
        ``(spans, span_offsets)``: int64 (sum(max(n-1, 0)), 2) and int64 (B+1,).
    """
    scores = np.ascontiguousarray(scores, dtype=np.float64).reshape(-1)
    score_offsets = np.ascontiguousarray(score_offsets, dtype=np.int64).reshape(-1)
    n_words = np.ascontiguousarray(n_words, dtype=np.int64).reshape(-1)
    if score_offsets.shape != n_words.shape:
        raise ValueError(f"score_offsets has shape {score_offsets.shape}, n_words {n_words.shape}; expected equal")
    if (n_words < 0).any():
        raise ValueError("n_words: expected lengths >= 0")
    ends = score_offsets + n_words * (n_words + 1)
    if n_words.size and ((score_offsets < 0).any() or (ends > scores.size).any()):
        raise ValueError(f"score_offsets/n_words point outside scores (size {scores.size})")
    if not np.isfinite(scores).all():
        raise ValueError("scores: expected finite values (no NaN or inf)")
    return cyk_kernel(scores, score_offsets, n_words)


def cyk_best_tree(scores: np.ndarray) -> np.ndarray:
    """The binary tree maximizing the sum of its span scores.

    Args:
        scores: float64 (n, n+1); ``scores[i, j]`` is the score of span ``[i, j)`` (words i..j-1).
            Only ``j > i`` is read.  Length-1 spans and ``[0, n)`` are in every tree, so their
            scores shift the total but never change the argmax.
    Returns:
        int64 (n-1, 2): the tree's internal nodes as ``[start, end)`` rows, root ``[0, n)`` first,
        preorder (start ascending, end descending); shape (0, 2) for n = 1.
    Ties: the first maximum over the split point (smallest left part).  O(n^3) time, O(n^2) memory.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != scores.shape[0] + 1 or scores.shape[0] < 1:
        raise ValueError(f"scores has shape {scores.shape}; expected (n, n+1) with n >= 1")
    n = scores.shape[0]
    spans, _ = cyk_packed(scores.reshape(-1), np.zeros(1, np.int64), np.array([n], np.int64))
    return spans


def cyk_best_trees(scores: Sequence[np.ndarray]) -> list[np.ndarray]:
    """:func:`cyk_best_tree` for many sentences in one kernel call (matrices of any sizes)."""
    mats = [np.asarray(s, dtype=np.float64) for s in scores]
    for b, m in enumerate(mats):
        if m.ndim != 2 or m.shape[1] != m.shape[0] + 1 or m.shape[0] < 1:
            raise ValueError(f"scores[{b}] has shape {m.shape}; expected (n, n+1) with n >= 1")
    if not mats:
        return []
    n_words = np.array([m.shape[0] for m in mats], dtype=np.int64)
    sizes = n_words * (n_words + 1)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    spans, span_offsets = cyk_packed(np.concatenate([m.reshape(-1) for m in mats]), offsets, n_words)
    return [spans[span_offsets[b] : span_offsets[b + 1]] for b in range(len(mats))]
