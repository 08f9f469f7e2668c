"""Ensemble components: which input each translation path reads, and building those inputs in-run.

A component k scores next tokens ``log p_k(y | prefix, x_k)`` for the target language:

* direct: ``x_k`` = the source sentence;
* pivot through language ``l``: ``x_k`` = the model's own beam-search translation of the source into ``l``,
  produced in the same run, batched over sentences (:func:`pivot_translations`); with ``pivot_nbest = m``
  the m best pivot translations give m components (rank 0 = 1-best);
* decoder-only language models: each prompt template is a component (prompt ensembles); pivots use the
  first template.

A component is (model, input, target prompt): with several models (``num_models = M``, sharing one tokenizer
and vocabulary, :mod:`.multimodel`) every path above exists once per model, model-major (model 0's
components, then model 1's, ...).  ``Component.model`` is the index of the model that scores it and
``Component.leg_model`` the model whose beam search produced its pivot translation (default: its own).

Every component has a weight ``w_k >= 0`` (default 1) used by the combiners.  Rows of a scorer batch are
sentence-major: row ``b * K + k`` is sentence b, component k (see :mod:`ensemblekd.decoding.scorers`).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Optional, Sequence

__all__ = ["Component", "ComponentError", "build_components", "check_pivots", "component_inputs",
           "pivot_translations", "make_scorer"]


class ComponentError(ValueError):
    """Bad component specification (pivots, weights, templates)."""


@dataclass(frozen=True)
class Component:
    """One translation path.  ``pivot=None`` is the direct path; ``rank`` picks the pivot n-best entry;
    ``template`` is the prompt of a decoder-only model (``None``: the adapter's default); ``model`` the index
    of the model that scores it (0: the first); ``leg_model`` the model that translates into the pivot
    (``None``: ``model`` itself)."""

    pivot: Optional[str] = None
    rank: int = 0
    weight: float = 1.0
    template: Optional[str] = None
    model: int = 0
    leg_model: Optional[int] = None

    def __post_init__(self):
        if not isinstance(self.rank, int) or self.rank < 0:
            raise ComponentError(f"Component.rank={self.rank!r}: expected an int >= 0")
        if not isinstance(self.weight, (int, float)) or not math.isfinite(self.weight) or self.weight < 0:
            raise ComponentError(f"Component.weight={self.weight!r}: expected a finite number >= 0")
        for field in ("model", "leg_model"):
            value = getattr(self, field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ComponentError(f"Component.{field}={value!r}: expected a model index (an int >= 0)")

    @property
    def pivot_model(self) -> int:
        """The model whose translation into ``pivot`` this component reads."""
        return self.model if self.leg_model is None else self.leg_model

    @property
    def name(self) -> str:
        if self.pivot is None:
            return "direct" if self.template is None else f"prompt:{self.template!r}"
        return f"pivot:{self.pivot}" + (f"#{self.rank + 1}" if self.rank else "")


def check_pivots(pivots: Sequence[str], src: str, tgt: str) -> tuple[str, ...]:
    """Pivots as a tuple; a pivot equal to ``src`` or ``tgt`` or given twice is an error."""
    if isinstance(pivots, str):
        raise ComponentError(f"pivots={pivots!r}: expected a sequence of language codes, e.g. ({pivots!r},)")
    pivots = tuple(pivots)
    seen = set()
    for i, p in enumerate(pivots):
        if p == src:
            raise ComponentError(f"pivots[{i}]={p!r} equals the source language src_lang={src!r}")
        if p == tgt:
            raise ComponentError(f"pivots[{i}]={p!r} equals the target language tgt_lang={tgt!r}")
        if p in seen:
            raise ComponentError(f"pivots[{i}]={p!r} is repeated; each pivot language may appear once")
        seen.add(p)
    return pivots


def build_components(pivots: Sequence[str] = (), *, direct: bool = True, pivot_nbest: int = 1,
                     weights: Optional[Sequence[float]] = None,
                     templates: Optional[Sequence[str]] = None, num_models: int = 1,
                     pivot_model: Optional[int] = None) -> list[Component]:
    """The component list: the direct path (one per template for decoder-only models) then, for each pivot,
    ``pivot_nbest`` components (rank 0..m-1); with ``num_models = M`` that list once per model, model-major.
    ``pivot_model``: the model that translates into every pivot (``None``: each component's own model).
    ``weights`` (one per component, in this order) default to 1."""
    if not isinstance(pivot_nbest, int) or pivot_nbest < 1:
        raise ComponentError(f"pivot_nbest={pivot_nbest!r}: expected an int >= 1")
    if isinstance(num_models, bool) or not isinstance(num_models, int) or num_models < 1:
        raise ComponentError(f"num_models={num_models!r}: expected an int >= 1")
    if pivot_model is not None and (isinstance(pivot_model, bool) or not isinstance(pivot_model, int)
                                    or not 0 <= pivot_model < num_models):
        raise ComponentError(f"pivot_model={pivot_model!r}: expected a model index in [0, {num_models})")
    if templates is not None:
        templates = list(templates)
        if not templates:
            raise ComponentError("prompts=[]: give at least one prompt template (or None for the default)")
    heads = [None] if templates is None else templates
    first = heads[0]
    comps = []
    for m in range(num_models):
        comps += [Component(template=t, model=m) for t in heads] if direct else []
        comps += [Component(pivot=p, rank=r, template=first, model=m,
                            leg_model=None if pivot_model in (None, m) else pivot_model)
                  for p in pivots for r in range(pivot_nbest)]
    if not comps:
        raise ComponentError("no components: direct=False and no pivots given")
    if weights is not None:
        weights = list(weights)
        if len(weights) != len(comps):
            names = ", ".join(c.name if num_models == 1 else f"{c.name}@models[{c.model}]" for c in comps)
            raise ComponentError(f"weights has {len(weights)} entries but there are {len(comps)} components "
                                 f"({names})")
        for i, w in enumerate(weights):
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                raise ComponentError(f"weights[{i}]={w!r}: expected a finite number >= 0")
        if not any(w > 0 for w in weights):
            raise ComponentError("weights are all zero: at least one component needs a positive weight")
        comps = [replace(c, weight=float(w)) for c, w in zip(comps, weights)]
    return comps


def make_scorer(model, adapter, rows: list[list[int]], tgt: str, num_components: int,
                allowed_tokens=None):
    """The scorer of ``rows`` (``B*K`` encoder inputs, or prompts for decoder-only models)."""
    if adapter.decoder_only:
        from .scorers import CausalLMScorer

        return CausalLMScorer(model, rows, num_components=num_components, pad_token_id=adapter.pad_token_id,
                              allowed_tokens=allowed_tokens)
    from .scorers import Seq2SeqScorer

    return Seq2SeqScorer(model, rows, adapter.decoder_prompt(tgt), num_components=num_components,
                         allowed_tokens=allowed_tokens)


def _fit(adapter, texts, src, tgt, template, what, limit):
    """Encode in-run texts (pivot translations); cut those longer than ``limit`` tokens, with a warning."""
    rows = adapter.encode(texts, src, tgt, template=template)
    long = [i for i, r in enumerate(rows) if limit is not None and len(r) > limit]
    if long:
        warnings.warn(f"{len(long)} {what} longer than the model's {limit} positions were truncated",
                      stacklevel=3)
        cut = adapter.encode([texts[i] for i in long], src, tgt, template=template, max_length=limit)
        for i, r in zip(long, cut):
            rows[i] = r
    return rows


def pivot_translations(model, adapter, sources: Sequence[str], src: str, pivots: Sequence[str], *,
                       beam_size: int, nbest: int, max_new_tokens: int, length_penalty: float = 1.0,
                       template: Optional[str] = None, allowed_tokens=None,
                       source_rows: Optional[dict] = None) -> dict[str, list[list[str]]]:
    """Translate a batch of ``sources`` into each pivot language with plain beam search (``Single``).

    Returns ``{pivot: [[1-best, 2nd, ...] per sentence]}`` (``nbest`` texts each).  Pivot languages that share
    the decoder prompt and the output mask (the target language is marked in the source: Marian, T5, our
    ``target_token_in_source`` scheme, decoder-only prompts) are decoded in ONE beam search over
    ``len(group) * B`` sentences; the others (forced target token in the decoder) get one search each.
    ``source_rows`` may give precomputed encoder inputs ``{pivot: rows}``; ``allowed_tokens`` is ``None``, a
    mask, or a function language -> mask.
    """
    from .combiners import Single
    from .search import beam_search

    groups: list[tuple[tuple, object, list[str]]] = []     # (prompt/offset key, mask, languages)
    for lang in pivots:
        mask = allowed_tokens(lang) if callable(allowed_tokens) else allowed_tokens
        key = (tuple(adapter.decoder_prompt(lang)), adapter.length_offset(lang))
        for g in groups:
            if g[0] == key and _same_mask(g[1], mask):
                g[2].append(lang)
                break
        else:
            groups.append((key, mask, [lang]))
    out: dict[str, list[list[str]]] = {}
    n = len(sources)
    for key, mask, langs in groups:
        rows = []
        for lang in langs:
            lang_rows = (source_rows or {}).get(lang)
            rows += lang_rows if lang_rows is not None else adapter.encode(list(sources), src, lang,
                                                                          template=template)
        scorer = make_scorer(model, adapter, rows, langs[0], 1, mask)
        hyps = beam_search(scorer, Single(), beam_size=beam_size, max_new_tokens=max_new_tokens,
                           eos_token_id=adapter.eos_token_ids, length_penalty=length_penalty,
                           length_offset=key[1], early_stopping=True, num_return=nbest,
                           stop=getattr(adapter, "stop_criteria", None))
        for g, lang in enumerate(langs):
            out[lang] = [[adapter.decode(_strip_eos(h.tokens, adapter.eos_token_ids)) for h in sent]
                         for sent in hyps[g * n:(g + 1) * n]]
    return {lang: out[lang] for lang in pivots}


def _same_mask(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    import torch

    return a.shape == b.shape and bool(torch.equal(a, b))


def component_inputs(adapter, components: Sequence[Component], sources: Sequence[str], src: str, tgt: str,
                     pivot_texts: dict[str, list[list[str]]], *, direct_rows: Optional[dict] = None,
                     max_length: Optional[int] = None) -> tuple[list[list[int]], list[list[str]]]:
    """Scorer rows for B sentences x K components (row ``b*K + k``) and the text each component read.

    ``pivot_texts``: ``{pivot: [n-best per sentence]}`` shared by every component, or per leg model
    ``{(leg model index, pivot): ...}`` (see :attr:`Component.pivot_model`); the model-keyed entry wins.
    ``direct_rows`` may give precomputed encoder inputs of the sources ``{template: rows}``.  Rows built from
    pivot translations longer than ``max_length`` (default ``adapter.max_source_length``) are cut, with a
    warning (decoder-only models: pass the positions left after the generated tokens).
    """
    limit = adapter.max_source_length if max_length is None else max_length
    K = len(components)
    rows: list[Optional[list[int]]] = [None] * (len(sources) * K)
    texts = [[""] * K for _ in sources]
    for k, comp in enumerate(components):
        if comp.pivot is None:
            col = (direct_rows or {}).get(comp.template)
            inputs = list(sources)
            if col is None:
                col = adapter.encode(inputs, src, tgt, template=comp.template)
        else:
            legs = pivot_texts.get((comp.pivot_model, comp.pivot))
            legs = pivot_texts[comp.pivot] if legs is None else legs
            inputs = [nb[comp.rank] if comp.rank < len(nb) else nb[-1] for nb in legs]
            col = _fit(adapter, inputs, comp.pivot, tgt, comp.template, f"pivot translations via {comp.pivot}",
                       limit)
        for b, r in enumerate(col):
            rows[b * K + k] = r
            texts[b][k] = inputs[b]
    return rows, texts


def _strip_eos(tokens: Sequence[int], eos) -> list[int]:
    """``tokens`` without a final EOS (``eos``: an id or a tuple of ids)."""
    tokens = list(tokens)
    ids = (eos,) if isinstance(eos, int) else tuple(eos)
    return tokens[:-1] if tokens and tokens[-1] in ids else tokens
