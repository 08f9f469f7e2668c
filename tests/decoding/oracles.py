"""References for the decoding tests.

* :class:`TableScorer`: a toy :class:`~ensemblekd.decoding.scorers.Scorer` whose next-token
  log-probs are a fixed pseudo-random function of (sentence, component, prefix).
* :func:`reference_search`: brute-force beam search written from the formulas of issue 3 with
  Python dicts and loops (no tensors), for Single/Average/EBBS; returns every upper beam and
  the final pool.
* ``tiny_*``: random-init Hugging Face models built from configs (no downloads, raw token ids).
"""
from __future__ import annotations

import hashlib
import math
from typing import Optional, Sequence

import numpy as np
import pytest
import torch

NEG_INF = float("-inf")


@pytest.fixture(scope="module")
def single_thread():
    """Tiny models run fastest on one thread (and several threads thrash on a shared box)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- toy scorer
class TableScorer:
    """``log p_k(y | prefix, sentence b)`` from a hash of ``(seed, b, k, prefix)``.

    ``identical=True`` makes every component of a sentence the same distribution.  ``forbid``
    maps a prefix length to tokens whose log-prob is ``-inf`` at that position.
    """

    def __init__(self, B: int, K: int, V: int, seed: int = 0, *, identical: bool = False,
                 temperature: float = 1.5, dead_prefixes: Sequence[tuple] = ()):
        self.num_sentences, self.num_components, self.vocab_size = B, K, V
        self.B0 = B
        self.seed, self.identical, self.temperature = seed, identical, temperature
        self.dead_prefixes = set(dead_prefixes)
        self.prefixes = None

    def logprobs(self, b: int, k: int, prefix: tuple) -> np.ndarray:
        key = f"{self.seed}|{b}|{0 if self.identical else k}|{prefix}".encode()
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))
        logits = rng.normal(size=self.vocab_size) * self.temperature
        if prefix in self.dead_prefixes:
            return np.full(self.vocab_size, NEG_INF, dtype=np.float32)
        lp = logits - np.logaddexp.reduce(logits)
        return lp.astype(np.float32)

    # Scorer protocol
    def start(self, beam_size: int) -> None:
        self.Z = beam_size
        self.num_sentences = self.B0
        self.ids = list(range(self.num_sentences))  # original sentence of each current row
        self.prefixes = [[() for _ in range(beam_size)] for _ in range(self.num_sentences)]

    def step(self, tokens):
        if tokens is not None:
            for b in range(self.num_sentences):
                for z in range(self.Z):
                    self.prefixes[b][z] = self.prefixes[b][z] + (int(tokens[b, z]),)
        out = np.empty((self.num_sentences, self.num_components, self.Z, self.vocab_size), np.float32)
        for b in range(self.num_sentences):
            for k in range(self.num_components):
                for z in range(self.Z):
                    out[b, k, z] = self.logprobs(self.ids[b], k, self.prefixes[b][z])
        return torch.from_numpy(out)

    def select_sentences(self, kept) -> None:
        self.ids = [self.ids[int(i)] for i in kept]
        self.prefixes = [self.prefixes[int(i)] for i in kept]
        self.num_sentences = len(self.ids)

    def reorder(self, parents) -> None:
        for b in range(self.num_sentences):
            old = self.prefixes[b]
            self.prefixes[b] = [old[int(p)] for p in parents[b]]


# ----------------------------------------------------------------------------- brute force
def _lower_beam(ranked, Z, eos, last, ends=None):
    """ranked: [(score, parent, token)] best first -> members by the transformers rule.  ``ends(i, y)``: the
    candidate completes a stop string (it finishes as an EOS candidate does)."""
    out, running = [], 0
    for rank, (s, i, y) in enumerate(ranked):
        if rank >= Z and running >= Z:
            break   # nothing below can join: finishing ones must rank within Z, and the running beam is full
        if s == NEG_INF:
            continue
        if last or y == eos or (ends is not None and ends(i, y)):
            if rank < Z:
                out.append((s, i, y))
        elif running < Z:
            running += 1
            out.append((s, i, y))
    return out


def _logsumexp(xs):
    m = max(xs)
    if m == NEG_INF:
        return NEG_INF
    return m + math.log(sum(math.exp(x - m) for x in xs))


def reference_search(scorer: TableScorer, b: int, *, method: str, Z: int, T: int, eos: int,
                     alpha: float = 1.0, offset: int = 0, weights: Optional[Sequence[float]] = None,
                     voting: str = "sum", mean: str = "arithmetic", stop=None):
    """Beam search of sentence ``b`` from the definitions (early_stopping=True).

    method: "ebbs" (bi-level, voting sum/max/count) or "average" (arithmetic/geometric).
    stop: optional ``stop(tokens tuple) -> bool``: the output ``tokens`` ends with a stop string (its last token
    completes one); such candidates finish like EOS candidates, in the lower and the upper beams.
    Returns (upper_beams, pool): upper_beams[t] = [(prefix tuple, score)] of the running beam
    after step t in rank order; pool = [(norm score, logprob, tokens)] best first.
    """
    K, V = scorer.num_components, scorer.vocab_size
    w = [1.0] * K if weights is None else list(weights)
    w = [x / sum(w) for x in w]
    beam = [((), 0.0)]
    pool, uppers = [], []
    for t in range(T):
        last = t == T - 1
        if method == "average":
            ranked = []
            for i, (prefix, s) in enumerate(beam):
                lps = [scorer.logprobs(b, k, prefix).astype(np.float64) for k in range(K)]
                for y in range(V):
                    if mean == "arithmetic":
                        lp = _logsumexp([math.log(w[k]) + lps[k][y] if w[k] > 0 else NEG_INF for k in range(K)])
                    else:
                        mix = [sum(w[k] * lps[k][v] for k in range(K) if w[k] > 0) for v in range(V)]
                        lp = mix[y] - _logsumexp(mix)
                    ranked.append((s + lp, i, y))
            ranked.sort(key=lambda c: (-c[0], c[1] * V + c[2]))
            union = [(s, i, y, ()) for s, i, y in ranked]
        else:
            support = {}
            for k in range(K):
                cands = []
                for i, (prefix, s) in enumerate(beam):
                    lp = scorer.logprobs(b, k, prefix).astype(np.float64)
                    cands.extend((s + lp[y], i, y) for y in range(V))
                cands.sort(key=lambda c: (-c[0], c[1] * V + c[2]))
                ends = None if stop is None else (lambda i, y: stop(beam[i][0] + (y,)))
                for s, i, y in _lower_beam(cands, Z, eos, last, ends):
                    support.setdefault((i, y), {})[k] = s
            union = []
            for (i, y), by_k in support.items():
                total = _logsumexp([math.log(w[k]) + v for k, v in by_k.items()]) if w else NEG_INF
                if voting == "max":
                    score = max(math.log(w[k] / max(w)) + v for k, v in by_k.items())
                else:
                    score = total
                count = sum(w[k] for k in by_k)
                union.append((score, i, y, (count,)))
            if voting == "count":
                union.sort(key=lambda c: (-c[3][0], -c[0]))
            else:
                union.sort(key=lambda c: -c[0])
        # upper level: the same rule
        new_beam, running = [], 0
        full = len(pool) >= Z
        for prefix, s in beam:  # nothing left: the hypothesis ends as it is
            if not full and all(np.all(scorer.logprobs(b, k, prefix) == NEG_INF) for k in range(K)):
                pool.append((s / max(len(prefix) + offset, 1) ** alpha, s, prefix))
        for rank, (s, i, y, _) in enumerate(union):
            if s == NEG_INF:
                continue
            tokens = beam[i][0] + (y,)
            if last or y == eos or (stop is not None and stop(tokens)):
                if rank < Z and not full:
                    pool.append((s / (len(tokens) + offset) ** alpha, s, tokens))
            elif running < Z:
                running += 1
                new_beam.append((tokens, s))
        pool.sort(key=lambda h: -h[0])
        pool = pool[:Z]
        uppers.append(new_beam)
        beam = new_beam
        if len(pool) >= Z or not beam:
            break
    return uppers, pool


# ----------------------------------------------------------------------------- tiny HF models
def _peaked(model, eos: int, seed: int):
    """Scale the EOS output row so that EOS is often chosen (exercises the finishing rules)."""
    with torch.no_grad():
        model.get_output_embeddings().weight[eos] *= 4.0
    return model.eval()


def tiny_m2m100(seed: int, vocab: int = 48):
    import transformers as tf

    cfg = tf.M2M100Config(vocab_size=vocab, d_model=16, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                          decoder_ffn_dim=32, max_position_embeddings=64, init_std=1.0, dropout=0.0)
    torch.manual_seed(seed)
    return _peaked(tf.M2M100ForConditionalGeneration(cfg), cfg.eos_token_id, seed)


def tiny_mbart(seed: int, vocab: int = 48):
    """mBART-50 style: decoder start = EOS, forced target-language BOS, forced EOS at max length."""
    import transformers as tf

    cfg = tf.MBartConfig(vocab_size=vocab, d_model=16, encoder_layers=1, decoder_layers=1,
                         encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                         decoder_ffn_dim=32, max_position_embeddings=64, init_std=1.0, dropout=0.0,
                         decoder_start_token_id=2, forced_eos_token_id=2)
    torch.manual_seed(seed)
    return _peaked(tf.MBartForConditionalGeneration(cfg), cfg.eos_token_id, seed)


def tiny_marian(seed: int, vocab: int = 48):
    import transformers as tf

    cfg = tf.MarianConfig(vocab_size=vocab, d_model=16, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                          decoder_ffn_dim=32, max_position_embeddings=64, init_std=1.0, dropout=0.0,
                          pad_token_id=vocab - 1, decoder_start_token_id=vocab - 1, eos_token_id=0)
    torch.manual_seed(seed)
    return _peaked(tf.MarianMTModel(cfg), cfg.eos_token_id, seed)


def tiny_t5(seed: int, vocab: int = 48):
    import transformers as tf

    cfg = tf.T5Config(vocab_size=vocab, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_decoder_layers=1,
                      num_heads=2, dropout_rate=0.0, initializer_factor=4.0,
                      pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    torch.manual_seed(seed)
    return _peaked(tf.T5ForConditionalGeneration(cfg), cfg.eos_token_id, seed)


def tiny_gpt2(seed: int, vocab: int = 48):
    import transformers as tf

    cfg = tf.GPT2Config(vocab_size=vocab, n_embd=16, n_layer=2, n_head=2, n_positions=64,
                        initializer_range=0.5, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        bos_token_id=vocab - 1, eos_token_id=vocab - 1, pad_token_id=vocab - 1)
    torch.manual_seed(seed)
    return _peaked(tf.GPT2LMHeadModel(cfg), cfg.eos_token_id, seed)


def random_rows(seed: int, lengths: Sequence[int], low: int, high: int, end: Optional[int] = None):
    """Token-id rows of the given lengths (ids in [low, high)), optionally ending with ``end``."""
    g = torch.Generator().manual_seed(seed)
    rows = [torch.randint(low, high, (n,), generator=g).tolist() for n in lengths]
    return [r + [end] for r in rows] if end is not None else rows


def padded(rows, pad: int, left: bool = False):
    """Rows -> (ids, attention_mask) LongTensors, padded right (or left)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        sl = slice(width - len(r), width) if left else slice(0, len(r))
        ids[i, sl] = torch.tensor(r)
        mask[i, sl] = 1
    return ids, mask
