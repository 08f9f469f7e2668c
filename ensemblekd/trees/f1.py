"""Unlabelled span F1 of predicted trees against gold trees.

Sentence-level F1 follows the evaluation of the original tree-averaging code (Shayegh et al.,
ICLR 2024, which reuses Kim et al.'s compound-PCFG script) exactly:

* a tree's spans are the distinct spans of its nodes over 2+ words (labels ignored; unary chains
  give one span);
* the whole-sentence span is removed *once* from the list of node spans before taking the set,
  so it stays in the set when the root sits on a unary chain (``(S (VP ...))`` over 2+ words):
  34 of the 2,412 PTB test trees; :attr:`.io.Treebank.root_unary` records it;
* sentences of 1 word, or more than ``max_length`` (150) words, are skipped;
* ``P = |G & P| / (|P| + 1e-8)``, ``R = |G & P| / (|G| + 1e-8)``; when the gold set is empty
  ``R = 1`` and, if the predicted set is empty too, ``P = 1``;
  ``F1 = 2 P R / (P + R + 1e-8)``; the result is the mean over sentences, in percent.

Corpus-level F1 is micro-averaged over the same span sets: ``2 tp / (2 tp + fp + fn)``.
O(total spans log total spans).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .io import TreeSource, Treebank, as_treebank, check_line_counts

__all__ = ["F1Result", "tree_f1"]


@dataclass(frozen=True, eq=False)
class F1Result:
    """Span F1 in percent.  ``per_sentence``: float64 (n_sentences,), F1 in [0, 1] of each
    evaluated sentence, in line order; ``evaluated``: bool (lines,), which lines were evaluated."""

    sentence_f1: float
    corpus_f1: float
    corpus_precision: float
    corpus_recall: float
    n_sentences: int
    n_skipped: int
    per_sentence: np.ndarray
    evaluated: np.ndarray

    def __str__(self) -> str:
        return (
            f"sentence-level F1: {self.sentence_f1:.2f}\n"
            f"corpus-level F1:   {self.corpus_f1:.2f} (P {self.corpus_precision:.2f}, R {self.corpus_recall:.2f})\n"
            f"sentences:         {self.n_sentences} evaluated, {self.n_skipped} skipped"
        )


def _eval_keys(tb: Treebank, keep_line: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique int64 keys (line, start, end) of the evaluated spans, and the line of each."""
    line = tb.span_line()
    start, end = tb.spans[:, 0], tb.spans[:, 1]
    whole = (start == 0) & (end == tb.n_words[line])
    keep = keep_line[line] & (~whole | tb.root_unary[line])
    line, start, end = line[keep], start[keep], end[keep]
    return (line * width + start) * width + end, line


def tree_f1(gold: TreeSource, pred: TreeSource, *, max_length: int = 150, empty_lines: str = "error") -> F1Result:
    """Sentence-level (original convention, see the module docstring) and corpus-level span F1.

    Args:
        gold, pred: line-aligned tree sources (:class:`~.io.Treebank`, ``pathlib.Path`` or list
            of bracket strings / ``nltk.Tree``) with the same number of words on every line.
        max_length: longer sentences are skipped (the original evaluation uses 150).
        empty_lines: ``"keep"`` allows empty lines; a pair with an empty line is skipped (the
            original discards empty predictions).  ``"error"`` (default) rejects them.
    """
    g = as_treebank(gold, source="gold", empty_lines=empty_lines)
    p = as_treebank(pred, source="pred", empty_lines=empty_lines)
    check_line_counts(g, "gold", p, "pred")
    mismatch = (g.n_words != p.n_words) & (g.n_words > 0) & (p.n_words > 0)
    if mismatch.any():
        b = int(np.flatnonzero(mismatch)[0])
        raise ValueError(
            f"line {b + 1}: gold ({g.source}) has {g.n_words[b]} words but pred ({p.source}) has {p.n_words[b]}; "
            "expected the same tokens on every line"
        )
    if max_length < 1:
        raise ValueError(f"max_length={max_length}: expected >= 1")
    evaluated = (g.n_words >= 2) & (g.n_words <= max_length) & (p.n_words > 0)
    if not evaluated.any():
        raise ValueError(
            f"nothing to score: all {len(g)} sentence pairs of {g.source} / {p.source} are skipped (empty, "
            f"one word, or longer than max_length={max_length})"
        )
    n_lines = len(g)
    width = int(g.n_words.max(initial=0)) + 1
    gold_keys, gold_line = _eval_keys(g, evaluated, width)
    pred_keys, pred_line = _eval_keys(p, evaluated, width)
    hit = np.isin(pred_keys, gold_keys, assume_unique=True)
    overlap = np.bincount(pred_line[hit], minlength=n_lines).astype(np.float64)[evaluated]
    n_gold = np.bincount(gold_line, minlength=n_lines).astype(np.float64)[evaluated]
    n_pred = np.bincount(pred_line, minlength=n_lines).astype(np.float64)[evaluated]
    prec = overlap / (n_pred + 1e-8)
    reca = overlap / (n_gold + 1e-8)
    reca[n_gold == 0] = 1.0
    prec[(n_gold == 0) & (n_pred == 0)] = 1.0
    f1 = 2 * prec * reca / (prec + reca + 1e-8)
    tp = float(overlap.sum())
    fp = float(n_pred.sum()) - tp
    fn = float(n_gold.sum()) - tp
    # no predicted (gold) spans at all: precision (recall) is vacuously perfect, like F1 below
    corpus_p = tp / (tp + fp) if tp + fp else 1.0
    corpus_r = tp / (tp + fn) if tp + fn else 1.0
    corpus_f = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return F1Result(
        sentence_f1=float(np.mean(f1) * 100),
        corpus_f1=100 * corpus_f,
        corpus_precision=100 * corpus_p,
        corpus_recall=100 * corpus_r,
        n_sentences=int(evaluated.sum()),
        n_skipped=int(n_lines - evaluated.sum()),
        per_sentence=f1,
        evaluated=evaluated,
    )
