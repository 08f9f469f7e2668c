"""Several teacher models for ``distill mt`` (issue 13): which methods and losses they allow, and loading them.

The teachers form one ensemble (:mod:`ensemblekd.decoding.multimodel`: every model's direct and pivot paths), so
they must share the student's tokenizer and vocabulary; that is checked from the folders' configs and tokenizers
before any weights load.  ``config`` is a :class:`~ensemblekd.distill.mt.config.DistillMTConfig`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

__all__ = ["ONE_MODEL_METHODS", "check_teachers", "check_teacher_folders", "load_teachers"]

ONE_MODEL_METHODS = ("direct", "pivot")


def check_teachers(config, num_teachers: int) -> None:
    """Several teacher models need an ensemble method and sequence-level KD (one-line errors naming the flags;
    ``DistillMTConfig`` calls it on itself)."""
    if num_teachers > 1:
        if config.method in ONE_MODEL_METHODS:
            raise ValueError(f"--method {config.method} decodes with one model; {num_teachers} --teacher-model need "
                             "an ensemble method (ebbs, average, vote, mbr, union)")
        if config.train.loss != "seqkd":
            raise ValueError(f"--loss {config.train.loss} takes one white-box teacher model; with {num_teachers} "
                             "--teacher-model use --loss seqkd")


def check_teacher_folders(model_path: Path, teacher_paths: Sequence[Path], config) -> None:
    """From configs and tokenizers only (no weights): the teachers and the student's initialisation share one
    tokenizer and vocabulary; else a one-line error naming two of them and what differs."""
    from ...decoding.multimodel import ModelMismatchError, check_model_folders

    langs = sorted({x for s, t in config.directions for x in (s, t, *config.pivots_for(s, t))})
    try:
        check_model_folders([model_path, *teacher_paths], langs=langs)
    except ModelMismatchError as exc:
        raise ValueError(f"--teacher-model: {exc}".replace("models[0] (", "the student's init (", 1)) from None


def load_teachers(model_path: Path, teacher_paths: Sequence[Path], base, quiet: bool) -> list:
    """The teacher models: ``base`` where a teacher is the student's initialisation; each folder loaded once."""
    from ..._runtime import auto_model_class, quiet_hf_progress

    loaded = {model_path.resolve(): base}
    out = []
    for p in teacher_paths:
        if p.resolve() not in loaded:
            with quiet_hf_progress(quiet):
                loaded[p.resolve()] = auto_model_class(base.config).from_pretrained(p).eval()
        out.append(loaded[p.resolve()])
    return out
