"""translate(): every family end to end, equality with HF generate, pivots, MBR, and the bad-input errors."""
from __future__ import annotations

import json

import pytest
import torch

from ensemblekd.decoding.api import METHODS, TranslateError, Translation, translate
from ensemblekd.decoding.languages import DEFAULT_PROMPT, LANGUAGE_NAMES, UnknownLanguageError

from .tiny_models import FAMILIES, SEQ2SEQ_FAMILIES, tiny

SOURCES = ["Ein Hund läuft im Park.", "", "Zwei Kinder sitzen auf einer Bank.", "   ", "Eine Katze schläft."]
T = 8      # max_new_tokens
Z = 3      # beam size


def run(t, sources=SOURCES, **kw):
    kw.setdefault("beam_size", Z)
    kw.setdefault("max_new_tokens", T)
    kw.setdefault("progress", False)
    kw["pivots"] = tuple(t.code(p) for p in kw.get("pivots", ()))
    return translate(t.model, t.tokenizer, sources, src_lang=t.code(kw.pop("src", "de")),
                     tgt_lang=t.code(kw.pop("tgt", "fr")), **kw)


# ----- an independent reference: the family's standard HF inputs + model.generate -----------------------------
def hf_inputs(t, text, src, tgt):
    """(input ids, generate kwargs, decoder prompt length) written from each family's documentation."""
    tok, f = t.tokenizer, t.family
    if f in ("m2m100", "nllb", "mbart50"):
        tok.src_lang = t.code(src)
        ids = tok(text)["input_ids"]
        forced = tok.get_lang_id(t.code(tgt)) if f == "m2m100" else tok.convert_tokens_to_ids(t.code(tgt))
        return ids, dict(forced_bos_token_id=forced), 2
    if f == "marian":
        return tok(f">>{tgt}<< {text}")["input_ids"], {}, 1
    if f == "t5":
        return tok(f"translate {LANGUAGE_NAMES[src]} to {LANGUAGE_NAMES[tgt]}: {text}")["input_ids"], {}, 1
    if f == "gpt2":
        prompt = DEFAULT_PROMPT.format(src=LANGUAGE_NAMES[src], tgt=LANGUAGE_NAMES[tgt], text=text)
        ids = tok(prompt)["input_ids"]
        return ids, dict(pad_token_id=tok.eos_token_id), len(ids)
    lang = {c: tok.convert_tokens_to_ids(f"__{c}__") for c in (src, tgt)}
    body = tok(text, add_special_tokens=False)["input_ids"]
    if f in ("ekd_src", "ekd_rf"):
        return [lang[tgt], *body, tok.eos_token_id], {}, 1
    return [lang[src], *body, tok.eos_token_id], dict(forced_bos_token_id=lang[tgt]), 2


def hf_translate(t, text, src="de", tgt="fr", num_beams=Z, length_penalty=1.0, max_new_tokens=T):
    ids, kw, skip = hf_inputs(t, text, src, tgt)
    out = t.model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                           num_beams=num_beams, max_new_tokens=max_new_tokens, early_stopping=True, do_sample=False,
                           length_penalty=length_penalty, **kw)[0].tolist()[skip:]
    eos = t.model.config.eos_token_id
    return tuple(out[:out.index(eos)] if eos in out else out)


@pytest.mark.parametrize("family", FAMILIES)
def test_direct_equals_hf_generate(family):
    t = tiny(family)
    lp = 0.6 if family in ("m2m100", "marian") else 1.0
    got = run(t, method="direct", length_penalty=lp, batch_size=2)
    for src, res in zip(SOURCES, got):
        if src.strip():
            assert res.token_ids == hf_translate(t, src, length_penalty=lp), src
            assert res.text == t.tokenizer.decode(list(res.token_ids), skip_special_tokens=True).strip() \
                or family == "gpt2"


