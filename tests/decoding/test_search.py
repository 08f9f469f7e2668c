"""beam_search: equality with transformers' generate, invariants, brute-force reference."""
from __future__ import annotations

import math

import numpy as np

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ensemblekd.decoding import EBBS, Average, CausalLMScorer, Hypothesis, Seq2SeqScorer, Single, Vote, beam_search

from .oracles import single_thread  # noqa: F401  (fixture)
from .oracles import (TableScorer, padded, random_rows, reference_search, tiny_gpt2, tiny_m2m100, tiny_marian,
                      tiny_mbart, tiny_t5)

pytestmark = pytest.mark.usefixtures("single_thread")

LENGTHS = (7, 3, 9, 5)


def _hf_outputs(out, batch, n, pad, prompt_len):
    """generate(...) output -> per sentence [(tokens, score)] with the prompt and padding removed."""
    res = []
    for b in range(batch):
        hyps = []
        for j in range(n):
            seq = out.sequences[b * n + j].tolist()[prompt_len:]
            # generate pads after EOS (pad may equal EOS for GPT-2: keep the first one)
            hyps.append((seq, float(out.sequences_scores[b * n + j])))
        res.append(hyps)
    return res


def _same_as_hf(ours, ref, eos, pad):
    pad = pad or eos  # generate's fill value after EOS
    for hyps, refs in zip(ours, ref):
        assert len(hyps) == len(refs)
        for h, (seq, score) in zip(hyps, refs):
            got = list(h.tokens)
            # generate right-pads shorter hypotheses; ours stop at EOS
            assert seq[: len(got)] == got, (seq, got)
            assert all(t == pad for t in seq[len(got):]), (seq, got)
            assert got[-1] == eos or len(got) == len(seq)
            assert h.score == pytest.approx(score, rel=1e-5, abs=1e-5)  # float32 sums in another order


