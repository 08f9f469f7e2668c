"""Several models in one ensemble (issue 13 §1): copies of one model == that model, two different models ==
the brute-force reference from the formulas, one forward per model per step, provenance, and the refusals."""
from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch

from ensemblekd.decoding import EBBS, Average, Seq2SeqScorer, Single, Vote, beam_search
from ensemblekd.decoding.api import TranslateError, translate
from ensemblekd.decoding.multimodel import ModelMismatchError, MultiScorer, ensemble_scorer, split_rows

from .oracles import random_rows, reference_search, single_thread, tiny_m2m100  # noqa: F401  (fixture)
from .tiny_models import perturbed, tiny

pytestmark = pytest.mark.usefixtures("single_thread")

SOURCES = ["Ein Hund läuft im Park.", "", "Zwei Kinder sitzen auf einer Bank.", "Eine Katze schläft."]
T, Z = 8, 3




def run(t, models, sources=SOURCES, **kw):
    kw.setdefault("beam_size", Z)
    kw.setdefault("max_new_tokens", T)
    kw.setdefault("progress", False)
    kw["pivots"] = tuple(t.code(p) for p in kw.get("pivots", ()))
    return translate(models, t.tokenizer, sources, src_lang=t.code("de"), tgt_lang=t.code("fr"), **kw)


def forwards(model):
    """A list that grows by one per call of ``model`` (its top-level forward)."""
    calls = []
    model.register_forward_pre_hook(lambda *a: calls.append(1))
    return calls


# ----------------------------------------------------------------------------- copies == one model
COMBINERS = [dict(method="ebbs"), dict(method="ebbs", voting="max"), dict(method="ebbs", voting="count"),
             dict(method="average"), dict(method="average", mean="geometric"), dict(method="vote"),
             dict(method="mbr")]


@pytest.mark.parametrize("options", COMBINERS, ids=lambda o: "-".join(map(str, o.values())))
def test_copies_of_one_model_equal_the_model_alone(options):
    t = tiny("ekd_src")
    twin = copy.deepcopy(t.model)           # another object: its own scorer and cache, the same weights
    used = forwards(twin)
    alone = run(t, t.model, pivots=("en",), **options)
    both = run(t, [t.model, twin], pivots=("en",), **options)
    assert used, "the copy never ran: the test would not test several models"
    assert [r.token_ids for r in both] == [r.token_ids for r in alone]
    assert [r.score for r in both] == pytest.approx([r.score for r in alone], abs=1e-4)


@pytest.mark.parametrize("method", ["ebbs", "average", "vote"])
def test_three_copies_equal_the_model_alone(method):
    t = tiny("ekd_src")
    copies = [copy.deepcopy(t.model) for _ in range(2)]
    alone = run(t, t.model, pivots=("en", "cs"), method=method, return_provenance=True)
    three = run(t, [t.model, *copies], pivots=("en", "cs"), method=method, return_provenance=True)
    assert [r.token_ids for r in three] == [r.token_ids for r in alone]
    assert len(three[0].components) == 9 and [c.model for c in three[0].components] == \
        [f"models[{m}]" for m in range(3) for _ in range(3)]


@pytest.mark.parametrize("method", ["ebbs", "average"])
def test_decoder_only_models_copies_equal_one_and_two_models_differ(method):
    t = tiny("gpt2")
    prompts = ["{src}: {text}\n{tgt}:", "Translate {src} to {tgt}: {text} =>"]
    twin, other = copy.deepcopy(t.model), perturbed(t.model, 6)
    used = forwards(twin)
    alone = run(t, t.model, method=method, prompts=prompts)
    assert [r.token_ids for r in run(t, [t.model, twin], method=method, prompts=prompts)] == \
        [r.token_ids for r in alone] and used
    two = run(t, [t.model, other], method=method, prompts=prompts, return_provenance=True)
    assert [(c.model, c.name) for c in two[0].components] == [
        (f"models[{m}]", f"prompt:{p!r}") for m in (0, 1) for p in prompts]
    assert [(r.token_ids, round(r.score, 4)) for r in two] != [(r.token_ids, round(r.score, 4)) for r in alone]


