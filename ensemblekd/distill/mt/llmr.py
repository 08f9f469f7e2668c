"""LLMR: distillation with a reward induced by the teacher (Li, Hao, Mou, COLING 2024).

The teacher's next-token scores are read as a q-function, ``q(s, a) = f(s, a)`` (Hao et al., NeurIPS
2022); Bellman optimality then induces the reward

    r(s_t, a_t) = f(s_t, a_t) - V(s_{t+1}),     s_{t+1} = s_t + [a_t],

with ``V(s) = max_a f(s, a)`` (``next_value="max"``) or the teacher-policy expectation ``V(s) =
sum_a softmax(f(s))_a f(s, a)`` (``next_value="softmax"``), and ``V = 0`` after the last step (EOS, or the
sampling length limit).  ``next_value="current"`` is the official code's softmax variant: the next state's
scores weighted by the CURRENT state's teacher policy, ``V_t = sum_a softmax(f(s_t))_a f(s_{t+1}, a)``; along
a confident path this is about ``f(s_{t+1}, a_t)``, so repeating a token the teacher would not repeat is
rewarded and a repetition it would continue is not.

What the return favours (tested by enumeration in ``tests/distill/mt/test_llmr.py``): with ``max``, ``sum_t r_t
= f(s_0, a_0) + sum_{t>=1} (f(s_t, a_t) - max_a f(s_t, a))``, so the teacher's greedy output is optimal whatever
its length, but every step of a stochastic sample is penalised and stopping at once can beat a typical sample
(on the Multi30k testbed students sampled at temperature 1 or top-p 0.5 collapsed to empty outputs); with
``softmax``, since ``E_p f(s) = logsumexp f(s) - H(p(s))``, ``sum_t r_t = logsumexp f(s_0) + log p(y) +
sum_{t>=1} H(p(s_t))``: the teacher's log-likelihood of the output plus the teacher's entropy at every later
state, so each further step through an uncertain state adds its entropy and long outputs can beat the
teacher's own (an unclipped student collapsed to repeating one token up to the length limit).

``f`` is centred per state (its mean over the vocabulary is subtracted): a per-state constant does not change
the policy the q-function describes (Theorem 3 of the paper), and centring removes it from the reward
altogether. Without centring, ``f + c_s`` gives ``r + c_{s_t} - c_{s_{t+1}}`` (``+ c_{s_t}`` at the last
step), so every return-to-go moves by the state constant ``c_{s_t}``: the policy-gradient update is unchanged
in expectation, and exactly with the baseline.

The student is trained by REINFORCE on its own samples ``y ~ q``:

    loss = - sum_t A_t log q(a_t | s_t) / (number of sampled tokens),
    A_t  = (G_t - b_t) / scale, clipped to [-clip, clip] if ``clip`` is set,

with the dense return-to-go ``G_t = sum_{t' >= t} r_t'`` or, sparse, the whole return ``G_0`` at every
step (``reward="sparse"``; the baseline is then ``b_0``; step 0 is a row's first real step, which in the
trainer follows the masked decoder prompt), and the baseline ``b_t = sum_a softmax(f(s_t))_a
f(s_t, a)``, the teacher's own value of the state (``baseline=False``: ``b = 0``).  With ``next_value=
"softmax"`` and the baseline, a student equal to the teacher gets an advantage of conditional mean zero
at every state (the expectations telescope).

Ensembles: ``f`` is the log of the components' averaged probabilities, ``log sum_k w_k p_k(a | s)``
(:func:`.losses.ensemble_log_probs`).  For one component this is the model's logits minus a per-state
constant, so after centring it equals the official code's centred logits; for K components it is the
log-probability of the distribution the word-level losses distil (rather than, say, averaged logits).

Compared with the official implementation (MANGA-UOFA/LMReward, ``reinforce.py``), this one samples
on-policy (no importance weights of a lagged actor), offers the softmax next value with the next state's
policy (``softmax``) besides the official weighting (``current``), treats the
sampling length limit as terminal (the official actor keeps only finished samples), and has no entropy term.
Samples drawn at a temperature or top-p other than 1 (``kd_temperature``, ``kd_top_p``) are not the student's
own distribution, and no importance weight corrects for that.  Shapes: ``(B, T, V)`` teacher scores at the
states ``s_t`` (position t predicts ``tokens[:, t]``), ``(B, T)`` tokens and mask; O(B T V) time.
"""
from __future__ import annotations

from typing import Optional

import torch

__all__ = ["NEXT_VALUES", "REWARDS", "induced_reward", "advantages", "reinforce_loss", "llmr_loss"]

NEXT_VALUES = ("softmax", "max", "current")
REWARDS = ("dense", "sparse")


def _state_values(f: torch.Tensor, how: str) -> torch.Tensor:
    if how == "max":
        return f.max(dim=-1).values
    return (torch.softmax(f, dim=-1) * f).sum(-1)


