"""off_target_rate / LanguageId (py3langid, optional): decisions, rates, and the install hint."""
import builtins

import pytest

pytest.importorskip("py3langid")

from ensemblekd.metrics import LangIdUnavailable, LanguageId, off_target_rate  # noqa: E402

TEXTS = {"de": "Ein kleiner Hund läuft durch den grünen Park.", "fr": "Un petit chien court dans le parc vert.",
         "en": "A small dog runs through the green park.", "cs": "Malý pes běží zeleným parkem."}


def test_decisions_and_rates():
    lid = LanguageId(list(TEXTS))
    assert {lang: lid(text) for lang, text in TEXTS.items()} == {lang: lang for lang in TEXTS}
    assert off_target_rate([TEXTS["fr"], TEXTS["en"], TEXTS["fr"], TEXTS["de"]], "fr", list(TEXTS)) == 0.5
    assert off_target_rate([], "fr") == 0.0
    assert off_target_rate([TEXTS["fr"]], "fr") == 0.0          # all of py3langid's languages by default
    with pytest.raises(ValueError, match="not among the candidates"):
        off_target_rate([TEXTS["fr"]], "fr", ["de", "en"])
    with pytest.raises(ValueError, match="does not know xx"):
        LanguageId(["de", "xx"])


def test_missing_py3langid_gives_an_install_hint(monkeypatch):
    real = builtins.__import__

    def fake(name, *a, **kw):
        if name.startswith("py3langid"):
            raise ImportError(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(LangIdUnavailable, match=r"pip install 'ensemblekd\[langid\]'"):
        off_target_rate(["x"], "fr")
