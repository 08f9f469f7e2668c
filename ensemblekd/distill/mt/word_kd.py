"""Word-level and on-policy KD terms for the student trainer (``--loss kl|rkl|js|tvd|skl|srkl|gkd|llmr``).

The teacher is white-box: the frozen base model read through each of an example's K component inputs
(the source for the direct component, the pivot translations for the pivot components), and its
next-token distribution is the average of the components' probabilities
(:func:`.losses.ensemble_log_probs`).  f-DISTILL (Wen et al., ACL 2023) needs prefixes from the teacher
and/or from the student:

* teacher-sampled prefixes: the ensemble's decoded outputs (the SeqKD targets), i.e. the teacher's own
  (beam-search) sequences rather than ancestral samples;
* student-sampled prefixes: drawn from the student with ``generate(do_sample=True)`` at each step, from
  the same decoder prompt.

Decoder-only students and teachers (batches with ``causal``): the components are prompts (the source's
template(s), the pivot texts' template) continued by the same continuation; the forwards are
:func:`.causal.continuation_logits`, and samples end at EOS or the adapter's stop strings, as decoding does.

:func:`word_level_terms` returns the two halves separately: the teacher-prefix half as a SUM over target
tokens (the trainer divides it by the global number of target tokens, like the SeqKD loss, so that it is
exact under data parallelism and gradient accumulation) and the student-prefix half as a MEAN over this
batch's sampled tokens (samples differ per process anyway).

The same two kinds of prefixes serve the newer objectives: skew KL on the teacher's outputs and skew
reverse KL on student samples (DistiLLM, :func:`.losses.skew_kl_divergence`); GKD's generalized JSD on a
batch of student samples with probability lambda, else on the teacher's outputs (Agarwal et al., 2024:
on-policy distillation, for encoder-decoder and decoder-only students); LLMR's policy gradient with the
teacher-induced reward on student samples (:mod:`.llmr`).

Cost per step: 1 (kl, skl, gkd off-policy) or 2 (others) student forwards, one teacher forward over the K
component rows per set of prefixes, and for the student-sampled losses one sampling pass of up to
``kd_max_new_tokens`` steps.
"""
from __future__ import annotations

__all__ = ["teacher_log_probs", "student_logits", "word_level_terms", "TEACHER_SIDE", "STUDENT_SIDE"]


def _causal(batch: dict) -> bool:
    return bool(batch.get("causal", False))


def teacher_log_probs(teacher, batch: dict, decoder_input_ids):
    """Averaged component log-probs (B, T, V) for decoder inputs (B, T); all K*B rows in one forward.

    Decoder-only batches: ``decoder_input_ids`` is the continuation (B, L) and the K component rows are the
    teacher's prompts (``teacher_input_ids``), each continued by its example's continuation."""
    import torch

    from .causal import continuation_logits
    from .losses import ensemble_log_probs

    owner = batch["teacher_owner"]
    with torch.no_grad():
        if _causal(batch):
            logits = continuation_logits(teacher, batch["teacher_input_ids"], batch["teacher_attention_mask"],
                                         decoder_input_ids[owner])
        else:
            logits = teacher(input_ids=batch["teacher_input_ids"], attention_mask=batch["teacher_attention_mask"],
                             decoder_input_ids=decoder_input_ids[owner]).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
        return torch.stack([ensemble_log_probs(logp[owner == b]) for b in range(decoder_input_ids.shape[0])])


def student_logits(model, batch: dict, decoder_input_ids=None):
    """The student's logits (B, T, V) on the batch's own targets (``decoder_input_ids=None``) or on other
    decoder inputs / decoder-only continuations; position j lines up with ``labels[:, j]`` for the batch's own
    targets."""
    if _causal(batch):
        from .causal import continuation_logits

        cont = batch["targets"] if decoder_input_ids is None else decoder_input_ids
        return continuation_logits(model, batch["input_ids"], batch["attention_mask"], cont)
    if decoder_input_ids is None:
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     decoder_input_ids=batch["decoder_input_ids"],
                     decoder_attention_mask=batch["decoder_attention_mask"]).logits
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                 decoder_input_ids=decoder_input_ids).logits


