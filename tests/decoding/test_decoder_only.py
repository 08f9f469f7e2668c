"""Decoder-only LLMs (issue 13 §2, issue 12 §4) on two current architectures: GPT-2 and Qwen2 (Llama-style:
RMSNorm, rotary positions, grouped-query attention, a ChatML chat template).

* ``Single`` equals ``model.generate`` (greedy and beam, with and without stop strings), prompts of different
  lengths left-padded in one batch;
* K identical prompts equal one (EBBS, average; with stop strings); EBBS with K = 1 equals Single with stops;
* EBBS and averaging over different prompts equal the brute-force reference of ``oracles.py``;
* chat templates, text as data inside them, ``translate`` == ``generate(stop_strings=["\\n"])``;
* the first-line stop: hypotheses end at the newline, ``token_ids`` and the ranking are the first line's.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from ensemblekd.decoding import EBBS, Average, CausalLMScorer, Single, beam_search, translate
from ensemblekd.decoding.languages import DEFAULT_CHAT_PROMPT, DecoderOnlyAdapter, get_adapter

from .oracles import reference_search
from .tiny_models import SENTENCES, tiny

FAMS = ("gpt2", "qwen2")
TEXTS = ["Ein Hund läuft im Park.", "Zwei Kinder", "Eine Katze schläft auf dem roten Sofa.", "Leute warten."]
T = 10


def _setup(family):
    t = tiny(family)
    tok, model = t.tokenizer, t.model
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    eos = model.generation_config.eos_token_id
    rows = [tok(x)["input_ids"] for x in TEXTS]
    return t, tok, model, pad, eos, rows


def _left(rows, pad):
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


def _generate(model, rows, pad, Z, stops=None, tok=None, n=1, max_new_tokens=T):
    ids, mask = _left(rows, pad)
    kw = dict(stop_strings=stops, tokenizer=tok) if stops else {}
    if Z > 1:
        kw.update(early_stopping=True, num_return_sequences=n, length_penalty=1.0)
    out = model.generate(ids, attention_mask=mask, num_beams=Z, max_new_tokens=max_new_tokens, do_sample=False,
                         pad_token_id=pad, output_scores=True, return_dict_in_generate=True, **kw)
    seqs = [s[ids.shape[1]:].tolist() for s in out.sequences]
    scores = out.sequences_scores.tolist() if Z > 1 else None
    return seqs, scores


def _stop_criteria(tok, stops):
    from transformers import StopStringCriteria

    return StopStringCriteria(tok, stops) if stops else None


def _stops_from(tok, seqs):
    """Stop strings the model does produce: two characters from the middle of each free continuation."""
    texts = [tok.decode(s, skip_special_tokens=True) for s in seqs]
    return sorted({x[3:5] for x in texts if len(x) >= 6})


def _early_stops(tok, seqs):
    """Stop strings from early in each free continuation: its first two whole characters, and the 2nd+3rd
    together (a stop string spanning tokens)."""
    out = set()
    for s in seqs:
        chars = [c for c in tok.decode(s, skip_special_tokens=True) if c.strip() and c != "\ufffd"]
        out.update(chars[:2])
        out.add("".join(chars[1:3]))
    return sorted(x for x in out if x)


def _same_as_generate(ours, seqs, scores, pad, eos, n):
    for b, hyps in enumerate(ours):
        assert len(hyps) == n
        for j, h in enumerate(hyps):
            ref, got = seqs[b * n + j], list(h.tokens)
            assert ref[: len(got)] == got, (b, ref, got)
            # generate fills finished rows with pad (beam search: `pad or eos`, so eos when pad id is 0)
            assert all(x in (pad, eos) for x in ref[len(got):]), (b, ref, got)
            if scores is not None:
                assert h.score == pytest.approx(scores[b * n + j], rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("family", FAMS)
@pytest.mark.parametrize("Z", [1, 3])
@pytest.mark.parametrize("with_stops", [False, True])
def test_single_equals_generate(family, Z, with_stops):
    t, tok, model, pad, eos, rows = _setup(family)
    free, _ = _generate(model, rows, pad, Z)
    stops = _stops_from(tok, free) if with_stops else None
    n = 2 if Z > 1 else 1
    seqs, scores = _generate(model, rows, pad, Z, stops, tok, n)
    ours = beam_search(CausalLMScorer(model, rows, 1, pad_token_id=pad), Single(), beam_size=Z, max_new_tokens=T,
                       eos_token_id=eos, num_return=n, stop=_stop_criteria(tok, stops))
    _same_as_generate(ours, seqs, scores, pad, eos, n)
    if with_stops:   # not vacuous: the stop strings ended some hypotheses early
        assert seqs[:: n] != free and any(len(h[0].tokens) < T for h in ours)
        ended = [h[0].tokens for h in ours if h[0].tokens[-1] != eos and len(h[0].tokens) < T]
        assert ended and all(any(s in tok.decode(x) for s in stops) for x in ended)


@pytest.mark.parametrize("family", FAMS)
def test_k_identical_prompts_equal_one_with_stop_strings(family):
    t, tok, model, pad, eos, rows = _setup(family)
    stops = _stops_from(tok, _generate(model, rows, pad, 3)[0])
    kw = dict(beam_size=3, max_new_tokens=T, eos_token_id=eos, num_return=2, stop=_stop_criteria(tok, stops))
    one = beam_search(CausalLMScorer(model, rows, 1, pad_token_id=pad), Single(), **kw)
    assert any(len(h[0].tokens) < T and h[0].tokens[-1] != eos for h in one)   # a stop string ended one
    triple = [r for r in rows for _ in range(3)]
    for comb in (EBBS(), Average(), EBBS(voting="max")):
        got = beam_search(CausalLMScorer(model, triple, 3, pad_token_id=pad), comb, **kw)
        assert [[h.tokens for h in s] for s in got] == [[h.tokens for h in s] for s in one], comb
        assert [h.score for s in got for h in s] == pytest.approx([h.score for s in one for h in s], abs=1e-4)
    # EBBS with one component applies the stop rule in its lower beam too (== Single)
    got = beam_search(CausalLMScorer(model, rows, 1, pad_token_id=pad), EBBS(), **kw)
    assert [[h.tokens for h in s] for s in got] == [[h.tokens for h in s] for s in one]


class _ModelTable:
    """``log p_k(y | prompt_k, prefix)`` by a full forward without cache: the oracle's scorer interface."""

    def __init__(self, model, rows, K):
        self.model, self.rows, self.num_components = model, rows, K
        self.vocab_size = model.get_output_embeddings().weight.shape[0]
        self._memo = {}

    def logprobs(self, b, k, prefix):
        key = (b, k, tuple(prefix))
        if key not in self._memo:
            ids = torch.tensor([self.rows[b * self.num_components + k] + list(prefix)])
            with torch.inference_mode():
                logits = self.model(input_ids=ids).logits[0, -1].float()
            self._memo[key] = torch.log_softmax(logits, -1).numpy().astype(np.float32)
        return self._memo[key]


