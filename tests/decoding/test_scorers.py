"""Scorers: cached incremental log-probs equal full forwards without cache, row by row."""
from __future__ import annotations

import pytest
import torch

from ensemblekd.decoding import CausalLMScorer, Scorer, Seq2SeqScorer
from ensemblekd.decoding.scorers import normalize_logits

from .oracles import random_rows, single_thread, tiny_gpt2, tiny_m2m100, tiny_t5  # noqa: F401

pytestmark = pytest.mark.usefixtures("single_thread")


def _drive(scorer, B, Z, steps, V, seed):
    """Run the scorer with random tokens and parents; return per-step log-probs and the prefixes."""
    g = torch.Generator().manual_seed(seed)
    scorer.start(Z)
    prefixes = [[[] for _ in range(Z)] for _ in range(B)]
    outs = [(scorer.step(None), [[list(p) for p in row] for row in prefixes])]
    for _ in range(steps):
        parents = torch.randint(0, Z, (B, Z), generator=g)
        tokens = torch.randint(3, V, (B, Z), generator=g)
        scorer.reorder(parents)
        prefixes = [[prefixes[b][int(parents[b, z])] + [int(tokens[b, z])] for z in range(Z)] for b in range(B)]
        outs.append((scorer.step(tokens), [[list(p) for p in row] for row in prefixes]))
    return outs


@pytest.mark.parametrize("build, prompt_extra", [(tiny_m2m100, [10]), (tiny_t5, [])])
def test_seq2seq_cached_steps_equal_full_forward(build, prompt_extra):
    model = build(0)
    cfg = model.config
    B, K, Z, V = 2, 3, 3, cfg.vocab_size
    rows = random_rows(1, (4, 7, 2, 5, 6, 3), 3, V - 2, end=cfg.eos_token_id)  # B*K rows, varied lengths
    prompt = [cfg.decoder_start_token_id] + prompt_extra
    scorer = Seq2SeqScorer(model, rows, prompt, K)
    assert isinstance(scorer, Scorer)
    assert (scorer.num_sentences, scorer.num_components, scorer.vocab_size) == (B, K, V)
    for lp, prefixes in _drive(scorer, B, Z, 4, V, seed=2):
        assert lp.shape == (B, K, Z, V) and lp.dtype == torch.float32
        for b in range(B):
            for k in range(K):
                src = torch.tensor([rows[b * K + k]])  # unpadded, alone
                dec = torch.tensor([prompt + prefixes[b][0]] + [prompt + p for p in prefixes[b][1:]])
                with torch.no_grad():
                    logits = model(input_ids=src.expand(Z, -1), decoder_input_ids=dec, use_cache=False).logits
                torch.testing.assert_close(lp[b, k], torch.log_softmax(logits[:, -1].float(), -1), atol=1e-4,
                                           rtol=1e-4)


def test_causal_lm_cached_steps_equal_full_forward():
    model = tiny_gpt2(0)
    V = model.config.vocab_size
    B, K, Z = 2, 2, 3
    prompts = random_rows(3, (5, 2, 7, 3), 0, V - 1)
    scorer = CausalLMScorer(model, prompts, K)
    for lp, prefixes in _drive(scorer, B, Z, 4, V - 1, seed=4):
        for b in range(B):
            for k in range(K):
                for z in range(Z):
                    ids = torch.tensor([prompts[b * K + k] + prefixes[b][z]])
                    with torch.no_grad():
                        logits = model(input_ids=ids, use_cache=False).logits
                    torch.testing.assert_close(lp[b, k, z], torch.log_softmax(logits[0, -1].float(), -1),
                                               atol=1e-4, rtol=1e-4)


def test_allowed_tokens_mask():
    model = tiny_m2m100(1)
    V = model.config.vocab_size
    allowed = torch.zeros(V, dtype=torch.bool)
    allowed[[2, 5, 7, 11]] = True
    scorer = Seq2SeqScorer(model, random_rows(0, (4, 6), 3, 40, end=2), [2], 1, allowed_tokens=allowed)
    scorer.start(2)
    lp = scorer.step(None)
    assert torch.isneginf(lp[..., ~allowed]).all()
    torch.testing.assert_close(lp[..., allowed].exp().sum(-1), torch.ones(2, 1, 2))


def test_normalize_logits_nan_and_empty_rows():
    logits = torch.tensor([[0.0, 1.0, float("nan")], [float("-inf")] * 3, [float("nan")] * 3, [1.0, 2.0, 3.0]])
    lp = normalize_logits(logits.clone())
    assert torch.isneginf(lp[0, 2]) and torch.allclose(lp[0, :2], torch.log_softmax(torch.tensor([0.0, 1.0]), -1))
    assert torch.isneginf(lp[1]).all() and torch.isneginf(lp[2]).all()
    assert torch.allclose(lp[3], torch.log_softmax(torch.tensor([1.0, 2.0, 3.0]), -1))
    assert not torch.isnan(lp).any()
    lp = normalize_logits(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([1]))
    assert torch.isneginf(lp[0, 1]) and torch.allclose(lp[0, [0, 2]].exp().sum(), torch.tensor(1.0))


