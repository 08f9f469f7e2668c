"""Model architectures of ensemblekd, registered with transformers' Auto classes.

* ``ensemblekd_m2m100`` (:mod:`ensemblekd.models.residual_free`): M2M100 without the self-attention residual in
  chosen encoder layers (Liu et al., ACL 2021) — the zero-shot testbed model.

:func:`register` is idempotent. ``import ensemblekd`` calls it as soon as transformers is imported (at once if
it already is), so ``AutoModelForSeq2SeqLM.from_pretrained(path)`` loads these models after ``import ensemblekd``
without ``import ensemblekd`` itself importing torch or transformers.
"""

from __future__ import annotations

__all__ = ["register", "MODEL_TYPES"]

MODEL_TYPES = ("ensemblekd_m2m100",)
_done = False


def register() -> None:
    """Register ensemblekd's configs and models with ``AutoConfig`` and ``AutoModelForSeq2SeqLM`` (idempotent)."""
    global _done
    if _done:
        return
    _done = True
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    from .residual_free import ResidualFreeM2M100Config, ResidualFreeM2M100ForConditionalGeneration

    AutoConfig.register(ResidualFreeM2M100Config.model_type, ResidualFreeM2M100Config, exist_ok=True)
    AutoModelForSeq2SeqLM.register(ResidualFreeM2M100Config, ResidualFreeM2M100ForConditionalGeneration,
                                   exist_ok=True)