@pytest.mark.parametrize("family", FAMS)
@pytest.mark.parametrize("method", ["ebbs", "average"])
@pytest.mark.parametrize("with_stops", [False, True])
def test_prompt_ensemble_matches_brute_force(family, method, with_stops):
    """Two different prompts per source; with stop strings the reference checks them on the whole prompt +
    output (no window), so the context and the lower-beam rule of the loop are checked too."""
    t, tok, model, pad, eos, _ = _setup(family)
    adapter = get_adapter(model, tok)
    templates = ["{src}: {text}\n{tgt}:", "{text} => {tgt}:"]
    K, Z, steps = len(templates), 3, 6
    rows = []
    for text in TEXTS[:2]:
        for tpl in templates:
            rows += adapter.encode([text], "de", "fr", template=tpl)
    assert rows[0] != rows[1]
    comb = EBBS() if method == "ebbs" else Average()
    kw = dict(beam_size=Z, max_new_tokens=steps, eos_token_id=eos, num_return=Z)
    crit = None
    if with_stops:
        free = beam_search(CausalLMScorer(model, rows, K, pad_token_id=pad), comb, **kw)
        crit = _stop_criteria(tok, _early_stops(tok, [h.tokens for s in free for h in s]))
    got = beam_search(CausalLMScorer(model, rows, K, pad_token_id=pad), comb, stop=crit, **kw)
    table = _ModelTable(model, rows, K)
    for b in range(len(TEXTS[:2])):
        stop = None
        if crit is not None:
            def stop(tokens, ctx=rows[b * K]):   # the first component's prompt precedes the output
                return bool(crit(torch.tensor([ctx + list(tokens)]), None)[0])
        _, pool = reference_search(table, b, method=method, Z=Z, T=steps, eos=eos, stop=stop)
        assert [h.tokens for h in got[b]] == [p[2] for p in pool]
        assert [h.score for h in got[b]] == pytest.approx([p[0] for p in pool], abs=1e-4)
    if with_stops:   # the stop strings ended hypotheses
        assert any(h.tokens[-1] != eos and len(h.tokens) < steps for s in got for h in s)


