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

All user input is validated before any model work (:func:`_validate`).  Empty (or blank) source lines give
empty translations without a model call; the output list is aligned with the input.
"""
from __future__ import annotations

import json
import math
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Optional, Sequence

from .components import build_components, check_pivots, component_inputs, make_scorer, pivot_translations
from .languages import get_adapter
from .multimodel import check_models, ensemble_scorer, model_groups, model_labels, split_rows

__all__ = ["METHODS", "Translation", "ComponentOutput", "TranslateError", "translate"]

METHODS = ("direct", "pivot", "average", "vote", "mbr", "ebbs")
DEFAULT_MAX_NEW_TOKENS = 256


class TranslateError(ValueError):
    """Bad arguments or inputs to :func:`translate` (raised before any model work)."""


@dataclass(frozen=True)
class ComponentOutput:
    """What one component read (``input``: the source or its pivot translation) and, for ``"mbr"``, its own
    beam-search outputs (``candidates``); ``name`` is its path, ``model`` the model that scored it."""

    name: str
    input: str
    candidates: tuple[str, ...] = ()
    model: str = ""


@dataclass(frozen=True)
class Translation:
    """One translation.

    text: the decoded output ("" for an empty source line).
    token_ids: generated ids, decoder prompt (forced language token) and final EOS excluded.
    score: the search's ranking score, ``logprob / length ** length_penalty`` (0.0 for empty lines).
    nbest: with ``num_return > 1``, the best ``num_return`` (this one first).
    provenance: with ``return_provenance=True`` (search methods): per token, the components whose lower
        beam (EBBS) / vote (vote) had it.
    components: with ``return_provenance=True``: per component its input and (``"mbr"``) candidates.
    """

    text: str
    token_ids: tuple[int, ...]
    score: float
    nbest: tuple["Translation", ...] = ()
    provenance: Optional[tuple[tuple[int, ...], ...]] = None
    components: tuple[ComponentOutput, ...] = field(default=())


def _int(name, value, low=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise TranslateError(f"{name}={value!r}: expected an int >= {low}")
    return value


def _validate(adapter, sources, *, src, tgt, pivots, method, beam_size, num_return, pivot_nbest, mbr_nbest,
              batch_size, length_penalty, voting, mean, weights, prompts, metric, direct=True, num_models=1,
              pivot_model=None):
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


def _given_pivots(pivot_texts, sources, pivots, pivot_nbest) -> Optional[dict[str, list[list[str]]]]:
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


def _source_rows(adapter, sources, idx, src, langs, templates, truncate):
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


def _max_new_tokens(adapter, requested, langs, rows):
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


def _allowed_tokens(model, adapter, restrict_vocab, device):
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


def _resolve_device(model, device):
    import torch

    from .._runtime import DeviceError, resolve_device

    if device is None:
        return next(model.parameters()).device
    try:
        return torch.device(resolve_device(device if isinstance(device, str) else str(device)))
    except DeviceError as exc:
        raise TranslateError(str(exc).replace("--device", "device=")) from None


def _combiner(method, comps, voting, mean):
    from .combiners import EBBS, Average, Single, Vote

    weights = [c.weight for c in comps]
    if method in ("direct", "pivot"):
        return Single()
    if method == "average":
        return Average(weights=weights, mean=mean)
    if method == "vote":
        return Vote(weights=weights)
    return EBBS(weights=weights, voting=voting)


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
    models, tokenizers = _as_models(model, tokenizer)
    labels = _labels(models, model_names)
    lm = {k: v for k, v in dict(stop_strings=tuple(stop_strings or ()), stop_at_newline=stop_at_newline,
                                chat=chat).items() if v != dict(stop_strings=(), stop_at_newline=True, chat=None)[k]}
    try:
        adapters = [adapter if adapter is not None else get_adapter(m, tokenizers[i], names=language_names, **lm)
                    for i, m in enumerate(models)]
    except ValueError as exc:
        raise TranslateError(str(exc)) from None
    adapter = adapters[0]
    pivots, comps, prompts = _validate(
        adapter, sources, src=src_lang, tgt=tgt_lang, pivots=pivots, method=method, beam_size=beam_size,
        num_return=num_return, pivot_nbest=pivot_nbest, mbr_nbest=mbr_nbest, batch_size=batch_size,
        length_penalty=length_penalty, voting=voting, mean=mean, weights=weights, prompts=prompts,
        metric=mbr_metric, direct=direct, num_models=len(models), pivot_model=pivot_model)
    if len(models) > 1:
        check_models(models, labels, adapters=adapters,
                     tokenizers=tokenizers if any(t is not tokenizers[0] for t in tokenizers) else None,
                     langs=(tgt_lang, *pivots, src_lang), templates=prompts or [None],
                     probe=[s for s in sources if s.strip()][:1])
    given = _given_pivots(pivot_texts, sources, pivots, pivot_nbest)
    idx = [i for i, s in enumerate(sources) if s.strip()]
    templates = sorted({c.template for c in comps if c.pivot is None}, key=str) if adapter.decoder_only else [None]
    pivot_template = comps[-1].template if pivots else None
    langs = (tgt_lang, *pivots)
    rows = _source_rows(adapter, sources, idx, src_lang, [tgt_lang], templates, truncate)
    rows.update(_source_rows(adapter, sources, idx, src_lang, pivots, [pivot_template], truncate))
    T = _max_new_tokens(adapter, max_new_tokens, langs, rows)
    dev = _resolve_device(models[0], device)
    mask = _allowed_tokens(models[0], adapter, restrict_vocab, dev)
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
            results = _translate_batch(models, adapter, [sources[i] for i in chunk], src_lang, tgt_lang, pivots,
                                       comps, method, mask, direct, pivot_rows, given_pivots=known, **opts)
            for i, r in zip(chunk, results):
                out[i] = r
            bar.update(len(chunk))
    return out


def _as_models(model, tokenizer) -> tuple[list, list]:
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


def _labels(models, names):
    if names is not None and (isinstance(names, str) or len(names) != len(models)):
        raise TranslateError(f"model_names: expected one name per model ({len(models)}), got {names!r}")
    return model_labels(models, names)


def _translate_batch(models, adapter, sources, src, tgt, pivots, comps, method, mask, direct_rows, pivot_rows,
                     *, beam_size, max_new_tokens, length_penalty, num_return, return_provenance, voting, mean,
                     mbr_nbest, metric, pivot_nbest, pivot_template, labels, given_pivots=None):
    from .search import beam_search

    pivot_texts = {}
    if given_pivots is not None:
        pivot_texts = given_pivots
    elif pivots:
        # the first legs: one beam search per model that translates into the pivots (each model object once)
        done = []
        for m in sorted({c.pivot_model for c in comps if c.pivot is not None}):
            legs = next((texts for obj, texts in done if obj is models[m]), None)
            if legs is None:
                legs = pivot_translations(
                    models[m], adapter, sources, src, pivots, beam_size=beam_size, nbest=pivot_nbest,
                    max_new_tokens=max_new_tokens - max(adapter.length_offset(p) for p in pivots),
                    length_penalty=length_penalty, template=pivot_template, allowed_tokens=mask,
                    source_rows=pivot_rows)
                done.append((models[m], legs))
            pivot_texts.update({(m, lang): texts for lang, texts in legs.items()})
    room = None
    if adapter.decoder_only and adapter.max_target_positions is not None:
        room = adapter.max_target_positions - max_new_tokens     # a prompt must leave room for the output
    rows, inputs = component_inputs(adapter, comps, sources, src, tgt, pivot_texts, direct_rows=direct_rows,
                                    max_length=room)
    K = len(comps)
    offset = adapter.length_offset(tgt)
    search = dict(max_new_tokens=max_new_tokens - offset, eos_token_id=adapter.eos_token_ids,
                  length_penalty=length_penalty, length_offset=offset, early_stopping=True,
                  forced_eos_token_id=adapter.forced_eos_token_id, stop=getattr(adapter, "stop_criteria", None))

    if method == "mbr":
        return _mbr(models, adapter, rows, inputs, comps, tgt, mask, beam_size, mbr_nbest, metric, num_return,
                    return_provenance, search, labels)
    beam = 1 if method == "vote" else beam_size
    allowed = mask(tgt)
    scorer = ensemble_scorer(models, [c.model for c in comps], rows,
                             lambda m, r, k: make_scorer(m, adapter, r, tgt, k, allowed))
    hyps = beam_search(scorer, _combiner(method, comps, voting, mean), beam_size=beam, num_return=num_return,
                       return_provenance=return_provenance, **search)
    results = []
    for b, sent in enumerate(hyps):
        nbest = tuple(_result(adapter, h, return_provenance) for h in sent)
        best = nbest[0] if nbest else Translation("", (), float("-inf"))
        extra = dict(nbest=nbest if num_return > 1 else ())
        if return_provenance:
            extra["components"] = tuple(ComponentOutput(c.name, inputs[b][k], model=labels[c.model])
                                        for k, c in enumerate(comps))
        results.append(_replace(best, **extra))
    return results


def _mbr(models, adapter, rows, inputs, comps, tgt, mask, beam_size, nbest, metric, num_return, want, search,
         labels):
    """Each component decodes alone (the B*K rows as B*K sentences: one beam search per model over its rows);
    MBR picks per sentence.  Candidates are in component order (then rank); a candidate votes with its
    component's weight.
    """
    from .combiners import Single
    from .mbr import expected_utilities, mbr_select
    from .search import beam_search

    K = len(comps)
    hyps = [None] * len(rows)
    for model, cols in model_groups([c.model for c in comps], models):
        scorer = make_scorer(model, adapter, split_rows(rows, K, cols), tgt, 1, mask(tgt))
        found = beam_search(scorer, Single(), beam_size=beam_size, num_return=nbest, **search)
        for i, h in enumerate(found):
            hyps[(i // len(cols)) * K + cols[i % len(cols)]] = h
    weighted = any(c.weight != 1.0 for c in comps)
    results = []
    for b in range(len(rows) // K):
        cands, cw = [], []
        for k in range(K):
            for h in hyps[b * K + k]:
                cands.append(_result(adapter, h, False))
                cw.append(comps[k].weight)
        texts = [c.text for c in cands]
        w = cw if weighted else None
        first = mbr_select(texts, metric, weights=w)
        order = [first]
        if num_return > 1:
            # the n-best: distinct texts by expected utility (a text several components produced votes
            # several times in the utilities, but is returned once); fewer when fewer distinct candidates
            gain = expected_utilities(texts, metric, weights=w)
            seen = {texts[first]}
            for i in sorted((i for i in range(len(texts)) if i != first), key=lambda i: (-gain[i], i)):
                if texts[i] not in seen:
                    seen.add(texts[i])
                    order.append(i)
        order = order[:num_return]
        extra = dict(nbest=tuple(cands[i] for i in order) if num_return > 1 else ())
        if want:
            per = [[] for _ in comps]
            for k in range(K):
                per[k] = tuple(_result(adapter, h, False).text for h in hyps[b * K + k])
            extra["components"] = tuple(ComponentOutput(c.name, inputs[b][k], per[k], labels[c.model])
                                        for k, c in enumerate(comps))
        results.append(_replace(cands[first], **extra))
    return results


def _result(adapter, h, want_prov):
    tokens = list(h.tokens)
    prov = h.provenance if want_prov else None
    if tokens and tokens[-1] in adapter.eos_token_ids:
        tokens = tokens[:-1]
        prov = prov[:-1] if prov is not None else None
    return Translation(adapter.decode(tokens), tuple(tokens), float(h.score), provenance=prov)


def _replace(t: Translation, **changes) -> Translation:
    from dataclasses import replace

    return replace(t, **changes)
