"""Minimum Bayes risk selection among the components' translations (sequence-level voting).

Each component (direct translation, pivot through language l, ...) contributes its beam-search 1-best or
n-best list.  With the candidates C = (y_0, ..., y_{N-1}) in component order, MBR returns

    y* = argmax_i  sum_{j != i} w_{c(j)} * U(y_i, y_j)

where U(h, r) is sentence BLEU of hypothesis h against reference r exactly as ``sacrebleu.sentence_bleu``
computes it (``metric="chrf"``: ``sacrebleu.sentence_chrf``) and w_{c(j)} the weight of the component that
produced y_j (default 1: the plain sum of the issue).  The sum runs over positions, so a translation proposed
by two components counts twice.  Ties go to the smallest i, i.e. the earlier component, then the better
rank within it; sums are exactly rounded (math.fsum), so candidates with the same utilities in another order
tie exactly.  (Kumar & Byrne, 2004; the MBR baseline of Wen et al., "EBBS", AAAI 2025.)

Cost: one N x N utility matrix, computed by the C kernel ensemblekd._ckernel (ensemblekd.metrics), plus
O(N^2) for the sums.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

__all__ = ["MBRChoice", "MBRInputError", "expected_utilities", "mbr_combine", "mbr_select"]


class MBRInputError(ValueError):
    """Bad input to an MBR function."""


@dataclass(frozen=True)
class MBRChoice:
    """The MBR winner among the components' candidates.

    text: the chosen translation.  index: its position in the flattened candidate list (component order).
    component: the component that produced it.  rank: its position in that component's n-best list.
    utility: sum_{j != index} w_{c(j)} U(text, y_j), the quantity MBR maximised.
    """

    text: str
    index: int
    component: int
    rank: int
    utility: float


def _check_candidates(candidates, name: str = "candidates") -> list[str]:
    if isinstance(candidates, (str, bytes)) or not isinstance(candidates, Sequence):
        raise MBRInputError(f"{name}: expected a sequence of str, got {type(candidates).__name__}")
    if len(candidates) == 0:
        raise MBRInputError(f"{name}: expected at least one candidate, got none")
    for i, candidate in enumerate(candidates):
        if not isinstance(candidate, str):
            raise MBRInputError(f"{name}[{i}]: expected str, got {type(candidate).__name__}")
    return list(candidates)


def _check_weights(weights, n: int, name: str) -> Optional[list[float]]:
    if weights is None:
        return None
    try:
        values = [float(w) for w in weights]
    except (TypeError, ValueError) as exc:
        raise MBRInputError(f"{name}: expected a sequence of {n} non-negative numbers ({exc})") from None
    if len(values) != n:
        raise MBRInputError(f"{name}: expected {n} weights, got {len(values)}")
    for k, w in enumerate(values):
        if not math.isfinite(w) or w < 0:
            raise MBRInputError(f"{name}[{k}]: expected a finite non-negative weight, got {weights[k]!r}")
    return values


def expected_utilities(
    candidates: Sequence[str], metric: str = "bleu", *, weights: Optional[Sequence[float]] = None
) -> np.ndarray:
    """float64 [N]: entry i is sum_{j != i} weights[j] * U(candidates[i], candidates[j]) (exactly rounded).

    weights: one non-negative number per candidate (default all 1).
    """
    from ..metrics import utility_matrix

    cands = _check_candidates(candidates)
    w = _check_weights(weights, len(cands), "weights")
    utilities = utility_matrix(cands, metric=metric)
    out = np.empty(len(cands), dtype=np.float64)
    for i, row in enumerate(utilities.tolist()):
        if w is None:
            out[i] = math.fsum(u for j, u in enumerate(row) if j != i)
        else:
            out[i] = math.fsum(w[j] * u for j, u in enumerate(row) if j != i)
    return out


def mbr_select(
    candidates: Sequence[str], metric: str = "bleu", *, weights: Optional[Sequence[float]] = None
) -> int:
    """Index of the MBR candidate: argmax_i sum_{j != i} U(candidates[i], candidates[j]); ties -> smallest i.

    Args:
        candidates: N >= 1 strings (N == 1 returns 0).
        metric: "bleu" (sacrebleu sentence BLEU) or "chrf" (sacrebleu sentence chrF).
        weights: optional non-negative weight per candidate, multiplying its vote as a pseudo-reference.
    Raises:
        MBRInputError for no candidates, a non-str candidate or bad weights; the metrics' error for an
        unknown metric.
    """
    scores = expected_utilities(candidates, metric, weights=weights)
    return int(np.argmax(scores))  # the first maximum


def mbr_combine(
    component_candidates: Sequence[Sequence[str]],
    metric: str = "bleu",
    *,
    weights: Optional[Sequence[float]] = None,
) -> MBRChoice:
    """MBR over the candidates of K components (each a 1-best or n-best list, best first).

    Args:
        component_candidates: K lists; list k holds component k's candidates, at least one each.
        metric: "bleu" or "chrf" (see mbr_select).
        weights: optional K non-negative component weights w_k (a candidate votes with its component's weight).
    Returns:
        MBRChoice(text, index, component, rank, utility); ties go to the earlier component, then rank.
    """
    if isinstance(component_candidates, (str, bytes)) or not isinstance(component_candidates, Sequence):
        raise MBRInputError(
            f"component_candidates: expected a sequence of candidate lists, got {type(component_candidates).__name__}"
        )
    if len(component_candidates) == 0:
        raise MBRInputError("component_candidates: expected at least one component, got none")
    comp_weights = _check_weights(weights, len(component_candidates), "weights")
    flat: list[str] = []
    origin: list[tuple[int, int]] = []
    for k, cands in enumerate(component_candidates):
        cands = _check_candidates(cands, f"component_candidates[{k}]")
        flat.extend(cands)
        origin.extend((k, rank) for rank in range(len(cands)))
    cand_weights = None if comp_weights is None else [comp_weights[k] for k, _ in origin]
    scores = expected_utilities(flat, metric, weights=cand_weights)
    best = int(np.argmax(scores))
    component, rank = origin[best]
    return MBRChoice(text=flat[best], index=best, component=component, rank=rank, utility=float(scores[best]))