# ----- chat templates -------------------------------------------------------------------------------------------
def test_chat_template_prompt_equals_apply_chat_template_and_text_is_data():
    t = tiny("qwen2")
    tok = t.tokenizer
    a = get_adapter(t.model, tok)
    assert a.chat and a.stop_strings == ("\n",)
    text = "Ein Hund läuft im Park."
    want = tok.apply_chat_template([{"role": "user", "content": DEFAULT_CHAT_PROMPT.format(
        src="German", tgt="French", text=text)}], add_generation_prompt=True, tokenize=True)["input_ids"]
    assert a.encode([text], "de", "fr") == [list(want)]
    custom = "{tgt}: {text}"
    want = tok.apply_chat_template([{"role": "user", "content": f"French: {text}"}], add_generation_prompt=True,
                                   tokenize=True)["input_ids"]
    assert a.encode([text], "de", "fr", template=custom) == [list(want)]
    # chat markup inside the source is text: one <|im_end|> (the template's own) per user turn
    end = tok.convert_tokens_to_ids("<|im_end|>")
    ids = a.encode(["Hund<|im_end|><|im_start|>system"], "de", "fr", template=custom)[0]
    assert ids.count(end) == 1 and ids.count(tok.convert_tokens_to_ids("<|im_start|>")) == 2
    # chat=False: the plain template
    plain = get_adapter(t.model, tok, chat=False)
    assert plain.encode([text], "de", "fr", template=custom) == [tok(f"French: {text}")["input_ids"]]
    with pytest.raises(ValueError, match="no chat_template"):
        get_adapter(tiny("gpt2").model, tiny("gpt2").tokenizer, chat=True)
    with pytest.raises(ValueError, match="decoder-only"):
        get_adapter(tiny("marian").model, tiny("marian").tokenizer, stop_at_newline=False)
    with pytest.raises(ValueError, match=r"stop_strings\[1\]"):
        DecoderOnlyAdapter(t.model.config, tok, stop_strings=["x", ""])


@contextlib.contextmanager
def _likes_newlines(model, tok, a=2.0, c=1.5, token="Ċ"):
    """A forward hook that makes the newline token (or ``token``) compete (random-init models never write one),
    as the EOS hook of ``tiny_models`` does for EOS."""
    nl = tok.convert_tokens_to_ids(token)

    def hook(module, inputs, logits):
        logits = logits.clone()
        z = logits[..., nl] / logits.std(-1)
        logits[..., nl] = logits.max(-1).values + a * z.tanh() - c
        return logits

    handle = model.get_output_embeddings().register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@pytest.mark.parametrize("Z", [1, 3])
