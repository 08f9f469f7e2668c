"""Brute-force references for the parser student (tiny n only)."""
from __future__ import annotations

import functools


@functools.lru_cache(maxsize=None)
def binary_trees(i: int, j: int) -> tuple[frozenset, ...]:
    """Every binary bracketing of words i..j-1 as a frozenset of fencepost spans (length-1 and
    whole spans included).  Catalan(n-1) trees."""
    if j - i == 1:
        return (frozenset({(i, j)}),)
    out = []
    for k in range(i + 1, j):
        for left in binary_trees(i, k):
            for right in binary_trees(k, j):
                out.append(left | right | {(i, j)})
    return tuple(out)


def tree_score(scores, tree) -> float:
    return float(sum(scores[i][j] for i, j in tree))