@pytest.mark.parametrize("family", FAMILIES)
def test_direct_equals_hf_generate_at_the_length_limit(family):
    """max_new_tokens 3: most hypotheses hit the limit, where Marian / mBART force EOS (forced_eos_token_id)."""
    t = tiny(family)
    got = run(t, method="direct", max_new_tokens=3)
    for src, res in zip(SOURCES, got):
        if src.strip():
            assert res.token_ids == hf_translate(t, src, max_new_tokens=3), src


@pytest.mark.parametrize("family", ["nllb", "t5"])
def test_nbest_equals_hf_num_return_sequences(family):
    t = tiny(family)
    got = run(t, method="direct", num_return=Z, length_penalty=0.8)
    eos = t.model.config.eos_token_id
    for src, res in zip(SOURCES, got):
        if not src.strip():
            continue
        ids, kw, skip = hf_inputs(t, src, "de", "fr")
        out = t.model.generate(torch.tensor([ids]), num_beams=Z, num_return_sequences=Z, max_new_tokens=T,
                               early_stopping=True, do_sample=False, length_penalty=0.8, output_scores=True,
                               return_dict_in_generate=True, **kw)
        ref = [tuple(s[skip:s.index(eos, skip)] if eos in s[skip:] else s[skip:]) for s in out.sequences.tolist()]
        assert [r.token_ids for r in res.nbest] == ref
        assert [r.score for r in res.nbest] == pytest.approx(out.sequences_scores.tolist(), abs=1e-5)


@pytest.mark.parametrize("family", ["m2m100", "marian", "ekd_dec"])
def test_vote_with_one_component_is_greedy(family):
    t = tiny(family)
    got = run(t, method="vote")
    for src, res in zip(SOURCES, got):
        if src.strip():
            assert res.token_ids == hf_translate(t, src, num_beams=1)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_method_runs_and_stays_aligned(family):
    # each output belongs to its own line: the same as that line translated alone, whatever the batch, the
    # order of the input and its empty lines
    t = tiny(family)
    for method in METHODS:
        pivots = ("en",) if method == "pivot" else (() if method == "direct" else ("en", "cs"))
        got = run(t, method=method, pivots=pivots, batch_size=2)
        assert len(got) == len(SOURCES) and all(isinstance(r, Translation) for r in got)
        backwards = run(t, SOURCES[::-1], method=method, pivots=pivots, batch_size=3)[::-1]
        for i, (src, res) in enumerate(zip(SOURCES, got)):
            if not src.strip():
                assert res == Translation("", (), 0.0)
                continue
            assert len(res.token_ids) <= T and res.score <= 0.0
            alone = run(t, [src], method=method, pivots=pivots, batch_size=1)[0]
            assert (res.token_ids, res.text) == (alone.token_ids, alone.text) == \
                (backwards[i].token_ids, backwards[i].text), (method, i)
            assert res.score == pytest.approx(alone.score, abs=1e-4)


@pytest.mark.parametrize("family", ["m2m100", "t5", "ekd_src", "gpt2"])
def test_pivot_equals_translating_twice(family):
    t = tiny(family)
    got = run(t, method="pivot", pivots=("en",))
    first = run(t, method="direct", tgt="en")
    second = run(t, [r.text for r in first], method="direct", src="en")
    for src, a, b in zip(SOURCES, got, second):
        assert a.token_ids == (b.token_ids if src.strip() else ())


@pytest.mark.parametrize("family", ["m2m100", "ekd_rf"])
def test_given_pivot_texts_equal_pivots_produced_in_the_run(family):
    t = tiny(family)
    pivots = ("en", "cs")
    legs = {p: [r.text for r in run(t, method="direct", tgt=p)] for p in pivots}
    for method in ("pivot", "ebbs", "mbr", "average"):
        use = pivots[:1] if method == "pivot" else pivots
        a = run(t, method=method, pivots=use, batch_size=2)
        b = run(t, method=method, pivots=use, batch_size=2, pivot_texts={t.code(p): legs[p] for p in use})
        assert [r.token_ids for r in a] == [r.token_ids for r in b], method
    # other pivot texts change the result: they are really used
    junk = {t.code(p): ["x" for _ in SOURCES] for p in pivots}
    c = run(t, method="ebbs", pivots=pivots, pivot_texts=junk)
    assert [r.token_ids for r in c] != [r.token_ids for r in run(t, method="ebbs", pivots=pivots)]


