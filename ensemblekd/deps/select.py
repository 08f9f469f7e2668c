"""Choosing ensemble members by error diversity: society entropy and forward selection (ED4UDP).

Shayegh et al. (AAAI 2025), Sec. "model selection": a good ensemble needs members that are good
*and* wrong in different ways.  On dev only, for a candidate set S of teachers:

* society entropy ``SE(S) = mean_t H(p_t)``, ``p_t(h) = sum_{k in S} w_k [head_k(t) = h] / sum w``,
  over every dev token t (natural log, ``0 ln 0 = 0``); it does not use gold heads;
* ``score(S) = mean_{k in S} UAS_dev(k) + alpha * SE(S)`` (weighted mean when weighted).

``forward`` (the paper's method): start from the best dev-UAS teacher (the first on ties), then for k = 2..k_max add the
candidate (in input order) whose set scores highest; greedy, no back-tracking.  ``exhaustive``: the
best k-subset among all ``itertools.combinations`` (input order).  Ties take the first, as the
original (``np.argmax``).  :func:`tune_alpha` picks alpha by the dev UAS of the chosen ensemble
(the original's ``FINE_TUNE_ALPHA``: exhaustive k = 5, first maximum).

The original computes SE in float32 (torch's integer division); we compute it in float64, so a
near-tie at ~1e-7 may resolve differently.  Cost: O(|candidates| * k * N) per step, vectorised.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Optional, Sequence

import numpy as np

from .io import DepBank, as_depbank, check_aligned

__all__ = ["METHODS", "Selection", "society_entropy", "select_teachers", "tune_alpha"]

METHODS = ("forward", "exhaustive")


def _one_hot(banks: Sequence[DepBank]) -> np.ndarray:
    """float64 (K, N, D): teacher k's head of dev token t as a one-hot row (D = max head + 1)."""
    heads = np.stack([b.heads for b in banks])
    d = int(heads.max()) + 1
    out = np.zeros(heads.shape + (d,))
    np.put_along_axis(out, heads[..., None], 1.0, axis=2)
    return out


