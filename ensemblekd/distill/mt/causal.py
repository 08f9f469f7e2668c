"""Decoder-only students and teachers: the LM's next-token logits over a continuation, and samples that end
where decoding ends.

A decoder-only translator reads a prompt (the filled template, :class:`~ensemblekd.decoding.prompts.
DecoderOnlyAdapter`) and continues it; the translation is the continuation up to the token that completes the
first stop string (a newline by default) or EOS.  Training batches (:func:`.data.collate`) hold the prompts
LEFT-padded, ``(B, P)``, and the continuations right-padded, ``(B, L)``.  :func:`continuation_logits` runs the
model on ``[prompt | continuation[:, :-1]]`` with position ids counted over the real tokens only, so a row's
logits do not depend on its padding (tested against each row alone); position ``j`` of the result predicts
``continuation[:, j]``.  Right padding after a row's end is harmless: a causal model's earlier positions never
see it, and the losses mask it.

:func:`sample_continuations` draws the student's own continuations as ``generate(do_sample=True)`` does, with
the adapter's stop strings as ``stopping_criteria``; :func:`continuation_mask` marks each row's tokens up to
and including the one that ends it (EOS, or the token completing a stop string, by the same
``StopStringCriteria`` that stopped ``generate``).

Cost: one forward over ``B x (P + L - 1)`` tokens (logits for the last ``L`` positions only, through
``logits_to_keep`` where the model accepts it); the mask costs ``L`` calls of the stop criteria.
"""
from __future__ import annotations

import functools
import inspect

__all__ = ["position_ids", "continuation_logits", "continuation_mask", "sample_continuations"]


def position_ids(attention_mask):
    """Positions counted over the real tokens of each row: ``cumsum(mask) - 1``, 0 on (left) padding."""
    return (attention_mask.long().cumsum(-1) - 1).clamp_min(0)


@functools.lru_cache(maxsize=None)
def _accepts_logits_to_keep(cls) -> bool:
    try:
        return "logits_to_keep" in inspect.signature(cls.forward).parameters
    except (TypeError, ValueError):
        return False


def continuation_logits(model, prompt_ids, prompt_mask, continuation):
    """Next-token logits ``(B, L, V)`` of a causal LM; position ``j`` predicts ``continuation[:, j]``.

    ``prompt_ids``/``prompt_mask``: ``(B, P)``, left-padded, every row at least one real token;
    ``continuation``: ``(B, L)`` token ids (padding after a row's end is allowed, its logits are garbage to be
    masked).  ``model`` may be DDP-wrapped.
    """
    import torch

    b, length = continuation.shape
    if length < 1:
        raise ValueError("continuation_logits: the continuation is empty")
    ids = torch.cat([prompt_ids, continuation[:, :-1]], dim=1)
    mask = torch.cat([prompt_mask.long(), prompt_mask.new_ones(b, length - 1, dtype=torch.long)], dim=1)
    kwargs = {}
    core = getattr(model, "module", model)
    if _accepts_logits_to_keep(type(core)):
        kwargs["logits_to_keep"] = length
    logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), use_cache=False,
                   **kwargs).logits
    return logits[:, -length:]


def continuation_mask(prompt_ids, continuation, eos_id, stop_criteria=None):
    """``(B, L)`` bool: True at each row's tokens up to and including the first that ends it -- EOS, or the
    token that completes a stop string (``stop_criteria``: a ``transformers.StopStringCriteria``, called on
    ``[prompt | continuation[:, :j+1]]`` as ``generate`` calls it, so a stop string may begin in the prompt)."""
    import torch

    b, length = continuation.shape
    ended = torch.zeros(b, dtype=torch.bool, device=continuation.device)
    cols = []
    for j in range(length):
        cols.append(~ended)
        stop = continuation[:, j] == eos_id if eos_id is not None else torch.zeros_like(ended)
        if stop_criteria is not None:
            seq = torch.cat([prompt_ids, continuation[:, : j + 1]], dim=1)
            stop = stop | stop_criteria(seq, None).to(ended.device).bool()
        ended = ended | stop
        if bool(ended.all()):
            cols += [~ended] * (length - j - 1)
            break
    return torch.stack(cols, dim=1)


def sample_continuations(model, prompt_ids, prompt_mask, *, max_new_tokens: int, temperature: float = 1.0,
                         top_p: float = 1.0, pad_id: int, eos_id, stop_criteria=None):
    """``(continuation (B, L), mask (B, L))``: samples of a causal LM after left-padded prompts
    (:func:`.losses.hf_sample_prefixes`: the model's distribution at ``temperature``/``top_p``, nothing else),
    ended by EOS or the stop strings; ``L = 0`` when nothing was generated."""
    from .losses import hf_sample_prefixes

    extra = {}
    if stop_criteria is not None:
        from transformers import StoppingCriteriaList

        extra["stopping_criteria"] = StoppingCriteriaList([stop_criteria])
    seq = hf_sample_prefixes(model, max_new_tokens, temperature=temperature, top_p=top_p, input_ids=prompt_ids,
                             attention_mask=prompt_mask, pad_token_id=pad_id, eos_token_id=eos_id, **extra)
    cont = seq[:, prompt_ids.shape[1]:]
    if cont.shape[1] == 0:
        return cont, cont.bool()
    return cont, continuation_mask(prompt_ids, cont, eos_id, stop_criteria)