def induced_reward(teacher_scores: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor, *,
                   next_value: str = "softmax", center: bool = True, min_score: float = -100.0):
    """The teacher-induced reward ``r`` (B, T) and the teacher's state values ``b`` (B, T), both 0 at
    masked positions.

    ``teacher_scores``: ``f`` (B, T, V), e.g. teacher log-probs or logits (floored at ``min_score`` so that
    ``-inf`` from a masked vocabulary stays finite); ``tokens``: the actions ``a_t`` (B, T); ``mask``: True
    at real steps, one contiguous run per row (masked prompt positions may precede it) up to and including
    EOS.
    """
    if next_value not in NEXT_VALUES:
        raise ValueError(f"next_value={next_value!r}; expected one of {NEXT_VALUES}")
    if teacher_scores.dim() != 3 or tuple(tokens.shape) != tuple(teacher_scores.shape[:2]):
        raise ValueError(f"teacher scores {tuple(teacher_scores.shape)} and tokens {tuple(tokens.shape)}: "
                         "expected (B, T, V) and (B, T)")
    if tuple(mask.shape) != tuple(tokens.shape):
        raise ValueError(f"mask has shape {tuple(mask.shape)}; expected {tuple(tokens.shape)}")
    f = teacher_scores.detach()
    f = (f if f.dtype == torch.float64 else f.float()).clamp_min(min_score)
    if center:
        f = f - f.mean(dim=-1, keepdim=True)
    m = mask.to(f.dtype)
    chosen = f.gather(-1, tokens.long()[..., None]).squeeze(-1)
    if next_value == "current":   # sum_a softmax(f(s_t))_a f(s_{t+1}, a): the next scores, this state's policy
        value = (torch.softmax(f[:, :-1], dim=-1) * f[:, 1:]).sum(-1)
        nxt = torch.cat([value * m[:, 1:], value.new_zeros(value.shape[0], 1)], dim=1)
    else:
        value = _state_values(f, next_value)
        nxt = torch.cat([value[:, 1:] * m[:, 1:], value.new_zeros(value.shape[0], 1)], dim=1)
    reward = (chosen - nxt) * m
    baseline = _state_values(f, "softmax") * m
    return reward, baseline


def advantages(reward: torch.Tensor, baseline: Optional[torch.Tensor], mask: torch.Tensor, *,
               kind: str = "dense", scale: float = 1.0, clip: Optional[float] = None) -> torch.Tensor:
    """``A_t = (G_t - b_t) / scale`` (clipped), 0 at masked positions; ``kind`` dense or sparse (module doc)."""
    if kind not in REWARDS:
        raise ValueError(f"reward={kind!r}; expected one of {REWARDS}")
    if not scale > 0:
        raise ValueError(f"scale={scale!r}: expected a number > 0")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip={clip!r}: expected a number > 0 (or None)")
    m = mask.to(reward.dtype)
    returns = torch.flip(torch.cumsum(torch.flip(reward * m, [1]), dim=1), [1])
    adv = returns - (baseline * m if baseline is not None else 0.0)
    if kind == "sparse":   # the whole return minus the baseline at each row's FIRST real step (which need
        # not be column 0: a forced decoder prompt, e.g. a language token, is masked out)
        first = (m > 0).to(torch.uint8).argmax(dim=1, keepdim=True)
        adv = adv.gather(1, first).expand_as(adv)
    adv = adv / scale
    if clip is not None:
        adv = adv.clamp(-clip, clip)
    return adv * m


def reinforce_loss(student_logp: torch.Tensor, tokens: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor,
                   reduction: str = "mean") -> torch.Tensor:
    """``- sum_t A_t log q(a_t | s_t)`` over real steps; ``mean``: divided by their number.

    ``student_logp``: (B, T, V) with gradient; ``adv``: (B, T) constants.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction={reduction!r}; expected 'mean' or 'sum'")
    m = mask.to(student_logp.dtype)
    logq = student_logp.gather(-1, tokens.long()[..., None]).squeeze(-1)
    logq = torch.where(m > 0, logq, torch.zeros_like(logq))
    total = -(adv.detach() * logq * m).sum()
    return total / m.sum().clamp_min(1.0) if reduction == "mean" else total


def llmr_loss(teacher_scores, student_logp, tokens, mask, *, next_value: str = "softmax",
              reward: str = "dense", baseline: bool = True, scale: float = 1.0, clip: Optional[float] = None,
              center: bool = True, reduction: str = "mean") -> torch.Tensor:
    """The LLMR policy-gradient loss on student samples ``tokens`` (module doc)."""
    r, b = induced_reward(teacher_scores, tokens, mask, next_value=next_value, center=center)
    adv = advantages(r, b if baseline else None, mask, kind=reward, scale=scale, clip=clip)
    return reinforce_loss(student_logp, tokens, adv, mask, reduction)
