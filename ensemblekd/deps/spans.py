"""Dependency trees as spans, and the ``agg="f1"`` average: the projective tree sharing most spans.

A word's span is the yield of its subtree, ``[min, max + 1)`` (0-based, end-exclusive here; the
original ED4UDP writes the same spans 1-based): a leaf gives its own word, the root word the whole
sentence.  Every tree has exactly n spans (one per word), so span F1 between two trees is
``|spans(T) & spans(T')| / n`` -- and so is F_beta for every beta (precision = recall).

Average (Shayegh et al., AAAI 2025, ``library/f1_agg.py``): ``votes[s, e]`` = the weighted number of
teacher words whose span is ``[s, e)``; find the projective tree ``T`` maximising
``sum(votes[span] for span in spans(T))`` = ``n * sum_k w_k F1(T, T_k)``.  DP over ranges
``[b, e)`` by increasing length ``l = e - b``, then increasing ``b`` (``S(empty) = 0``)::

    inclusive = max_{j=1..l}   (S[b, b+j-1] + S[b+j, e]) + votes[b, e]     word b+j-1 heads the range
    exclusive = max_{j=1..l-1}  S[b, b+j]   + S[b+j, e]                    two sibling parts, no span
    S[b, e]   = inclusive if inclusive >= exclusive else exclusive         (l = 1: inclusive)

**Ties** (as the original's Python ``max`` and ``>=``): the first ``j`` in each maximum (the leftmost
head or split), and inclusive over exclusive.  The top range is always inclusive for single-root
teachers, so the result has one ROOT child.  Heads are read back directly: a range's head attaches
to the head of the nearest enclosing inclusive range (0 at the top) -- the same tree the original
gets by sorting the chosen spans and searching for each one's parent (``span2attachment``).
Time O(n^3) (the DP; 2n+1 candidates per range), memory O(n^2).
"""
from __future__ import annotations

import numpy as np

from .._jit import Kernel

__all__ = ["subtree_spans", "span_votes_packed", "f1_dp_packed"]


def _subtree_spans_kernel(heads, offsets):
    """Each word's subtree yield ``[lo, hi)`` (0-based within its sentence): two int64 (W,) arrays.

    O(sum of depths): every word walks up to ROOT widening its ancestors' ranges.
    """
    total = heads.shape[0]
    lo = np.empty(total, np.int64)
    hi = np.empty(total, np.int64)
    n_sent = offsets.shape[0] - 1
    for b in range(n_sent):
        o = offsets[b]
        n = offsets[b + 1] - o
        for d in range(n):
            lo[o + d] = d
            hi[o + d] = d + 1
        for d in range(n):
            a = heads[o + d]
            steps = 0
            while a != 0 and steps < n:  # steps: safety on unchecked (cyclic) input
                if d < lo[o + a - 1]:
                    lo[o + a - 1] = d
                if d + 1 > hi[o + a - 1]:
                    hi[o + a - 1] = d + 1
                a = heads[o + a - 1]
                steps += 1
    return lo, hi


subtree_spans_kernel = Kernel(_subtree_spans_kernel)


def _span_votes_kernel(lo, hi, offsets, weights):
    """Packed (n, n+1) span-vote matrices of K aligned teachers from their words' yields ``lo``, ``hi``
    (int64 (K, W), see :func:`_subtree_spans_kernel`): ``votes[s, e] = sum_k w_k #{words of teacher k with
    span [s, e)}``, summed in teacher order.  Returns ``(votes, vote_offsets)``."""
    n_teachers = lo.shape[0]
    n_sent = offsets.shape[0] - 1
    vote_offsets = np.zeros(n_sent, np.int64)
    size = 0
    for b in range(n_sent):
        n = offsets[b + 1] - offsets[b]
        vote_offsets[b] = size
        size += n * (n + 1)
    votes = np.zeros(size)
    for k in range(n_teachers):
        for b in range(n_sent):
            o = offsets[b]
            n = offsets[b + 1] - o
            base = vote_offsets[b]
            for d in range(n):
                votes[base + lo[k, o + d] * (n + 1) + hi[k, o + d]] += weights[k]
    return votes, vote_offsets


span_votes_kernel = Kernel(_span_votes_kernel)


