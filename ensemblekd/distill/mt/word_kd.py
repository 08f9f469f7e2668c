"""Word-level KD terms for the student trainer (``--loss kl|rkl|js|tvd``).

The teacher is white-box: the frozen base model read through each of an example's K component inputs
(the source for the direct component, the pivot translations for the pivot components), and its
next-token distribution is the average of the components' probabilities
(:func:`.losses.ensemble_log_probs`).  f-DISTILL (Wen et al., ACL 2023) needs prefixes from the teacher
and/or from the student:

* teacher-sampled prefixes: the ensemble's decoded outputs (the SeqKD targets), i.e. the teacher's own
  (beam-search) sequences rather than ancestral samples;
* student-sampled prefixes: drawn from the student with ``generate(do_sample=True)`` at each step, from
  the same decoder prompt.

:func:`word_level_terms` returns the two halves separately: the teacher-prefix half as a SUM over target
tokens (the trainer divides it by the global number of target tokens, like the SeqKD loss, so that it is
exact under data parallelism and gradient accumulation) and the student-prefix half as a MEAN over this
batch's sampled tokens (samples differ per process anyway).

Cost per step: 1 (kl) or 2 (others) student forwards, one teacher forward over the K component rows per
set of prefixes, and for rkl/js/tvd one sampling pass of up to ``kd_max_new_tokens`` steps.
"""
from __future__ import annotations

__all__ = ["teacher_log_probs", "word_level_terms"]


def teacher_log_probs(teacher, batch: dict, decoder_input_ids):
    """Averaged component log-probs (B, T, V) for decoder inputs (B, T); all K*B rows in one forward."""
    import torch

    from .losses import ensemble_log_probs

    owner = batch["teacher_owner"]
    with torch.no_grad():
        logits = teacher(input_ids=batch["teacher_input_ids"], attention_mask=batch["teacher_attention_mask"],
                         decoder_input_ids=decoder_input_ids[owner]).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
        return torch.stack([ensemble_log_probs(logp[owner == b]) for b in range(decoder_input_ids.shape[0])])


def _student_sampled(model, teacher, batch: dict, max_new_tokens: int, pad_id: int, eos_id: int):
    """(teacher log-probs, student log-probs, mask) on prefixes sampled from the student, or None."""
    import torch

    from .losses import hf_sample_prefixes

    labels = batch["labels"]
    prompt_len = int(batch["prompt_length"])
    prompts = batch["decoder_input_ids"][:, :prompt_len]
    was_training = model.training
    model.eval()
    core = getattr(model, "module", model)   # DDP-wrapped students generate through the inner model
    seq = hf_sample_prefixes(core, max_new_tokens, input_ids=batch["input_ids"],
                             attention_mask=batch["attention_mask"], decoder_input_ids=prompts,
                             pad_token_id=pad_id, eos_token_id=eos_id)
    model.train(was_training)
    if seq.shape[1] <= prompt_len:  # nothing generated
        return None
    dec_in, predicted = seq[:, :-1], seq[:, 1:]
    # position j of `dec_in` predicts token j+1 of `seq`; keep sampled tokens up to the first EOS
    j = torch.arange(predicted.shape[1], device=seq.device) + 1
    sampled = (j >= prompt_len)[None, :].expand_as(predicted)
    is_eos = (predicted == eos_id) & sampled
    eos_before = torch.cumsum(is_eos.long(), dim=1) - is_eos.long()
    real = (labels != -100).any(dim=1, keepdim=True)       # dummies contribute nothing
    mask = sampled & (eos_before == 0) & real
    student = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    decoder_input_ids=dec_in).logits
    return teacher_log_probs(teacher, batch, dec_in), torch.log_softmax(student.float(), dim=-1), mask


def word_level_terms(name: str, model, teacher, batch: dict, *, pad_id: int, eos_id: int,
                     kd_max_new_tokens: int = 64):
    """``(teacher_half_sum, student_half_mean)`` of the f-DISTILL loss ``name`` (module doc); a half
    the loss does not have is ``None``.  ``kl``: KL(p||q) on the teacher's outputs; ``rkl``: KL(q||p) on
    student samples; ``js``, ``tvd``: half of each."""
    import torch

    from .losses import js_student_half, js_teacher_half, kl_divergence, reverse_kl_divergence, tv_distance

    t_sum = s_mean = None
    if name in ("kl", "js", "tvd"):
        student = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        decoder_input_ids=batch["decoder_input_ids"],
                        decoder_attention_mask=batch["decoder_attention_mask"]).logits
        args = (teacher_log_probs(teacher, batch, batch["decoder_input_ids"]),
                torch.log_softmax(student.float(), dim=-1), batch["labels"] != -100)
        fn = {"kl": kl_divergence, "js": js_teacher_half, "tvd": tv_distance}[name]
        t_sum = fn(*args, reduction="sum") * (1.0 if name == "kl" else 0.5)
    if name in ("rkl", "js", "tvd"):
        side = _student_sampled(model, teacher, batch, kd_max_new_tokens, pad_id, eos_id)
        if side is None:
            raise RuntimeError("the student generated no tokens to sample prefixes from")
        fn = {"rkl": reverse_kl_divergence, "js": js_student_half, "tvd": tv_distance}[name]
        s_mean = fn(*side, reduction="mean") * (1.0 if name == "rkl" else 0.5)
    return t_sum, s_mean
