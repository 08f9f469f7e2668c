"""``translate``: one call from source lines to translations, for every decoding method.

Methods (components: the direct path plus one per pivot language, see :mod:`.components`):

* ``"direct"``  plain beam search of the direct path (token-identical to ``model.generate(num_beams=Z,
  length_penalty=a, early_stopping=True, max_new_tokens=T)`` with the family's forced target token);
* ``"pivot"``   plain beam search through one pivot language (``pivots`` has length 1): src -> l -> tgt;
* ``"average"`` beam search on the (weighted) mean of the components' distributions;
* ``"vote"``    greedy; each component votes for its argmax token;
* ``"mbr"``     each component's beam-search 1-best (``mbr_nbest``-best) are candidates; the one with the
  highest summed sentence-BLEU (or chrF) against the others wins (:func:`.mbr.mbr_select`);
* ``"ebbs"``    bi-level beam search (Wen et al., AAAI 2025), :class:`.combiners.EBBS`.

Several models (``model=[m1, m2, ...]`` sharing one tokenizer and vocabulary, :mod:`.multimodel`): every path
exists once per model (model-major components), every method and MBR combine them; one forward per model per
step, one KV cache per model.  Models that cannot be combined are refused before any work.

All user input is validated before any model work (:mod:`.prepare`); each batch of lines is then decoded by
:mod:`.batch` into :mod:`.results`' types.  Empty (or blank) source lines give empty translations without a model
call; the output list is aligned with the input.
"""
from __future__ import annotations

import sys
from typing import Mapping, Optional, Sequence

from .batch import translate_batch
from .languages import get_adapter
from .multimodel import check_models
from .prepare import (METHODS, TranslateError, as_models, check_max_new_tokens, device_for, given_pivots,
                      labels_of, source_rows, validate, vocab_mask)
from .results import ComponentOutput, Translation

__all__ = ["METHODS", "Translation", "ComponentOutput", "TranslateError", "translate"]