def test_the_same_model_object_twice_is_one_scorer_in_any_order():
    t = tiny("ekd_src")
    other = perturbed(t.model, 1)
    twin = copy.deepcopy(t.model)
    # [a, b, a]: a's components are columns 0, 1, 4, 5 of one scorer (the gather path);
    # [a, b, copy of a]: three scorers side by side (concatenation only) -- the same ensemble
    opts = dict(pivots=("en",), method="ebbs", weights=[3, 0.2, 0.5, 2, 1, 0.1], return_provenance=True)
    a = run(t, [t.model, other, t.model], **opts)
    b = run(t, [t.model, other, twin], **opts)
    assert [(r.token_ids, r.provenance) for r in a] == [(r.token_ids, r.provenance) for r in b]


# ----------------------------------------------------------------------------- two different models
class HFTable:
    """``log p_k(y | prefix, sentence b)`` by a full forward (no cache) of component k's model on its encoder
    row -- the interface of :func:`oracles.reference_search`."""

    def __init__(self, models, rows, K, prompt):
        self.models, self.rows, self.prompt = models, rows, list(prompt)
        self.num_components, self.num_sentences = K, len(rows) // K
        self.vocab_size = int(models[0].config.vocab_size)

    @functools.lru_cache(maxsize=None)
    def logprobs(self, b, k, prefix):
        ids = torch.tensor([self.rows[b * self.num_components + k]])
        dec = torch.tensor([self.prompt + list(prefix)])
        with torch.no_grad():
            logits = self.models[k](input_ids=ids, decoder_input_ids=dec).logits[0, -1].float()
        return torch.log_softmax(logits, -1).numpy().astype(np.float32)


def _two_model_search(models, model_of, rows, K, combiner, Z_, T_, alpha):
    prompt = [models[0].config.decoder_start_token_id, 10]
    scorer = ensemble_scorer(models, model_of, rows, lambda m, r, k: Seq2SeqScorer(m, r, prompt, k))
    assert isinstance(scorer, MultiScorer)
    return beam_search(scorer, combiner, beam_size=Z_, max_new_tokens=T_, eos_token_id=2, length_penalty=alpha,
                       length_offset=1, num_return=Z_), prompt


@pytest.mark.parametrize("method,options", [("ebbs", dict(voting="sum")), ("ebbs", dict(voting="max")),
                                            ("ebbs", dict(voting="count")), ("average", dict(mean="arithmetic")),
                                            ("average", dict(mean="geometric"))])
@pytest.mark.parametrize("weighted", [False, True])
def test_two_models_match_the_brute_force_reference(method, options, weighted):
    a, b = tiny_m2m100(0), tiny_m2m100(1)
    models = [a, b]
    model_of = [0, 1, 1]                            # components: a's path, then two paths of b
    K, B = len(model_of), 3
    rows = random_rows(5, [6, 3, 8, 4, 7, 5, 3, 6, 5], 3, 46, end=2)[: B * K]
    weights = [1.0, 2.5, 0.5] if weighted else None
    comb = EBBS(weights=weights, **options) if method == "ebbs" else Average(weights=weights, **options)
    hyps, prompt = _two_model_search(models, model_of, rows, K, comb, 3, 5, 1.0)
    table = HFTable([models[m] for m in model_of], rows, K, prompt)
    checked = 0
    for s in range(B):
        _, pool = reference_search(table, s, method=method, Z=3, T=5, eos=2, alpha=1.0, offset=1, weights=weights,
                                   **options)
        assert [h.tokens for h in hyps[s]] == [p[2] for p in pool], s
        assert [h.score for h in hyps[s]] == pytest.approx([p[0] for p in pool], abs=1e-4)
        checked += len(pool)
    assert checked >= B * 2
    # the models differ: the ensemble is neither model alone
    alone = [beam_search(Seq2SeqScorer(m, split_rows(rows, K, [0]), prompt, 1), Single(), beam_size=3,
                         max_new_tokens=5, eos_token_id=2, length_offset=1, num_return=3) for m in models]
    assert [[h.tokens for h in x] for x in alone[0]] != [[h.tokens for h in x] for x in alone[1]]


