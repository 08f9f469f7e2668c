"""ensemblekd.distill: train one student on an ensemble's outputs.

* :mod:`.losses` -- word-level KD losses (KL, reverse KL, JS, TVD) with the f-DISTILL step-wise
  decomposition (Wen et al., ACL 2023).
* :mod:`.parser` -- a span-based neural constituency parser student trained on averaged trees.

Names resolve lazily (PEP 562) so that importing the CLI does not import torch.
"""
from __future__ import annotations

import importlib

_LAZY = {
    # losses
    "DIVERGENCES": "ensemblekd.distill.losses",
    "kl_divergence": "ensemblekd.distill.losses",
    "reverse_kl_divergence": "ensemblekd.distill.losses",
    "js_divergence": "ensemblekd.distill.losses",
    "tv_distance": "ensemblekd.distill.losses",
    "token_divergence": "ensemblekd.distill.losses",
    "ensemble_log_probs": "ensemblekd.distill.losses",
    "Prefixes": "ensemblekd.distill.losses",
    "fdistill_loss": "ensemblekd.distill.losses",
    "sample_prefixes": "ensemblekd.distill.losses",
    "hf_sample_prefixes": "ensemblekd.distill.losses",
    # parser student
    "train_parser": "ensemblekd.distill.parser",
    "load_parser": "ensemblekd.distill.parser",
    "Parser": "ensemblekd.distill.parser",
    "read_targets": "ensemblekd.distill.parser",
    "read_sentences": "ensemblekd.distill.parser",
    "ParserConfig": "ensemblekd.distill.parser_config",
    "ParserTrainConfig": "ensemblekd.distill.parser_config",
    "tree_crf_loss": "ensemblekd.distill.tree_crf",
    "inside_log_partition": "ensemblekd.distill.tree_crf",
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
