"""EBBS (and averaging) inside ``model.generate``: local ``custom_generate`` callables for ``transformers`` 5.

Research code built on ``generate`` switches to an ensemble with one argument::

    import ensemblekd.hf
    out = model.generate(**inputs, custom_generate=ensemblekd.hf.ebbs, ensemble_inputs=[pivot_inputs],
                         num_beams=5, max_new_tokens=64)

The components of sentence ``b`` are the ``generate`` input (component 0) and each entry of ``ensemble_inputs``
(component ``k >= 1``): encoder inputs of a seq2seq model (e.g. the source and its pivot translations), or
prompts of a decoder-only model (a prompt ensemble).  An entry is a ``BatchEncoding`` / dict with ``input_ids``
(and ``attention_mask``), a LongTensor ``[B, L]`` (every position counts), or ``B`` lists of ids.  Decoding is
:func:`~ensemblekd.decoding.search.beam_search` with :class:`~ensemblekd.decoding.combiners.EBBS` (``ebbs``) or
:class:`~ensemblekd.decoding.combiners.Average` (``average``) over one scorer for all ``B * K * Z`` rows.

What ``generate`` would have used is honoured: ``num_beams``, ``max_length`` / ``max_new_tokens``,
``length_penalty``, ``early_stopping``, ``num_return_sequences``, EOS ids, ``forced_bos_token_id`` (it becomes
the decoder prompt, counted in the length as ``generate`` counts it), ``forced_eos_token_id``, single-token
``bad_words_ids`` and ``suppress_tokens``, and stop strings given as ``stopping_criteria=[StopStringCriteria(
tokenizer, strings)]`` (``transformers`` drops ``tokenizer=`` for callables, so ``stop_strings=`` cannot be
used).  Any other logits processor or stopping criterion, sampling, or ``inputs_embeds`` is a one-line error.

Returns what ``generate`` returns for beam search: ``sequences`` ``[B * n, P + T']`` (the prompt / decoder prompt,
then the output, right-filled with ``pad`` -- ``eos`` when the pad id is 0 or unset -- as ``generate`` fills);
with ``return_dict_in_generate=True`` a ``GenerateBeam*Output`` with ``sequences_scores`` when
``output_scores=True`` (the ranking score: the ensemble's log-score over ``length ** length_penalty``).  Per-step
``scores`` / ``logits`` and attentions are ``None``: an ensemble has no single per-step distribution.
With one component (no ``ensemble_inputs``) the result equals plain ``generate(num_beams=...)``.

Never load ensemble code from the Hub: ``custom_generate="<repo>"`` writes the repository's code to disk before
its trust check.  These are local functions.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch

__all__ = ["ebbs", "average", "component_rows", "EnsembleGenerateError"]


class EnsembleGenerateError(ValueError):
    """A ``generate`` setting the ensemble cannot honour, or bad ``ensemble_inputs``."""


def _strip(ids: torch.Tensor, mask: Optional[torch.Tensor]) -> list[list[int]]:
    if mask is None:
        return [list(map(int, r)) for r in ids.tolist()]
    return [[int(t) for t, m in zip(r, mr) if m] for r, mr in zip(ids.tolist(), mask.tolist())]


def component_rows(main_ids: torch.Tensor, main_mask: Optional[torch.Tensor], ensemble_inputs) -> tuple[list, int]:
    """Token rows of ``B`` sentences x ``K`` components, sentence-major (row ``b*K + k``), padding removed.

    main_ids/main_mask: ``[B, L]`` the ``generate`` input and its mask (None: every position counts).
    Returns (rows, K).  ``O(B * K * L)``.
    """
    cols = [_strip(main_ids, main_mask)]
    B = len(cols[0])
    if ensemble_inputs is None:
        ensemble_inputs = []
    if isinstance(ensemble_inputs, (torch.Tensor, dict)) or hasattr(ensemble_inputs, "input_ids"):
        raise EnsembleGenerateError("ensemble_inputs: expected a list of inputs (one per extra component), got one "
                                    "input; wrap it in a list")
    for k, item in enumerate(ensemble_inputs):
        if hasattr(item, "keys") and "input_ids" in item:
            ids, mask = item["input_ids"], item.get("attention_mask")
        else:
            ids, mask = item, None
        if isinstance(ids, torch.Tensor):
            if ids.ndim != 2:
                raise EnsembleGenerateError(f"ensemble_inputs[{k}]: expected input ids of shape [B, L], got "
                                            f"{tuple(ids.shape)}")
            col = _strip(ids, None if mask is None else torch.as_tensor(mask))
        else:
            try:
                col = [[int(t) for t in r] for r in ids]
            except (TypeError, ValueError):
                raise EnsembleGenerateError(f"ensemble_inputs[{k}]: expected input ids (a tensor, lists of ints or "
                                            f"a BatchEncoding), got {type(item).__name__}") from None
        if len(col) != B:
            raise EnsembleGenerateError(f"ensemble_inputs[{k}]: {len(col)} rows, but the generate input has {B}")
        if any(not r for r in col):
            raise EnsembleGenerateError(f"ensemble_inputs[{k}]: an empty row (every component needs a token)")
        cols.append(col)
    K = len(cols)
    return [cols[k][b] for b in range(B) for k in range(K)], K


def _processors(logits_processor, config) -> tuple[Optional[int], Optional[int], list[int]]:
    """(forced BOS, forced EOS, banned single tokens) from the prepared processors; others are an error."""
    from transformers.generation import logits_process as lp

    banned = [int(t) for t in (getattr(config, "suppress_tokens", None) or [])]
    multi = [w for w in (getattr(config, "bad_words_ids", None) or []) if len(w) != 1]
    if multi:
        raise EnsembleGenerateError(f"bad_words_ids: only single-token entries are supported, got {multi[0]}")
    banned += [int(w[0]) for w in (getattr(config, "bad_words_ids", None) or [])]
    known = (lp.ForcedBOSTokenLogitsProcessor, lp.ForcedEOSTokenLogitsProcessor, lp.NoBadWordsLogitsProcessor,
             lp.SuppressTokensLogitsProcessor)
    for p in logits_processor or []:
        if not isinstance(p, known):
            raise EnsembleGenerateError(f"ensemblekd.hf: logits processor {type(p).__name__} is not supported (the "
                                        "ensemble honours forced BOS/EOS, bad_words_ids and suppress_tokens)")
    forced_eos = config.forced_eos_token_id
    if isinstance(forced_eos, (list, tuple)):
        forced_eos = forced_eos[0] if forced_eos else None
    return config.forced_bos_token_id, forced_eos, banned


def _stop(stopping_criteria):
    """The StopStringCriteria among the prepared criteria (None without one); other kinds are an error."""
    from transformers.generation import stopping_criteria as sc

    stops = []
    for c in stopping_criteria or []:
        if isinstance(c, sc.StopStringCriteria):
            stops.append(c)
        elif not isinstance(c, (sc.MaxLengthCriteria, sc.EosTokenCriteria)):
            raise EnsembleGenerateError(f"ensemblekd.hf: stopping criterion {type(c).__name__} is not supported "
                                        "(max length, EOS and StopStringCriteria are)")
    if len(stops) > 1:
        raise EnsembleGenerateError("ensemblekd.hf: give all stop strings in one StopStringCriteria")
    return stops[0] if stops else None


def _run(combiner, model, input_ids, logits_processor, stopping_criteria, generation_config, ensemble_inputs,
         inputs_tensor, model_kwargs):
    from .scorers import CausalLMScorer, Seq2SeqScorer
    from .search import beam_search

    cfg = generation_config
    if getattr(cfg, "do_sample", False):
        raise EnsembleGenerateError("do_sample=True: the ensemble decodes by beam search; pass do_sample=False")
    if inputs_tensor is None or inputs_tensor.dtype not in (torch.long, torch.int):
        raise EnsembleGenerateError("ensemblekd.hf: pass input_ids (inputs_embeds are not supported)")
    Z = int(cfg.num_beams or 1)
    n = int(cfg.num_return_sequences or 1)
    if n > Z:
        raise EnsembleGenerateError(f"num_return_sequences={n} must be <= num_beams={Z}")
    B = inputs_tensor.shape[0]
    mask = model_kwargs.get("attention_mask")
    main_mask = None if mask is None else mask[::Z] if mask.shape[0] == B * Z else mask
    if main_mask is not None and main_mask.shape != inputs_tensor.shape:
        main_mask = None
    rows, K = component_rows(inputs_tensor, main_mask, ensemble_inputs)
    forced_bos, forced_eos, banned = _processors(logits_processor, cfg)
    eos = [] if cfg._eos_token_tensor is None else [int(e) for e in cfg._eos_token_tensor.flatten().tolist()]
    pad = cfg._pad_token_tensor
    if Z == 1:   # greedy generate fills with pad; beam search with `pad or eos` (eos when the pad id is 0)
        fill = int(pad) if pad is not None else (eos[0] if eos else 0)
    else:
        fill = int(pad) if pad is not None and int(pad) != 0 else (eos[0] if eos else -1)
    allowed = None
    V = model.get_output_embeddings().weight.shape[0]
    if banned:
        allowed = torch.ones(V, dtype=torch.bool)
        allowed[torch.tensor(banned, dtype=torch.long)] = False
    cur = input_ids.shape[1]
    steps = int(cfg.max_length) - cur
    if model.config.is_encoder_decoder:
        starts = input_ids[::Z]
        if not bool((starts == starts[:1]).all()):
            raise EnsembleGenerateError("decoder_input_ids: every sentence must start with the same decoder prompt")
        prompt = [int(t) for t in starts[0].tolist()]
        offset = 0
        if forced_bos is not None and cur == 1:
            prompt.append(int(forced_bos))
            offset = 1
        scorer = Seq2SeqScorer(model, rows, prompt, K, allowed_tokens=allowed)
        head = torch.tensor(prompt, device=input_ids.device).expand(B, -1)
    else:
        if forced_bos is not None:
            raise EnsembleGenerateError("forced_bos_token_id: not supported for decoder-only models")
        pad_id = int(pad) if pad is not None else (eos[0] if eos else 0)
        scorer = CausalLMScorer(model, rows, K, pad_token_id=pad_id, allowed_tokens=allowed)
        head, offset = inputs_tensor, 0
    if steps - offset < 1:
        raise EnsembleGenerateError(f"max_length={cfg.max_length}: no room to generate after {cur + offset} tokens")
    hyps = beam_search(scorer, combiner, beam_size=Z, max_new_tokens=steps - offset, eos_token_id=eos or None,
                       length_penalty=float(cfg.length_penalty), length_offset=offset,
                       early_stopping=cfg.early_stopping, forced_eos_token_id=forced_eos, num_return=n,
                       stop=_stop(stopping_criteria))
    return _outputs(model, cfg, head, hyps, n, fill, model_kwargs)


def _outputs(model, cfg, head, hyps, n, fill, model_kwargs):
    """``generate``'s return value from the hypotheses: prompt rows repeated ``n`` times + outputs, filled."""
    width = max((len(h.tokens) for sent in hyps for h in sent[:n]), default=0)
    B = len(hyps)
    seqs = torch.full((B * n, head.shape[1] + width), fill, dtype=torch.long, device=head.device)
    seqs[:, : head.shape[1]] = head.repeat_interleave(n, dim=0)
    scores = torch.full((B * n,), float("-inf"), device=head.device)
    for b, sent in enumerate(hyps):
        for j, h in enumerate(sent[:n]):
            seqs[b * n + j, head.shape[1]: head.shape[1] + len(h.tokens)] = torch.tensor(h.tokens, dtype=torch.long)
            scores[b * n + j] = h.score
    if not cfg.return_dict_in_generate:
        return seqs
    from transformers.generation import utils as gu

    if int(cfg.num_beams or 1) == 1:   # greedy: generate's non-beam output (no sequences_scores)
        cls = gu.GenerateEncoderDecoderOutput if model.config.is_encoder_decoder else gu.GenerateDecoderOnlyOutput
        return cls(sequences=seqs)
    cls = gu.GenerateBeamEncoderDecoderOutput if model.config.is_encoder_decoder else gu.GenerateBeamDecoderOnlyOutput
    return cls(sequences=seqs, sequences_scores=scores if cfg.output_scores else None)


