"""Average K teachers' dependency trees (ED4UDP, Shayegh et al., AAAI 2025): ``acc`` or ``f1``.

* ``agg="acc"``: the projective tree with the most (weighted) teacher votes on its arcs, Eisner's DP
  over arc votes (:mod:`.eisner`); among single-root trees this is MBR with UAS.
* ``agg="f1"``: the projective tree sharing the most (weighted) subtree spans with the teachers
  (:mod:`.spans`); MBR with span F1.

Both reproduce the original implementation's outputs exactly, tie-breaking included (tested
against its golden files).  Weights are e.g. each teacher's dev UAS (the original's
``USE_DEV_WEIGHTS``).  Files -> arrays -> one kernel call for votes, one for the DP.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .io import DepBank, as_depbank, check_aligned

__all__ = ["AGGREGATIONS", "average_deps", "check_weights"]

AGGREGATIONS = ("acc", "f1")


def check_weights(weights: Optional[Sequence[float]], k: int, name: str = "weights") -> np.ndarray:
    """float64 (k,) non-negative finite weights, not all zero (all ones when ``None``)."""
    if weights is None:
        return np.ones(k)
    w = np.asarray(list(weights), dtype=np.float64)
    if w.shape != (k,):
        raise ValueError(f"{name}: got {w.size} values for {k} teachers; expected one per teacher")
    if not np.isfinite(w).all() or (w < 0).any() or not (w > 0).any():
        raise ValueError(f"{name}: expected finite non-negative values, not all zero; got {w.tolist()}")
    return w


def average_deps(
    teachers: Sequence,
    agg: str = "acc",
    weights: Optional[Sequence[float]] = None,
    beta: float = 1.0,
) -> DepBank:
    """The average of K line-aligned teachers' trees.

    Args:
        teachers: K :class:`DepBank` objects, paths, or lists of per-sentence head lists.
        agg: ``"acc"`` (arc votes, Eisner) or ``"f1"`` (span votes).
        weights: one non-negative weight per teacher (default: all 1).
        beta: F_beta of the span aggregation; every tree has n spans, so F_beta = F1 for every
            beta > 0 and the result does not depend on it (the original accepts and ignores it too).
    Returns:
        A :class:`DepBank` of projective single-root trees, one per input sentence.
    Complexity: O(sum n^3) time, O(max n^2) memory besides the inputs.
    """
    if agg not in AGGREGATIONS:
        raise ValueError(f"agg={agg!r}; expected one of {', '.join(AGGREGATIONS)}")
    if not (beta > 0 and np.isfinite(beta)):
        raise ValueError(f"beta={beta}; expected a positive number")
    banks = [as_depbank(t, source=f"teacher {i + 1}") for i, t in enumerate(teachers)]
    if not banks:
        raise ValueError("expected at least one teacher")
    w = check_weights(weights, len(banks))
    check_aligned(banks)
    first = banks[0]
    heads = np.stack([b.heads for b in banks])
    if agg == "acc":
        from .eisner import arc_votes_packed, eisner_packed

        scores, offsets = arc_votes_packed(heads, first.offsets, w)
        out = eisner_packed(scores, offsets, first.n_words)
    else:
        from .spans import f1_dp_packed, span_votes_packed

        votes, offsets = span_votes_packed(heads, first.offsets, w)
        out = f1_dp_packed(votes, offsets, first.n_words)
    return DepBank(f"average({agg})", first.n_words.copy(), first.offsets.copy(), out)