# (family builder, forced bos token or None)
FAMILIES = {
    "m2m100": (tiny_m2m100, 10),
    "mbart": (tiny_mbart, 10),
    "marian": (tiny_marian, None),
    "t5": (tiny_t5, None),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
def test_single_equals_generate_seq2seq(family, seed, alpha):
    build, forced = FAMILIES[family]
    model = build(seed)
    cfg = model.config
    Z, T, n = 4, 8, 2
    src = random_rows(seed, LENGTHS, 3, cfg.vocab_size - 2, end=cfg.eos_token_id)
    ids, mask = padded(src, cfg.pad_token_id)
    extra = {"forced_bos_token_id": forced} if forced is not None else {}
    out = model.generate(ids, attention_mask=mask, num_beams=Z, max_new_tokens=T, length_penalty=alpha,
                         early_stopping=True, num_return_sequences=n, output_scores=True,
                         return_dict_in_generate=True, do_sample=False, **extra)
    prompt = [cfg.decoder_start_token_id] + ([forced] if forced is not None else [])
    offset = len(prompt) - 1
    ours = beam_search(Seq2SeqScorer(model, src, prompt, 1), Single(), beam_size=Z, max_new_tokens=T - offset,
                       eos_token_id=cfg.eos_token_id, length_penalty=alpha, length_offset=offset, num_return=n,
                       forced_eos_token_id=model.generation_config.forced_eos_token_id)
    _same_as_hf(ours, _hf_outputs(out, len(src), n, cfg.pad_token_id, len(prompt)), cfg.eos_token_id,
                cfg.pad_token_id)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
def test_single_equals_generate_gpt2(seed, alpha):
    model = tiny_gpt2(seed)
    cfg = model.config
    Z, T, n = 3, 7, 2
    prompts = random_rows(seed, (5, 2, 8), 0, cfg.vocab_size - 1)
    ids, mask = padded(prompts, cfg.pad_token_id, left=True)
    out = model.generate(ids, attention_mask=mask, num_beams=Z, max_new_tokens=T, length_penalty=alpha,
                         early_stopping=True, num_return_sequences=n, output_scores=True,
                         return_dict_in_generate=True, do_sample=False, pad_token_id=cfg.pad_token_id)
    ours = beam_search(CausalLMScorer(model, prompts, 1), Single(), beam_size=Z, max_new_tokens=T,
                       eos_token_id=cfg.eos_token_id, length_penalty=alpha, num_return=n)
    _same_as_hf(ours, _hf_outputs(out, len(prompts), n, cfg.pad_token_id, ids.shape[1]), cfg.eos_token_id,
                cfg.pad_token_id)


@pytest.mark.parametrize("early_stopping", [False, "never"])
def test_early_stopping_variants_equal_generate(early_stopping):
    model = tiny_m2m100(3)
    cfg = model.config
    src = random_rows(3, LENGTHS, 3, cfg.vocab_size - 2, end=cfg.eos_token_id)
    ids, mask = padded(src, cfg.pad_token_id)
    out = model.generate(ids, attention_mask=mask, num_beams=3, max_new_tokens=9, length_penalty=1.5,
                         early_stopping=early_stopping, output_scores=True, return_dict_in_generate=True,
                         forced_bos_token_id=10)
    ours = beam_search(Seq2SeqScorer(model, src, [cfg.decoder_start_token_id, 10], 1), Single(), beam_size=3,
                       max_new_tokens=8, eos_token_id=cfg.eos_token_id, length_penalty=1.5, length_offset=1,
                       early_stopping=early_stopping)
    _same_as_hf(ours, _hf_outputs(out, len(src), 1, cfg.pad_token_id, 2), cfg.eos_token_id, cfg.pad_token_id)


def _m2m_run(model, src, K, combiner, Z=4, T=7, alpha=1.0, **kw):
    cfg = model.config
    rows = [s for s in src for _ in range(K)]
    scorer = Seq2SeqScorer(model, rows, [cfg.decoder_start_token_id, 10], K)
    return beam_search(scorer, combiner, beam_size=Z, max_new_tokens=T, eos_token_id=cfg.eos_token_id,
                       length_penalty=alpha, length_offset=1, **kw)


def _same(a, b, tol=1e-4):
    for ha, hb in zip(a, b):
        assert [h.tokens for h in ha] == [h.tokens for h in hb]
        for x, y in zip(ha, hb):
            assert x.score == pytest.approx(y.score, abs=tol)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ebbs_k1_and_identical_components_equal_single(seed):
    model = tiny_m2m100(seed)
    src = random_rows(seed, LENGTHS, 3, 46, end=2)
    single = _m2m_run(model, src, 1, Single(), num_return=3)
    assert [h.tokens for h in _m2m_run(model, src, 1, EBBS(), num_return=3)[0]] == [h.tokens for h in single[0]]
    _same(_m2m_run(model, src, 1, EBBS(), num_return=3), single, tol=0)
    _same(_m2m_run(model, src, 1, Average(), num_return=3), single, tol=0)
    for comb in (EBBS(), EBBS(voting="max"), EBBS(voting="count"), EBBS(weights=[1, 2, 3]), Average(),
                 Average(mean="geometric"), Average(weights=[3, 1, 1])):
        _same(_m2m_run(model, src, 3, comb, num_return=3), single)


@pytest.mark.parametrize("seed", [0, 1])
def test_vote_k1_equals_greedy(seed):
    model = tiny_m2m100(seed)
    cfg = model.config
    src = random_rows(seed, LENGTHS, 3, 46, end=2)
    ids, mask = padded(src, cfg.pad_token_id)
    out = model.generate(ids, attention_mask=mask, num_beams=1, do_sample=False, max_new_tokens=10,
                         forced_bos_token_id=10)
    ours = _m2m_run(model, src, 1, Vote(), Z=1, T=9)
    for b, hyps in enumerate(ours):
        seq = out[b].tolist()[2:]
        got = list(hyps[0].tokens)
        assert seq[: len(got)] == got and all(t == (cfg.pad_token_id or cfg.eos_token_id) for t in seq[len(got):])


def test_provenance_ebbs():
    model = tiny_m2m100(1)
    src = random_rows(1, LENGTHS, 3, 46, end=2)
    res = _m2m_run(model, src, 3, EBBS(), num_return=2, return_provenance=True)
    for hyps in res:
        for h in hyps:
            assert len(h.provenance) == len(h.tokens)
            assert all(p == (0, 1, 2) for p in h.provenance)  # identical components agree everywhere
    # different components: provenance is a non-empty subset per token
    toy = TableScorer(2, 3, 6, seed=5)
    res = beam_search(toy, EBBS(), beam_size=2, max_new_tokens=4, eos_token_id=0, return_provenance=True)
    seen = set()
    for hyps in res:
        for h in hyps:
            assert len(h.provenance) == len(h.tokens)
            assert all(p and set(p) <= {0, 1, 2} for p in h.provenance)
            seen.update(h.provenance)
    assert len(seen) > 1


def _run_toy(scorer, combiner, Z, T, eos, alpha, offset):
    uppers = []

    def callback(step, seqs, scores, sentences):
        uppers.append({int(b): (seqs[i].clone(), scores[i].clone()) for i, b in enumerate(sentences)})

    res = beam_search(scorer, combiner, beam_size=Z, max_new_tokens=T, eos_token_id=eos, length_penalty=alpha,
                      length_offset=offset, num_return=Z, step_callback=callback)
    return uppers, res


def _check_against_reference(scorer, combiner, ref_kwargs, Z, T, eos, alpha, offset):
    uppers, res = _run_toy(scorer, combiner, Z, T, eos, alpha, offset)
    for b in range(scorer.num_sentences):
        ref_uppers, ref_pool = reference_search(scorer, b, Z=Z, T=T, eos=eos, alpha=alpha, offset=offset,
                                                **ref_kwargs)
        for t, beam in enumerate(ref_uppers):
            assert b in uppers[t], (t, "sentence left the batch too early")
            seqs, scores = uppers[t][b]
            live = [(tuple(seqs[z].tolist()), float(scores[z])) for z in range(Z) if scores[z] > float("-inf")]
            assert [p for p, _ in live] == [p for p, _ in beam], (t, live, beam)
            assert [s for _, s in live] == pytest.approx([s for _, s in beam], abs=1e-4)
        got = [(h.tokens, h.score) for h in res[b]]
        assert [g[0] for g in got] == [r[2] for r in ref_pool]
        assert [g[1] for g in got] == pytest.approx([r[0] for r in ref_pool], abs=1e-4)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), K=st.integers(1, 3), V=st.integers(2, 6), Z=st.integers(1, 3),
       T=st.integers(1, 4), voting=st.sampled_from(["sum", "max", "count"]),
       alpha=st.sampled_from([0.0, 1.0, 2.0]), offset=st.integers(0, 1), weighted=st.booleans())
