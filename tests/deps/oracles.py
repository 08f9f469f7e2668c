"""Brute-force and from-the-rules references for the deps tests (written independently of the package).

* ``projective_trees(n, single_root)``: every projective tree over words 1..n (ROOT = 0 on the left).
* ``ref_acc`` / ``ref_f1``: the averaging rules as ED4UDP's README states them, written as plain
  memoised recursions over explicit candidate lists (``max`` = first maximum), not as the kernels' loops.
* ``ref_spans`` / ``ref_uas`` / ``ref_corpus_f1``: the original's evaluation formulas.
"""
from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np


def projective_trees(n: int, single_root: bool = True) -> list[tuple[int, ...]]:
    """All projective trees as head tuples (heads[d-1] = head of word d)."""

    @lru_cache(maxsize=None)
    def tree(lo, hi):  # subtrees covering words lo..hi exactly: list of (assignment tuple of (d, h)), root)
        out = []
        for h in range(lo, hi + 1):
            for left, lroots in blocks(lo, h - 1):
                for right, rroots in blocks(h + 1, hi):
                    arcs = left + right + tuple((c, h) for c in lroots + rroots)
                    out.append((arcs, h))
        return out

    @lru_cache(maxsize=None)
    def blocks(lo, hi):  # sequences of adjacent subtrees covering lo..hi
        if lo > hi:
            return [((), ())]
        out = []
        for m in range(lo, hi + 1):
            for arcs, root in tree(lo, m):
                for rest, roots in blocks(m + 1, hi):
                    out.append((arcs + rest, (root,) + roots))
        return out

    result = []
    parts = [(arcs, (root,)) for arcs, root in tree(1, n)] if single_root else blocks(1, n)
    for arcs, roots in parts:
        heads = [0] * n
        for d, h in arcs:
            heads[d - 1] = h
        result.append(tuple(heads))
    return sorted(set(result))


def is_projective(heads) -> bool:
    n = len(heads)
    for d in range(1, n + 1):
        h = heads[d - 1]
        lo, hi = min(h, d), max(h, d)
        for k in range(lo + 1, hi):  # every word strictly inside the arc descends from h
            a = k
            while a != 0 and a != h:
                a = heads[a - 1]
            if a != h:
                return False
    return True


def ref_spans(heads) -> list[tuple[int, int]]:
    """Per word, 0-based [min, max+1) of its subtree (the original's attachment2span, 0-based)."""
    n = len(heads)
    spans = []
    for w in range(1, n + 1):
        members = [d for d in range(1, n + 1) if _descends(heads, d, w)]
        spans.append((min(members) - 1, max(members)))
    return spans


def _descends(heads, d, w) -> bool:
    a = d
    for _ in range(len(heads) + 1):
        if a == w:
            return True
        if a == 0:
            return False
        a = heads[a - 1]
    return False


def arc_score(heads, votes) -> float:
    return sum(votes[h, d] for d, h in enumerate(heads, 1))


def span_score(heads, votes) -> float:
    return sum(votes[s, e] for s, e in ref_spans(heads))


