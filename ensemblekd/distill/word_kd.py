"""Word-level KD step for :mod:`ensemblekd.distill.seqkd` (``--loss kl|rkl|js|tvd``).

The teacher is white-box: the frozen base model read through each of an example's K component
inputs (the source for the direct component, the pivot translations for the pivot components),
and its next-token distribution is the average of the components' probabilities
(:func:`ensemblekd.distill.losses.ensemble_log_probs`).  f-DISTILL (Wen et al., ACL 2023) needs
prefixes from the teacher and/or from the student:

* teacher-sampled prefixes: the ensemble's decoded outputs (the SeqKD targets), i.e. the
  teacher's own (beam-search) sequences rather than ancestral samples;
* student-sampled prefixes: drawn from the student with ``generate(do_sample=True)`` at each
  step, from the same decoder prompt.

Cost per step: 1 (kl) or 2 (others) student forwards, K teacher forwards per set of prefixes,
and for rkl/js/tvd one sampling pass of up to ``kd_max_new_tokens`` steps.
"""
from __future__ import annotations

import math

__all__ = ["teacher_log_probs", "word_level_loss"]


def teacher_log_probs(teacher, batch_ex, decoder_input_ids, pad_id: int, device):
    """Averaged component log-probs, shape (B, T, V), for decoder inputs (B, T).

    Example b contributes ``len(batch_ex[b].teacher_inputs)`` rows, all run in one forward.
    """
    import torch

    from .losses import ensemble_log_probs
    from .seqkd import _pad

    rows, owner = [], []
    for b, ex in enumerate(batch_ex):
        for x in ex.teacher_inputs:
            rows.append(x)
            owner.append(b)
    enc = _pad(rows, pad_id).to(device)
    att = _pad([[1] * len(r) for r in rows], 0).to(device)
    owner_t = torch.tensor(owner, device=device)
    with torch.no_grad():
        logits = teacher(input_ids=enc, attention_mask=att,
                         decoder_input_ids=decoder_input_ids[owner_t]).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
        out = []
        for b in range(len(batch_ex)):
            out.append(ensemble_log_probs(logp[owner_t == b]))
    return torch.stack(out)


def _student_sampled(model, teacher, batch_ex, batch, config, pad_id, eos_id, device):
    import torch

    from .losses import Prefixes, hf_sample_prefixes

    prompt_len = len(batch_ex[0].prompt)
    prompts = torch.tensor([list(ex.prompt) for ex in batch_ex], dtype=torch.long, device=device)
    was_training = model.training
    model.eval()
    seq = hf_sample_prefixes(model, config.kd_max_new_tokens, input_ids=batch["input_ids"],
                             attention_mask=batch["attention_mask"], decoder_input_ids=prompts,
                             pad_token_id=pad_id, eos_token_id=eos_id)
    model.train(was_training)
    if seq.shape[1] <= prompt_len:  # nothing generated
        return None
    dec_in, predicted = seq[:, :-1], seq[:, 1:]
    # position j of `dec_in` predicts token j+1 of `seq`; keep sampled tokens up to the first EOS
    j = torch.arange(predicted.shape[1], device=device) + 1
    sampled = (j >= prompt_len)[None, :].expand_as(predicted)
    is_eos = (predicted == eos_id) & sampled
    eos_before = torch.cumsum(is_eos.long(), dim=1) - is_eos.long()
    mask = sampled & (eos_before == 0)
    student = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    decoder_input_ids=dec_in).logits
    return Prefixes(teacher_log_probs(teacher, batch_ex, dec_in, pad_id, device),
                    torch.log_softmax(student.float(), dim=-1), mask)


def word_level_loss(model, teacher, batch_ex, batch, config, pad_id: int, eos_id: int, device):
    """The f-DISTILL loss ``config.loss`` for one collated batch (token mean per half)."""
    import torch

    from .losses import Prefixes, fdistill_loss

    name = config.loss
    teacher_side = student_side = None
    if name in ("kl", "js", "tvd"):
        student = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        decoder_input_ids=batch["decoder_input_ids"],
                        decoder_attention_mask=batch["decoder_attention_mask"]).logits
        teacher_side = Prefixes(teacher_log_probs(teacher, batch_ex, batch["decoder_input_ids"], pad_id, device),
                                torch.log_softmax(student.float(), dim=-1), batch["labels"] != -100)
    if name in ("rkl", "js", "tvd"):
        student_side = _student_sampled(model, teacher, batch_ex, batch, config, pad_id, eos_id, device)
        if student_side is None:
            raise RuntimeError("the student generated no tokens to sample prefixes from")
    loss = fdistill_loss(name, teacher_side, student_side)
    if not math.isfinite(float(loss.detach())):
        raise FloatingPointError(f"{name} loss is {float(loss)}")
    return loss