def test_ebbs_and_average_with_one_component_equal_direct():
    t = tiny("nllb")
    direct = run(t, method="direct")
    assert run(t, method="ebbs") == direct
    assert [r.token_ids for r in run(t, method="average")] == [r.token_ids for r in direct]


def test_mbr_picks_the_mbr_winner_among_component_outputs():
    from ensemblekd.decoding.mbr import mbr_select

    t = tiny("mbart50")
    got = run(t, method="mbr", pivots=("en", "cs"), return_provenance=True)
    cands = [run(t, method="direct"), run(t, method="pivot", pivots=("en",)), run(t, method="pivot", pivots=("cs",))]
    for i, src in enumerate(SOURCES):
        if not src.strip():
            continue
        texts = [c[i].text for c in cands]
        assert got[i].text == texts[mbr_select(texts)]
        assert [c.candidates for c in got[i].components] == [(x,) for x in texts]
        assert [c.name for c in got[i].components] == ["direct", "pivot:en_XX", "pivot:cs_CZ"]


def test_mbr_nbest_is_distinct_candidates_by_utility():
    from ensemblekd.decoding.mbr import expected_utilities

    t = tiny("mbart50")
    got = run(t, method="mbr", pivots=("en", "cs"), mbr_nbest=3, num_return=3, return_provenance=True)
    repeated = 0
    for i, src in enumerate(SOURCES):
        if not src.strip():
            continue
        cands = [x for c in got[i].components for x in c.candidates]
        texts = [r.text for r in got[i].nbest]
        assert len(texts) == len(set(texts)) == min(3, len(set(cands)))
        repeated += len(set(cands)) < len(cands)
        gain = expected_utilities(cands, "bleu")
        best_gain = {x: max(g for c, g in zip(cands, gain) if c == x) for x in set(cands)}
        assert [best_gain[x] for x in texts] == sorted((best_gain[x] for x in texts), reverse=True)
        assert texts[0] == got[i].text
    assert repeated, "no sentence has a candidate text produced twice: the test would not test anything"


def test_provenance_nbest_and_pivot_inputs():
    t = tiny("m2m100")
    got = run(t, method="ebbs", pivots=("en",), num_return=2, return_provenance=True)
    to_en = run(t, method="direct", tgt="en")
    for i, src in enumerate(SOURCES):
        r = got[i]
        if not src.strip():
            continue
        assert len(r.nbest) == 2 and r.nbest[0].token_ids == r.token_ids and r.nbest[0].score >= r.nbest[1].score
        assert len(r.provenance) == len(r.token_ids)
        assert all(p and set(p) <= {0, 1} for p in r.provenance)  # the upper beam is the union of lower beams
        assert [c.input for c in r.components] == [src, to_en[i].text]


def test_weights_and_pivot_nbest():
    t = tiny("marian")
    # a component with weight 0 does not count: ebbs(direct, en; weights 1, 0) == direct
    got = run(t, method="average", pivots=("en",), weights=[1.0, 0.0])
    assert [r.token_ids for r in got] == [r.token_ids for r in run(t, method="direct")]
    for method in ("ebbs", "vote"):
        got = run(t, method=method, pivots=("en", "cs"), weights=[2.0, 0.0, 0.0])
        ref = run(t, method="direct" if method == "ebbs" else "vote")
        assert [r.token_ids for r in got] == [r.token_ids for r in ref], method
    got = run(t, method="ebbs", pivots=("en",), pivot_nbest=2, return_provenance=True)
    names = [c.name for c in got[0].components]
    assert names == ["direct", "pivot:en", "pivot:en#2"]