def society_entropy(one_hot: np.ndarray, subsets: np.ndarray, weights: Optional[np.ndarray] = None) -> np.ndarray:
    """SE of each subset.

    Args:
        one_hot: float64 (K, N, D), see :func:`_one_hot`.
        subsets: int (B, k) teacher indices.
        weights: float64 (K,) or None (all ones, as the original's default).
    Returns:
        float64 (B,).  Memory O(chunk * N * D): subsets are processed in chunks of ~16M values.
    """
    subsets = np.atleast_2d(np.asarray(subsets, dtype=np.int64))
    k_all, n, d = one_hot.shape
    w = np.ones(k_all) if weights is None else np.asarray(weights, dtype=np.float64)
    chunk = max(1, (1 << 24) // max(1, n * d))
    out = np.empty(subsets.shape[0])
    for start in range(0, subsets.shape[0], chunk):
        idx = subsets[start : start + chunk]
        ws = w[idx]  # (B, k)
        p = np.einsum("bk,bknd->bnd", ws, one_hot[idx]) / ws.sum(axis=1)[:, None, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
        out[start : start + chunk] = -plogp.sum(axis=2).mean(axis=1)
    return out


@dataclass
class Selection:
    """The result of :func:`select_teachers`.

    ``chosen[k]`` = the teacher indices chosen at size k, in selection order (forward) or input order
    (exhaustive); ``scores[k]`` its score; ``dev_uas`` each candidate's dev UAS.
    """

    method: str
    alpha: float
    dev_uas: list[float]
    chosen: dict[int, list[int]] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)


def _score(one_hot, uas, subsets, alpha, weights):
    subsets = np.asarray(subsets, dtype=np.int64)
    w = np.ones(len(uas)) if weights is None else weights
    ws = w[subsets]
    mean_uas = (uas[subsets] * ws).sum(axis=1) / ws.sum(axis=1)
    return mean_uas + alpha * society_entropy(one_hot, subsets, weights)


def select_teachers(
    dev_preds: Sequence,
    dev_gold,
    k_max: int = 5,
    alpha: float = 0.4,
    method: str = "forward",
    weights: Optional[Sequence[float]] = None,
    start: Optional[Sequence[int]] = None,
) -> Selection:
    """Choose ensemble members on dev (module docstring).

    Args:
        dev_preds: K candidates' dev trees (banks, paths or head lists), line-aligned with ``dev_gold``.
        k_max: the largest ensemble (forward: every size 1..k_max is recorded; exhaustive: only k_max).
        alpha: the weight of society entropy (the original's forward runs use 0.4).
        weights: per-candidate weights inside SE and the UAS mean (the original: none).
        start: forward only: the members to start from (default: the first candidate with the best
            dev UAS; the original takes ``torch.topk``'s pick, whose order among equal UAS is unspecified).
    """
    from .evaluate import evaluate_deps

    if method not in METHODS:
        raise ValueError(f"method={method!r}; expected one of {', '.join(METHODS)}")
    banks = [as_depbank(p, source=f"candidate {i + 1}") for i, p in enumerate(dev_preds)]
    gold = as_depbank(dev_gold, source="gold")
    check_aligned([gold, *banks])
    if not 1 <= k_max <= len(banks):
        raise ValueError(f"k_max={k_max}; expected 1..{len(banks)} (the number of candidates)")
    if not np.isfinite(alpha):
        raise ValueError(f"alpha={alpha}; expected a finite number")
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    if w is not None and (w.shape != (len(banks),) or (w < 0).any() or not (w > 0).any()):
        raise ValueError(f"weights: expected {len(banks)} non-negative values, not all zero")
    uas = np.array([evaluate_deps(gold, b).uas for b in banks])
    one_hot = _one_hot(banks)
    sel = Selection(method, float(alpha), uas.tolist())
    if method == "exhaustive":
        subsets = np.array(list(combinations(range(len(banks)), k_max)), dtype=np.int64)
        scores = _score(one_hot, uas, subsets, alpha, w)
        best = int(np.argmax(scores))
        sel.chosen[k_max] = subsets[best].tolist()
        sel.scores[k_max] = float(scores[best])
        return sel
    chosen = [int(np.argmax(uas))] if start is None else [int(i) for i in start]
    if not chosen or len(set(chosen)) != len(chosen) or not all(0 <= i < len(banks) for i in chosen):
        raise ValueError(f"start={start}; expected distinct candidate indices 0..{len(banks) - 1}")
    if len(chosen) > k_max:
        raise ValueError(f"start has {len(chosen)} members; expected at most k_max={k_max}")
    sel.chosen[len(chosen)] = list(chosen)
    sel.scores[len(chosen)] = float(_score(one_hot, uas, [chosen], alpha, w)[0])
    for k in range(len(chosen) + 1, k_max + 1):
        rest = [i for i in range(len(banks)) if i not in chosen]
        subsets = np.array([chosen + [i] for i in rest], dtype=np.int64)
        scores = _score(one_hot, uas, subsets, alpha, w)
        best = int(np.argmax(scores))
        chosen = chosen + [rest[best]]
        sel.chosen[k] = list(chosen)
        sel.scores[k] = float(scores[best])
    return sel


def tune_alpha(
    dev_preds: Sequence,
    dev_gold,
    k: int = 5,
    alphas: Optional[Sequence[float]] = None,
    method: str = "exhaustive",
) -> tuple[float, list[tuple[float, float]]]:
    """Pick alpha on dev: for each alpha, select k teachers and score their unweighted ``acc``
    average's dev UAS; returns ``(best alpha (first maximum), [(alpha, dev UAS), ...])``.

    Default grid ``np.arange(0, 1.01, 0.1)`` and exhaustive k = 5, as the original's fine-tuning.
    """
    from .average import average_deps
    from .evaluate import evaluate_deps

    banks = [as_depbank(p, source=f"candidate {i + 1}") for i, p in enumerate(dev_preds)]
    gold = as_depbank(dev_gold, source="gold")
    grid = np.arange(0.0, 1.01, 0.1) if alphas is None else np.asarray(alphas, dtype=np.float64)
    table = []
    for a in grid:
        sel = select_teachers(banks, gold, k_max=k, alpha=float(a), method=method)
        members = sorted(sel.chosen[k])  # the original ensembles them in pool order
        table.append((float(a), evaluate_deps(gold, average_deps([banks[i] for i in members])).uas))
    best = max(range(len(table)), key=lambda i: table[i][1])  # first maximum
    return table[best][0], table
