"""``model.generate(custom_generate=ensemblekd.hf.ebbs, ensemble_inputs=[...])`` (issue 13 §3).

With one component it is ``generate`` itself (seq2seq and decoder-only, greedy and beam, dict or tensor output,
stop strings); with several it equals ``translate`` / the building blocks on the same inputs.
"""
from __future__ import annotations

import pytest
import torch

import ensemblekd.hf as H
from ensemblekd.decoding import EBBS, Seq2SeqScorer, beam_search, translate
from ensemblekd.decoding.languages import get_adapter

from .tiny_models import tiny

TEXTS = ["Ein Hund läuft im Park.", "Zwei Kinder", "Eine Katze schläft auf dem roten Sofa."]
T = 8


def _left(rows, pad):
    width = max(len(r) for r in rows)
    return dict(input_ids=torch.tensor([[pad] * (width - len(r)) + r for r in rows]),
                attention_mask=torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows]))


def _right(rows, pad):
    width = max(len(r) for r in rows)
    return dict(input_ids=torch.tensor([r + [pad] * (width - len(r)) for r in rows]),
                attention_mask=torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows]))


def _inputs(family):
    t = tiny(family)
    tok, model = t.tokenizer, t.model
    kw = {}
    if family == "m2m100":
        tok.src_lang = "de"
        kw = dict(forced_bos_token_id=tok.get_lang_id("fr"))
    if family == "mbart50":   # forced BOS and forced EOS
        tok.src_lang = "de_DE"
        kw = dict(forced_bos_token_id=tok.convert_tokens_to_ids("fr_XX"))
    rows = [tok(x)["input_ids"] for x in TEXTS]
    pad = model.generation_config.pad_token_id
    pad = pad if pad is not None else tok.eos_token_id
    enc = _right(rows, pad) if model.config.is_encoder_decoder else _left(rows, pad)
    return t, tok, model, enc, dict(pad_token_id=pad, **kw)


@pytest.mark.parametrize("family", ["gpt2", "qwen2", "m2m100", "marian", "mbart50", "t5"])
@pytest.mark.parametrize("Z", [1, 3])
def test_one_component_is_generate(family, Z):
    t, tok, model, enc, kw = _inputs(family)
    kw.update(num_beams=Z, max_new_tokens=T, do_sample=False)
    if Z > 1:
        kw.update(num_return_sequences=2, early_stopping=True, length_penalty=1.5)
    want = model.generate(**enc, return_dict_in_generate=True, output_scores=True, **kw)
    got = model.generate(**enc, custom_generate=H.ebbs, return_dict_in_generate=True, output_scores=True, **kw)
    assert type(got) is type(want)
    assert torch.equal(got.sequences, want.sequences)
    if Z > 1:
        torch.testing.assert_close(got.sequences_scores, want.sequences_scores, atol=1e-5, rtol=1e-5)
    plain = model.generate(**enc, custom_generate=H.average, **kw)   # a tensor without return_dict_in_generate
    assert isinstance(plain, torch.Tensor) and torch.equal(plain, want.sequences)
    # K identical inputs (with their masks; as lists of unpadded ids) == one
    lists = [[x for x, m in zip(r, mr) if m] for r, mr in zip(enc["input_ids"].tolist(), enc["attention_mask"].tolist())]
    same = model.generate(**enc, custom_generate=H.ebbs, ensemble_inputs=[enc, lists], **kw)
    assert torch.equal(same, want.sequences)


@pytest.mark.parametrize("family", ["gpt2", "qwen2"])
def test_stop_strings_as_in_generate(family):
    from transformers import StoppingCriteriaList, StopStringCriteria

    t, tok, model, enc, kw = _inputs(family)
    kw.update(num_beams=3, max_new_tokens=T, do_sample=False, early_stopping=True)
    free = model.generate(**enc, **kw)
    width = enc["input_ids"].shape[1]
    stops = sorted({x[3:5] for x in tok.batch_decode(free[:, width:], skip_special_tokens=True) if len(x) >= 6})
    want = model.generate(**enc, stop_strings=stops, tokenizer=tok, **kw)
    assert not torch.equal(want, free)
    got = model.generate(**enc, custom_generate=H.ebbs, stopping_criteria=StoppingCriteriaList(
        [StopStringCriteria(tok, stops)]), **kw)
    assert torch.equal(got, want)


def _strip(seq, head, fill, eos):
    out = seq[head:]
    while out and out[-1] in (fill, eos):
        out = out[:-1]
    return tuple(out)


