"""Span F1: the original evaluation's convention (oracle written on nltk trees), corpus-level F1."""
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ensemblekd.trees import TreeFormatError, tree_f1
from ensemblekd.trees.demo import sample_dir, sample_teachers

from .conftest import shared_ptb
from .oracles import original_eval_spans, original_sentence_f1, random_tree
from nltk import Tree


def _pair(rng):
    n = rng.randint(1, 9)
    words = [f"w{i}" for i in range(n)]
    gold = random_tree(rng, words).pformat(margin=10**9)
    pred = random_tree(rng, words, binary=rng.random() < 0.5).pformat(margin=10**9)
    return gold, pred


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**9))
def test_sentence_f1_matches_the_original_convention(seed):
    rng = random.Random(seed)
    pairs = [_pair(rng) for _ in range(rng.randint(1, 8))]
    gold, pred = [g for g, _ in pairs], [p for _, p in pairs]
    if all(len(Tree.fromstring(g).leaves()) == 1 for g in gold):
        gold.append("(X (X a) (X b))"), pred.append("(X (X a) (X b))")
    assert tree_f1(gold, pred).sentence_f1 == original_sentence_f1(gold, pred)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**9))
def test_corpus_f1_is_micro_over_the_same_spans(seed):
    rng = random.Random(seed)
    pairs = [_pair(rng) for _ in range(6)] + [("(X (X a) (X b) (X c))", "(X (X (X a) (X b)) (X c))")]
    tp = fp = fn = 0
    for g, p in pairs:
        gt, pt = Tree.fromstring(g), Tree.fromstring(p)
        if len(gt.leaves()) < 2:
            continue
        gs, ps = original_eval_spans(gt), original_eval_spans(pt)
        tp, fp, fn = tp + len(gs & ps), fp + len(ps - gs), fn + len(gs - ps)
    r = tree_f1([g for g, _ in pairs], [p for _, p in pairs])
    assert r.corpus_f1 == pytest.approx(100 * 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 100.0)


def test_root_unary_chain_keeps_the_whole_sentence_span():
    # gold root (S (VP ...)): the original removes the whole-sentence span once, so it stays
    gold = ["(S (VP (V a) (NP (D b) (N c))))"]
    pred = ["(X (X a) (X (X b) (X c)))"]
    r = tree_f1(gold, pred)
    # gold {[0,3), [1,3)}, pred {[1,3)}: P = 1, R = 1/2
    assert r.sentence_f1 == pytest.approx(100 * 2 * 0.5 / 1.5, abs=1e-5)
    assert tree_f1(["(VP (V a) (NP (D b) (N c)))"], pred).sentence_f1 == pytest.approx(100, abs=1e-5)


def test_skips_and_counts():
    gold = ["(X a)", "(X (X a) (X b))", "(X (X a) (X b) (X c))"]
    pred = ["(X a)", "(X (X a) (X b))", "(X (X a) (X (X b) (X c)))"]
    r = tree_f1(gold, pred)
    assert (r.n_sentences, r.n_skipped) == (2, 1)  # 1-word sentences are skipped
    assert r.sentence_f1 == pytest.approx(50.0, abs=1e-5)  # 100 (2 words) and 0 (extra span)
    assert tree_f1(gold, pred, max_length=2).n_sentences == 1
    assert tree_f1(gold, gold).sentence_f1 == pytest.approx(100, abs=1e-5)
    r = tree_f1(["(X (X a) (X b))", ""], ["(X (X a) (X b))", ""], empty_lines="keep")
    assert (r.n_sentences, r.n_skipped) == (1, 1)


def test_errors():
    with pytest.raises(ValueError, match=r"line 2: gold .* has a tree there but pred .* ends after line 1"):
        tree_f1(["(X a)", "(X b)"], ["(X a)"])
    with pytest.raises(ValueError, match="line 2: gold .* has 2 words but pred .* has 3"):
        tree_f1(["(X a)", "(X a b)"], ["(X a)", "(X a b c)"])
    with pytest.raises(TreeFormatError, match="pred:1: unbalanced"):
        tree_f1(["(X a)"], ["(X a"])


def test_embedded_sample_teachers_against_the_original_formula():
    root = sample_dir()
    gold = (root / "gold" / "test.txt").read_text().splitlines()
    for path in sample_teachers(root)[:3] + [root / "reference" / "generative" / "test.txt"]:
        pred = path.read_text().splitlines()
        assert tree_f1(gold, pred).sentence_f1 == original_sentence_f1(gold, pred)


def test_full_reference_scores():
    root = shared_ptb()
    gold = root / "gold" / "test.txt"
    assert round(tree_f1(gold, root / "reference" / "generative" / "test.txt").sentence_f1, 2) == 71.89
    assert round(tree_f1(gold, root / "reference" / "selective" / "test.txt").sentence_f1, 2) == 68.71


def test_corpus_scores_without_any_span_are_vacuously_perfect():
    r = tree_f1(["(X (X a) (X b))"], ["(X (X a) (X b))"])  # 2 words: no span besides the whole sentence
    assert (r.corpus_f1, r.corpus_precision, r.corpus_recall) == (100.0, 100.0, 100.0)
    r = tree_f1(["(X (X (X a) (X b)) (X c))"], ["(X (X a) (X b) (X c))"])  # pred proposes nothing
    assert (r.corpus_precision, r.corpus_recall, r.corpus_f1) == (100.0, 0.0, 0.0)
