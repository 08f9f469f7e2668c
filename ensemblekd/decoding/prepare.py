"""translate()'s inputs checked and made ready before any model work (components, rows, budget, mask, device)."""
from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Optional, Sequence

from .components import build_components, check_pivots
from .multimodel import model_labels

__all__ = ["METHODS", "DEFAULT_MAX_NEW_TOKENS", "TranslateError", "validate", "given_pivots", "source_rows",
           "check_max_new_tokens", "vocab_mask", "device_for", "as_models", "labels_of"]

METHODS = ("direct", "pivot", "average", "vote", "mbr", "ebbs")
DEFAULT_MAX_NEW_TOKENS = 256


class TranslateError(ValueError):
    """Bad arguments or inputs to :func:`~ensemblekd.decoding.api.translate` (raised before any model work)."""


def _int(name, value, low=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise TranslateError(f"{name}={value!r}: expected an int >= {low}")
    return value


def validate(adapter, sources, *, src, tgt, pivots, method, beam_size, num_return, pivot_nbest, mbr_nbest,
             batch_size, length_penalty, voting, mean, weights, prompts, metric, direct=True, num_models=1,
             pivot_model=None):
    """Every argument check that needs no model weights -> (pivots, components, prompts)."""
    if method not in METHODS:
        raise TranslateError(f"method={method!r}: expected one of {METHODS}")
    if isinstance(sources, (str, bytes)) or not isinstance(sources, Sequence):
        raise TranslateError(f"sources: expected a list of strings, got {type(sources).__name__}")
    for i, s in enumerate(sources):
        if not isinstance(s, str):
            raise TranslateError(f"sources line {i + 1}: expected a string, got {type(s).__name__}")
    _int("beam_size", beam_size)
    _int("batch_size", batch_size)
    _int("num_return", num_return)
    _int("pivot_nbest", pivot_nbest)
    _int("mbr_nbest", mbr_nbest)
    if num_return > beam_size:
        raise TranslateError(f"num_return={num_return} must be <= beam_size={beam_size}")
    if pivot_nbest > beam_size:
        raise TranslateError(f"pivot_nbest={pivot_nbest} must be <= beam_size={beam_size}")
    if mbr_nbest > beam_size:
        raise TranslateError(f"mbr_nbest={mbr_nbest} must be <= beam_size={beam_size}")
    if method == "vote" and num_return != 1:
        raise TranslateError("method='vote' is greedy and returns one translation: num_return must be 1")
    if not isinstance(length_penalty, (int, float)) or not math.isfinite(length_penalty):
        raise TranslateError(f"length_penalty={length_penalty!r}: expected a finite number")
    if voting not in ("sum", "max", "count"):
        raise TranslateError(f"voting={voting!r}: expected 'sum', 'max' or 'count'")
    if mean not in ("arithmetic", "geometric"):
        raise TranslateError(f"mean={mean!r}: expected 'arithmetic' or 'geometric'")
    if metric not in ("bleu", "chrf"):
        raise TranslateError(f"mbr_metric={metric!r}: expected 'bleu' or 'chrf'")

    adapter.check_source(src, "src_lang")
    adapter.check(tgt, "tgt_lang")
    pivots = check_pivots(pivots, src, tgt)
    for i, p in enumerate(pivots):
        adapter.check(p, f"pivots[{i}]")
        adapter.check_source(p, f"pivots[{i}]")
    if src == tgt:
        raise TranslateError(f"src_lang and tgt_lang are both {src!r}")
    if method == "direct" and pivots:
        raise TranslateError(f"method='direct' uses no pivots, got pivots={pivots}")
    if method == "pivot" and len(pivots) != 1:
        raise TranslateError(f"method='pivot' translates through exactly one language: pivots must have length 1, "
                             f"got {pivots}")
    if prompts is not None:
        if not adapter.decoder_only:
            raise TranslateError("prompts= is for decoder-only language models; this is a "
                                 f"{adapter.family} encoder-decoder model")
        if isinstance(prompts, str):
            prompts = [prompts]
        for p in prompts:
            adapter.check_template(p)
    if method in ("direct", "pivot") and (weights is not None or (prompts is not None and len(prompts) > 1)):
        raise TranslateError(f"method={method!r} decodes one path: weights / several prompts need an ensemble "
                             "method (average, vote, mbr, ebbs)")
    if method == "direct" and num_models > 1:
        raise TranslateError(f"method='direct' decodes one path of one model, got {num_models} models: use an "
                             "ensemble method (average, vote, mbr, ebbs)")
    if pivot_model is not None and (isinstance(pivot_model, bool) or not isinstance(pivot_model, int)
                                    or not 0 <= pivot_model < num_models):
        raise TranslateError(f"pivot_model={pivot_model!r}: expected a model index in [0, {num_models})")
    if method == "direct":
        comps = build_components((), templates=prompts)[:1]
    elif method == "pivot":   # models[0] translates the second leg; the first: models[pivot_model]
        comps = [replace(c, leg_model=pivot_model or None) for c in
                 build_components(pivots, direct=False, templates=prompts)]
    else:
        comps = build_components(pivots, direct=direct, pivot_nbest=pivot_nbest, weights=weights,
                                 templates=prompts, num_models=num_models, pivot_model=pivot_model)
    return pivots, comps, prompts


def given_pivots(pivot_texts, sources, pivots, pivot_nbest) -> Optional[dict[str, list[list[str]]]]:
    """Check ``pivot_texts`` ({pivot: one text or n-best list per source line}) -> {pivot: [n-best list]}."""
    if pivot_texts is None:
        return None
    if not isinstance(pivot_texts, Mapping):
        raise TranslateError(f"pivot_texts: expected a mapping pivot language -> texts, got {type(pivot_texts).__name__}")
    if set(pivot_texts) != set(pivots):
        raise TranslateError(f"pivot_texts: has languages {sorted(pivot_texts)}, expected exactly the pivots "
                             f"{list(pivots)}")
    out = {}
    for lang in pivots:
        texts = pivot_texts[lang]
        if isinstance(texts, (str, bytes)) or len(texts) != len(sources):
            n = "a string" if isinstance(texts, (str, bytes)) else f"{len(texts)} entries"
            raise TranslateError(f"pivot_texts[{lang!r}]: got {n}, expected one per source line ({len(sources)})")
        rows = []
        for i, t in enumerate(texts):
            nb = [t] if isinstance(t, str) else list(t) if isinstance(t, Sequence) else [t]
            if sources[i].strip() and (len(nb) < pivot_nbest or not all(isinstance(x, str) for x in nb)):
                raise TranslateError(f"pivot_texts[{lang!r}] line {i + 1}: expected a string or a list of at "
                                     f"least pivot_nbest={pivot_nbest} strings, got {t!r}")
            rows.append(nb)
        out[lang] = rows
    return out


def source_rows(adapter, sources, idx, src, langs, templates, truncate):
    """Encode the non-empty sources for each target language needed; long lines: error or truncate."""
    limit = adapter.max_source_length
    rows = {}
    long_lines = set()
    for lang in langs:
        for tpl in templates:
            enc = adapter.encode([sources[i] for i in idx], src, lang, template=tpl)
            for j, r in enumerate(enc):
                if limit is not None and len(r) > limit:
                    if not truncate:
                        raise TranslateError(
                            f"sources line {idx[j] + 1}: {len(r)} tokens, longer than the model's maximum of "
                            f"{limit} positions (pass truncate=True to cut such lines, with a warning)")
                    long_lines.add(idx[j])
                    enc[j] = adapter.encode([sources[idx[j]]], src, lang, template=tpl, max_length=limit)[0]
            rows[(lang, tpl)] = enc
    if long_lines:
        shown = ", ".join(str(i + 1) for i in sorted(long_lines)[:10])
        warnings.warn(f"truncated {len(long_lines)} source line(s) longer than {limit} tokens (lines {shown}"
                      f"{', ...' if len(long_lines) > 10 else ''})", stacklevel=3)
    return rows


def check_max_new_tokens(adapter, requested, langs, rows):
    """max_new_tokens in HF semantics (forced prompt tokens count), checked against the model's positions."""
    limit = adapter.max_target_positions
    if adapter.decoder_only:
        longest = max((len(r) for enc in rows.values() for r in enc), default=0)
        used, what = longest, "the longest prompt"
    else:
        used, what = max(len(adapter.decoder_prompt(lang)) for lang in langs) - 1, "the forced prompt"
    if requested is None:
        value = DEFAULT_MAX_NEW_TOKENS if limit is None else min(DEFAULT_MAX_NEW_TOKENS, limit - used)
        if value < 1:
            raise TranslateError(f"no room to generate: {what} uses {used} of the model's {limit} positions")
        return value
    _int("max_new_tokens", requested)
    if limit is not None and requested + used > limit:
        raise TranslateError(f"max_new_tokens={requested} plus {what} ({used} tokens) exceeds the model's "
                             f"maximum of {limit} positions")
    if not adapter.decoder_only and requested <= max(adapter.length_offset(lang) for lang in langs):
        raise TranslateError(f"max_new_tokens={requested} leaves no room after the forced target-language token")
    return requested


def vocab_mask(model, adapter, restrict_vocab, device):
    """language -> BoolTensor[V] (or None): the output vocabulary of each language, plus single-token
    ``bad_words_ids`` of the generation config removed (e.g. Marian's pad)."""
    import torch

    V = model.get_output_embeddings().weight.shape[0] if model.get_output_embeddings() is not None \
        else model.config.vocab_size
    gen = getattr(model, "generation_config", None)
    banned = [w[0] for w in (getattr(gen, "bad_words_ids", None) or []) if len(w) == 1]
    table, path = None, None
    if restrict_vocab is not False and restrict_vocab is not None:
        from .vocab import TargetVocabError, load_target_vocab

        source = restrict_vocab
        if restrict_vocab is True:
            source = Path(str(getattr(model, "name_or_path", "") or "")) / "ensemblekd_target_vocab.json"
        try:
            table, path = load_target_vocab(source, vocab_size=V)
        except TargetVocabError as exc:
            raise TranslateError(f"restrict_vocab: {exc}") from None

    def mask(lang):
        if table is None and not banned:
            return None
        allowed = torch.ones(V, dtype=torch.bool)
        if table is not None:
            if lang not in table:
                raise TranslateError(f"restrict_vocab: {path} has no vocabulary for {lang!r} "
                                     f"(it has {sorted(table)})")
            allowed[:] = False
            allowed[torch.as_tensor(table[lang], dtype=torch.long)] = True
            allowed[list(adapter.eos_token_ids)] = True
        if banned:
            allowed[torch.as_tensor(banned, dtype=torch.long)] = False
        return allowed.to(device)

    return mask


def device_for(model, device):
    """``device=`` -> the torch device to run on (None: the model's own)."""
    import torch

    from .._runtime import DeviceError, resolve_device

    if device is None:
        return next(model.parameters()).device
    try:
        return torch.device(resolve_device(device if isinstance(device, str) else str(device)))
    except DeviceError as exc:
        raise TranslateError(str(exc).replace("--device", "device=")) from None


def as_models(model, tokenizer) -> tuple[list, list]:
    """``model`` (one or a list) and ``tokenizer`` (one, or one per model) -> (models, tokenizers)."""
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    if not models:
        raise TranslateError("model=[]: give at least one model")
    if isinstance(tokenizer, (list, tuple)):
        if len(tokenizer) != len(models):
            raise TranslateError(f"tokenizer: got {len(tokenizer)} tokenizers for {len(models)} models; give one "
                                 "shared tokenizer or one per model")
        return models, list(tokenizer)
    return models, [tokenizer] * len(models)


def labels_of(models, names):
    """``model_names`` checked (one per model) -> the display label of each model."""
    if names is not None and (isinstance(names, str) or len(names) != len(models)):
        raise TranslateError(f"model_names: expected one name per model ({len(models)}), got {names!r}")
    return model_labels(models, names)