def test_seq2seq_ensemble_equals_translate_and_the_building_blocks():
    t, tok, model, enc, kw = _inputs("m2m100")
    pivots = ["A dog runs in the park.", "Two children", "A cat sleeps on the red sofa."]
    tok.src_lang = "en"
    en = _right([tok(x)["input_ids"] for x in pivots], kw["pad_token_id"])
    tok.src_lang = "de"
    got = model.generate(**enc, custom_generate=H.ebbs, ensemble_inputs=[en], num_beams=3, max_new_tokens=T,
                         early_stopping=True, do_sample=False, **kw)
    ref = translate(model, tok, TEXTS, src_lang="de", tgt_lang="fr", pivots=("en",), pivot_texts={"en": pivots},
                    method="ebbs", beam_size=3, max_new_tokens=T, progress=False)
    eos = model.config.eos_token_id
    assert [_strip(r, 2, kw["pad_token_id"], eos) for r in got.tolist()] == [r.token_ids for r in ref]
    # the building blocks: one Seq2SeqScorer over B*K rows, EBBS
    rows = [r for pair in zip(enc["input_ids"].tolist(), en["input_ids"].tolist()) for r in pair]
    rows = [[x for x in r if x != kw["pad_token_id"]] for r in rows]
    hyps = beam_search(Seq2SeqScorer(model, rows, [model.config.decoder_start_token_id, kw["forced_bos_token_id"]],
                                     2), EBBS(), beam_size=3, max_new_tokens=T - 1, eos_token_id=eos, length_offset=1)
    assert [_strip(r, 2, kw["pad_token_id"], eos) for r in got.tolist()] == \
        [tuple(x for x in h[0].tokens if x != eos) for h in hyps]
    # the pivot component matters, and the weights reach the combiner: weight 0 = the source alone
    alone = model.generate(**enc, num_beams=3, max_new_tokens=T, early_stopping=True, do_sample=False, **kw)
    assert got.shape != alone.shape or not torch.equal(got, alone)
    zero = model.generate(**enc, custom_generate=H.ebbs, ensemble_inputs=[en], ensemble_weights=[1.0, 0.0],
                          num_beams=3, max_new_tokens=T, early_stopping=True, do_sample=False, **kw)
    assert torch.equal(zero, alone)


@pytest.mark.parametrize("method", ["ebbs", "average"])
def test_prompt_ensemble_equals_translate(method):
    """A chat model (Qwen2-style), two prompt templates, stop at the first line: generate == translate."""
    from transformers import StoppingCriteriaList, StopStringCriteria

    t = tiny("qwen2")
    tok, model = t.tokenizer, t.model
    adapter = get_adapter(model, tok)
    prompts = ["{tgt}: {text}", "{src} {text} => {tgt}"]
    cols = [adapter.encode(TEXTS, "de", "fr", template=p) for p in prompts]
    pad = tok.pad_token_id
    fn = H.ebbs if method == "ebbs" else H.average
    got = model.generate(**_left(cols[0], pad), custom_generate=fn, ensemble_inputs=[_left(cols[1], pad)],
                         num_beams=3, max_new_tokens=T, early_stopping=True, do_sample=False, pad_token_id=pad,
                         stopping_criteria=StoppingCriteriaList([StopStringCriteria(tok, ["\n"])]))
    ref = translate(model, tok, TEXTS, src_lang="de", tgt_lang="fr", method=method, prompts=prompts, beam_size=3,
                    max_new_tokens=T, progress=False)
    width = max(len(r) for r in cols[0])
    assert [_strip(r, width, pad, tok.eos_token_id) for r in got.tolist()] == [r.token_ids for r in ref]
    assert any(r.token_ids for r in ref)


def test_bad_settings_are_one_line_errors():
    t, tok, model, enc, kw = _inputs("gpt2")
    base = dict(num_beams=2, max_new_tokens=4, **kw)
    with pytest.raises(ValueError, match="ensemble_inputs\\[0\\]: 2 rows"):
        model.generate(**enc, custom_generate=H.ebbs, ensemble_inputs=[enc["input_ids"][:2]], **base)
    with pytest.raises(ValueError, match="wrap it in a list"):
        model.generate(**enc, custom_generate=H.ebbs, ensemble_inputs=enc, **base)
    with pytest.raises(ValueError, match="RepetitionPenaltyLogitsProcessor"):
        model.generate(**enc, custom_generate=H.ebbs, repetition_penalty=1.3, **base)
    with pytest.raises(ValueError, match="do_sample"):
        model.generate(**enc, custom_generate=H.ebbs, do_sample=True, **base)
    with pytest.raises(ValueError, match="inputs_embeds"):
        model.generate(inputs_embeds=model.get_input_embeddings()(enc["input_ids"]),
                       attention_mask=enc["attention_mask"], custom_generate=H.ebbs, **base)


def test_reachable_as_ensemblekd_hf_without_importing_torch_early():
    import subprocess
    import sys

    code = ("import sys, ensemblekd; assert 'torch' not in sys.modules; "
            "f = ensemblekd.hf.ebbs; assert f.__module__ == 'ensemblekd.decoding.hf'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
