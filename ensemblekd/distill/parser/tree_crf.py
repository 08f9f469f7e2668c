"""Tree CRF over binary bracketings: batched inside algorithm in torch (log semiring).

A binary tree ``T`` over ``n`` words is scored by the sum of its span scores,
``S(T) = sum_{(i, j) in T} s[i, j]`` (fencepost spans, ``0 <= i < j <= n``; every tree holds the
``n`` length-1 spans and the whole span).  The CRF is ``P(T) = exp S(T) / Z`` with

    beta(i, i+1) = s[i, i+1]
    beta(i, j)   = s[i, j] + logsumexp_{i<k<j} beta(i, k) + beta(k, j)
    log Z        = beta(0, n)

(the CKY inside recursion; Finkel et al. 2008; Kim et al. 2019 for neural span CRFs).
Sentences of different lengths share one batch: ``beta(0, n_b)`` only reads spans inside
``[0, n_b]``, so padding never leaks into a sentence's partition.

Cost: O(B N^3) time and memory (N = the longest sentence), in N loop steps of a few batched
tensor operations each, differentiable (the gradient of log Z w.r.t. ``s`` is the span
marginals).
"""
from __future__ import annotations

import torch

__all__ = ["inside_log_partition", "span_marginals", "tree_crf_loss"]


def inside_log_partition(scores: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """log Z for each sentence.

    scores: (B, N+1, N+1), ``scores[b, i, j]`` the score of span (i, j) (only ``i < j`` is read);
    lengths: (B,) integer sentence lengths, 1 <= n_b <= N.  Returns (B,).
    """
    if scores.dim() != 3 or scores.shape[1] != scores.shape[2]:
        raise ValueError(f"scores must have shape (B, N+1, N+1); got {tuple(scores.shape)}")
    bsz, n1 = scores.shape[0], scores.shape[1]
    n = n1 - 1
    lengths = torch.as_tensor(lengths, device=scores.device)
    if lengths.shape != (bsz,) or bool((lengths < 1).any()) or bool((lengths > n).any()):
        raise ValueError(f"lengths must be (B,) integers in [1, {n}]; got {lengths.tolist()}")
    # by_start[:, i, w-1] = beta(i, i+w) and by_end[:, j, w-1] = beta(j-w, j), grown one width
    # (one column) per step, so each step is a few batched operations (no per-split loop)
    first = torch.diagonal(scores, offset=1, dim1=1, dim2=2)           # (B, N): beta(i, i+1)
    pad = first.new_zeros(bsz, 1)
    by_start = torch.cat([first, pad], dim=1).unsqueeze(-1)             # (B, N+1, 1)
    by_end = torch.cat([pad, first], dim=1).unsqueeze(-1)               # (B, N+1, 1)
    roots = [first[:, 0]]
    for w in range(2, n + 1):
        m = n - w + 1  # start positions i = 0 .. N-w
        left = by_start[:, 0:m, 0:w - 1]                                 # beta(i, i+k), k = 1..w-1
        right = by_end[:, w:w + m, 0:w - 1].flip(-1)                     # beta(i+k, i+w)
        new = torch.logsumexp(left + right, dim=-1) + torch.diagonal(scores, offset=w, dim1=1, dim2=2)
        roots.append(new[:, 0])
        by_start = torch.cat([by_start, torch.cat([new, new.new_zeros(bsz, w)], 1).unsqueeze(-1)], -1)
        by_end = torch.cat([by_end, torch.cat([new.new_zeros(bsz, w), new], 1).unsqueeze(-1)], -1)
    first_cell = torch.stack(roots, dim=1)  # (B, N): beta(0, w)
    return first_cell.gather(1, (lengths - 1).long().view(-1, 1)).squeeze(1)


def span_marginals(scores: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """P((i, j) in T) for every span, (B, N+1, N+1), via the gradient of log Z."""
    with torch.enable_grad():
        s = scores.detach().requires_grad_(True)
        logz = inside_log_partition(s, lengths).sum()
        (grad,) = torch.autograd.grad(logz, s)
    return torch.triu(grad, diagonal=1)


def tree_crf_loss(scores: torch.Tensor, lengths: torch.Tensor, target_weights: torch.Tensor,
                  ) -> torch.Tensor:
    """Negative log-likelihood ``log Z - sum_ij w_ij s_ij`` per sentence, (B,).

    ``target_weights`` (B, N+1, N+1): 1 on the spans of the target tree; for K target trees per
    sentence (union distillation), the fraction of them that hold each span, which gives the mean
    of the K negative log-likelihoods.  Entries outside ``i < j <= n_b`` must be 0.
    """
    if target_weights.shape != scores.shape:
        raise ValueError(f"target_weights has shape {tuple(target_weights.shape)}; expected "
                         f"{tuple(scores.shape)}")
    gold = (scores * target_weights).flatten(1).sum(1)
    return inside_log_partition(scores, lengths) - gold
