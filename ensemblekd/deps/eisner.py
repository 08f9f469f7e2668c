"""Eisner's first-order projective DP, and the arc-vote scores it decodes for tree averaging.

Given a score for every arc ``h -> d`` of an ``n``-word sentence (``scores[h, d]``, an (n+1, n+1)
matrix, row 0 = ROOT), find the projective tree maximising the sum of its arc scores (Eisner, 1996).
With ``scores[h, d]`` = the weighted number of teachers attaching ``d`` to ``h`` this is the
``agg="acc"`` average of Shayegh et al., "Error Diversity Matters: An Error-Resistant Ensemble
Method for Unsupervised Dependency Parsing" (AAAI 2025); with a neural model's arc scores it is the
decoder of a graph-based parser.  One DP serves both (:func:`arc_votes` builds the first kind).

Items over word ranges ``0 <= i < j <= n``, by increasing width ``j - i``, then increasing ``i``,
each span's four items in this order (``C(i, i) = 0``, everything else starts at ``-inf``)::

    I_L(i, j) = max_{i <= k < j}    (S[j, i] + C_R(i, k)) + C_L(k+1, j)     arc j -> i
    I_R(i, j) = max_{i <= k < j}    (S[i, j] + C_R(i, k)) + C_L(k+1, j)     arc i -> j
    C_L(i, j) = max_{i <= k < j}    C_L(i, k) + I_L(k, j)
    C_R(i, j) = max_{i < k <= j}    I_R(i, k) + C_R(k, j)

and the tree is read back from ``C_R(0, n)``.  **Ties**: split points are scanned in increasing
``k`` and a candidate replaces the incumbent only when strictly greater, so the smallest ``k``
wins in every item.  This is exactly the rule (and the float evaluation order) of the original
``library/eisner.py``; unweighted teacher votes tie in most sentences, so it decides the output.
Time O(n^3), memory O(n^2) per sentence; the kernel takes a batch of sentences packed flat.
"""
from __future__ import annotations

import numpy as np

from .._jit import Kernel

__all__ = ["eisner_packed", "eisner_best_tree", "arc_votes_packed", "arc_votes", "ROOT_PENALTY"]

ROOT_PENALTY = 200.0
"""Subtracted from every ROOT arc's vote by the original, so that the average has one ROOT child
whenever the total weight is below it (see :func:`arc_votes_packed`)."""


