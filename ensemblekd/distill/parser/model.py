"""The student parser's network: words + characters -> BiLSTM -> a score for every span.

Span representations follow Stern, Andreas, Klein (ACL 2017) and Kitaev, Klein (ACL 2018): with
forward states ``f`` and backward states ``b`` at the fenceposts between words, span (i, j) is
``[f_j - f_i ; b_i - b_j]``.  Its score is an MLP, ``v . relu(W [f_j - f_i ; b_i - b_j] + c)``;
since ``W`` is linear we project each fencepost once (``P_k = W_f f_k - W_b b_k``) and form
``P_j - P_i`` for all spans, which costs O(B N^2 D) instead of O(B N^2 H D).

Inputs per sentence: words (embedding; rare words are replaced by UNK at random while training,
Kitaev & Klein's word dropout) and their characters (a CNN with max pooling), with ``<s>`` and
``</s>`` tokens around the sentence.  Output: a (B, N+1, N+1) tensor of span scores (only
``i < j`` is meaningful), decoded with the library's CYK kernel and trained with the tree CRF
(:mod:`.tree_crf`) or a max-margin loss.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

import torch
from torch import nn

from .config import ParserConfig

__all__ = ["ParserConfig", "Vocab", "SpanParser", "ARCHITECTURE"]

ARCHITECTURE = "ensemblekd-span-parser-v1"
PAD, UNK, BOS, EOS = 0, 1, 2, 3
_SPECIALS = ["<pad>", "<unk>", "<s>", "</s>"]
_DIGITS = re.compile(r"\d")


class Vocab:
    """Word and character indices (0-3 are <pad>, <unk>, <s>, </s> in both).

    Words are looked up lower-cased (``lowercase``) with digits mapped to 0; characters keep
    their case (``char_case``), so capitalisation still reaches the model through the CNN."""

    def __init__(self, words: Sequence[str], chars: Sequence[str], counts: dict[str, int],
                 lowercase: bool = True, char_case: bool = True):
        self.words = list(words)
        self.chars = list(chars)
        self.counts = dict(counts)
        self.lowercase = lowercase
        self.char_case = char_case
        self.word_index = {w: i for i, w in enumerate(self.words)}
        self.char_index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def build(cls, sentences: Sequence[Sequence[str]], lowercase: bool = True,
              char_case: bool = True) -> "Vocab":
        counts = Counter()
        chars = Counter()
        for sent in sentences:
            for w in sent:
                counts[normalize(w, lowercase)] += 1
                chars.update(w if char_case else w.lower())
        words = _SPECIALS + sorted(counts)
        return cls(words, _SPECIALS + sorted(chars), dict(counts), lowercase, char_case)

    def to_dict(self) -> dict:
        return {"words": self.words, "chars": self.chars, "counts": self.counts,
                "lowercase": self.lowercase, "char_case": self.char_case}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocab":
        try:
            return cls(data["words"], data["chars"], data["counts"], bool(data["lowercase"]),
                       bool(data["char_case"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed parser vocabulary: missing or bad key {exc}") from None

    def encode(self, sentences: Sequence[Sequence[str]], max_chars: int, device=None,
               unk_alpha: float = 0.0, generator: torch.Generator | None = None):
        """(word_ids (B, N+2), char_ids (B, N+2, C), lengths (B,)) with <s>/</s> around each
        sentence.  ``unk_alpha > 0`` replaces a word seen c times by UNK with probability
        alpha / (alpha + c) (training only)."""
        n = max(len(s) for s in sentences)
        cmax = max(1, min(max_chars, max(len(w) for s in sentences for w in s)))
        n_words = sum(len(s) for s in sentences)
        drop = (torch.rand(n_words, generator=generator).tolist() if unk_alpha > 0 else None)
        word_rows, char_rows, pos = [], [], 0
        for sent in sentences:
            ids, chars = [BOS], [[BOS] + [PAD] * (cmax - 1)]
            for w in sent:
                key = normalize(w, self.lowercase)
                idx = self.word_index.get(key, UNK)
                if drop is not None and idx != UNK:
                    if drop[pos] < unk_alpha / (unk_alpha + self.counts.get(key, 0)):
                        idx = UNK
                pos += 1
                ids.append(idx)
                text = w if self.char_case else w.lower()
                row = [self.char_index.get(ch, UNK) for ch in text[:cmax]]
                chars.append(row + [PAD] * (cmax - len(row)))
            ids.append(EOS)
            chars.append([EOS] + [PAD] * (cmax - 1))
            pad = n + 2 - len(ids)
            word_rows.append(ids + [PAD] * pad)
            char_rows.append(chars + [[PAD] * cmax] * pad)
        word_ids = torch.tensor(word_rows, dtype=torch.long)
        char_ids = torch.tensor(char_rows, dtype=torch.long)
        lengths = torch.tensor([len(s) for s in sentences], dtype=torch.long)
        return word_ids.to(device), char_ids.to(device), lengths


def normalize(word: str, lowercase: bool = True) -> str:
    word = word.lower() if lowercase else word
    return _DIGITS.sub("0", word)


class SpanParser(nn.Module):
    """Span scorer.  ``forward(word_ids, char_ids, lengths) -> scores (B, N+1, N+1)``.

    Cost: O(B N (H^2 + D H)) for the encoder and O(B N^2 D) for the span MLP (D = ``mlp``).
    """

    def __init__(self, config: ParserConfig, n_words: int, n_chars: int):
        super().__init__()
        self.config = config
        c = config
        self.word_emb = nn.Embedding(n_words, c.word_dim, padding_idx=PAD)
        self.char_emb = nn.Embedding(n_chars, c.char_dim, padding_idx=PAD)
        self.char_cnn = nn.Conv1d(c.char_dim, c.char_filters, c.char_width, padding=c.char_width // 2)
        self.drop = nn.Dropout(c.dropout)
        self.lstm = nn.LSTM(c.word_dim + c.char_filters, c.hidden, num_layers=c.layers,
                            bidirectional=True, batch_first=True,
                            dropout=c.dropout if c.layers > 1 else 0.0)
        self.proj_f = nn.Linear(c.hidden, c.mlp, bias=False)
        self.proj_b = nn.Linear(c.hidden, c.mlp, bias=False)
        self.mlp_bias = nn.Parameter(torch.zeros(c.mlp))
        self.out = nn.Linear(c.mlp, 1)

    def encode_chars(self, char_ids: torch.Tensor) -> torch.Tensor:
        bsz, t, cmax = char_ids.shape
        x = self.char_emb(char_ids.view(bsz * t, cmax)).transpose(1, 2)  # (BT, E, C)
        h = torch.relu(self.char_cnn(x))
        h = h.masked_fill((char_ids.view(bsz * t, 1, cmax) == PAD)[:, :, : h.shape[2]], 0.0)
        return h.max(dim=2).values.view(bsz, t, -1)

    def forward(self, word_ids: torch.Tensor, char_ids: torch.Tensor, lengths: torch.Tensor):
        x = torch.cat([self.word_emb(word_ids), self.encode_chars(char_ids)], dim=-1)
        x = self.drop(x)
        packed = nn.utils.rnn.pack_padded_sequence(x, (lengths + 2).cpu(), batch_first=True,
                                                   enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        out = self.drop(out)
        h = self.config.hidden
        fwd = out[:, :-1, :h]        # fencepost k: forward state at token k (<s> = token 0)
        bwd = out[:, 1:, h:]         # fencepost k: backward state at token k + 1
        p = self.proj_f(fwd) - self.proj_b(bwd)                       # (B, N+1, D)
        span = p[:, None, :, :] - p[:, :, None, :] + self.mlp_bias    # [b, i, j] = P_j - P_i
        return self.out(self.drop(torch.relu(span))).squeeze(-1)      # (B, N+1, N+1)