def _reference_vote(table, b, T_, eos, weights):
    """Greedy voting from its definition: each component votes for its argmax; most (weighted) votes wins, ties
    by the averaged probability; the score adds ``log sum_k w_k p_k(y)``."""
    K = table.num_components
    w = np.asarray(weights if weights is not None else [1.0] * K, dtype=np.float64)
    w = w / w.sum()
    prefix, score = (), 0.0
    for _ in range(T_):
        lps = [table.logprobs(b, k, prefix).astype(np.float64) for k in range(K)]
        avg = np.logaddexp.reduce([np.log(w[k]) + lps[k] if w[k] > 0 else np.full_like(lps[k], -np.inf)
                                   for k in range(K)], axis=0)
        votes = {}
        for k in range(K):
            y = int(np.argmax(lps[k]))
            votes[y] = votes.get(y, 0.0) + w[k]
        best = max(votes, key=lambda y: (round(votes[y], 9), avg[y]))
        score += float(avg[best])
        prefix += (best,)
        if best == eos:
            break
    return prefix, score


@pytest.mark.parametrize("weights", [None, [1.0, 2.5, 0.5]])
def test_two_models_vote_matches_the_reference(weights):
    a, b = tiny_m2m100(2), tiny_m2m100(3)
    model_of, K, B = [0, 1, 1], 3, 3
    rows = random_rows(8, [6, 3, 8, 4, 7, 5, 3, 6, 5], 3, 46, end=2)
    hyps, prompt = _two_model_search([a, b], model_of, rows, K, Vote(weights=weights), 1, 6, 1.0)
    table = HFTable([[a, b][m] for m in model_of], rows, K, prompt)
    for s in range(B):
        tokens, score = _reference_vote(table, s, 6, 2, weights)
        assert hyps[s][0].tokens == tokens and hyps[s][0].logprob == pytest.approx(score, abs=1e-4)


def test_one_forward_per_model_per_step_and_one_cache_per_model():
    a, b = tiny_m2m100(0), tiny_m2m100(1)
    calls = {"a": forwards(a), "b": forwards(b)}
    K, B = 4, 2
    rows = random_rows(3, [5, 4, 6, 3, 7, 5, 4, 6], 3, 46, end=2)
    steps = []
    prompt = [a.config.decoder_start_token_id, 10]
    scorer = ensemble_scorer([a, b], [0, 1, 0, 1], rows, lambda m, r, k: Seq2SeqScorer(m, r, prompt, k))
    assert [len(c) for c in scorer.columns] == [2, 2] and scorer.columns == [[0, 2], [1, 3]]
    beam_search(scorer, EBBS(), beam_size=3, max_new_tokens=6, eos_token_id=None, length_offset=1,
                step_callback=lambda t, *rest: steps.append(t))
    # the prompt prefill, then one decoder forward per step after the first, for each model
    assert len(calls["a"]) == len(calls["b"]) == len(steps) == 6
    assert all(s.num_sentences == B for s in scorer.scorers)
    assert scorer.scorers[0]._cache is not scorer.scorers[1]._cache
    # a single model stays the plain scorer (the single-model path is unchanged)
    assert isinstance(ensemble_scorer([a, a], [0, 1], rows[:4], lambda m, r, k: Seq2SeqScorer(m, r, prompt, k)),
                      Seq2SeqScorer)


