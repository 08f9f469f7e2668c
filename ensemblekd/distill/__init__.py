"""ensemblekd.distill: train one student on an ensemble's outputs.

* :mod:`.mt` -- the MT student: sharded ensemble decoding across ranks, the Hugging Face training engine
  with SeqKD and the word-level KD losses (KL, reverse KL, JS, TVD; f-DISTILL, Wen et al., ACL 2023).
* :mod:`.parser` -- a span-based neural constituency parser student trained on averaged trees.

Names resolve lazily (PEP 562) so that importing the CLI does not import torch.
"""
from __future__ import annotations

import importlib

_LAZY = {
    # losses
    "DIVERGENCES": "ensemblekd.distill.mt.losses",
    "kl_divergence": "ensemblekd.distill.mt.losses",
    "reverse_kl_divergence": "ensemblekd.distill.mt.losses",
    "js_divergence": "ensemblekd.distill.mt.losses",
    "tv_distance": "ensemblekd.distill.mt.losses",
    "token_divergence": "ensemblekd.distill.mt.losses",
    "ensemble_log_probs": "ensemblekd.distill.mt.losses",
    "Prefixes": "ensemblekd.distill.mt.losses",
    "fdistill_loss": "ensemblekd.distill.mt.losses",
    "sample_prefixes": "ensemblekd.distill.mt.losses",
    "hf_sample_prefixes": "ensemblekd.distill.mt.losses",
    # parser student
    "train_parser": "ensemblekd.distill.parser.api",
    "load_parser": "ensemblekd.distill.parser.api",
    "Parser": "ensemblekd.distill.parser.api",
    "read_targets": "ensemblekd.distill.parser.api",
    "read_sentences": "ensemblekd.distill.parser.api",
    "ParserConfig": "ensemblekd.distill.parser.config",
    "ParserTrainConfig": "ensemblekd.distill.parser.config",
    "tree_crf_loss": "ensemblekd.distill.parser.tree_crf",
    "inside_log_partition": "ensemblekd.distill.parser.tree_crf",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ensemblekd.distill' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