def _eisner_kernel(scores, score_offsets, n_words):
    """Batched Eisner.  Sentence b has ``n = n_words[b]`` words and its (n+1, n+1) arc-score matrix
    row-major at ``scores[score_offsets[b] : score_offsets[b] + (n+1)**2]`` (``[h, d]``, 0 = ROOT).

    Returns int64 heads, sentence b's at ``[sum(n_words[:b]), ...)``: the head of each word 1..n.
    """
    n_sent = n_words.shape[0]
    total = 0
    max_n = 1
    for b in range(n_sent):
        total += n_words[b]
        if n_words[b] > max_n:
            max_n = n_words[b]
    heads = np.zeros(total, np.int64)
    m = max_n + 1
    neg = -np.inf
    il = np.empty((m, m))
    ir = np.empty((m, m))
    cl = np.empty((m, m))
    cr = np.empty((m, m))
    bil = np.zeros((m, m), np.int64)
    bir = np.zeros((m, m), np.int64)
    bcl = np.zeros((m, m), np.int64)
    bcr = np.zeros((m, m), np.int64)
    # transposed copies (x_t[j, i] = x[i, j]) keep every inner loop on contiguous memory
    cl_t = np.empty((m, m))
    il_t = np.empty((m, m))
    cr_t = np.empty((m, m))
    stack = np.empty((4 * m, 3), np.int64)  # (kind, i, j); kinds 0 IL, 1 IR, 2 CL, 3 CR
    out = 0
    for b in range(n_sent):
        n = n_words[b]
        base = score_offsets[b]
        w = n + 1
        if n == 1:  # the original returns [0] without running the DP
            heads[out] = 0
            out += 1
            continue
        for i in range(w):
            cl[i, i] = 0.0
            cr[i, i] = 0.0
            cl_t[i, i] = 0.0
            cr_t[i, i] = 0.0
        for size in range(1, w):
            for i in range(0, w - size):
                j = i + size
                # I_L(i, j) and I_R(i, j) share the split (C_R(i, k), C_L(k+1, j))
                e_l = scores[base + j * w + i]
                e_r = scores[base + i * w + j]
                best_l = neg
                best_r = neg
                arg_l = i
                arg_r = i
                for k in range(i, j):
                    v = (e_l + cr[i, k]) + cl_t[j, k + 1]
                    if v > best_l:
                        best_l = v
                        arg_l = k
                    v = (e_r + cr[i, k]) + cl_t[j, k + 1]
                    if v > best_r:
                        best_r = v
                        arg_r = k
                il[i, j] = best_l
                il_t[j, i] = best_l
                bil[i, j] = arg_l
                ir[i, j] = best_r
                bir[i, j] = arg_r
                best = neg
                arg = i
                for k in range(i, j):
                    v = cl[i, k] + il_t[j, k]
                    if v > best:
                        best = v
                        arg = k
                cl[i, j] = best
                cl_t[j, i] = best
                bcl[i, j] = arg
                best = neg
                arg = i + 1
                for k in range(i + 1, j + 1):
                    v = ir[i, k] + cr_t[j, k]
                    if v > best:
                        best = v
                        arg = k
                cr[i, j] = best
                cr_t[j, i] = best
                bcr[i, j] = arg
        # read the tree back from C_R(0, n)
        depth = 1
        stack[0, 0] = 3
        stack[0, 1] = 0
        stack[0, 2] = n
        while depth > 0:
            depth -= 1
            kind = stack[depth, 0]
            i = stack[depth, 1]
            j = stack[depth, 2]
            if i == j:
                continue
            if kind == 0 or kind == 1:
                if kind == 0:
                    heads[out + i - 1] = j  # arc j -> i
                    k = bil[i, j]
                else:
                    heads[out + j - 1] = i  # arc i -> j
                    k = bir[i, j]
                stack[depth, 0] = 3
                stack[depth, 1] = i
                stack[depth, 2] = k
                stack[depth + 1, 0] = 2
                stack[depth + 1, 1] = k + 1
                stack[depth + 1, 2] = j
                depth += 2
            elif kind == 2:
                k = bcl[i, j]
                stack[depth, 0] = 2
                stack[depth, 1] = i
                stack[depth, 2] = k
                stack[depth + 1, 0] = 0
                stack[depth + 1, 1] = k
                stack[depth + 1, 2] = j
                depth += 2
            else:
                k = bcr[i, j]
                stack[depth, 0] = 1
                stack[depth, 1] = i
                stack[depth, 2] = k
                stack[depth + 1, 0] = 3
                stack[depth + 1, 1] = k
                stack[depth + 1, 2] = j
                depth += 2
        out += n
    return heads


eisner_kernel = Kernel(_eisner_kernel)


def _arc_votes_kernel(heads, offsets, weights, root_penalty):
    """Packed arc-vote matrices of K aligned teachers (the original ``eisner.average``'s matrix).

    ``heads``: int64 (K, W); ``offsets``: int64 (B+1,); ``weights``: float64 (K,).  Sentence b's
    (n+1, n+1) matrix: ``S[h, d] = sum_k w_k [head_k(d) = h]`` summed in teacher order from 0.0,
    then ``S[0, :] -= root_penalty`` and ``S[:, 0] = -inf``.  Returns ``(scores, score_offsets)``.
    """
    n_teachers = heads.shape[0]
    n_sent = offsets.shape[0] - 1
    score_offsets = np.zeros(n_sent, np.int64)
    size = 0
    for b in range(n_sent):
        n = offsets[b + 1] - offsets[b]
        score_offsets[b] = size
        size += (n + 1) * (n + 1)
    scores = np.zeros(size)
    for b in range(n_sent):
        o = offsets[b]
        n = offsets[b + 1] - o
        w = n + 1
        base = score_offsets[b]
        for d in range(n):
            for k in range(n_teachers):
                h = heads[k, o + d]
                scores[base + h * w + d + 1] += weights[k]
        for d in range(w):
            scores[base + d] -= root_penalty
        for h in range(w):
            scores[base + h * w] = -np.inf
    return scores, score_offsets


