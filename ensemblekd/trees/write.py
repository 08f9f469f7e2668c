"""Trees (spans over words) -> PTB bracket strings, e.g. ``(X (X (X the) (X dog)) (X barks))``.

One pass that fills the output bytes of all trees (:func:`_render_kernel`, O(output size)),
numba-compiled with a plain-Python twin (see :mod:`ensemblekd._jit`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .._jit import Kernel

__all__ = ["format_trees", "pack_words"]

_BAD_TOKEN_BYTES = b" \t\r\n\x0b\x0c()"


def _render_kernel(n_words, spans, span_offsets, word_text, word_bounds, word_offsets, label):
    """Write bracket strings: line b is the tree with spans ``spans[span_offsets[b]:...]`` (preorder,
    laminar, word indices) over words ``word_bounds[word_offsets[b]:...]`` (byte ranges of
    ``word_text``), every node labelled ``label`` (uint8).  Lines are joined by ``\\n`` (no final
    newline).  Returns uint8 bytes; O(output size).
    """
    n_lines = n_words.shape[0]
    lab = label.shape[0]
    size = 0
    for b in range(n_lines):
        n = n_words[b]
        for w in range(word_offsets[b], word_offsets[b] + n):
            size += word_bounds[w, 1] - word_bounds[w, 0] + lab + 3  # "(L w)"
        size += (span_offsets[b + 1] - span_offsets[b]) * (lab + 3)  # "(L " and ")"
        size += n if n > 0 else 1  # the spaces between words and the newline
    out = np.empty(size, np.uint8)
    stack = np.empty(n_words.max() + 1 if n_lines > 0 else 1, np.int64)
    o = 0
    for b in range(n_lines):
        if b > 0:
            out[o] = 10
            o += 1
        n = n_words[b]
        sp = span_offsets[b]
        sp_end = span_offsets[b + 1]
        top = 0
        for i in range(n):
            if i > 0:
                out[o] = 32
                o += 1
            while sp < sp_end and spans[sp, 0] == i:
                out[o] = 40
                o += 1
                for t in range(lab):
                    out[o] = label[t]
                    o += 1
                out[o] = 32
                o += 1
                stack[top] = spans[sp, 1]
                top += 1
                sp += 1
            out[o] = 40
            o += 1
            for t in range(lab):
                out[o] = label[t]
                o += 1
            out[o] = 32
            o += 1
            w = word_offsets[b] + i
            for t in range(word_bounds[w, 0], word_bounds[w, 1]):
                out[o] = word_text[t]
                o += 1
            out[o] = 41
            o += 1
            while top > 0 and stack[top - 1] == i + 1:
                out[o] = 41
                o += 1
                top -= 1
    return out[:o]


render_kernel = Kernel(_render_kernel)


def _check_label(label: str) -> bytes:
    raw = label.encode("utf-8")
    if not raw or any(ch in raw for ch in _BAD_TOKEN_BYTES):
        raise ValueError(f"label={label!r}: expected a non-empty label without spaces or parentheses")
    return raw


def pack_words(words: Sequence[Sequence[str]], n_words: np.ndarray, source: str = "words") -> tuple:
    """(text, word_bounds, word_offsets) for user-given token lists, checked against ``n_words``."""
    if len(words) != len(n_words):
        raise ValueError(f"{source}: {len(words)} token lists for {len(n_words)} trees; expected one per tree")
    pieces = []
    lengths = []
    for b, toks in enumerate(words):
        if isinstance(toks, str):
            raise TypeError(f"{source}[{b}]: expected a list of tokens, got a str")
        if len(toks) != n_words[b]:
            raise ValueError(f"{source}[{b}] (line {b + 1}): {len(toks)} tokens but the trees have {n_words[b]} words")
        for t in toks:
            raw = t.encode("utf-8")
            if not raw or any(ch in raw for ch in _BAD_TOKEN_BYTES):
                raise ValueError(f"{source}[{b}] (line {b + 1}): token {t!r} is empty or holds spaces/parentheses")
            pieces.append(raw)
            lengths.append(len(raw))
    text = b"".join(pieces)
    ends = np.cumsum(np.asarray(lengths, dtype=np.int64))
    bounds = np.stack([ends - np.asarray(lengths, dtype=np.int64), ends], axis=1) if lengths else np.zeros((0, 2), np.int64)
    offsets = np.concatenate([[0], np.cumsum(np.asarray(n_words, dtype=np.int64))]).astype(np.int64)
    return text, bounds, offsets


def format_trees(n_words, spans, span_offsets, word_text: bytes, word_bounds, word_offsets, label: str = "X") -> list[str]:
    """Bracket strings for trees given as spans (preorder, laminar) over byte-range words."""
    lab = np.frombuffer(_check_label(label), dtype=np.uint8)
    if len(n_words) == 0:
        return []
    out = render_kernel(
        np.ascontiguousarray(n_words, dtype=np.int64),
        np.ascontiguousarray(spans, dtype=np.int64).reshape(-1, 2),
        np.ascontiguousarray(span_offsets, dtype=np.int64),
        np.frombuffer(word_text, dtype=np.uint8),
        np.ascontiguousarray(word_bounds, dtype=np.int64).reshape(-1, 2),
        np.ascontiguousarray(word_offsets, dtype=np.int64),
        lab,
    )
    return out.tobytes().decode("utf-8").split("\n")