def _own_targets(batch: dict):
    """What the teacher reads for the batch's own targets: decoder inputs, or the decoder-only continuations."""
    return batch["targets"] if _causal(batch) else batch["decoder_input_ids"]


def _student_sampled(model, teacher, batch: dict, cfg, pad_id: int, eos_id: int, seed=None, stop_criteria=None):
    """(teacher log-probs, student log-probs, mask, sampled tokens) on sequences sampled from the student
    (``cfg.kd_temperature``, ``cfg.kd_top_p``, at most ``cfg.kd_max_new_tokens`` and no further than the
    student's ``max_position_embeddings``), or None.  With ``seed``, the
    samples are drawn from a random stream of their own (:func:`_seeded`), leaving the global one as it was.
    Decoder-only students sample after their prompts and end at EOS or a stop string (``stop_criteria``)."""
    import torch

    from .losses import hf_sample_prefixes

    labels = batch["labels"]
    real = (labels != -100).any(dim=1, keepdim=True)       # dummies contribute nothing
    core = getattr(model, "module", model)   # DDP-wrapped students generate through the inner model
    causal = _causal(batch)
    # the model's positions bound a sample (learned position embeddings have no row beyond them)
    used = max(batch["input_ids"].shape[1], batch["teacher_input_ids"].shape[1]) if causal else \
        int(batch["prompt_length"])
    limit = getattr(core.config, "max_position_embeddings", None)
    max_new = cfg.kd_max_new_tokens if not limit else min(cfg.kd_max_new_tokens, int(limit) - used)
    if max_new < 1:
        raise ValueError(f"a batch's prompts take {used} of the student's {limit} positions: no room to sample; "
                         "shorten the prompt template or the source lines")
    was_training = model.training
    model.eval()
    if causal:
        from .causal import sample_continuations

        with _seeded(seed, labels.device):
            cont, mask = sample_continuations(core, batch["input_ids"], batch["attention_mask"],
                                              max_new_tokens=max_new, temperature=cfg.kd_temperature,
                                              top_p=cfg.kd_top_p, pad_id=pad_id, eos_id=eos_id,
                                              stop_criteria=stop_criteria)
        model.train(was_training)
        if cont.shape[1] == 0:
            return None
        student = student_logits(model, batch, cont)
        return (teacher_log_probs(teacher, batch, cont), torch.log_softmax(student.float(), dim=-1), mask & real,
                cont)
    prompt_len = int(batch["prompt_length"])
    prompts = batch["decoder_input_ids"][:, :prompt_len]
    with _seeded(seed, prompts.device):
        seq = hf_sample_prefixes(core, max_new, temperature=cfg.kd_temperature, top_p=cfg.kd_top_p,
                                 input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                 decoder_input_ids=prompts, pad_token_id=pad_id, eos_token_id=eos_id)
    model.train(was_training)
    if seq.shape[1] <= prompt_len:  # nothing generated
        return None
    dec_in, predicted = seq[:, :-1], seq[:, 1:]
    # position j of `dec_in` predicts token j+1 of `seq`; keep sampled tokens up to the first EOS
    j = torch.arange(predicted.shape[1], device=seq.device) + 1
    sampled = (j >= prompt_len)[None, :].expand_as(predicted)
    is_eos = (predicted == eos_id) & sampled
    eos_before = torch.cumsum(is_eos.long(), dim=1) - is_eos.long()
    mask = sampled & (eos_before == 0) & real
    student = student_logits(model, batch, dec_in)
    return (teacher_log_probs(teacher, batch, dec_in), torch.log_softmax(student.float(), dim=-1), mask,
            predicted)