arc_votes_kernel = Kernel(_arc_votes_kernel)


def eisner_packed(scores: np.ndarray, score_offsets: np.ndarray, n_words: np.ndarray) -> np.ndarray:
    """Batched entry point on packed arrays (see :func:`_eisner_kernel`); validates, then one kernel call.

    Args:
        scores: float64 (sum of (n+1)**2,); ``-inf`` marks a forbidden arc, NaN and ``+inf`` are refused.
        score_offsets: int64 (B,); n_words: int64 (B,) sentence lengths (>= 1).
    Returns:
        int64 (sum(n_words),): the heads, sentence after sentence.
    """
    scores = np.ascontiguousarray(scores, dtype=np.float64).reshape(-1)
    score_offsets = np.ascontiguousarray(score_offsets, dtype=np.int64).reshape(-1)
    n_words = np.ascontiguousarray(n_words, dtype=np.int64).reshape(-1)
    if score_offsets.shape != n_words.shape:
        raise ValueError(f"score_offsets has shape {score_offsets.shape}, n_words {n_words.shape}; expected equal")
    if (n_words < 1).any():
        raise ValueError("n_words: expected lengths >= 1")
    ends = score_offsets + (n_words + 1) ** 2
    if n_words.size and ((score_offsets < 0).any() or (ends > scores.size).any()):
        raise ValueError(f"score_offsets/n_words point outside scores (size {scores.size})")
    if np.isnan(scores).any() or np.isposinf(scores).any():
        raise ValueError("scores: expected finite values or -inf (no NaN, no +inf)")
    return eisner_kernel(scores, score_offsets, n_words)


def eisner_best_tree(scores: np.ndarray) -> np.ndarray:
    """The projective tree maximising the sum of its arc scores.

    Args:
        scores: float64 (n+1, n+1); ``scores[h, d]`` scores the arc ``h -> d`` (row 0 = ROOT; column 0
            is never read as a dependent).  ROOT may get several children; to allow one only, lower
            row 0 by more than any tree can gain (as :func:`arc_votes` does).
    Returns:
        int64 (n,): the head of each word 1..n (0 = ROOT).
    Ties: the smallest split point in every item (see the module docstring).  O(n^3) time, O(n^2) memory.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1] or scores.shape[0] < 2:
        raise ValueError(f"scores has shape {scores.shape}; expected (n+1, n+1) with n >= 1")
    n = scores.shape[0] - 1
    return eisner_packed(scores.reshape(-1), np.zeros(1, np.int64), np.array([n], np.int64))


def root_penalty_for(weights: np.ndarray) -> float:
    """The original's 200, raised to ``2 * sum(weights) + 1`` when the weights sum to 200 or more (where
    200 would no longer keep the average single-rooted; the original has no such case)."""
    total = float(np.sum(weights))
    return ROOT_PENALTY if total < ROOT_PENALTY else 2.0 * total + 1.0


def arc_votes_packed(heads: np.ndarray, offsets: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arc-vote matrices of K aligned teachers for :func:`eisner_packed`: ``(scores, score_offsets)``.

    Args:
        heads: int64 (K, W), every teacher's heads packed with the same ``offsets`` (B+1,).
        weights: float64 (K,) non-negative.
    """
    heads = np.ascontiguousarray(heads, dtype=np.int64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    return arc_votes_kernel(heads, offsets, weights, root_penalty_for(weights))


def arc_votes(teachers, weights=None) -> np.ndarray:
    """The (n+1, n+1) vote matrix of one sentence: ``teachers`` is K head lists of equal length n."""
    heads = np.asarray(teachers, dtype=np.int64)
    if heads.ndim != 2:
        raise ValueError("teachers: expected K head lists of one length")
    w = np.ones(heads.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    n = heads.shape[1]
    scores, _ = arc_votes_packed(heads, np.array([0, n], np.int64), w)
    return scores.reshape(n + 1, n + 1)
