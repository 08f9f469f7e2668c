"""Decoded records -> training examples: sources checked against the encoder, targets re-tokenised and cut to fit."""
from __future__ import annotations

from typing import Mapping, Sequence

from .data import TrainExample

__all__ = ["SourceError", "check_sources", "build_examples", "continuation_ids"]


class SourceError(ValueError):
    """A source line that cannot be decoded (too long for the model), named by file and line."""


def _target_ids(adapter, tokenizer, texts: Sequence[str], tgt_code: str, eos: int) -> list[tuple[int, ...]]:
    """Target-side token ids of each text + EOS (Marian's target vocabulary, no language prefix).

    Text is data, as for sources: a special or language token's string inside a target (``</s>``, ``__en__``,
    ``>>en<<``) is segmented into ordinary pieces, never into the control token (fast tokenizers: the
    adapter's text-only backend, one vocabulary for both sides; slow ones: ``split_special_tokens``)."""
    texts = list(texts)
    if getattr(tokenizer, "backend_tokenizer", None) is not None:
        ids = adapter._tokenize(texts, None, add_special_tokens=False)
    else:
        if adapter.family == "marian":  # MarianTokenizer reads a leading ">>xx<<" as a code (see MarianAdapter)
            texts = [" " + t if t.lstrip().startswith(">>") else t for t in texts]
        saved = getattr(tokenizer, "tgt_lang", None)
        if hasattr(tokenizer, "tgt_lang"):
            tokenizer.tgt_lang = tgt_code
        try:
            ids = tokenizer(text_target=texts, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        finally:
            if saved is not None:
                tokenizer.tgt_lang = saved
    return [tuple(int(i) for i in row) + (eos,) for row in ids]


def continuation_ids(adapter, prompt: Sequence[int], texts: Sequence[str]) -> list[tuple[int, ...]]:
    """Decoder-only targets: the continuation of ``prompt`` that decodes to each text and ends as a hypothesis
    of the decoding does -- with the adapter's first stop string (a newline by default: the translation is the
    first line) or, without stop strings, with EOS.  A space separates the text from a prompt that does not end
    in whitespace (``...French:`` -> `` Le chien ...``), as the LM writes it.  The text is data (special-token
    strings in it are plain pieces)."""
    last = adapter.tokenizer.decode(list(prompt[-1:])) if prompt else ""
    sep = "" if not last or last[-1:].isspace() else " "
    stops = getattr(adapter, "stop_strings", ())
    tail = stops[0] if stops else ""
    rows = adapter._tokenize([sep + t.strip() + tail for t in texts], None, add_special_tokens=False)
    eos = () if stops else (adapter.eos_token_id,)
    return [tuple(int(i) for i in row) + eos for row in rows]


def check_sources(adapter, sources: Mapping[str, Sequence[str]], directions, *, names=None,
                  truncate: bool = False, templates: Sequence = (None,)) -> None:
    """Before any decoding: every non-empty source line must fit the model's encoder (a decoder-only model:
    its positions, as the prompt of each template in ``templates``), for every target language it is encoded
    for; the error names the file (``names[lang]``) and its line number."""
    limit = adapter.max_source_length
    if limit is None or truncate:
        return
    extra = [{"template": t} for t in templates] if adapter.decoder_only else [{}]
    for (s, t), kw in ((d, kw) for d in directions for kw in extra):
        lines = sources[s]
        keep = [i for i, x in enumerate(lines) if x.strip()]
        for chunk in range(0, len(keep), 4096):
            idx = keep[chunk:chunk + 4096]
            for i, x in zip(idx, adapter.encode([lines[i] for i in idx], s, t, **kw)):
                if len(x) > limit:
                    where = (names or {}).get(s, f"sources[{s!r}]")
                    raise SourceError(f"{where}:{i + 1}: {len(x)} tokens, the model accepts {limit} "
                                      "(shorten or drop the line, or pass --truncate)")


def build_examples(adapter, tokenizer, src, tgt, sources, records, pivots, with_teacher, truncate=False,
                   templates: Sequence = (None,)):
    """TrainExamples for one direction; empty source lines are skipped (returned count).

    ``records[i]``: ``{"targets": [text, ...]}`` (one example per target) and, with ``with_teacher``,
    ``{"pivots": {lang: text}}`` for the ``pivots`` whose texts feed the white-box teacher's components.

    Decoder-only models: the student's prompt is the source in ``templates[0]`` (the template it will be used
    with), the target its continuation (:func:`continuation_ids`); the teacher's components are the source in
    every template and each pivot text in ``templates[0]`` (as :func:`~ensemblekd.decoding.components.
    build_components` builds them).

    Sources were checked against the encoder's length by :func:`check_sources` (or are cut with
    ``truncate``); a target whose re-tokenisation no longer fits the decoder's positions is cut, with a
    warning.
    """
    import warnings

    keep = [i for i, s in enumerate(sources) if s.strip()]
    skipped = len(sources) - len(keep)
    if not keep:
        return [], skipped
    limit = adapter.max_source_length
    causal = adapter.decoder_only
    templates = list(templates) if causal else [None]
    kw = [{"template": t} for t in templates] if causal else [{}]
    texts = [sources[i] for i in keep]
    enc = adapter.encode(texts, src, tgt, max_length=limit if truncate else None, **kw[0])
    prompt = () if causal else tuple(adapter.decoder_prompt(tgt))
    teacher_inputs = [[tuple(x)] for x in enc]
    if with_teacher:
        for extra in kw[1:]:   # decoder-only: the source in every further template
            for row, x in zip(teacher_inputs, adapter.encode(texts, src, tgt, max_length=limit if truncate else None,
                                                             **extra)):
                row.append(tuple(x))
        for p in pivots:
            pivot_enc = adapter.encode([records[i]["pivots"][p] for i in keep], p, tgt, max_length=limit, **kw[0])
            for row, x in zip(teacher_inputs, pivot_enc):
                row.append(tuple(x))
    out, cut = [], 0
    max_target = adapter.max_target_positions
    for j, i in enumerate(keep):
        if causal:
            targets = continuation_ids(adapter, enc[j], records[i]["targets"])
            room = None if limit is None else limit - max(len(x) for x in teacher_inputs[j])
        else:
            targets = _target_ids(adapter, tokenizer, records[i]["targets"], tgt, adapter.eos_token_id)
            room = None if max_target is None else max_target - len(prompt) + 1
        for target in targets:
            if room is not None and len(target) > room:
                target = target[: max(room, 1) - 1] + (target[-1] if causal else adapter.eos_token_id,)
                cut += 1
            out.append(TrainExample(tuple(enc[j]), prompt, target,
                                    tuple(teacher_inputs[j]) if with_teacher else ()))
    if cut:
        warnings.warn(f"{src}-{tgt}: {cut} target(s) longer than the decoder's positions were cut")
    return out, skipped