def translate(model, tokenizer, sources: Sequence[str], *, src_lang: str, tgt_lang: str,
              pivots: Sequence[str] = (), method: str = "ebbs", beam_size: int = 5,
              max_new_tokens: Optional[int] = None, length_penalty: float = 1.0, batch_size: int = 16,
              device=None, weights: Optional[Sequence[float]] = None, voting: str = "sum",
              mean: str = "arithmetic", pivot_nbest: int = 1, mbr_nbest: int = 1, mbr_metric: str = "bleu",
              num_return: int = 1, return_provenance: bool = False, truncate: bool = False,
              restrict_vocab=False, prompts: Optional[Sequence[str]] = None,
              language_names: Optional[Mapping[str, str]] = None, direct: bool = True, adapter=None,
              pivot_texts: Optional[Mapping[str, Sequence]] = None, sort_by_length: bool = True,
              progress: bool = True, pivot_model: Optional[int] = None,
              model_names: Optional[Sequence[str]] = None, stop_strings: Sequence[str] = (),
              stop_at_newline: bool = True, chat: Optional[bool] = None) -> list:
    """Translate ``sources`` (one string per line) from ``src_lang`` into ``tgt_lang``.

    Args (beyond the obvious):
        model: a Hugging Face model, or a list of models sharing one tokenizer and vocabulary (an ensemble of
            models: each contributes every path -- direct, pivots, prompts --, model-major; the same object
            twice is run once).  Models that differ in vocabulary, special tokens, language scheme or
            tokenizer are refused before any work (:class:`.multimodel.ModelMismatchError`).
        tokenizer: the shared tokenizer, or one per model (then they must be the same tokenizer).
        pivot_model: the index of the model that translates into the pivots for every component (default:
            each component's own model; ``method="pivot"``: ``models[0]`` translates the second leg).
        model_names: a display name per model (``ComponentOutput.model``); default: ``name_or_path``.
        pivots: pivot languages; each adds a component (``pivot_nbest`` components with its m-best).
        method: one of ``METHODS`` (module docstring).
        max_new_tokens: most generated tokens, forced target-language tokens included (as in
            ``model.generate``); default ``min(256, what the model's positions allow)``.
        weights: one per component (direct first, then each pivot's ranks); default 1.
        voting: EBBS upper-level rule "sum" | "max" | "count";  mean: averaging "arithmetic" | "geometric".
        mbr_nbest, mbr_metric: candidates per component and utility ("bleu" | "chrf") of ``"mbr"``.
        num_return: n-best returned in ``Translation.nbest`` (search methods; ``"mbr"``: distinct candidate
            texts ranked by expected utility, fewer when the components produced fewer distinct texts).
        truncate: cut sources longer than the model's positions (warning) instead of raising.
        restrict_vocab: restrict outputs to the target language's vocabulary: ``True`` reads
            ``<model dir>/ensemblekd_target_vocab.json``; or a table ``{lang: [ids]}``, a JSON file or a folder
            holding that file (:mod:`ensemblekd.decoding.vocab`, ``ensemblekd vocab build``).
        prompts: decoder-only models: prompt templates (``{src}``, ``{tgt}``, ``{text}``); one component each.
        language_names: code -> name for T5 prefixes / prompts;  adapter: a :class:`LanguageAdapter` to use.
        direct: include the direct path as a component of the ensemble methods (``False``: pivots only).
        pivot_texts: precomputed pivot translations ``{pivot: [text or n-best list per source line]}`` (keys:
            exactly ``pivots``); the first leg is then not decoded -- e.g. to share pivots between methods, or
            to use another system's. Default: produced in this run by beam search (``beam_size``).
        device: None (the model's device), "cpu", "cuda", ...; the model is moved there.
        sort_by_length: form batches of sentences of similar length (the output order is unchanged).
        progress: tqdm bar over sentences on stderr.
        stop_strings, stop_at_newline, chat: decoder-only models (:class:`.languages.DecoderOnlyAdapter`): more
            stop strings (``generate(stop_strings=...)`` semantics); end hypotheses at the first newline (default:
            the text is the first line, so the search ranks first lines); wrap prompts in the tokenizer's chat
            template (default: when it has one).

    Returns one :class:`Translation` per source line, in order.
    """
    models, tokenizers = as_models(model, tokenizer)
    labels = labels_of(models, model_names)
    lm = {k: v for k, v in dict(stop_strings=tuple(stop_strings or ()), stop_at_newline=stop_at_newline,
                                chat=chat).items() if v != dict(stop_strings=(), stop_at_newline=True, chat=None)[k]}
    try:
        adapters = [adapter if adapter is not None else get_adapter(m, tokenizers[i], names=language_names, **lm)
                    for i, m in enumerate(models)]
    except ValueError as exc:
        raise TranslateError(str(exc)) from None
    adapter = adapters[0]
    pivots, comps, prompts = validate(
        adapter, sources, src=src_lang, tgt=tgt_lang, pivots=pivots, method=method, beam_size=beam_size,
        num_return=num_return, pivot_nbest=pivot_nbest, mbr_nbest=mbr_nbest, batch_size=batch_size,
        length_penalty=length_penalty, voting=voting, mean=mean, weights=weights, prompts=prompts,
        metric=mbr_metric, direct=direct, num_models=len(models), pivot_model=pivot_model)
    if len(models) > 1:
        check_models(models, labels, adapters=adapters,
                     tokenizers=tokenizers if any(t is not tokenizers[0] for t in tokenizers) else None,
                     langs=(tgt_lang, *pivots, src_lang), templates=prompts or [None],
                     probe=[s for s in sources if s.strip()][:1])
    given = given_pivots(pivot_texts, sources, pivots, pivot_nbest)
    idx = [i for i, s in enumerate(sources) if s.strip()]
    templates = sorted({c.template for c in comps if c.pivot is None}, key=str) if adapter.decoder_only else [None]
    pivot_template = comps[-1].template if pivots else None
    langs = (tgt_lang, *pivots)
    rows = source_rows(adapter, sources, idx, src_lang, [tgt_lang], templates, truncate)
    rows.update(source_rows(adapter, sources, idx, src_lang, pivots, [pivot_template], truncate))
    T = check_max_new_tokens(adapter, max_new_tokens, langs, rows)
    dev = device_for(models[0], device)
    mask = vocab_mask(models[0], adapter, restrict_vocab, dev)
    for m in models:
        if device is not None:
            m.to(dev)
        m.eval()

    from tqdm.auto import tqdm

    out: list = [Translation("", (), 0.0)] * len(sources)
    opts = dict(beam_size=beam_size, max_new_tokens=T, length_penalty=length_penalty, num_return=num_return,
                return_provenance=return_provenance, voting=voting, mean=mean, mbr_nbest=mbr_nbest,
                metric=mbr_metric, pivot_nbest=pivot_nbest, pivot_template=pivot_template, labels=labels)
    with tqdm(total=len(sources), desc=f"translate ({method})", unit="sent", disable=not progress,
              file=sys.stderr) as bar:
        bar.update(len(sources) - len(idx))
        # batches of similar length: less padding, and fewer steps spent on sentences that are done
        longest = [max((len(enc[j]) for enc in rows.values()), default=0) for j in range(len(idx))]
        order = sorted(range(len(idx)), key=lambda j: -longest[j]) if sort_by_length else list(range(len(idx)))
        for start in range(0, len(order), batch_size):
            js = order[start:start + batch_size]
            chunk = [idx[j] for j in js]
            direct = {tpl: [rows[(tgt_lang, tpl)][j] for j in js] for tpl in templates}
            pivot_rows = {p: [rows[(p, pivot_template)][j] for j in js] for p in pivots}
            known = None if given is None else {p: [given[p][i] for i in chunk] for p in pivots}
            results = translate_batch(models, adapter, [sources[i] for i in chunk], src_lang, tgt_lang, pivots,
                                      comps, method, mask, direct, pivot_rows, given_pivots=known, **opts)
            for i, r in zip(chunk, results):
                out[i] = r
            bar.update(len(chunk))
    return out