def test_ebbs_matches_brute_force(seed, K, V, Z, T, voting, alpha, offset, weighted):
    weights = [1.0 + (seed * (k + 3)) % 5 for k in range(K)] if weighted else None
    scorer = TableScorer(2, K, V, seed)
    _check_against_reference(scorer, EBBS(weights=weights, voting=voting),
                             {"method": "ebbs", "voting": voting, "weights": weights}, Z, T, 0, alpha, offset)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), K=st.integers(1, 3), V=st.integers(2, 6), Z=st.integers(1, 3),
       T=st.integers(1, 4), mean=st.sampled_from(["arithmetic", "geometric"]), weighted=st.booleans())
def test_average_matches_brute_force(seed, K, V, Z, T, mean, weighted):
    weights = [1.0 + (seed * (k + 2)) % 4 for k in range(K)] if weighted else None
    scorer = TableScorer(2, K, V, seed)
    _check_against_reference(scorer, Average(weights=weights, mean=mean),
                             {"method": "average", "mean": mean, "weights": weights}, Z, T, 0, 1.0, 0)


def test_nothing_left_ends_the_hypothesis():
    # every continuation of prefix (1,) and (2,) is -inf in all components: they end without EOS
    scorer = TableScorer(1, 2, 5, seed=3, dead_prefixes=[(1,), (2,), (3,)])
    _check_against_reference(scorer, EBBS(), {"method": "ebbs"}, 3, 4, 0, 1.0, 0)
    res = beam_search(TableScorer(1, 1, 4, seed=1, dead_prefixes=[()]), Single(), beam_size=2, max_new_tokens=3,
                      eos_token_id=0)
    assert res[0] == [Hypothesis((), 0.0, 0.0)]


def test_geometric_mean_ends_a_hypothesis_that_one_component_rules_out():
    class OneDead(TableScorer):  # component 1 has nothing finite after the empty prefix
        def logprobs(self, b, k, prefix):
            if k == 1 and prefix == ():
                return np.full(self.vocab_size, float("-inf"), dtype=np.float32)
            return super().logprobs(b, k, prefix)

    kw = dict(beam_size=2, max_new_tokens=3, eos_token_id=0)
    assert beam_search(OneDead(1, 2, 4, seed=1), Average(mean="geometric"), **kw)[0] == [Hypothesis((), 0.0, 0.0)]
    assert beam_search(OneDead(1, 2, 4, seed=1), Average(mean="geometric", weights=[1, 0]), **kw)[0][0].tokens
    arithmetic = beam_search(OneDead(1, 2, 4, seed=1), Average(), **kw)[0]
    assert arithmetic and arithmetic[0].tokens  # component 0 still offers continuations


def test_no_eos_runs_to_max_length():
    res = beam_search(TableScorer(2, 2, 5, seed=4), EBBS(), beam_size=2, max_new_tokens=4, eos_token_id=None,
                      num_return=2)
    assert all(len(h.tokens) == 4 for hyps in res for h in hyps)