def ebbs(model, input_ids, logits_processor=None, stopping_criteria=None, generation_config=None,
         synced_gpus: bool = False, ensemble_inputs: Optional[Sequence[Any]] = None,
         ensemble_weights: Optional[Sequence[float]] = None, ensemble_voting: str = "sum", inputs_tensor=None,
         **model_kwargs):
    """``generate(custom_generate=ebbs, ensemble_inputs=[...], ensemble_weights=None, ensemble_voting="sum")``:
    EBBS (bi-level beam search) over the generate input and ``ensemble_inputs`` (module docstring).
    Cost: one decoder forward per step over ``B * K * num_beams`` rows, as ``generate`` over ``B * K`` inputs."""
    from .combiners import EBBS

    return _run(EBBS(weights=ensemble_weights, voting=ensemble_voting), model, input_ids, logits_processor,
                stopping_criteria, generation_config, ensemble_inputs, inputs_tensor, model_kwargs)


def average(model, input_ids, logits_processor=None, stopping_criteria=None, generation_config=None,
            synced_gpus: bool = False, ensemble_inputs: Optional[Sequence[Any]] = None,
            ensemble_weights: Optional[Sequence[float]] = None, ensemble_mean: str = "arithmetic",
            inputs_tensor=None, **model_kwargs):
    """``generate(custom_generate=average, ensemble_inputs=[...])``: beam search on the (weighted) mean of the
    components' distributions (``ensemble_mean`` "arithmetic" | "geometric")."""
    from .combiners import Average

    return _run(Average(weights=ensemble_weights, mean=ensemble_mean), model, input_ids, logits_processor,
                stopping_criteria, generation_config, ensemble_inputs, inputs_tensor, model_kwargs)
