"""Tree averaging: combine K teachers' constituency trees into one tree per sentence.

Shayegh et al., "Ensemble Distillation for Unsupervised Constituency
Parsing", ICLR 2024.  A teacher *votes* for span ``[i, j)`` of a sentence when its tree contains
it; the whole-sentence span and single words are in every tree and are not votes.

* ``generative``: the binary tree maximizing the sum over its spans of the (weighted) number of
  teachers containing the span: the CYK DP of :mod:`.cyk` with the vote counts as span scores,
  O(n^3) per sentence.  Ties: the first maximum over the split point (smallest left part).
* ``selective``: the teacher tree with the most hits against the OTHER teachers,
  ``hits(T_k) = sum_j w_j |S_k & S_j| - |S_k|``, S = a tree's votes: an integer weight w counts
  like w copies of the teacher, each scored against the other copies and teachers (unit weights:
  ``sum_{j != k} |S_k & S_j|``); a weight-0 teacher is never chosen.  Ties: the first teacher.
  (The original counts k against itself too; that self term, ``|S_k|``, is the same for every k
  on binary teachers -- the golden files -- but would favour n-ary trees with more spans.)

Teacher trees are read as in :mod:`.io`: unary chains collapsed, and an n-ary node counts as
the one span it covers -- no artificial binarization spans are added (the original code
right-binarized n-ary nodes; the two agree on binary teachers, like the PTB teachers).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .cyk import cyk_packed
from .io import TreeSource, Treebank, as_treebank, check_line_counts
from .write import format_trees, pack_words

__all__ = ["average_trees", "span_votes", "MODES"]

MODES = ("generative", "selective")


def _check_aligned(banks: list[Treebank]) -> None:
    first = banks[0]
    for k, tb in enumerate(banks[1:], start=2):
        check_line_counts(first, "teacher 1", tb, f"teacher {k}")
        bad = np.flatnonzero(tb.n_words != first.n_words)
        if bad.size:
            b = int(bad[0])
            raise ValueError(
                f"line {b + 1}: teacher {k} ({tb.source}) has {tb.n_words[b]} words but teacher 1 "
                f"({first.source}) has {first.n_words[b]}; expected the same tokens on every line "
                f"({bad.size} such line(s) in all)"
            )


def _check_weights(weights, k: int) -> np.ndarray:
    if weights is None:
        return np.ones(k)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.size != k:
        raise ValueError(f"weights: got {w.size} for {k} teachers; expected one weight per teacher")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"weights: expected finite, non-negative numbers, got {w.tolist()}")
    if not (w > 0).any():
        raise ValueError("weights: expected at least one positive weight")
    return w


def span_votes(banks: Sequence[Treebank], weights: np.ndarray) -> tuple:
    """Weighted vote counts of every span, packed per sentence for :func:`.cyk.cyk_packed`.

    Returns ``(scores, score_offsets, n_words, vote_index)``: ``scores`` float64 holds sentence b's
    (n, n+1) count matrix at ``score_offsets[b]``; ``vote_index[k]`` is the flat index in
    ``scores`` of each vote of teacher k (-1 for spans that are not votes: the whole sentence).
    Counts are summed teacher by teacher, in teacher order.  O(total spans + sum n^2).
    """
    n_words = banks[0].n_words
    sizes = n_words * (n_words + 1)
    score_offsets = np.zeros(len(n_words), np.int64)
    np.cumsum(sizes[:-1], out=score_offsets[1:])
    total = int(sizes.sum())
    flat_parts, weight_parts, vote_index = [], [], []
    for tb, w in zip(banks, weights):
        line = tb.span_line()
        start, end = tb.spans[:, 0], tb.spans[:, 1]
        n = n_words[line]
        flat = score_offsets[line] + start * (n + 1) + end
        vote = ~((start == 0) & (end == n))
        flat = np.where(vote, flat, -1)
        vote_index.append(flat)
        flat_parts.append(flat[vote])
        weight_parts.append(np.full(int(vote.sum()), w))
    idx = np.concatenate(flat_parts) if flat_parts else np.zeros(0, np.int64)
    scores = np.bincount(idx, weights=np.concatenate(weight_parts), minlength=total)
    return scores, score_offsets, n_words, vote_index


def _selective(banks, scores, vote_index, weights) -> tuple[np.ndarray, np.ndarray]:
    """Spans of the teacher with the most hits against the others on every line (first teacher on ties)."""
    k_count = len(banks)
    n_lines = len(banks[0])
    hits = np.zeros((k_count, n_lines))
    for k, (tb, flat) in enumerate(zip(banks, vote_index)):
        vote = flat >= 0
        line = tb.span_line()[vote]
        # one self-count out: teacher k is scored against the other teachers (and its other w_k - 1 copies)
        hits[k] = np.bincount(line, weights=scores[flat[vote]], minlength=n_lines)
        hits[k] -= np.bincount(line, minlength=n_lines)
        if weights[k] == 0:
            hits[k] = -np.inf
    choice = np.argmax(hits, axis=0)  # first maximum
    # gather each line's spans from its chosen teacher
    counts = np.stack([np.diff(tb.span_offsets) for tb in banks])  # (K, B)
    bases = np.concatenate([[0], np.cumsum([tb.spans.shape[0] for tb in banks])[:-1]])
    all_spans = np.concatenate([tb.spans for tb in banks])
    lines = np.arange(n_lines)
    first = bases[choice] + np.stack([tb.span_offsets[:-1] for tb in banks])[choice, lines]
    length = counts[choice, lines]
    span_offsets = np.concatenate([[0], np.cumsum(length)]).astype(np.int64)
    rows = np.repeat(first - span_offsets[:-1], length) + np.arange(span_offsets[-1])
    return all_spans[rows], span_offsets


def average_trees(
    teachers: Sequence[TreeSource],
    mode: str = "generative",
    weights: Optional[Sequence[float]] = None,
    words: Optional[Sequence[Sequence[str]]] = None,
    *,
    label: str = "X",
    empty_lines: str = "error",
) -> list[str]:
    """Average K teachers' trees, sentence by sentence.

    Args:
        teachers: K line-aligned tree sources, each a :class:`~.io.Treebank`, a ``pathlib.Path``,
            or a list of bracket strings / ``nltk.Tree`` (one tree per sentence).
        mode: ``"generative"`` (CYK over vote counts) or ``"selective"`` (the teacher tree with
            the most hits); see the module docstring.
        weights: K non-negative weights (default: all 1); a teacher's vote counts ``w_k``.
        words: tokens of each output tree (one list per sentence); default: the first teacher's.
        label: the label of every output node.
        empty_lines: ``"error"`` (default) or ``"keep"``: an empty line (in every teacher) becomes
            an empty output string, so later lines stay aligned.
    Returns:
        one bracket string per sentence, e.g. ``(X (X the) (X dog))``; a 1-word sentence gives
        ``(X word)``.
    Raises:
        ValueError (``TreeFormatError`` for bad brackets) naming the teacher, file and line.
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {MODES}")
    if isinstance(teachers, (str, bytes)) or len(teachers) == 0:
        raise ValueError("teachers: expected a non-empty list of tree sources (one per teacher)")
    banks = [as_treebank(t, source=f"teacher {k + 1}", empty_lines=empty_lines) for k, t in enumerate(teachers)]
    _check_aligned(banks)
    w = _check_weights(weights, len(banks))
    scores, score_offsets, n_words, vote_index = span_votes(banks, w)
    if mode == "generative":
        spans, span_offsets = cyk_packed(scores, score_offsets, n_words)
    else:
        spans, span_offsets = _selective(banks, scores, vote_index, w)
    if words is None:
        text, bounds, offsets = banks[0].text, banks[0].word_bounds, banks[0].word_offsets
    else:
        text, bounds, offsets = pack_words(words, n_words)
    return format_trees(n_words, spans, span_offsets, text, bounds, offsets, label=label)
