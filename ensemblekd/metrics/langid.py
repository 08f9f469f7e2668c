"""Language identification for the off-target rate (py3langid, an optional extra).

The off-target rate of a zero-shot direction is the share of outputs that are not in the requested target
language (Zhang et al., 2020); with a multilingual model the usual failure is an output in a supervised
target language such as English.  py3langid ships its model, so it works offline; it is restricted to the
candidate languages (default: all of py3langid's), which makes the decision a choice among the
languages a model can actually write.  Install with ``pip install 'ensemblekd[langid]'``.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

__all__ = ["LanguageId", "off_target_rate", "LangIdUnavailable"]

HINT = "the off-target rate needs py3langid: pip install 'ensemblekd[langid]' (or: pip install py3langid)"


class LangIdUnavailable(ImportError):
    """py3langid is not installed."""


class LanguageId:
    """``LanguageId(["de", "fr", "cs", "en"])("Ein Hund.") == "de"`` (ISO 639-1 codes of py3langid)."""

    def __init__(self, langs: Optional[Sequence[str]] = None):
        try:
            from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
        except ImportError:
            raise LangIdUnavailable(HINT) from None
        self._ident = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=False)
        self.langs = list(langs) if langs else None
        if self.langs:
            known = set(self._ident.nb_classes)
            unknown = [x for x in self.langs if x not in known]
            if unknown:
                raise ValueError(f"language id: py3langid does not know {', '.join(unknown)} "
                                 "(it uses ISO 639-1 codes such as de, fr, cs)")
            self._ident.set_languages(self.langs)

    def __call__(self, text: str) -> str:
        return self._ident.classify(text)[0]

    def off_target_rate(self, texts: Iterable[str], lang: str) -> float:
        """Share of ``texts`` not identified as ``lang`` (0.0 for no texts)."""
        texts = list(texts)
        return sum(self(t) != lang for t in texts) / max(1, len(texts))


def off_target_rate(texts: Iterable[str], lang: str, langs: Optional[Sequence[str]] = None) -> float:
    """Share of ``texts`` not in language ``lang``, deciding among ``langs`` (default: py3langid's 97)."""
    if langs is not None and lang not in langs:
        raise ValueError(f"off_target_rate: the target language {lang!r} is not among the candidates {list(langs)}")
    return LanguageId(langs).off_target_rate(texts, lang)