def test_progress_hook_counts_steps():
    class Counter:
        n = 0

        def update(self, k):
            self.n += k

    c = Counter()
    beam_search(TableScorer(1, 1, 5, seed=2), Single(), beam_size=2, max_new_tokens=3, eos_token_id=None,
                progress=c)
    assert c.n == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"beam_size": 0}, "beam_size"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"num_return": 3}, "num_return"),
    ({"early_stopping": "sometimes"}, "early_stopping"),
    ({"length_offset": -1}, "length_offset"),
])
def test_bad_arguments(kwargs, message):
    args = {"beam_size": 2, "max_new_tokens": 3, "eos_token_id": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        beam_search(TableScorer(1, 1, 5), Single(), **args)


def test_length_penalty_score_definition():
    res = beam_search(TableScorer(3, 1, 6, seed=9), Single(), beam_size=3, max_new_tokens=4, eos_token_id=0,
                      length_penalty=1.7, length_offset=1, num_return=3)
    for hyps in res:
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            assert h.score == pytest.approx(h.logprob / (len(h.tokens) + 1) ** 1.7, rel=1e-6)
            assert math.isfinite(h.logprob)


def test_provenance_none_for_combiners_without_it():
    res = beam_search(TableScorer(1, 2, 5, seed=1), Average(), beam_size=2, max_new_tokens=3, eos_token_id=0,
                      return_provenance=True)
    assert res[0][0].provenance is None
    res = beam_search(TableScorer(1, 2, 5, seed=1), Vote(), beam_size=1, max_new_tokens=3, eos_token_id=0,
                      return_provenance=True)
    assert len(res[0][0].provenance) == len(res[0][0].tokens) and all(res[0][0].provenance)


def test_prompt_ensemble_identical_prompts_equal_single():
    model = tiny_gpt2(1)
    cfg = model.config
    prompts = random_rows(5, (4, 6), 0, cfg.vocab_size - 1)
    kw = dict(beam_size=3, max_new_tokens=6, eos_token_id=cfg.eos_token_id, num_return=2)
    single = beam_search(CausalLMScorer(model, prompts, 1), Single(), **kw)
    rows = [p for p in prompts for _ in range(3)]
    _same(beam_search(CausalLMScorer(model, rows, 3), EBBS(), **kw), single)
    _same(beam_search(CausalLMScorer(model, rows, 3), Average(), **kw), single)
    # different prompts per component: runs, and EBBS K=1 per prompt equals Single
    mixed = [prompts[0], prompts[1], prompts[1], prompts[0]]
    res = beam_search(CausalLMScorer(model, mixed, 2), EBBS(), return_provenance=True, **kw)
    assert all(h.provenance is not None and len(h.provenance) == len(h.tokens) for hyps in res for h in hyps)


class _NoSelect:
    """The same scorer without the optional select_sentences (finished sentences stay in the batch)."""

    def __init__(self, inner):
        self.inner = inner
        self.num_sentences, self.num_components, self.vocab_size = (inner.num_sentences, inner.num_components,
                                                                     inner.vocab_size)

    def start(self, beam_size):
        self.inner.start(beam_size)

    def step(self, tokens):
        return self.inner.step(tokens)

    def reorder(self, parents):
        self.inner.reorder(parents)


@pytest.mark.parametrize("comb", [Single(), EBBS()])
def test_finished_sentences_leave_the_batch(comb):
    model = tiny_m2m100(2)  # its sentences end at different steps
    K = 1 if isinstance(comb, Single) else 2
    src = random_rows(0, (7, 3, 9, 5, 4, 6), 3, 46, end=2)
    rows = [s for s in src for _ in range(K)]
    calls = []
    scorer = Seq2SeqScorer(model, rows, [2, 10], K)
    select = scorer.select_sentences
    scorer.select_sentences = lambda kept: (calls.append(kept.tolist()), select(kept))
    kw = dict(beam_size=3, max_new_tokens=12, eos_token_id=2, length_offset=1, num_return=3,
              return_provenance=True)
    got = beam_search(scorer, comb, **kw)
    assert calls, "no sentence finished before the others"
    _same(beam_search(scorer, comb, **kw), got, tol=0)  # a scorer can be started again
    want = beam_search(_NoSelect(Seq2SeqScorer(model, rows, [2, 10], K)), comb, **kw)
    # equal up to float rounding (a smaller batch may round matrix products differently)
    _same(got, want, tol=1e-5)
    assert [[h.provenance for h in hyps] for hyps in got] == [[h.provenance for h in hyps] for hyps in want]


def test_finished_prompts_leave_the_batch_causal_lm():
    model = tiny_gpt2(1)
    prompts = random_rows(1, (5, 2, 8, 3), 0, 47)
    rows = [p for p in prompts for _ in range(2)]
    calls = []
    scorer = CausalLMScorer(model, rows, 2)
    select = scorer.select_sentences
    scorer.select_sentences = lambda kept: (calls.append(kept.tolist()), select(kept))
    kw = dict(beam_size=2, max_new_tokens=12, eos_token_id=47, num_return=2)
    got = beam_search(scorer, EBBS(), **kw)
    assert calls
    _same(got, beam_search(_NoSelect(CausalLMScorer(model, rows, 2)), EBBS(), **kw), tol=1e-5)
    _same(beam_search(CausalLMScorer(model, prompts, 1), Single(), **kw), got, tol=1e-4)