@pytest.mark.parametrize("option", [dict(voting="max"), dict(voting="count"), dict(mean="geometric")])
def test_combiner_options_reach_the_combiner_and_zero_weights_do_not_count(option, monkeypatch):
    from ensemblekd.decoding import combiners

    t = tiny("ekd_dec")
    method = "average" if "mean" in option else "ebbs"
    cls, field = (combiners.Average, "mean") if method == "average" else (combiners.EBBS, "voting")
    seen, call = [], cls.__call__

    def spy(self, *a, **kw):
        seen.append(getattr(self, field))
        return call(self, *a, **kw)

    monkeypatch.setattr(cls, "__call__", spy)
    got = run(t, method=method, pivots=("en", "cs"), **option)
    assert seen and set(seen) == set(option.values())         # the rule asked for is the rule used
    assert len(got) == len(SOURCES) and got[1].text == ""
    # under every rule a component of weight 0 does not count: the ensemble is the direct beam search
    zero = run(t, method=method, pivots=("en", "cs"), weights=[1.0, 0.0, 0.0], **option)
    assert [r.token_ids for r in zero] == [r.token_ids for r in run(t, method="direct")]


def test_mbr_chrf_nbest_returns_the_expected_utility_ranking():
    import sacrebleu

    t = tiny("ekd_dec")
    got = run(t, method="mbr", pivots=("en", "cs"), mbr_metric="chrf", mbr_nbest=2, num_return=3,
              return_provenance=True)
    for src, r in zip(SOURCES, got):
        if not src.strip():
            continue
        cands = [c for comp in r.components for c in comp.candidates]
        assert len(cands) == 3 * 2 or len(cands) >= 3                # up to 2 per component

        def utility(h):
            # sum over the OTHER positions of the candidate list (a text proposed twice counts twice)
            i = cands.index(h)
            return sum(sacrebleu.sentence_chrf(h, [y]).score for j, y in enumerate(cands) if j != i)

        texts = [h.text for h in r.nbest]
        assert texts[0] == r.text and len(set(texts)) == len(texts) and 1 <= len(texts) <= 3
        best = max(utility(c) for c in cands)
        assert utility(r.text) == pytest.approx(best)
        assert [utility(x) for x in texts] == sorted((utility(x) for x in texts), reverse=True)


def test_decoder_only_prompt_ensemble():
    t = tiny("gpt2")
    prompts = ["{src}: {text}\n{tgt}:", "Translate {src} to {tgt}: {text} =>"]
    got = run(t, method="ebbs", prompts=prompts, return_provenance=True)
    assert [c.name for c in got[0].components] == [f"prompt:{p!r}" for p in prompts]
    one = run(t, method="direct", prompts=prompts[:1])
    assert one[0].token_ids != () and len(got) == len(SOURCES)
    # K identical prompts == that prompt alone (EBBS and averaging)
    for method in ("ebbs", "average"):
        same = run(t, method=method, prompts=prompts[:1] * 2)
        assert [r.token_ids for r in same] == [r.token_ids for r in one], method
    # the two prompts are two different components (their outputs differ), so the check above is not vacuous
    two = run(t, method="direct", prompts=prompts[1:])
    assert [r.token_ids for r in two] != [r.token_ids for r in one]