# ----------------------------------------------------------------------------- provenance and pivot legs
def test_provenance_names_model_and_path_and_pivot_legs_by_model():
    t = tiny("ekd_src")
    other = perturbed(t.model, 2)
    got = run(t, [t.model, other], pivots=("en",), method="ebbs", return_provenance=True,
              model_names=["A", "B"])
    to_en = {m: translate(model, t.tokenizer, SOURCES, src_lang="de", tgt_lang="en", method="direct", beam_size=Z,
                          max_new_tokens=T, progress=False) for m, model in (("A", t.model), ("B", other))}
    assert [r.text for r in to_en["A"]] != [r.text for r in to_en["B"]]
    for i, src in enumerate(SOURCES):
        if not src.strip():
            continue
        comps = got[i].components
        assert [(c.model, c.name) for c in comps] == [("A", "direct"), ("A", "pivot:en"), ("B", "direct"),
                                                      ("B", "pivot:en")]
        assert [c.input for c in comps] == [src, to_en["A"][i].text, src, to_en["B"][i].text]
        assert all(p and set(p) <= {0, 1, 2, 3} for p in got[i].provenance)
    # pivot legs from a chosen model: both models read model A's pivot translation
    leg = run(t, [t.model, other], pivots=("en",), method="ebbs", return_provenance=True, pivot_model=0)
    for i, src in enumerate(SOURCES):
        if src.strip():
            assert [c.input for c in leg[i].components][1::2] == [to_en["A"][i].text] * 2
    # method="pivot": the second leg by models[0], the first by models[pivot_model]
    cross = run(t, [t.model, other], pivots=("en",), method="pivot", pivot_model=1, return_provenance=True)
    assert [c.input for c in cross[0].components] == [to_en["B"][0].text]


def test_mbr_over_two_models_uses_each_models_candidates():
    t = tiny("ekd_src")
    other = perturbed(t.model, 3)
    got = run(t, [t.model, other], pivots=("en",), method="mbr", return_provenance=True)
    own = [run(t, m, pivots=("en",), method="mbr", return_provenance=True) for m in (t.model, other)]
    for i, src in enumerate(SOURCES):
        if src.strip():
            cands = [c.candidates for c in got[i].components]
            assert cands == [c.candidates for c in own[0][i].components] + [c.candidates for c in own[1][i].components]


def test_weights_are_per_component_and_zero_weight_models_do_not_count():
    t = tiny("ekd_src")
    other = perturbed(t.model, 4)
    direct = run(t, t.model, method="direct")
    for method in ("ebbs", "average", "vote"):
        got = run(t, [t.model, other], pivots=("en",), method=method, weights=[1, 0, 0, 0])
        ref = direct if method != "vote" else run(t, t.model, method="vote")
        assert [r.token_ids for r in got] == [r.token_ids for r in ref], method
    with pytest.raises(ValueError, match=r"weights has 2 entries but there are 4 components .*@models\[1\]"):
        run(t, [t.model, other], pivots=("en",), weights=[1, 1])


# ----------------------------------------------------------------------------- refusals, before any work
def _no_forward(*models):
    calls = []
    hooks = [m.register_forward_pre_hook(lambda *a: calls.append(1)) for m in models]
    return calls, hooks