def ref_acc(teachers, weights=None) -> list[int]:
    """The original's acc rule, from the README: vote matrix, -200 on ROOT arcs, Eisner, smallest k."""
    k_n = len(teachers)
    w = [1.0] * k_n if weights is None else list(weights)
    n = len(teachers[0])
    S = np.zeros((n + 1, n + 1))
    for d in range(n):
        for k in range(k_n):
            S[teachers[k][d], d + 1] += w[k]
    S[0, :] -= 200
    S[:, 0] = -np.inf
    if n == 1:
        return [0]
    NEG = -np.inf

    @lru_cache(maxsize=None)
    def item(kind, i, j):  # -> (score, children) ; kinds "IL", "IR", "CL", "CR"
        if i == j:
            return (0.0, ()) if kind in ("CL", "CR") else (NEG, ())
        cands = []
        if kind in ("IL", "IR"):
            edge = S[j, i] if kind == "IL" else S[i, j]
            for k in range(i, j):
                cands.append(((edge + item("CR", i, k)[0]) + item("CL", k + 1, j)[0], (("CR", i, k), ("CL", k + 1, j))))
        elif kind == "CL":
            for k in range(i, j):
                cands.append((item("CL", i, k)[0] + item("IL", k, j)[0], (("CL", i, k), ("IL", k, j))))
        else:
            for k in range(i + 1, j + 1):
                cands.append((item("IR", i, k)[0] + item("CR", k, j)[0], (("IR", i, k), ("CR", k, j))))
        best = (NEG, ())
        for c in cands:  # strictly greater replaces: the first maximum wins
            if c[0] > best[0]:
                best = c
        return best

    heads = [None] * n
    todo = [("CR", 0, n)]
    while todo:
        kind, i, j = todo.pop()
        if kind == "IL":
            heads[i - 1] = j
        elif kind == "IR":
            heads[j - 1] = i
        todo.extend(item(kind, i, j)[1])
    return heads


def ref_f1(teachers, weights=None) -> list[int]:
    """The original's f1 rule, from the README: span votes, inclusive/exclusive DP, first j, inclusive on ties."""
    k_n = len(teachers)
    w = [1] * k_n if weights is None else list(weights)
    n = len(teachers[0])
    votes = {}
    for t, wk in zip(teachers, w):
        for s in ref_spans(t):
            votes[s] = votes.get(s, 0) + wk

    @lru_cache(maxsize=None)
    def solve(b, e):  # -> (score, list of (head position 1-based, parent marker)) as a nested structure
        if e == b:
            return 0, ()
        v = max(votes.get((b, e), 0), 0)
        length = e - b
        incl = [((solve(b, b + j - 1)[0] + solve(b + j, e)[0]) + v, ("incl", j)) for j in range(1, length + 1)]
        excl = [(solve(b, b + j)[0] + solve(b + j, e)[0], ("excl", j)) for j in range(1, length)]
        bi = max(incl, key=lambda x: x[0])
        if not excl:
            return bi
        bx = max(excl, key=lambda x: x[0])
        return bi if bi[0] >= bx[0] else bx

    heads = [None] * n

    def build(b, e, parent):
        if e <= b:
            return
        kind, j = solve(b, e)[1]
        if kind == "incl":
            h = b + j
            heads[h - 1] = parent
            build(b, h - 1, h)
            build(h, e, h)
        else:
            build(b, b + j, parent)
            build(b + j, e, parent)

    build(0, n, 0)
    return heads


def ref_uas(gold, pred) -> float:
    true = sum(int(np.sum(np.array(p) == np.array(g))) for g, p in zip(gold, pred))
    return true / sum(len(p) for p in pred)


def ref_corpus_f1(gold, pred) -> float:
    inter = tot_p = tot_g = 0
    for g, p in zip(gold, pred):
        gs, ps = ref_spans(g), ref_spans(p)
        inter += len(set(ps) & set(gs))
        tot_p += len(ps)
        tot_g += len(gs)
    return 2 * inter / (tot_p + tot_g)


def random_tree(rng, n, projective=True) -> list[int]:
    """A random tree (uniform over projective ones when ``projective``, else a random attachment order)."""
    if projective:
        trees = projective_trees(n)
        return list(trees[rng.integers(len(trees))])
    order = list(rng.permutation(np.arange(1, n + 1)))
    heads = [0] * n
    placed = [0]
    for i, d in enumerate(order):
        heads[d - 1] = 0 if i == 0 else int(rng.choice(placed[1:]))
        placed.append(d)
    return heads


def all_head_sequences(n):
    """Every sequence of heads (for the tree check's brute force): product of 0..n per word."""
    return itertools.product(range(n + 1), repeat=n)
