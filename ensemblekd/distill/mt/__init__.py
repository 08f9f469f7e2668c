"""``ensemblekd.distill.mt``: distil an MT ensemble into one student.

* :mod:`.pipeline` -- decode with the ensemble (sharded, across ranks), build the examples, train, save;
* :mod:`.config` -- what to distil: directions, pivots, teacher method (``DistillMTConfig``);
* :mod:`.decode` -- the teacher's decode function (``translate`` -> training records);
* :mod:`.shards` -- sharded, resumable, atomic decoding outputs with their manifest, decoded across ranks;
* :mod:`.examples` -- decoded records -> training examples (source lengths checked, targets re-tokenised);
* :mod:`.data` -- training examples, token-bucketed batches across ranks, collation;
* :mod:`.trainer` -- the student trainer on the Hugging Face engine (``Seq2SeqTrainer``): SeqKD and the
  word-level losses;
* :mod:`.word_kd`, :mod:`.losses` -- the word-level f-divergence KD terms (Wen et al., ACL 2023), skew KL,
  GKD's generalized JSD; :mod:`.llmr` -- the teacher-induced reward (LLMR);
* :mod:`.causal` -- decoder-only students and teachers: logits over a continuation, stopped samples;
* :mod:`.cli` -- ``ensemblekd distill mt``.

Names resolve lazily (PEP 562): importing this package does not import torch or transformers.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "DistillMTResult": ".pipeline", "distill_mt": ".pipeline", "model_digest": ".pipeline",
    "DistillMTConfig": ".config", "parse_direction": ".config", "TEACHER_METHODS": ".config",
    "SourceError": ".examples", "build_examples": ".examples", "check_sources": ".examples",
    "ShardedOutputs": ".shards", "ShardConfigError": ".shards", "decode_sharded": ".shards",
    "decode_all": ".shards", "sources_digest": ".shards",
    "TrainExample": ".data", "TokenBucketSampler": ".data", "make_batches": ".data", "collate": ".data",
    "TrainConfig": ".trainer", "TrainResult": ".trainer", "train_student": ".trainer",
    "ArchitectureMismatchError": ".trainer", "LOSSES": ".trainer", "continuation_ids": ".examples",
    "continuation_logits": ".causal", "continuation_mask": ".causal", "sample_continuations": ".causal",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ensemblekd.distill.mt' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