def test_models_that_differ_are_refused_before_any_work():
    import transformers as tf

    t = tiny("ekd_src")
    cfg = t.model.config.to_dict()
    bigger = tf.M2M100ForConditionalGeneration(tf.M2M100Config(**{**cfg, "vocab_size": cfg["vocab_size"] + 4})).eval()
    other_eos = copy.deepcopy(t.model)
    other_eos.config.eos_token_id = 3
    other_eos.generation_config.eos_token_id = 3
    more_eos = copy.deepcopy(t.model)          # the same first EOS id, one more that ends a hypothesis
    more_eos.generation_config.eos_token_id = [2, 3]
    marian = tiny("marian")
    calls, hooks = _no_forward(t.model, bigger, other_eos, more_eos, marian.model)
    try:
        with pytest.raises(ModelMismatchError, match=r"models\[1\] \(models\[1\]\) and models\[0\] \(models\[0\]\) "
                                                     r"cannot be combined: vocabulary sizes \d+ vs \d+"):
            run(t, [t.model, bigger], method="ebbs")
        with pytest.raises(ModelMismatchError, match=r"eos token ids \(3,\) vs \(2,\)"):
            run(t, [t.model, other_eos], method="ebbs", model_names=["a", "b"])
        with pytest.raises(ModelMismatchError, match=r"eos token ids \(2, 3\) vs \(2,\)"):
            run(t, [t.model, more_eos], method="ebbs", model_names=["a", "b"])
        with pytest.raises(ModelMismatchError, match=r"models\[1\] \(opus\) and models\[0\] \(ekd\).*tokenizer"):
            translate([t.model, marian.model], [t.tokenizer, marian.tokenizer], SOURCES, src_lang="de",
                      tgt_lang="fr", model_names=["ekd", "opus"], progress=False)
        with pytest.raises(TranslateError, match="got 1 tokenizers for 2 models"):
            translate([t.model, t.model], [t.tokenizer], SOURCES, src_lang="de", tgt_lang="fr", progress=False)
        with pytest.raises(TranslateError, match=r"pivot_model=2: expected a model index in \[0, 2\)"):
            run(t, [t.model, t.model], pivots=("en",), pivot_model=2)
        with pytest.raises(TranslateError, match="method='direct' decodes one path of one model, got 2 models"):
            run(t, [t.model, t.model], method="direct")
        assert "\n" not in str(pytest.raises(ModelMismatchError, run, t, [t.model, bigger]).value)
    finally:
        for h in hooks:
            h.remove()
    assert not calls, "a model ran before the error"


# ----------------------------------------------------------------------------- building blocks
def test_build_components_for_several_models_and_pivot_legs():
    from ensemblekd.decoding.components import Component, ComponentError, build_components, component_inputs

    comps = build_components(("en",), num_models=2, pivot_nbest=2, weights=[1, 2, 3, 4, 5, 6])
    assert [(c.model, c.name, c.weight) for c in comps] == [
        (0, "direct", 1.0), (0, "pivot:en", 2.0), (0, "pivot:en#2", 3.0),
        (1, "direct", 4.0), (1, "pivot:en", 5.0), (1, "pivot:en#2", 6.0)]
    assert [c.pivot_model for c in comps] == [0, 0, 0, 1, 1, 1]
    legs = build_components(("en",), num_models=2, pivot_model=0)
    assert [(c.model, c.pivot_model) for c in legs] == [(0, 0), (0, 0), (1, 1), (1, 0)]
    with pytest.raises(ComponentError, match=r"pivot_model=2: expected a model index in \[0, 2\)"):
        build_components(("en",), num_models=2, pivot_model=2)
    with pytest.raises(ComponentError, match="num_models=0"):
        build_components(num_models=0)
    with pytest.raises(ComponentError, match="Component.model=-1"):
        Component(model=-1)

    class Adapter:
        decoder_only, max_source_length = False, None

        def encode(self, texts, src, tgt, *, max_length=None, template=None):
            return [[len(t)] for t in texts]

    # pivot texts per leg model (model-keyed entries win over the shared ones)
    _, texts = component_inputs(Adapter(), comps, ["ab"], "de", "fr",
                                {"en": [["shared", "shared2"]], (1, "en"): [["B1", "B22"]]})
    assert texts == [["ab", "shared", "shared2", "ab", "B1", "B22"]]


def test_model_labels():
    from ensemblekd.decoding.multimodel import model_labels

    a, b = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    a.name_or_path = b.name_or_path = "ckpt"
    assert model_labels([a, b, a]) == ["ckpt", "ckpt#1", "ckpt"]
    assert model_labels([torch.nn.Linear(1, 1)]) == ["models[0]"]
    assert model_labels([a, b], ["x", "y"]) == ["x", "y"]
