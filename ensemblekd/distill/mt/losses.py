"""Word-level distillation losses: KL, reverse KL, Jensen-Shannon and total variation.

Wen, Li, Du, Mou (ACL 2023), "f-Divergence Minimization for Sequence-Level Knowledge
Distillation" (f-DISTILL).  A sequence-level f-divergence between the teacher ``p`` and the
student ``q`` is intractable; f-DISTILL decomposes it into a sum of step-wise divergences
between the next-token distributions ``p(.|y<t)`` and ``q(.|y<t)`` on sampled prefixes:

=========  =====================================  =====================================
loss       half on teacher-sampled prefixes        half on student-sampled prefixes
=========  =====================================  =====================================
``kl``     ``KL(p_t || q_t)``                      --
``rkl``    --                                      ``KL(q_t || p_t)``
``js``     ``1/2 KL(p_t || m_t)``                  ``1/2 KL(q_t || m_t)``, ``m = (p+q)/2``
``tvd``    ``1/2 TVD(p_t, q_t)``                   ``1/2 TVD(p_t, q_t)``
=========  =====================================  =====================================

Further step-wise divergences of the recent KD literature:

* skew KL ``SKL_a(p || q) = KL(p || a p + (1-a) q)`` and skew reverse KL ``SRKL_a(p || q) =
  KL(q || (1-a) p + a q)`` (DistiLLM, Ko et al., ICML 2024): ``a = 0`` gives KL / reverse KL, ``a = 1``
  gives 0; the skew keeps the ratio inside the log bounded (``1/a``), so the gradient stays bounded where
  the student (SKL) or the teacher (SRKL) puts almost no mass;
* the generalized Jensen-Shannon divergence of GKD (Agarwal et al., ICLR 2024), ``JSD_b(p || q) =
  b KL(p || m) + (1-b) KL(q || m)`` with ``m = b p + (1-b) q``, taken as ``KL(p || q)`` at ``b = 0`` and
  ``KL(q || p)`` at ``b = 1`` (the end points TRL's GKD trainer uses); ``b = 1/2`` is JS.

Everything here works on log-probabilities of shape ``(..., V)`` (typically ``(B, T, V)``) and
an optional padding mask of shape ``(...)`` (``True``/1 = a real position).  The teacher may be a
single model or an ensemble: :func:`ensemble_log_probs` averages the components'
*probabilities* (not their log-probabilities).  Teacher tensors are treated as constants
(detached).  Teacher zeros (``-inf`` log-probs) are allowed: ``0 * log 0`` is taken as 0, and in
the reverse KL the teacher log-prob is floored at ``min_logprob`` so that the loss and its
gradient stay finite.  Every function costs O(numel) time and memory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

__all__ = [
    "DIVERGENCES",
    "kl_divergence",
    "reverse_kl_divergence",
    "js_divergence",
    "js_teacher_half",
    "js_student_half",
    "tv_distance",
    "token_divergence",
    "skew_kl_divergence",
    "skew_reverse_kl_divergence",
    "generalized_jsd",
    "ensemble_log_probs",
    "Prefixes",
    "fdistill_loss",
    "sample_prefixes",
    "hf_sample_prefixes",
]

DIVERGENCES = ("kl", "rkl", "js", "tvd")
REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------- helpers
def _check(teacher: torch.Tensor, student: torch.Tensor, mask: torch.Tensor | None) -> None:
    if teacher.shape != student.shape:
        raise ValueError(
            f"teacher log-probs have shape {tuple(teacher.shape)} but student log-probs have "
            f"shape {tuple(student.shape)}; expected the same (..., V)"
        )
    if teacher.dim() < 1:
        raise ValueError("log-probs need a vocabulary dimension: expected shape (..., V)")
    if mask is not None and tuple(mask.shape) != tuple(teacher.shape[:-1]):
        raise ValueError(
            f"mask has shape {tuple(mask.shape)}; expected {tuple(teacher.shape[:-1])} "
            "(the log-prob shape without the vocabulary dimension)"
        )


def _reduce(per_position: torch.Tensor, mask: torch.Tensor | None, reduction: str) -> torch.Tensor:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction={reduction!r}; expected one of {REDUCTIONS}")
    if mask is not None:
        m = mask.to(per_position.dtype)
        # where() (not multiplication) so that a NaN at a padded position cannot leak
        per_position = torch.where(m > 0, per_position, torch.zeros_like(per_position)) * m
    if reduction == "none":
        return per_position
    if reduction == "sum":
        return per_position.sum()
    count = mask.to(per_position.dtype).sum() if mask is not None else per_position.new_tensor(
        float(per_position.numel())
    )
    return per_position.sum() / count.clamp_min(1.0)


def _plogp_ratio(logp: torch.Tensor, logr: torch.Tensor) -> torch.Tensor:
    """sum_v p (log p - log r) with the convention 0 * log 0 = 0 (finite gradients)."""
    p = logp.exp()
    positive = p > 0
    safe_logp = torch.where(positive, logp, torch.zeros_like(logp))
    safe_logr = torch.where(positive, logr, torch.zeros_like(logr))
    return (p * (safe_logp - safe_logr)).sum(-1)


# --------------------------------------------------------------------------- step-wise divergences
def kl_divergence(teacher_logp, student_logp, mask=None, reduction: str = "mean"):
    """KL(p || q) = sum_v p (log p - log q) per position; the teacher half of f-DISTILL's KL."""
    _check(teacher_logp, student_logp, mask)
    return _reduce(_plogp_ratio(teacher_logp.detach(), student_logp), mask, reduction)