def _seeded(seed, device):
    """Context: the CPU (and this CUDA device's) random stream seeded with ``seed`` inside, restored after;
    a no-op for ``seed=None`` (and on other devices, whose generators are left alone)."""
    import contextlib

    import torch

    if seed is None or device.type not in ("cpu", "cuda"):
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def ctx():
        cuda = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.random.default_generator.manual_seed(seed)
            if cuda:
                with torch.cuda.device(device):
                    torch.cuda.manual_seed(seed)
            yield

    return ctx()


TEACHER_SIDE = {"kl": 1.0, "js": 0.5, "tvd": 0.5, "skl": 1.0}     # loss -> weight of the teacher-prefix half
STUDENT_SIDE = {"rkl": 1.0, "js": 0.5, "tvd": 0.5, "srkl": 1.0, "llmr": 1.0}


def word_level_terms(cfg, model, teacher, batch: dict, *, pad_id: int, eos_id: int, on_policy: bool = False,
                     sample_seed=None, stop_criteria=None):
    """``(teacher_half_sum, student_half_mean)`` of the loss ``cfg.loss`` (a :class:`.trainer.TrainConfig`);
    a half the loss does not have is ``None``.

    ``kl``, ``skl``: on the teacher's outputs; ``rkl``, ``srkl``, ``llmr``: on student samples; ``js``,
    ``tvd``: half of each; ``gkd``: the generalized JSD (``cfg.gkd_beta``) on student samples if
    ``on_policy`` (the trainer draws it with probability ``cfg.gkd_lambda`` per batch), else on the teacher's
    outputs, which are the ensemble's decoded sequences (TRL's ``seq_kd`` mode).  ``sample_seed``: the seed
    of the student's samples (None: the global random stream); ``stop_criteria``: what ends a decoder-only
    student's sample besides EOS (the adapter's stop strings).
    """
    import functools

    import torch

    from . import losses as L
    from .llmr import llmr_loss

    name = cfg.loss
    teacher_fns = {"kl": L.kl_divergence, "js": L.js_teacher_half, "tvd": L.tv_distance,
                   "skl": functools.partial(L.skew_kl_divergence, alpha=cfg.skew_alpha),
                   "gkd": functools.partial(L.generalized_jsd, beta=cfg.gkd_beta)}
    student_fns = {"rkl": L.reverse_kl_divergence, "js": L.js_student_half, "tvd": L.tv_distance,
                   "srkl": functools.partial(L.skew_reverse_kl_divergence, alpha=cfg.skew_alpha),
                   "gkd": functools.partial(L.generalized_jsd, beta=cfg.gkd_beta)}
    on_teacher = name in TEACHER_SIDE or (name == "gkd" and not on_policy)
    on_student = name in STUDENT_SIDE or (name == "gkd" and on_policy)
    if not (on_teacher or on_student):
        raise ValueError(f"loss {name!r} is not a word-level loss")
    t_sum = s_mean = None
    if on_teacher:
        student = student_logits(model, batch)
        args = (teacher_log_probs(teacher, batch, _own_targets(batch)),
                torch.log_softmax(student.float(), dim=-1), batch["labels"] != -100)
        t_sum = teacher_fns[name](*args, reduction="sum") * TEACHER_SIDE.get(name, 1.0)
    if on_student:
        side = _student_sampled(model, teacher, batch, cfg, pad_id, eos_id, sample_seed, stop_criteria)
        if side is None:
            raise RuntimeError("the student generated no tokens to sample prefixes from")
        t_logp, s_logp, mask, tokens = side
        if name == "llmr":
            s_mean = llmr_loss(t_logp, s_logp, tokens, mask, next_value=cfg.llmr_next, reward=cfg.llmr_reward,
                               baseline=cfg.llmr_baseline, scale=cfg.llmr_scale, clip=cfg.llmr_clip)
        else:
            s_mean = student_fns[name](t_logp, s_logp, mask, reduction="mean") * STUDENT_SIDE.get(name, 1.0)
    return t_sum, s_mean
