"""Combiners: the one thing that differs between decoding methods.

A combiner turns the per-component next-token log-probabilities of the running beam into a ranked
list of candidate continuations; :func:`~ensemblekd.decoding.search.beam_search` then applies the
EOS / finished / length-penalty rules once for all of them.

Call signature (all combiners)::

    combiner(logprobs[B, K, Z, V], beam_scores[B, Z], *, eos_token_id, beam_size, last_step=False)
        -> Candidates(scores[B, N], parents[B, N], tokens[B, N], provenance[B, N, K] | None)

``beam_scores`` are the running (upper-beam) scores ``s_i``; dead slots are ``-inf``.  Candidates
come best first; a ``-inf`` score marks an invalid entry (a padding slot).  ``last_step`` tells the
combiner that every candidate finishes (``max_new_tokens`` reached); only EBBS uses it, for its
lower-level rule.  Combiners do not modify their inputs.

Weights ``w_k`` (default 1) are normalised to ``w_k / sum(w)``; so ``K`` identical components give
the same scores as one (the invariant EBBS/Average(K identical) == Single).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

import torch

from .search import EosSpec, no_finite_continuation, num_candidates, split_finishing

__all__ = ["Candidates", "Combiner", "Single", "Average", "Vote", "EBBS"]


class Candidates(NamedTuple):
    """Ranked candidate continuations, best first: ``scores[B, N]`` (accumulated log-scores,
    ``-inf`` = invalid entry), ``parents[B, N]`` (running-beam index), ``tokens[B, N]`` and
    optionally ``provenance[B, N, K]`` (which components support the candidate)."""

    scores: torch.Tensor
    parents: torch.Tensor
    tokens: torch.Tensor
    provenance: Optional[torch.Tensor] = None


def _validate_weights(weights: Optional[Sequence[float]], owner: str) -> Optional[tuple[float, ...]]:
    if weights is None:
        return None
    try:
        values = tuple(float(w) for w in weights)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: weights must be a sequence of numbers, got {weights!r}") from None
    if not values:
        raise ValueError(f"{owner}: weights must not be empty")
    for k, w in enumerate(values):
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"{owner}: weights[{k}] = {w!r}; weights must be finite and non-negative")
    if sum(values) <= 0:
        raise ValueError(f"{owner}: weights must not all be zero")
    return values


class Combiner:
    """Base class: weight handling shared by the combiners."""

    weights: Optional[tuple[float, ...]] = None

    def _norm_weights(self, K: int, device) -> Optional[torch.Tensor]:
        """``w / sum(w)`` as a float32 tensor ``[K]``, or None for uniform weights."""
        if self.weights is None:
            return None
        if len(self.weights) != K:
            raise ValueError(
                f"{type(self).__name__}: got {len(self.weights)} weights for {K} components; "
                "pass one weight per component")
        w = torch.tensor(self.weights, dtype=torch.float64)
        return (w / w.sum()).to(device=device, dtype=torch.float32)

    def no_continuation(self, logprobs: torch.Tensor) -> torch.Tensor:
        """``logprobs[B, K, Z, V]`` -> ``[B, Z]``: beams this rule gives no finite continuation (they end
        there).  Default: no component has one; the geometric mean overrides it."""
        return no_finite_continuation(logprobs)

    def _uniform(self, K: int, device) -> torch.Tensor:
        w = self._norm_weights(K, device)
        return torch.full((K,), 1.0 / K, device=device) if w is None else w


def _top_continuations(total: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``total[..., Z, V]`` -> top-n (scores, parents, tokens) over the flattened ``Z * V``."""
    Z, V = total.shape[-2:]
    flat = total.reshape(*total.shape[:-2], Z * V)
    scores, idx = torch.topk(flat, min(n, Z * V), dim=-1)
    return scores, torch.div(idx, V, rounding_mode="floor"), idx % V


class Single(Combiner):
    """Plain beam search of one component (``K`` must be 1): the top ``max(2, 1+n_eos) * Z`` of
    ``s_i + log p(y | prefix_i)`` -- exactly the candidates of ``transformers``' beam search."""

    def __call__(self, logprobs, beam_scores, *, eos_token_id: EosSpec, beam_size: int, last_step=False):
        if logprobs.shape[1] != 1:
            raise ValueError(f"Single: expects exactly one component, got K = {logprobs.shape[1]}")
        total = logprobs[:, 0] + beam_scores[:, :, None]
        scores, parents, tokens = _top_continuations(total, num_candidates(beam_size, eos_token_id))
        return Candidates(scores, parents, tokens, None)