def reverse_kl_divergence(teacher_logp, student_logp, mask=None, reduction: str = "mean",
                          min_logprob: float = -100.0):
    """KL(q || p) per position (mode seeking).  ``log p`` is floored at ``min_logprob`` so that a
    teacher zero where the student has mass costs a large but finite amount."""
    _check(teacher_logp, student_logp, mask)
    floored = teacher_logp.detach().clamp_min(min_logprob)
    return _reduce(_plogp_ratio(student_logp, floored), mask, reduction)


def _log_mixture(teacher_logp, student_logp):
    return torch.logaddexp(teacher_logp, student_logp) - math.log(2.0)


def js_teacher_half(teacher_logp, student_logp, mask=None, reduction: str = "mean"):
    """KL(p || m) with m = (p + q) / 2, per position (the gradient flows through m)."""
    _check(teacher_logp, student_logp, mask)
    t = teacher_logp.detach()
    return _reduce(_plogp_ratio(t, _log_mixture(t, student_logp)), mask, reduction)


def js_student_half(teacher_logp, student_logp, mask=None, reduction: str = "mean"):
    """KL(q || m) with m = (p + q) / 2, per position."""
    _check(teacher_logp, student_logp, mask)
    t = teacher_logp.detach()
    return _reduce(_plogp_ratio(student_logp, _log_mixture(t, student_logp)), mask, reduction)


def js_divergence(teacher_logp, student_logp, mask=None, reduction: str = "mean"):
    """JS(p, q) = (KL(p||m) + KL(q||m)) / 2 per position; 0 <= JS <= log 2, symmetric."""
    none_t = js_teacher_half(teacher_logp, student_logp, None, "none")
    none_s = js_student_half(teacher_logp, student_logp, None, "none")
    return _reduce(0.5 * (none_t + none_s), mask, reduction)


def tv_distance(teacher_logp, student_logp, mask=None, reduction: str = "mean"):
    """TVD(p, q) = 1/2 sum_v |p - q| per position; 0 <= TVD <= 1, symmetric."""
    _check(teacher_logp, student_logp, mask)
    diff = teacher_logp.detach().exp() - student_logp.exp()
    return _reduce(0.5 * diff.abs().sum(-1), mask, reduction)


def _log_mix(a: float, teacher_logp, student_logp):
    """log(a p + (1 - a) q) for 0 <= a <= 1 (exact at the end points)."""
    if a == 0:
        return student_logp
    if a == 1:
        return teacher_logp
    return torch.logaddexp(teacher_logp + math.log(a), student_logp + math.log1p(-a))


def _check_unit(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name}={value!r}: expected a number in [0, 1]")


def skew_kl_divergence(teacher_logp, student_logp, mask=None, reduction: str = "mean", alpha: float = 0.1):
    """SKL_alpha(p || q) = KL(p || alpha p + (1 - alpha) q) per position (DistiLLM; Ko et al., 2024)."""
    _check(teacher_logp, student_logp, mask)
    _check_unit("alpha", alpha)
    t = teacher_logp.detach()
    return _reduce(_plogp_ratio(t, _log_mix(alpha, t, student_logp)), mask, reduction)


