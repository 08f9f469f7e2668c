"""``ensemblekd.testbed``: the Multi30k zero-shot testbed shared by the example scripts and benchmarks.

* :mod:`.multi30k` -- languages, directions, line-aligned splits, the third language of a direction;
* :mod:`.cache` -- :class:`Runner`, ``translate`` calls cached in line chunks keyed by model, settings and
  source lines (a longer run reuses a shorter one's chunks; a killed run loses at most one chunk);
* :mod:`.tokenizer` -- the joint unigram tokenizer with one id per language tag (train, check);
* :mod:`.evaluation` -- greedy BLEU / off-target of every direction, the checkpoint selection rule, the
  per-language target vocabulary from the train text;
* :mod:`.align` -- the encoder alignment loss (contrastive, English as the anchor) for zero-shot training.

Names resolve lazily (PEP 562): importing this package imports neither torch nor transformers.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "LANGS": ".multi30k", "LANG_TOKENS": ".multi30k", "SUPERVISED": ".multi30k", "ZERO_SHOT": ".multi30k",
    "read_lines": ".multi30k", "load_split": ".multi30k", "third_language": ".multi30k",
    "Runner": ".cache", "output_settings": ".cache", "read_cached": ".cache", "read_cached_chunk": ".cache",
    "chunk_path": ".cache", "lines_digest": ".cache",
    "SPECIALS": ".tokenizer", "train_tokenizer": ".tokenizer", "check_tokenizer": ".tokenizer",
    "MAX_OFF_TARGET": ".evaluation", "MIN_SUPERVISED_BLEU": ".evaluation", "encode_sources": ".evaluation",
    "greedy_translate": ".evaluation", "evaluate": ".evaluation", "selection_key": ".evaluation",
    "target_vocab": ".evaluation",
    "TAU": ".align", "alignment_inputs": ".align", "alignment_loss": ".align",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ensemblekd.testbed' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
