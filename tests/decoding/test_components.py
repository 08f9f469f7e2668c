"""Component specs, validation, row layout and in-run pivot translations."""
from __future__ import annotations

import math

import pytest

from ensemblekd.decoding.components import (
    Component,
    ComponentError,
    build_components,
    check_pivots,
    component_inputs,
    pivot_translations,
)

from .tiny_models import tiny


def test_default_is_direct_only():
    assert build_components() == [Component()]
    assert Component().name == "direct"


def test_order_names_and_weights():
    comps = build_components(("en", "cs"), pivot_nbest=2, weights=[1, 0.5, 0.25, 2, 0])
    assert [c.name for c in comps] == ["direct", "pivot:en", "pivot:en#2", "pivot:cs", "pivot:cs#2"]
    assert [(c.pivot, c.rank) for c in comps] == [(None, 0), ("en", 0), ("en", 1), ("cs", 0), ("cs", 1)]
    assert [c.weight for c in comps] == [1.0, 0.5, 0.25, 2.0, 0.0]
    assert [c.name for c in build_components(("en",), direct=False)] == ["pivot:en"]


def test_prompt_components():
    comps = build_components(("en",), templates=["A {text}", "B {text}"])
    assert [(c.pivot, c.template) for c in comps] == [(None, "A {text}"), (None, "B {text}"), ("en", "A {text}")]


@pytest.mark.parametrize("kwargs,match", [
    (dict(direct=False), "no components"),
    (dict(pivots=("en",), weights=[1.0]), "weights has 1 entries but there are 2 components"),
    (dict(pivots=("en",), weights=[1.0, -1.0]), r"weights\[1\]=-1.0"),
    (dict(pivots=("en",), weights=[1.0, math.nan]), r"weights\[1\]=nan"),
    (dict(pivots=("en",), weights=[1.0, True]), r"weights\[1\]=True"),
    (dict(pivots=("en",), weights=[0, 0]), "all zero"),
    (dict(pivots=("en",), pivot_nbest=0), "pivot_nbest=0"),
    (dict(templates=[]), "at least one prompt"),
])
def test_build_components_errors(kwargs, match):
    with pytest.raises(ComponentError, match=match):
        build_components(**kwargs)


@pytest.mark.parametrize("pivots,match", [
    (("de",), r"pivots\[0\]='de' equals the source language"),
    (("en", "fr"), r"pivots\[1\]='fr' equals the target language"),
    (("en", "cs", "en"), r"pivots\[2\]='en' is repeated"),
    ("en", "expected a sequence of language codes"),
])
def test_check_pivots(pivots, match):
    with pytest.raises(ComponentError, match=match):
        check_pivots(pivots, "de", "fr")
    assert check_pivots(["en", "cs"], "de", "fr") == ("en", "cs")


def test_component_validates_itself():
    with pytest.raises(ComponentError, match="weight"):
        Component(weight=-1)
    with pytest.raises(ComponentError, match="rank"):
        Component(rank=-1)


class FakeAdapter:
    """Encodes a text as [len(text), <code of the language pair>]; source limit 6."""

    decoder_only = False
    max_source_length = 6

    def encode(self, texts, src, tgt, *, max_length=None, template=None):
        rows = [[len(t), hash((src, tgt)) % 97] + [0] * len(t) for t in texts]
        return [r[:max_length] if max_length else r for r in rows]


def test_component_inputs_layout_and_pivot_ranks():
    comps = build_components(("en", "cs"), pivot_nbest=2)
    sources = ["ab", "c"]
    pivots = {"en": [["E1", "E2"], ["e1", "e2"]], "cs": [["C1", "C2"], ["c1", "c2"]]}
    rows, texts = component_inputs(FakeAdapter(), comps, sources, "de", "fr", pivots)
    assert texts == [["ab", "E1", "E2", "C1", "C2"], ["c", "e1", "e2", "c1", "c2"]]
    K = len(comps)
    assert len(rows) == 2 * K
    for b in range(2):
        for k in range(K):
            text = texts[b][k]
            pair = ("de" if comps[k].pivot is None else comps[k].pivot, "fr")
            assert rows[b * K + k][:2] == [len(text), hash(pair) % 97]


def test_long_pivot_translations_are_cut_with_a_warning():
    comps = build_components(("en",))
    with pytest.warns(UserWarning, match="1 pivot translations via en longer than the model's 6 positions"):
        rows, _ = component_inputs(FakeAdapter(), comps, ["ab"], "de", "fr", {"en": [["a long pivot"]]})
    assert len(rows[1]) == 6
    with pytest.warns(UserWarning, match="longer than the model.s 4 positions"):
        rows, _ = component_inputs(FakeAdapter(), comps, ["ab"], "de", "fr", {"en": [["a long pivot"]]},
                                   max_length=4)
    assert len(rows[1]) == 4


@pytest.mark.parametrize("family", ["nllb", "t5", "ekd_src"])   # one search per pivot / all pivots in one
def test_pivot_translations_are_the_direct_translations_into_the_pivot(family):
    from ensemblekd.decoding.api import translate

    t = tiny(family)
    from ensemblekd.decoding.languages import get_adapter

    adapter = get_adapter(t.model, t.tokenizer)
    sources = ["Ein Hund läuft im Park.", "Eine Frau liest ein Buch am Tisch."]
    en, cs = t.code("en"), t.code("cs")
    out = pivot_translations(t.model, adapter, sources, t.code("de"), [en, cs], beam_size=3, nbest=2,
                             max_new_tokens=8 - adapter.length_offset(en))
    assert list(out) == [en, cs] and all(len(nb) == 2 for nb in out[en])
    for lang in (en, cs):
        ref = translate(t.model, t.tokenizer, sources, src_lang=t.code("de"), tgt_lang=lang, method="direct",
                        beam_size=3, max_new_tokens=8, num_return=2, progress=False)
        assert [[x.text for x in r.nbest] for r in ref] == out[lang]
