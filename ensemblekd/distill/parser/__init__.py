"""``ensemblekd.distill.parser``: a span-based neural constituency parser student trained on (averaged)
trees (Shayegh et al., ICLR 2024: the distill half of ensemble-then-distill for unsupervised parsing).

* :mod:`.api` -- read targets, train / resume, load, parse;
* :mod:`.model`, :mod:`.config` -- the span scorer and its settings;
* :mod:`.train` -- the training loop on ``accelerate`` (devices, processes, precision);
* :mod:`.tree_crf` -- the tree CRF loss (inside algorithm);
* :mod:`.cli` -- ``ensemblekd distill parser`` and ``ensemblekd parse``.

Names resolve lazily (PEP 562).
"""
from __future__ import annotations

import importlib

_LAZY = {
    "train_parser": ".api", "load_parser": ".api", "Parser": ".api", "read_targets": ".api",
    "read_sentences": ".api", "TreeFileError": ".api", "CheckpointError": ".api",
    "DECODERS": ".api", "mean_f1": ".api", "split_dev": ".api", "spans_to_bracket": ".api", "TrainResult": ".api",
    "ParserConfig": ".config", "ParserTrainConfig": ".config",
    "tree_crf_loss": ".tree_crf", "inside_log_partition": ".tree_crf", "span_marginals": ".tree_crf",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ensemblekd.distill.parser' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
