"""ensemblekd.decoding: ensembles of translation paths decoded with one beam loop.

Building blocks (public for research code):

* scorers: :class:`Scorer` protocol, :class:`Seq2SeqScorer`, :class:`CausalLMScorer`
  (HF models, one forward per step over sentences x components x beams, KV cache);
* several models: :func:`ensemble_scorer` / :class:`MultiScorer` (one scorer per model, log-probs side by side),
  :class:`ModelMismatchError` (models that cannot share an ensemble);
* combiners: :class:`Single`, :class:`Average`, :class:`Vote`, :class:`EBBS`;
* search: :func:`beam_search`, :class:`Hypothesis`.

Names are resolved lazily (PEP 562) so that importing the package does not import torch.
"""
from __future__ import annotations

import importlib

_LAZY = {
    # search
    "beam_search": "ensemblekd.decoding.search",
    "Hypothesis": "ensemblekd.decoding.search",
    # combiners
    "Candidates": "ensemblekd.decoding.combiners",
    "Single": "ensemblekd.decoding.combiners",
    "Average": "ensemblekd.decoding.combiners",
    "Vote": "ensemblekd.decoding.combiners",
    "EBBS": "ensemblekd.decoding.combiners",
    # scorers
    "Scorer": "ensemblekd.decoding.scorers",
    "Seq2SeqScorer": "ensemblekd.decoding.scorers",
    "CausalLMScorer": "ensemblekd.decoding.scorers",
    # several models (one scorer and KV cache per model)
    "MultiScorer": "ensemblekd.decoding.multimodel",
    "ModelMismatchError": "ensemblekd.decoding.multimodel",
    "ensemble_scorer": "ensemblekd.decoding.multimodel",
    # api (translate), components, language adapters
    "translate": "ensemblekd.decoding.api",
    "Translation": "ensemblekd.decoding.api",
    "ComponentOutput": "ensemblekd.decoding.api",
    "TranslateError": "ensemblekd.decoding.api",
    "METHODS": "ensemblekd.decoding.api",
    "Component": "ensemblekd.decoding.components",
    "build_components": "ensemblekd.decoding.components",
    "pivot_translations": "ensemblekd.decoding.components",
    "component_inputs": "ensemblekd.decoding.components",
    "LanguageAdapter": "ensemblekd.decoding.languages",
    "UnknownLanguageError": "ensemblekd.decoding.languages",
    "get_adapter": "ensemblekd.decoding.languages",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ensemblekd.decoding' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