@dataclass
class Average(Combiner):
    """Beam search on the ensemble distribution.

    mean="arithmetic": ``log sum_k w_k p_k(y|.)`` (weights normalised to sum 1).
    mean="geometric": ``sum_k w_k log p_k(y|.)`` renormalised over the vocabulary (a product of
    experts); components with weight 0 are left out (so their ``-inf`` cannot poison the sum).
    Cost: ``O(B K Z V)`` per step (one logsumexp over ``K``).
    """

    weights: Optional[Sequence[float]] = None
    mean: str = "arithmetic"

    def __post_init__(self):
        self.weights = _validate_weights(self.weights, "Average")
        if self.mean not in ("arithmetic", "geometric"):
            raise ValueError(f"Average: mean must be 'arithmetic' or 'geometric', got {self.mean!r}")

    def combine(self, logprobs: torch.Tensor) -> torch.Tensor:
        """``logprobs[B, K, Z, V]`` -> ensemble log-probs ``[B, Z, V]``."""
        K = logprobs.shape[1]
        w = self._norm_weights(K, logprobs.device)
        if K == 1:
            return logprobs[:, 0]
        if self.mean == "arithmetic":
            if w is None:
                return torch.logsumexp(logprobs, dim=1) - math.log(K)
            return torch.logsumexp(logprobs + torch.log(w)[None, :, None, None], dim=1)
        if w is None:
            w = torch.full((K,), 1.0 / K, device=logprobs.device)
        used = torch.nonzero(w > 0).flatten()
        if len(used) < K:
            logprobs, w = logprobs[:, used], w[used]
        mixed = torch.einsum("bkzv,k->bzv", logprobs, w)
        out = mixed - torch.logsumexp(mixed, dim=-1, keepdim=True)
        return torch.nan_to_num(out, nan=float("-inf"), neginf=float("-inf"))

    def no_continuation(self, logprobs):
        if self.mean == "arithmetic" or logprobs.shape[1] == 1:
            return super().no_continuation(logprobs)
        # a product of experts is finite only where every (weighted) component is
        w = self._uniform(logprobs.shape[1], logprobs.device)
        finite = (logprobs[:, w > 0] > float("-inf")).all(dim=1)
        return ~finite.any(dim=-1)

    def __call__(self, logprobs, beam_scores, *, eos_token_id: EosSpec, beam_size: int, last_step=False):
        total = self.combine(logprobs) + beam_scores[:, :, None]
        scores, parents, tokens = _top_continuations(total, num_candidates(beam_size, eos_token_id))
        return Candidates(scores, parents, tokens, None)


def _first_occurrence(same: torch.Tensor) -> torch.Tensor:
    """``same[B, M, M]`` (equality of entries) -> ``[B, M]`` True where no earlier entry is equal."""
    M = same.shape[-1]
    earlier = torch.ones((M, M), dtype=torch.bool, device=same.device).tril(-1)
    return ~(same & earlier).any(dim=-1)


def _lexsort_desc(primary: torch.Tensor, secondary: torch.Tensor) -> torch.Tensor:
    """Indices ordering by ``primary`` desc, then ``secondary`` desc, then position (stable)."""
    order = torch.sort(secondary, dim=-1, descending=True, stable=True).indices
    order2 = torch.sort(primary.gather(-1, order), dim=-1, descending=True, stable=True).indices
    return order.gather(-1, order2)


@dataclass
class Vote(Combiner):
    """Greedy voting (use with ``beam_size=1``): each component votes for its argmax token; the
    token with most (weighted) votes wins, ties broken by the highest averaged (arithmetic, weighted)
    probability.  The carried score is ``s_i + log sum_k w_k p_k(y)``.  Candidates: every voted
    token, then the other tokens by averaged probability (enough of them for the EOS rule).
    Provenance: the components that voted for the token."""

    weights: Optional[Sequence[float]] = None

    def __post_init__(self):
        self.weights = _validate_weights(self.weights, "Vote")

    def __call__(self, logprobs, beam_scores, *, eos_token_id: EosSpec, beam_size: int, last_step=False):
        B, K, Z, V = logprobs.shape
        w = self._uniform(K, logprobs.device)
        avg = Average(weights=self.weights).combine(logprobs)  # (B, Z, V)
        total = (avg + beam_scores[:, :, None]).reshape(B, Z * V)
        n = min(num_candidates(beam_size, eos_token_id), Z * V)
        top_idx = torch.topk(total, n, dim=-1).indices  # (B, n)
        arg = logprobs.argmax(dim=-1)  # (B, K, Z)
        # a component votes only for finite tokens of live beams
        voting = (logprobs.amax(dim=-1) > float("-inf")) & (beam_scores[:, None, :] > float("-inf"))
        voted = arg + torch.arange(Z, device=arg.device)[None, None, :] * V  # flat index z * V + y
        voted = torch.where(voting, voted, -1)
        idx = torch.cat((voted.reshape(B, K * Z), top_idx), dim=1)  # (B, M)
        is_vote = idx[:, :, None, None] == voted[:, None, :, :]  # (B, M, K, Z)
        prov = is_vote.any(dim=-1)  # (B, M, K)
        votes = (prov.float() * w).sum(dim=-1)
        score = total.gather(1, idx.clamp(min=0))
        same = idx[:, :, None] == idx[:, None, :]
        ok = _first_occurrence(same) & (idx >= 0) & (score > float("-inf"))
        score = torch.where(ok, score, float("-inf"))
        votes = torch.where(ok, votes, -1.0)
        order = _lexsort_desc(votes, score)
        idx = idx.gather(1, order).clamp(min=0)
        return Candidates(score.gather(1, order), torch.div(idx, V, rounding_mode="floor"), idx % V,
                          prov.gather(1, order[:, :, None].expand(B, order.shape[1], K)))


