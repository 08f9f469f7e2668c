"""Language adapters: encoder inputs, decoder prompts and code validation per model family."""
from __future__ import annotations

import pytest

from ensemblekd.decoding.languages import (
    DEFAULT_PROMPT,
    DecoderOnlyAdapter,
    M2M100Adapter,
    MarianAdapter,
    SchemeAdapter,
    T5Adapter,
    UnknownLanguageError,
    get_adapter,
)

from .tiny_models import FAMILIES, tiny

TEXT = "Ein Hund läuft im Park."


def _body(tok, text=TEXT):
    return list(tok(text, add_special_tokens=False)["input_ids"])


def adapter(family):
    t = tiny(family)
    return get_adapter(t.model, t.tokenizer), t


@pytest.mark.parametrize("family,cls", [
    ("m2m100", M2M100Adapter), ("nllb", M2M100Adapter), ("mbart50", M2M100Adapter), ("marian", MarianAdapter),
    ("t5", T5Adapter), ("gpt2", DecoderOnlyAdapter), ("ekd_src", SchemeAdapter), ("ekd_dec", SchemeAdapter)])
def test_get_adapter_picks_the_family(family, cls):
    a, _ = adapter(family)
    assert type(a) is cls
    if family in ("m2m100", "nllb", "mbart50"):
        assert a.family == family


@pytest.mark.parametrize("family", ["m2m100", "nllb", "mbart50"])
def test_lang_code_families_encode_and_force_target_token(family):
    a, t = adapter(family)
    tok = t.tokenizer
    de, fr = t.code("de"), t.code("fr")
    lang_id = {"m2m100": lambda c: tok.get_lang_id(c)}.get(family, tok.convert_tokens_to_ids)
    before = tok.src_lang
    assert a.encode([TEXT], de, fr) == [[lang_id(de), *_body(tok), tok.eos_token_id]]
    assert tok.src_lang == before                       # the tokenizer's state is restored
    start = t.model.generation_config.decoder_start_token_id or t.model.config.decoder_start_token_id
    assert a.decoder_prompt(fr) == [start, lang_id(fr)]
    assert a.length_offset(fr) == 1
    assert a.eos_token_id == tok.eos_token_id


def test_marian_puts_target_token_in_source():
    a, t = adapter("marian")
    tok = t.tokenizer
    fr = tok.convert_tokens_to_ids(">>fr<<")
    assert a.encode([TEXT], "de", "fr") == [[fr, *tok(TEXT)["input_ids"]]]
    assert a.decoder_prompt("fr") == [t.model.config.decoder_start_token_id] and a.length_offset("fr") == 0
    assert a.codes() == ("cs", "de", "en", "fr")
    a.check_source("xx")                                # source language is not encoded: any code
    with pytest.raises(UnknownLanguageError, match="known codes: cs, de, en, fr"):
        a.check("it", "tgt_lang")


def test_t5_task_prefix():
    a, t = adapter("t5")
    assert a.encode([TEXT], "de", "fr") == [t.tokenizer("translate German to French: " + TEXT)["input_ids"]]
    assert a.decoder_prompt("fr") == [0] and a.length_offset("fr") == 0


@pytest.mark.parametrize("family", ["ekd_src", "ekd_dec"])
def test_ensemblekd_scheme(family):
    a, t = adapter(family)
    tok = t.tokenizer
    ids = {c: tok.convert_tokens_to_ids(f"__{c}__") for c in ("de", "fr")}
    first = ids["fr"] if family == "ekd_src" else ids["de"]
    assert a.encode([TEXT], "de", "fr") == [[first, *_body(tok), tok.eos_token_id]]
    assert a.decoder_prompt("fr") == ([2] if family == "ekd_src" else [2, ids["fr"]])
    assert a.length_offset("fr") == (0 if family == "ekd_src" else 1)
    assert a.codes() == ("cs", "de", "en", "fr")


def test_scheme_validates_config():
    t = tiny("ekd_src")
    config = t.model.config.__class__.from_dict(t.model.config.to_dict())
    config.ensemblekd_language_tokens = {"de": "__de__", "it": "__it__"}
    with pytest.raises(ValueError, match="__it__"):
        SchemeAdapter(config, t.tokenizer)
    config.ensemblekd_language_scheme = "nonsense"
    with pytest.raises(ValueError, match="ensemblekd_language_scheme"):
        SchemeAdapter(config, t.tokenizer)


def test_decoder_only_prompt_and_first_line():
    a, t = adapter("gpt2")
    tok = t.tokenizer
    expect = tok(DEFAULT_PROMPT.format(src="German", tgt="French", text=TEXT))["input_ids"]
    assert a.encode([TEXT], "de", "fr") == [expect]
    custom = "{text} => ({tgt})"
    assert a.encode([TEXT], "de", "fr", template=custom) == [tok(f"{TEXT} => (French)")["input_ids"]]
    assert a.decoder_prompt("fr") == [] and a.length_offset("fr") == 0
    two_lines = tok("Un chien.\nDe plus")["input_ids"]
    assert a.decode(two_lines) == "Un chien."
    with pytest.raises(ValueError, match="no {text} field"):
        a.check_template("{src} to {tgt}")
    with pytest.raises(ValueError, match="only the fields"):
        a.check_template("{text} {lang}")


@pytest.mark.parametrize("family", FAMILIES)
def test_unknown_code_lists_known_codes(family):
    a, t = adapter(family)
    a.check(t.code("fr"), "tgt_lang")
    with pytest.raises(UnknownLanguageError) as info:
        a.check("xx_Nope", "tgt_lang")
    msg = str(info.value)
    assert "tgt_lang='xx_Nope'" in msg and "known codes" in msg and t.code("de") in msg


@pytest.mark.parametrize("family", FAMILIES)
def test_truncation_keeps_the_special_tokens(family):
    a, t = adapter(family)
    long = " ".join([TEXT] * 20)
    full = a.encode([long], t.code("de"), t.code("fr"))[0]
    cut = a.encode([long], t.code("de"), t.code("fr"), max_length=45)[0]
    assert len(full) > 45 >= len(cut) >= 35
    if not a.decoder_only:
        assert cut[-1] == full[-1] == a.eos_token_id and cut[0] == full[0]
    else:
        assert cut[-3:] == full[-3:]                    # the template's tail survives


def test_unsupported_model_is_a_clear_error():
    t = tiny("m2m100")
    from transformers import BartConfig, BartForConditionalGeneration

    bart = BartForConditionalGeneration(BartConfig(vocab_size=10, d_model=8, encoder_layers=1, decoder_layers=1,
                                                   encoder_attention_heads=1, decoder_attention_heads=1,
                                                   encoder_ffn_dim=8, decoder_ffn_dim=8))
    with pytest.raises(ValueError, match="no language adapter for model_type='bart'"):
        get_adapter(bart, tiny("gpt2").tokenizer)
    assert get_adapter(t.model, t.tokenizer).max_source_length == 64