def skew_reverse_kl_divergence(teacher_logp, student_logp, mask=None, reduction: str = "mean",
                               alpha: float = 0.1, min_logprob: float = -100.0):
    """SRKL_alpha(p || q) = KL(q || (1 - alpha) p + alpha q) per position (DistiLLM).  At ``alpha = 0``
    the teacher log-prob is floored at ``min_logprob``, as in :func:`reverse_kl_divergence`."""
    _check(teacher_logp, student_logp, mask)
    _check_unit("alpha", alpha)
    t = teacher_logp.detach()
    if alpha == 0:
        t = t.clamp_min(min_logprob)
    return _reduce(_plogp_ratio(student_logp, _log_mix(1.0 - alpha, t, student_logp)), mask, reduction)


def generalized_jsd(teacher_logp, student_logp, mask=None, reduction: str = "mean", beta: float = 0.5,
                    min_logprob: float = -100.0):
    """GKD's generalized JSD per position: ``beta KL(p || m) + (1 - beta) KL(q || m)``, ``m = beta p +
    (1 - beta) q``; ``beta = 0``: KL(p || q), ``beta = 1``: KL(q || p) (teacher floored at ``min_logprob``)."""
    _check(teacher_logp, student_logp, mask)
    _check_unit("beta", beta)
    t = teacher_logp.detach()
    if beta == 0:
        return _reduce(_plogp_ratio(t, student_logp), mask, reduction)
    if beta == 1:
        return _reduce(_plogp_ratio(student_logp, t.clamp_min(min_logprob)), mask, reduction)
    m = _log_mix(beta, t, student_logp)
    return _reduce(beta * _plogp_ratio(t, m) + (1.0 - beta) * _plogp_ratio(student_logp, m), mask, reduction)


def token_divergence(name: str, teacher_logp, student_logp, mask=None, reduction: str = "mean"):
    """The full step-wise divergence ``name`` in DIVERGENCES on one set of prefixes."""
    fn = {"kl": kl_divergence, "rkl": reverse_kl_divergence, "js": js_divergence,
          "tvd": tv_distance}.get(name)
    if fn is None:
        raise ValueError(f"unknown divergence {name!r}; expected one of {DIVERGENCES}")
    return fn(teacher_logp, student_logp, mask, reduction)


def ensemble_log_probs(component_logps: torch.Tensor, weights=None) -> torch.Tensor:
    """log sum_k w_k p_k of K components, shape (K, ..., V) -> (..., V).

    Weights default to uniform 1/K; they must be non-negative and are renormalised to sum to 1.
    """
    if component_logps.dim() < 2:
        raise ValueError("component log-probs must have shape (K, ..., V)")
    k = component_logps.shape[0]
    if weights is None:
        w = torch.full((k,), 1.0 / k, dtype=component_logps.dtype, device=component_logps.device)
    else:
        w = torch.as_tensor(weights, dtype=component_logps.dtype, device=component_logps.device)
        if w.shape != (k,):
            raise ValueError(f"weights has {w.numel()} entries for {k} components")
        if (w < 0).any() or not torch.isfinite(w).all() or w.sum() <= 0:
            raise ValueError(f"weights must be finite, non-negative and not all zero; got {w.tolist()}")
        w = w / w.sum()
    logw = w.log().view((k,) + (1,) * (component_logps.dim() - 1))
    return torch.logsumexp(component_logps + logw, dim=0)


# --------------------------------------------------------------------------- combining the halves
@dataclass
class Prefixes:
    """Teacher and student next-token log-probs on one set of sampled prefixes.

    ``teacher_logp`` and ``student_logp``: (B, T, V); ``mask``: (B, T), 1 at real positions.
    """

    teacher_logp: torch.Tensor
    student_logp: torch.Tensor
    mask: torch.Tensor | None = None


