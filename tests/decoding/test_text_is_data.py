"""Text is data: special-token strings inside a source line are translated as text, never obeyed.

Before the fix, ``__en__ Ein Hund`` put the English code into the encoder input (the output came out in
English) and ``</s>`` ended the source.  The target language is decided by ``tgt_lang`` alone.
"""
import pytest

from ensemblekd.decoding import translate
from ensemblekd.decoding.languages import get_adapter

from .tiny_models import FAMILIES, tiny

BODY = "Ein Hund läuft im Park."


def _specials(t):
    tok = t.tokenizer
    strings = [s for s in tok.all_special_tokens if s]
    for lang in ("en", "fr", "de"):  # language codes as the family writes them
        strings += [t.code(lang), f">>{t.code(lang)}<<", f"__{lang}__"]
    return sorted(set(strings))


def _control_ids(t, adapter):
    """Special ids (but <unk>, which plain text may legitimately produce) and the language-code ids."""
    tok = t.tokenizer
    ids = set(tok.all_special_ids) - {tok.unk_token_id}
    ids |= set(getattr(adapter, "_code_ids", {}).values())
    for lang in ("en", "fr", "de"):
        i = tok.convert_tokens_to_ids(f">>{t.code(lang)}<<")
        if i is not None and i != tok.unk_token_id:
            ids.add(i)
    return ids


@pytest.mark.parametrize("family", FAMILIES)
def test_special_strings_in_the_source_add_no_control_tokens(family):
    t = tiny(family)
    adapter = get_adapter(t.model, t.tokenizer)
    src, tgt = t.code("de"), t.code("fr")
    control = _control_ids(t, adapter)
    plain = adapter.encode([BODY], src, tgt)[0]
    expected = [i for i in plain if i in control]  # the adapter's own markers (language code, EOS, ...)
    assert expected or family == "gpt2", "the adapter adds no control token: nothing to compare"
    for s in _specials(t):
        for text in (f"{s} {BODY}", f"{BODY} {s} noch mehr", f"{BODY}{s}"):
            ids = adapter.encode([text], src, tgt)[0]
            assert [i for i in ids if i in control] == expected, (s, text, ids)
            assert len(ids) > len(plain)  # the string is kept as text (and nothing after it is cut)


@pytest.mark.parametrize("family", ["ekd_dec", "mbart50", "marian", "gpt2"])
def test_a_leading_code_does_not_change_the_target_language(family):
    """The source '__en__ ...' / '>>en<< ...' / 'en_XX ...' decodes like any other text with tgt fr: its ids
    differ from the plain source only in the text part, so the forced target code is fr's."""
    t = tiny(family)
    adapter = get_adapter(t.model, t.tokenizer)
    for code in (t.code("en"), f">>{t.code('en')}<<", "__en__"):
        got = translate(t.model, t.tokenizer, [f"{code} {BODY}"], src_lang=t.code("de"), tgt_lang=t.code("fr"),
                        method="direct", beam_size=2, max_new_tokens=4, progress=False)[0]
        en_id = t.tokenizer.convert_tokens_to_ids(code)
        prompt = adapter.decoder_prompt(t.code("fr"))
        assert en_id not in prompt or en_id == t.tokenizer.unk_token_id
        assert isinstance(got.text, str)


def test_decoder_only_template_keeps_its_own_special_tokens():
    t = tiny("gpt2")
    adapter = get_adapter(t.model, t.tokenizer)
    eos = t.tokenizer.eos_token
    template = eos + "{src}: {text}\n{tgt}:"
    ids = adapter.encode([f"{BODY} {eos}"], t.code("de"), t.code("fr"), template=template)[0]
    assert ids[0] == t.tokenizer.eos_token_id  # the template's marker is a control token
    assert ids.count(t.tokenizer.eos_token_id) == 1  # the one in the text is not