def _f1_dp_kernel(votes, vote_offsets, n_words):
    """Batched span-agreement DP (module docstring).  Sentence b: ``n = n_words[b]`` words, (n, n+1)
    votes row-major at ``vote_offsets[b]`` (only ``e > s`` read; values <= 0 count as 0).
    Returns int64 heads (sum(n_words),), sentence after sentence."""
    n_sent = n_words.shape[0]
    total = 0
    max_n = 1
    for b in range(n_sent):
        total += n_words[b]
        if n_words[b] > max_n:
            max_n = n_words[b]
    heads = np.zeros(total, np.int64)
    m = max_n + 1
    best = np.zeros((m, m))  # best[b, e] = S of range [b, e); best[b, b] = 0
    best_t = np.zeros((m, m))  # best_t[e, b] = best[b, e]: contiguous inner loops
    arg = np.zeros((m, m), np.int64)  # j of the chosen candidate
    incl = np.zeros((m, m), np.bool_)
    stack = np.empty((2 * m, 3), np.int64)  # (b, e, parent head)
    out = 0
    for s in range(n_sent):
        n = n_words[s]
        base = vote_offsets[s]
        w = n + 1
        for b in range(w):
            best[b, b] = 0.0
            best_t[b, b] = 0.0
        for length in range(1, w):
            for b in range(0, w - length):
                e = b + length
                v = votes[base + b * w + e]
                if v < 0.0:
                    v = 0.0
                if length == 1:
                    best[b, e] = v
                    best_t[e, b] = v
                    arg[b, e] = 1
                    incl[b, e] = True
                    continue
                top_i = -np.inf
                arg_i = 1
                for j in range(1, length + 1):
                    c = (best[b, b + j - 1] + best_t[e, b + j]) + v
                    if c > top_i:
                        top_i = c
                        arg_i = j
                top_x = -np.inf
                arg_x = 1
                for j in range(1, length):
                    c = best[b, b + j] + best_t[e, b + j]
                    if c > top_x:
                        top_x = c
                        arg_x = j
                if top_i >= top_x:
                    best[b, e] = top_i
                    best_t[e, b] = top_i
                    arg[b, e] = arg_i
                    incl[b, e] = True
                else:
                    best[b, e] = top_x
                    best_t[e, b] = top_x
                    arg[b, e] = arg_x
                    incl[b, e] = False
        depth = 1
        stack[0, 0] = 0
        stack[0, 1] = n
        stack[0, 2] = 0
        while depth > 0:
            depth -= 1
            b = stack[depth, 0]
            e = stack[depth, 1]
            parent = stack[depth, 2]
            if e <= b:
                continue
            j = arg[b, e]
            if incl[b, e]:
                h = b + j  # 1-based position of the head word b+j-1
                heads[out + h - 1] = parent
                stack[depth, 0] = b
                stack[depth, 1] = h - 1
                stack[depth, 2] = h
                stack[depth + 1, 0] = h
                stack[depth + 1, 1] = e
                stack[depth + 1, 2] = h
            else:
                stack[depth, 0] = b
                stack[depth, 1] = b + j
                stack[depth, 2] = parent
                stack[depth + 1, 0] = b + j
                stack[depth + 1, 1] = e
                stack[depth + 1, 2] = parent
            depth += 2
        out += n
    return heads


f1_dp_kernel = Kernel(_f1_dp_kernel)


def subtree_spans(heads: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each word's subtree yield ``[lo, hi)`` (0-based within its sentence) for packed, checked trees."""
    return subtree_spans_kernel(np.ascontiguousarray(heads, np.int64), np.ascontiguousarray(offsets, np.int64))


def span_votes_packed(heads: np.ndarray, offsets: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Span votes of K aligned teachers (int64 (K, W) heads, shared offsets, (K,) weights) for :func:`f1_dp_packed`."""
    heads = np.ascontiguousarray(heads, np.int64)
    offsets = np.ascontiguousarray(offsets, np.int64)
    yields = [subtree_spans(h, offsets) for h in heads]
    lo = np.ascontiguousarray([y[0] for y in yields], np.int64).reshape(heads.shape)
    hi = np.ascontiguousarray([y[1] for y in yields], np.int64).reshape(heads.shape)
    return span_votes_kernel(lo, hi, offsets, np.ascontiguousarray(weights, np.float64))


def f1_dp_packed(votes: np.ndarray, vote_offsets: np.ndarray, n_words: np.ndarray) -> np.ndarray:
    """The span-agreement DP on packed (n, n+1) vote matrices; returns the heads (see :func:`_f1_dp_kernel`)."""
    votes = np.ascontiguousarray(votes, np.float64).reshape(-1)
    vote_offsets = np.ascontiguousarray(vote_offsets, np.int64).reshape(-1)
    n_words = np.ascontiguousarray(n_words, np.int64).reshape(-1)
    if vote_offsets.shape != n_words.shape or (n_words < 1).any():
        raise ValueError("vote_offsets and n_words: expected equal shapes and lengths >= 1")
    if n_words.size and (vote_offsets + n_words * (n_words + 1) > votes.size).any():
        raise ValueError(f"vote_offsets/n_words point outside votes (size {votes.size})")
    if not np.isfinite(votes).all():
        raise ValueError("votes: expected finite values")
    return f1_dp_kernel(votes, vote_offsets, n_words)