def fdistill_loss(name: str, teacher_sampled: Prefixes | None = None,
                  student_sampled: Prefixes | None = None, reduction: str = "mean") -> torch.Tensor:
    """f-DISTILL loss from the two sets of prefixes (Wen et al. 2023, Sec. 3.2).

    ``kl`` needs ``teacher_sampled``; ``rkl`` needs ``student_sampled``; ``js`` and ``tvd`` need
    both and return ``1/2 (teacher half) + 1/2 (student half)``, each half reduced on its own
    prefixes (``mean`` over unmasked tokens by default, ``sum`` over tokens).
    """
    if name not in DIVERGENCES:
        raise ValueError(f"unknown divergence {name!r}; expected one of {DIVERGENCES}")
    if reduction == "none":
        raise ValueError("fdistill_loss combines two sets of prefixes; use reduction 'mean' or 'sum'")
    need_t = name in ("kl", "js", "tvd")
    need_s = name in ("rkl", "js", "tvd")
    if need_t and teacher_sampled is None:
        raise ValueError(f"loss {name!r} needs teacher-sampled prefixes (teacher_sampled=...)")
    if need_s and student_sampled is None:
        raise ValueError(f"loss {name!r} needs student-sampled prefixes (student_sampled=...)")
    if name == "kl":
        return kl_divergence(*_unpack(teacher_sampled), reduction=reduction)
    if name == "rkl":
        return reverse_kl_divergence(*_unpack(student_sampled), reduction=reduction)
    if name == "js":
        return 0.5 * (js_teacher_half(*_unpack(teacher_sampled), reduction=reduction)
                      + js_student_half(*_unpack(student_sampled), reduction=reduction))
    return 0.5 * (tv_distance(*_unpack(teacher_sampled), reduction=reduction)
                  + tv_distance(*_unpack(student_sampled), reduction=reduction))


def _unpack(p: Prefixes):
    return p.teacher_logp, p.student_logp, p.mask


# --------------------------------------------------------------------------- sampling prefixes
@torch.no_grad()
def sample_prefixes(next_log_probs: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor,
                    max_new_tokens: int, eos_id: int, pad_id: int,
                    generator: torch.Generator | None = None, temperature: float = 1.0):
    """Ancestral sampling from any scorer (one model or an ensemble).

    ``next_log_probs(prefix (B, t)) -> (B, V)``; ``start``: (B, t0) initial prefix (e.g. the
    decoder start token).  Returns ``(sequences (B, t0 + L), mask (B, L))`` where ``mask`` marks
    the sampled positions up to and including EOS; after EOS the sequence holds ``pad_id``.
    Cost: ``max_new_tokens`` calls of the scorer.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1; got {max_new_tokens}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    seq = start
    done = torch.zeros(start.shape[0], dtype=torch.bool, device=start.device)
    masks = []
    for _ in range(max_new_tokens):
        logp = next_log_probs(seq)
        probs = torch.softmax(logp.float() / temperature, dim=-1)
        tok = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        tok = torch.where(done, torch.full_like(tok, pad_id), tok)
        masks.append(~done)
        seq = torch.cat([seq, tok[:, None]], dim=1)
        done = done | (tok == eos_id)
        if bool(done.all()):
            break
    return seq, torch.stack(masks, dim=1)


_SPECIAL_IDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")


@torch.no_grad()
def hf_sample_prefixes(model, max_new_tokens: int, temperature: float = 1.0, top_p: float = 1.0, **inputs):
    """Sample prefixes with Hugging Face ``generate(do_sample=True, num_beams=1, top_k=0)``.

    ``inputs``: the model inputs (``input_ids``, ``attention_mask``, ``decoder_input_ids``, ...); ``temperature``
    and ``top_p`` (nucleus) shape the sampling distribution, and nothing else does: the model's own
    ``generation_config`` (repetition penalties, n-gram blocking, minimum length, forced or suppressed tokens,
    which ``generate`` would otherwise apply) is set aside for the call, keeping only its special token ids, so
    that the samples come from the model's distribution (give a forced prompt, e.g. a language token, in
    ``decoder_input_ids``).  Returns the generated decoder sequences (encoder-decoder models: starting with the
    decoder start token / prompt).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1]; got {top_p}")
    from transformers import GenerationConfig

    own = model.generation_config
    ids = {k: getattr(own, k, None) for k in _SPECIAL_IDS}
    model.generation_config = GenerationConfig(**{k: v for k, v in ids.items() if v is not None})
    try:
        return model.generate(**inputs, do_sample=True, num_beams=1, top_k=0, top_p=float(top_p),
                              temperature=float(temperature), max_new_tokens=max_new_tokens)
    finally:
        model.generation_config = own