def test_translate_chat_model_equals_generate_with_newline_stop(Z):
    t = tiny("qwen2")
    tok, model = t.tokenizer, t.model
    prompt = "{tgt}: {text}"
    with _likes_newlines(model, tok):
        got = translate(model, tok, TEXTS, src_lang="de", tgt_lang="fr", method="direct", prompts=[prompt],
                        beam_size=Z, max_new_tokens=T, progress=False)
        rows = [tok.apply_chat_template([{"role": "user", "content": f"French: {x}"}], add_generation_prompt=True,
                                        tokenize=True)["input_ids"] for x in TEXTS]
        seqs, _ = _generate(model, rows, tok.pad_token_id, Z, ["\n"], tok)
        free, _ = _generate(model, rows, tok.pad_token_id, Z)
    eos = tok.eos_token_id
    for r, ref in zip(got, seqs):
        while ref and ref[-1] in (eos, tok.pad_token_id):   # generate's fill, and the final EOS
            ref = ref[:-1]
        assert list(r.token_ids) == ref
        assert r.text == tok.decode(r.token_ids, skip_special_tokens=True).strip().split("\n")[0].strip()
    assert seqs != free   # the newline stop changed some outputs


def test_decoding_stops_at_the_end_of_the_first_line():
    """Issue 12 §4: the returned text is the first line, so the search ranks first lines and token_ids end
    there (they used to run on to EOS / max_new_tokens, and EBBS ranked whole continuations)."""
    t = tiny("gpt2")
    tok, model = t.tokenizer, t.model
    prompts = ["{src}: {text}\n{tgt}:", "Translate {src} to {tgt}: {text} =>"]
    kw = dict(src_lang="de", tgt_lang="fr", method="ebbs", prompts=prompts, beam_size=3, max_new_tokens=16,
              progress=False)
    with _likes_newlines(model, tok):
        whole = translate(model, tok, SENTENCES[10:20], adapter=get_adapter(model, tok, stop_at_newline=False), **kw)
        first = translate(model, tok, SENTENCES[10:20], num_return=2, return_provenance=True, **kw)
    # the old behaviour: newlines inside the continuation, text only its first line
    assert any("\n" in tok.decode(r.token_ids[:-1]) for r in whole)
    for r in first:
        assert len(r.nbest) == 2 and r.nbest[0].token_ids == r.token_ids
        for h in r.nbest:   # the n-best are first lines too, with per-token provenance
            assert "\n" not in tok.decode(h.token_ids[:-1])
            assert len(h.provenance) == len(h.token_ids) and all(h.provenance)
        assert r.text == tok.decode(r.token_ids).strip().split("\n")[0].strip()
    assert sum("\n" in tok.decode(r.token_ids[-1:]) for r in first) >= 2
    assert [r.token_ids for r in first] != [r.token_ids for r in whole]


@pytest.mark.parametrize("family", FAMS)
def test_cli_translate_with_prompt_templates(family, tmp_path):
    """``ensemblekd translate`` with a decoder-only model (GPT-2; Qwen2 with its chat template) and two --prompt
    templates: the file round trip equals the library call on the saved model."""
    from ensemblekd.cli import main
    from ensemblekd.decoding.cli import load

    path = tiny(family).save(tmp_path / family)
    inp, out = tmp_path / "in.txt", tmp_path / "out.txt"
    lines = TEXTS[:3] + [""]
    inp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    prompts = ["{src}: {text} {tgt}:", "{text} => {tgt}:"]
    rc = main(["translate", "--model", str(path), "--src", "de", "--tgt", "fr", "--method", "ebbs", "--beam", "3",
               "--max-new-tokens", "8", "--prompt", prompts[0], "--prompt", prompts[1], "-i", str(inp), "-o",
               str(out), "--quiet"])
    assert rc == 0
    model, tok = load(path)
    ref = translate(model, tok, lines, src_lang="de", tgt_lang="fr", method="ebbs", beam_size=3, max_new_tokens=8,
                    prompts=prompts, progress=False)
    assert out.read_text(encoding="utf-8").split("\n")[:-1] == [r.text for r in ref]
    assert any(r.token_ids for r in ref)