def test_scorer_errors():
    m2m, gpt = tiny_m2m100(0), tiny_gpt2(0)
    with pytest.raises(ValueError, match="multiple of num_components"):
        Seq2SeqScorer(m2m, [[4, 2]] * 5, [2], 3)
    with pytest.raises(ValueError, match=r"encoder_input_ids\[1\] is empty"):
        Seq2SeqScorer(m2m, [[4, 2], []], [2], 1)
    with pytest.raises(ValueError, match="allowed_tokens has 3 entries"):
        Seq2SeqScorer(m2m, [[4, 2]], [2], 1, allowed_tokens=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="not an encoder-decoder"):
        Seq2SeqScorer(gpt, [[4, 2]], [2], 1)
    with pytest.raises(ValueError, match="encoder-decoder"):
        CausalLMScorer(m2m, [[4, 2]], 1)
    with pytest.raises(ValueError, match="num_components"):
        CausalLMScorer(gpt, [[4, 2]], 0)
    with pytest.raises(ValueError, match="decoder_prompt"):
        Seq2SeqScorer(m2m, [[4, 2]], [], 1)
    scorer = Seq2SeqScorer(m2m, [[4, 2], [5, 6, 2]], [2], 1)
    with pytest.raises(RuntimeError, match="before start"):
        scorer.step(None)
    scorer.start(2)
    scorer.step(None)
    with pytest.raises(RuntimeError, match="only valid once"):
        scorer.step(None)
    with pytest.raises(ValueError, match="parents must have shape"):
        scorer.reorder(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="tokens must have shape"):
        scorer.step(torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="select_sentences"):
        scorer.select_sentences(torch.tensor([2]))
    scorer.select_sentences(torch.tensor([1]))
    assert scorer.num_sentences == 1 and scorer.step(torch.tensor([[4, 5]])).shape == (1, 1, 2, 48)


def test_training_mode_warns():
    model = tiny_m2m100(0).train()
    with pytest.warns(UserWarning, match="training mode"):
        Seq2SeqScorer(model, [[4, 2]], [2], 1)
    model.eval()


def test_context_is_the_first_components_prompt_tail_left_filled():
    model = tiny_gpt2(0)
    prompts = [[5, 6, 7], [8, 9], [10], [11, 12, 13, 14]]   # 2 sentences x 2 components
    scorer = CausalLMScorer(model, prompts, 2, pad_token_id=1)
    scorer.start(2)
    assert scorer.context(2).tolist() == [[6, 7], [1, 10]]
    assert scorer.context(4).tolist() == [[1, 5, 6, 7], [1, 1, 1, 10]]
    assert scorer.context(0).shape == (2, 0)
    s2s = Seq2SeqScorer(tiny_m2m100(0), [[4, 5, 2], [6, 2]], [2, 10], 1)
    s2s.start(1)
    assert s2s.context(3).tolist() == [[1, 2, 10], [1, 2, 10]]


def test_stop_hits_see_the_context_and_the_parents_prefix():
    """A stop string may span the prompt and the output, as in generate (it checks prompt + output)."""
    from transformers import StopStringCriteria

    from ensemblekd.decoding.search import stop_hits

    from .tiny_models import tiny

    tok = tiny("gpt2").tokenizer
    a, b, c = (tok.convert_tokens_to_ids(x) for x in ("a", "b", "c"))
    stop = StopStringCriteria(tok, ["abc"])
    ctx = torch.tensor([[a, b], [c, c]])
    empty = torch.zeros((2, 2, 0), dtype=torch.long)
    parents = torch.zeros((2, 1), dtype=torch.long)
    tokens = torch.tensor([[c], [c]])
    assert stop_hits(stop, ctx, empty, parents, tokens).tolist() == [[True], [False]]
    assert stop_hits(stop, None, empty, parents, tokens).tolist() == [[False], [False]]
    # one generated token: the parent's prefix; candidates of shape [B, K, n] (EBBS' lower beams)
    seqs = torch.tensor([[[b], [c]], [[b], [b]]])           # [B=2, Z=2, t=1]
    parents = torch.tensor([[[0, 1]], [[1, 0]]])           # [B, K=1, n=2]
    tokens = torch.full((2, 1, 2), c)
    ctx = torch.tensor([[c, a], [c, a]])
    assert stop_hits(stop, ctx, seqs, parents, tokens).tolist() == [[[True, False]], [[True, True]]]