def test_restrict_vocab(tmp_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    t = tiny("ekd_src")
    t.save(tmp_path)
    allowed = sorted(t.tokenizer(" ".join(["Un chien court dans le parc."]), add_special_tokens=False)["input_ids"])
    (tmp_path / "ensemblekd_target_vocab.json").write_text(json.dumps({"fr": allowed, "en": allowed}))
    model, tok = AutoModelForSeq2SeqLM.from_pretrained(tmp_path), AutoTokenizer.from_pretrained(tmp_path)
    got = translate(model, tok, SOURCES, src_lang="de", tgt_lang="fr", pivots=("en",), method="ebbs",
                    beam_size=Z, max_new_tokens=T, restrict_vocab=True, progress=False)
    assert all(set(r.token_ids) <= set(allowed) for r in got)
    with pytest.raises(TranslateError, match="no vocabulary for 'cs'"):
        translate(model, tok, SOURCES, src_lang="de", tgt_lang="cs", restrict_vocab=True, progress=False)
    with pytest.raises(TranslateError, match="ensemblekd_target_vocab.json does not exist"):
        run(t, restrict_vocab=True)


# ----- §6: bad input, rejected before any model work -----------------------------------------------------------
@pytest.fixture
def no_forward():
    t = tiny("m2m100")
    calls = []
    handle = t.model.register_forward_pre_hook(lambda *a: calls.append(1))
    yield t
    handle.remove()
    assert not calls, "the model ran before the error"


@pytest.mark.parametrize("kwargs,match", [
    (dict(src="xx"), "src_lang='xx' is not a language code"),
    (dict(tgt="zz"), "tgt_lang='zz' is not a language code"),
    (dict(pivots=("en", "qq")), r"pivots\[1\]='qq' is not a language code"),
    (dict(pivots=("de",)), "equals the source language"),
    (dict(pivots=("fr",)), "equals the target language"),
    (dict(pivots=("en", "cs", "en")), "repeated"),
    (dict(beam_size=0), "beam_size=0"),
    (dict(method="ebbs", direct=False), "no components"),
    (dict(pivots=("en",), weights=[1.0]), "weights has 1 entries but there are 2 components"),
    (dict(pivots=("en",), weights=[1.0, -0.5]), r"weights\[1\]=-0.5"),
    (dict(method="pivot", pivots=("en", "cs")), "exactly one language"),
    (dict(method="direct", pivots=("en",)), "uses no pivots"),
    (dict(method="beam"), "method='beam'"),
    (dict(num_return=4, beam_size=3), "num_return=4 must be <= beam_size=3"),
    (dict(max_new_tokens=200), "exceeds the model's maximum of 64"),
    (dict(voting="avg"), "voting='avg'"),
    (dict(pivots=("en",), pivot_texts={"cs": ["x"] * 5}), r"pivot_texts: has languages \['cs'\], expected"),
    (dict(pivots=("en",), pivot_texts={"en": ["x"] * 4}), r"pivot_texts\['en'\]: got 4 entries, expected one per"),
    (dict(pivots=("en",), pivot_texts={"en": ["x", "", "y", "", 3]}), r"pivot_texts\['en'\] line 5"),
])
def test_bad_input_errors_before_model_work(no_forward, kwargs, match):
    kwargs = {k: (tuple(no_forward.code(p) if p in no_forward.codes else p for p in v) if k == "pivots" else v)
              for k, v in kwargs.items()}
    src, tgt = kwargs.pop("src", "de"), kwargs.pop("tgt", "fr")
    kwargs.setdefault("max_new_tokens", T)
    with pytest.raises(ValueError, match=match):
        translate(no_forward.model, no_forward.tokenizer, SOURCES, src_lang=src, tgt_lang=tgt, progress=False,
                  **kwargs)


def test_unknown_code_error_lists_codes(no_forward):
    with pytest.raises(UnknownLanguageError, match="known codes: .*de, .*fr"):
        translate(no_forward.model, no_forward.tokenizer, ["x"], src_lang="de", tgt_lang="klingon")


def test_sources_must_be_a_list_of_strings(no_forward):
    with pytest.raises(TranslateError, match="expected a list of strings, got str"):
        translate(no_forward.model, no_forward.tokenizer, "Ein Hund.", src_lang="de", tgt_lang="fr")
    with pytest.raises(TranslateError, match="sources line 2: expected a string, got int"):
        translate(no_forward.model, no_forward.tokenizer, ["a", 3], src_lang="de", tgt_lang="fr")


def test_empty_sources_make_no_model_call(no_forward):
    got = run(no_forward, ["", " ", "\t"], method="ebbs", pivots=("en",))
    assert got == [Translation("", (), 0.0)] * 3
    assert run(no_forward, [], method="mbr") == []


def test_long_source_error_names_the_line_and_truncate_warns(no_forward):
    long = " ".join(["Ein Hund läuft im Park."] * 30)
    with pytest.raises(TranslateError, match="sources line 3: .* longer than the model's maximum of 64"):
        run(no_forward, ["Ein Hund.", "", long], method="direct")
    no_forward.model._forward_pre_hooks.clear()     # the truncated run may call the model
    with pytest.warns(UserWarning, match=r"truncated 1 source line\(s\) longer than 64 tokens \(lines 3\)"):
        got = run(no_forward, ["Ein Hund.", "", long], method="direct", truncate=True)
    assert len(got) == 3 and got[2].token_ids


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_a_clear_error(no_forward):
    with pytest.raises(TranslateError, match="no CUDA GPU is available"):
        run(no_forward, method="direct", device="cuda")


def test_batching_does_not_change_results():
    t = tiny("t5")
    a = run(t, method="ebbs", pivots=("en",), batch_size=1)
    b = run(t, method="ebbs", pivots=("en",), batch_size=5)
    c = run(t, method="ebbs", pivots=("en",), batch_size=2, sort_by_length=False)
    d = run(t, method="ebbs", pivots=("en",), batch_size=2)
    assert [r.token_ids for r in a] == [r.token_ids for r in b] == [r.token_ids for r in c] == \
        [r.token_ids for r in d]


def test_single_token_bad_words_of_the_generation_config_are_never_produced():
    t = tiny("marian")
    before = run(t, method="ebbs", pivots=("en",))
    i, banned = next((i, r.token_ids[0]) for i, r in enumerate(before) if r.token_ids)
    t.model.generation_config.bad_words_ids = [[banned], [banned, 5]]   # only single-token entries are masked
    try:
        after = run(t, method="ebbs", pivots=("en",))
    finally:
        t.model.generation_config.bad_words_ids = None
    assert all(banned not in r.token_ids for r in after) and after[i].token_ids != before[i].token_ids


def test_decoder_only_restrict_vocab_and_bad_words(tmp_path):
    """Decoder-only models obey the target vocabulary and the generation config's bad words (they were ignored)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t = tiny("gpt2")
    prompts = ["{src}: {text}\n{tgt}:", "Translate {src} to {tgt}: {text} =>"]
    before = run(t, method="ebbs", prompts=prompts)
    produced = sorted({x for r in before for x in r.token_ids})
    assert len(produced) >= 2
    allowed = produced[: len(produced) // 2] + [t.tokenizer.eos_token_id]
    t.save(tmp_path)
    (tmp_path / "ensemblekd_target_vocab.json").write_text(json.dumps({"fr": allowed}))
    model, tok = AutoModelForCausalLM.from_pretrained(tmp_path).eval(), AutoTokenizer.from_pretrained(tmp_path)
    got = translate(model, tok, SOURCES, src_lang="de", tgt_lang="fr", method="ebbs", prompts=prompts, beam_size=Z,
                    max_new_tokens=T, restrict_vocab=True, progress=False)
    assert all(set(r.token_ids) <= set(allowed) for r in got)
    banned = produced[0]
    model.generation_config.bad_words_ids = [[banned]]
    got = translate(model, tok, SOURCES, src_lang="de", tgt_lang="fr", method="ebbs", prompts=prompts, beam_size=Z,
                    max_new_tokens=T, progress=False)
    assert all(banned not in r.token_ids for r in got)