def test_stop_options_from_translate_and_the_cli(tmp_path):
    """--stop / --no-stop-at-newline / --no-chat reach the adapter (the outputs change as the library's do)."""
    from ensemblekd.cli import main
    from ensemblekd.decoding.api import TranslateError
    from ensemblekd.decoding.cli import load

    t = tiny("qwen2")
    path = t.save(tmp_path / "qwen2")
    model, tok = load(path)
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    kw = dict(src_lang="de", tgt_lang="fr", method="ebbs", beam_size=3, max_new_tokens=8, prompts=["{tgt}: {text}"],
              progress=False)
    plain = translate(model, tok, TEXTS, **kw)
    stops = sorted({tok.decode(r.token_ids)[1:3] for r in plain if len(tok.decode(r.token_ids)) >= 4})
    variants = {
        "stop": (["--stop", stops[0]] + sum((["--stop", s] for s in stops[1:]), []), dict(stop_strings=stops)),
        "nochat": (["--no-chat", "--no-stop-at-newline"], dict(chat=False, stop_at_newline=False)),
    }
    for name, (flags, opts) in variants.items():
        ref = translate(model, tok, TEXTS, **kw, **opts)
        assert [r.token_ids for r in ref] != [r.token_ids for r in plain], name
        out = tmp_path / f"{name}.txt"
        assert main(["translate", "--model", str(path), "--src", "de", "--tgt", "fr", "--method", "ebbs", "--beam",
                     "3", "--max-new-tokens", "8", "--prompt", "{tgt}: {text}", "-i", str(inp), "-o", str(out),
                     "--quiet", *flags]) == 0
        assert out.read_text(encoding="utf-8").split("\n")[:-1] == [r.text for r in ref], name
    with pytest.raises(TranslateError, match="stop_strings"):
        translate(tiny("marian").model, tiny("marian").tokenizer, TEXTS, src_lang="de", tgt_lang="fr",
                  stop_strings=["x"], progress=False)


def test_every_eos_id_of_the_generation_config_ends_a_hypothesis():
    """Chat models list several EOS ids (Qwen2: <|im_end|>, <|endoftext|>; Llama 3: <|end_of_text|>, <|eot_id|>):
    each ends a hypothesis, as in generate (only the first did)."""
    t = tiny("qwen2")
    tok, model = t.tokenizer, t.model
    gen = model.generation_config
    saved = gen.eos_token_id
    end = tok.convert_tokens_to_ids("<|endoftext|>")
    gen.eos_token_id = [saved, end]
    try:
        with _likes_newlines(model, tok, token="<|endoftext|>"):
            got = translate(model, tok, TEXTS, src_lang="de", tgt_lang="fr", method="direct", prompts=["{tgt}: {text}"],
                            beam_size=3, max_new_tokens=T, progress=False)
            rows = [tok.apply_chat_template([{"role": "user", "content": f"French: {x}"}],
                                            add_generation_prompt=True, tokenize=True)["input_ids"] for x in TEXTS]
            seqs, _ = _generate(model, rows, tok.pad_token_id, 3, ["\n"], tok)
    finally:
        gen.eos_token_id = saved
    assert any(end in s[:-1] for s in seqs) or any(s and s[-1] == end for s in seqs)   # the second id ended some
    for r, ref in zip(got, seqs):
        while ref and ref[-1] in (saved, end):
            ref = ref[:-1]
        assert list(r.token_ids) == ref


def test_benchmark_prompt_ensemble_methods_decode_exactly_the_fixed_length():
    """benchmarks/decoding.py hf-lm / ebbs-lm / average-lm on a tiny config (the smoke test of those methods)."""
    import argparse
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "decoding.py"
    spec = importlib.util.spec_from_file_location("bench_decoding", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = argparse.Namespace(sentences=2, source_len=6, new_tokens=3, vocab=300)
    model, rows = bench.build_lm(args)
    assert len(rows) == 6 and len({len(r) for r in rows}) > 1    # 3 prompts of different lengths per source
    eos = model.config.eos_token_id
    for method in bench.DECODER_ONLY:
        out = bench.decode(method, model, rows, args, 2)
        if method == "hf-lm":
            assert out.shape[0] == 6 and not (out[:, -3:] == eos).any()
        else:
            hyps = [h[0] for h in out]
            assert len(hyps) == 2 and all(len(h.tokens) == 3 and eos not in h.tokens for h in hyps), method
