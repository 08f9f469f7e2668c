"""Decoded records -> training examples: sources checked against the encoder, targets re-tokenised and cut to fit."""
from __future__ import annotations

from typing import Mapping, Sequence

from .data import TrainExample

__all__ = ["SourceError", "check_sources", "build_examples"]


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


def check_sources(adapter, sources: Mapping[str, Sequence[str]], directions, *, names=None,
                  truncate: bool = False) -> None:
    """Before any decoding: every non-empty source line must fit the model's encoder, for every target
    language it is encoded for; the error names the file (``names[lang]``) and its line number."""
    limit = adapter.max_source_length
    if limit is None or truncate:
        return
    for s, t in directions:
        lines = sources[s]
        keep = [i for i, x in enumerate(lines) if x.strip()]
        for chunk in range(0, len(keep), 4096):
            idx = keep[chunk:chunk + 4096]
            for i, x in zip(idx, adapter.encode([lines[i] for i in idx], s, t)):
                if len(x) > limit:
                    where = (names or {}).get(s, f"sources[{s!r}]")
                    raise SourceError(f"{where}:{i + 1}: {len(x)} tokens, the model accepts {limit} "
                                      "(shorten or drop the line, or pass --truncate)")


def build_examples(adapter, tokenizer, src, tgt, sources, records, pivots, with_teacher, truncate=False):
    """TrainExamples for one direction; empty source lines are skipped (returned count).

    ``records[i]``: ``{"targets": [text, ...]}`` (one example per target) and, with ``with_teacher``,
    ``{"pivots": {lang: text}}`` for the ``pivots`` whose texts feed the white-box teacher's components.

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
    enc = adapter.encode([sources[i] for i in keep], src, tgt, max_length=limit if truncate else None)
    prompt = tuple(adapter.decoder_prompt(tgt))
    teacher_inputs = [[tuple(x)] for x in enc]
    if with_teacher:
        for p in pivots:
            pivot_enc = adapter.encode([records[i]["pivots"][p] for i in keep], p, tgt, max_length=limit)
            for row, x in zip(teacher_inputs, pivot_enc):
                row.append(tuple(x))
    out, cut = [], 0
    max_target = adapter.max_target_positions
    for j, i in enumerate(keep):
        for target in _target_ids(adapter, tokenizer, records[i]["targets"], tgt, adapter.eos_token_id):
            if max_target is not None and len(prompt) + len(target) - 1 > max_target:
                target = target[: max_target - len(prompt)] + (adapter.eos_token_id,)
                cut += 1
            out.append(TrainExample(tuple(enc[j]), prompt, target,
                                    tuple(teacher_inputs[j]) if with_teacher else ()))
    if cut:
        warnings.warn(f"{src}-{tgt}: {cut} target(s) longer than the decoder's {max_target} positions were cut")
    return out, skipped