@dataclass
class EBBS(Combiner):
    """Ensemble-based bi-level beam search (Wen et al., AAAI 2025, Algorithm 1), one step.

    Lower level: for each component ``k`` the candidates ``(i, y)`` ranked by
    ``s_i + log p_k(y | prefix_i)``; its lower beam is chosen by the same rule as the upper beam
    (:func:`~ensemblekd.decoding.search.split_finishing`: the first ``Z`` non-finishing
    candidates, plus finishing ones ranked within the top ``Z``), so ``K = 1`` is plain beam search.
    Upper level: the union of the ``K`` lower beams; two candidates are the same iff they share
    ``(parent i, token y)``.  With ``S`` the components whose lower beam holds the candidate and
    ``w`` the normalised weights, the score is

    * ``"sum"`` (default): ``log sum_{k in S} w_k exp(s_i + log p_k(y|prefix_i))``;
    * ``"max"``: ``max_{k in S} (log(w_k / max w) + s_i + log p_k(y|prefix_i))``;
    * ``"count"``: ranked by ``sum_{k in S} w_k`` (the number of components for equal weights)
      first, then by the "sum" score, which is also the carried score.

    The search loop keeps the top ``Z`` of this ranking.  Provenance: the mask ``S``.
    Vectorised: one top-k over ``Z V`` per component, then ``O(B (2KZ)^2)`` for the union.
    """

    weights: Optional[Sequence[float]] = None
    voting: str = "sum"

    def __post_init__(self):
        self.weights = _validate_weights(self.weights, "EBBS")
        if self.voting not in ("sum", "max", "count"):
            raise ValueError(f"EBBS: voting must be 'sum', 'max' or 'count', got {self.voting!r}")

    def __call__(self, logprobs, beam_scores, *, eos_token_id: EosSpec, beam_size: int, last_step=False,
                 stop_hits=None):
        """``stop_hits``: optional ``f(parents, tokens) -> mask`` of candidates completing a stop string
        (passed by :func:`~ensemblekd.decoding.search.beam_search`); they finish in the lower beams too."""
        B, K, Z, V = logprobs.shape
        w = self._uniform(K, logprobs.device)
        total = logprobs + beam_scores[:, None, :, None]  # (B, K, Z, V)
        vals, parents, tokens = _top_continuations(total, num_candidates(beam_size, eos_token_id))
        n = vals.shape[-1]
        stopped = None if stop_hits is None else stop_hits(parents, tokens)
        finish, keep = split_finishing(tokens, vals, eos_token_id, beam_size, last_step, stopped)
        member = (finish | keep).reshape(B, K * n)
        ids = (parents * V + tokens).reshape(B, K * n)
        vals = vals.reshape(B, K * n)
        comp = torch.arange(K, device=ids.device).repeat_interleave(n)  # component of each entry
        same = (ids[:, :, None] == ids[:, None, :]) & member[:, None, :] & member[:, :, None]
        neg_inf = torch.tensor(float("-inf"), device=vals.device)
        if self.voting == "max":
            contrib = vals + torch.log(w / w.max())[comp]
            score = torch.where(same, contrib[:, None, :], neg_inf).amax(dim=-1)
        else:
            contrib = vals + torch.log(w)[comp] if K > 1 else vals
            score = torch.logsumexp(torch.where(same, contrib[:, None, :], neg_inf), dim=-1)
        ok = member & _first_occurrence(same)
        score = torch.where(ok, score, neg_inf)
        onehot = torch.nn.functional.one_hot(comp, K).to(torch.bool)  # (M, K)
        prov = (same[:, :, :, None] & onehot[None, None]).any(dim=2)  # (B, M, K)
        if self.voting == "count":
            # weighted count in float64, rounded so that equal sums of weights tie exactly
            w64 = torch.ones(K, dtype=torch.float64) if self.weights is None else torch.tensor(self.weights,
                                                                                             dtype=torch.float64)
            w64 = (w64 / w64.sum()).to(prov.device)
            count = torch.round((prov.double() * w64).sum(dim=-1) * 1e9)
            count = torch.where(ok, count, -1.0)
            order = _lexsort_desc(count, score)
        else:
            order = torch.sort(score, dim=-1, descending=True, stable=True).indices
        ids = ids.gather(1, order)
        return Candidates(score.gather(1, order), torch.div(ids, V, rounding_mode="floor"), ids % V,
                          prov.gather(1, order[:, :, None].expand(B, K * n, K)))
