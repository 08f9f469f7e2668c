"""Tree averaging: invariants, brute-force oracles, golden files (embedded sample; full data if present)."""
import itertools
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ensemblekd.trees import TreeFormatError, average_trees, parse_trees, read_trees, same_trees, tree_f1
from ensemblekd.trees.demo import sample_dir, sample_teachers

from .conftest import shared_ptb
from .oracles import all_binary_trees, random_binary_spans, spans_to_string


def _votes(teacher_spans, n, weights):
    """Vote of every span (not the whole sentence) from each teacher's span set."""
    votes = {}
    for spans, w in zip(teacher_spans, weights):
        for s in spans:
            if s != (0, n):
                votes[s] = votes.get(s, 0.0) + w
    return votes


def _spans(tree_string):
    tb = parse_trees([tree_string])
    return {tuple(s) for s in tb.spans_of(0).tolist()}


def _case(seed, k=None):
    rng = random.Random(seed)
    n = rng.randint(1, 8)
    k = k or rng.randint(1, 5)
    teachers = [random_binary_spans(rng, n) for _ in range(k)]
    return n, teachers, [spans_to_string(n, t) for t in teachers]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10**9), st.lists(st.integers(0, 4), min_size=5, max_size=5))
def test_generative_is_a_best_binary_tree(kernels, seed, raw_weights):
    n, teachers, strings = _case(seed, k=5)
    weights = [float(w) for w in raw_weights] if any(raw_weights) else None
    votes = _votes(teachers, n, weights or [1.0] * 5)
    out = average_trees([[s] for s in strings], weights=weights)[0]
    got = _spans(out)
    assert got in set(all_binary_trees(0, n)) or n == 1
    best = max(sum(votes.get(s, 0) for s in t) for t in all_binary_trees(0, n))
    assert sum(votes.get(s, 0) for s in got) == best


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10**9), st.lists(st.integers(0, 3), min_size=4, max_size=4))
def test_selective_picks_the_first_teacher_with_most_hits_against_the_others(kernels, seed, raw_weights):
    n, teachers, strings = _case(seed, k=4)
    weights = [float(w) for w in raw_weights] if any(raw_weights) else [1.0] * 4
    sets = [t - {(0, n)} for t in teachers]
    # integer weights count like copies: each copy is scored against all teachers but itself
    hits = [sum(w * len(a & b) for b, w in zip(sets, weights)) - len(a) if weights[k] else -1
            for k, a in enumerate(sets)]
    expected = strings[hits.index(max(hits))]
    assert average_trees([[s] for s in strings], "selective", weights=weights) == [expected]


def test_selective_does_not_count_a_teacher_against_itself():
    # n-ary: against the others T1, T2 and T3 all have 2 hits, so the first teacher wins; counting each
    # tree against itself too would pick T2, the tree with more spans
    t1, t2 = "(X (X a b) c d)", "(X (X a b) (X c d))"
    assert average_trees([[t1], [t2], [t1]], "selective") == ["(X (X (X a) (X b)) (X c) (X d))"]
    # a weight-0 teacher is absent: never chosen, even when the others agree with it
    a, b = "(X (X a b) (X c d))", "(X (X (X a b) c) d)"
    assert average_trees([[a], [b], [a]], "selective", weights=[0, 1, 1]) == ["(X (X (X (X a) (X b)) (X c)) (X d))"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10**9), st.integers(1, 6))
def test_copies_of_one_binary_tree_average_to_it(kernels, seed, k):
    n, teachers, strings = _case(seed, k=1)
    for mode in ("generative", "selective"):
        assert average_trees([[strings[0]]] * k, mode) == [strings[0]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10**9))
def test_teacher_order_does_not_change_the_tree(kernels, seed):
    n, teachers, strings = _case(seed, k=4)
    votes = _votes(teachers, n, [1.0] * 4)
    outs = {average_trees([[strings[i]] for i in perm])[0] for perm in itertools.permutations(range(4))}
    # the votes do not depend on the order and the DP's tie rule looks at split points only: the same tree
    assert len({tuple(sorted(_spans(o))) for o in outs}) == 1
    assert len({sum(votes.get(s, 0) for s in _spans(o)) for o in outs}) == 1


def test_weights_scale_and_count_like_copies(kernels):
    teachers = [read_trees(p) for p in sample_teachers()]
    base = average_trees(teachers, "generative")
    assert average_trees(teachers, "generative", weights=[3.0] * 7) == base
    w = [2, 1, 1, 3, 1, 1, 1]
    copies = [t for t, c in zip(teachers, w) for _ in range(c)]
    for mode in ("generative", "selective"):
        assert average_trees(teachers, mode, weights=w) == average_trees(copies, mode)
    # a single teacher with all the weight is copied
    only = [0, 0, 0, 0, 0, 1, 0]
    words6 = [teachers[5].words(b) for b in range(len(teachers[5]))]
    assert same_trees(parse_trees(average_trees(teachers, weights=only, words=words6)), teachers[5]).all()


def test_nary_nodes_count_as_one_span_without_binarization():
    # t1 is flat: it votes for nothing.  Votes: [0,2) 1, [2,4) 1, so (a b)(c d) is the unique best.
    # (The original right-binarized t1 into a (b (c d)), adding votes for [1,4) and [2,4), which
    # would tie a (b (c d)) with (a b)(c d) and pick a (b (c d)).)
    t1 = "(X (X a) (X b) (X c) (X d))"
    t2 = "(X (X (X a) (X b)) (X (X c) (X d)))"
    assert average_trees([[t1], [t2]]) == [t2]
    # selective keeps a flat node flat: t3 has 2 hits per copy, t2 has 2: the first wins
    t3 = "(X (X (X a) (X b) (X c)) (X d))"
    assert average_trees([[t3], [t3], [t2]], "selective") == [t3]


def test_one_word_words_labels_and_empty_lines(kernels):
    assert average_trees([["(S (NN dog))"], ["(X dog)"]]) == ["(X dog)"]
    out = average_trees([["(X (X a) (X b))"]] * 2, words=[["Le", "chien"]], label="NP")
    assert out == ["(NP (NP Le) (NP chien))"]
    trees = ["(X (X a) (X b))", "", "(X c)"]
    for mode in ("generative", "selective"):
        assert average_trees([trees, trees], mode, empty_lines="keep") == trees
    with pytest.raises(TreeFormatError, match="teacher 1:2: empty line"):
        average_trees([trees, trees])


def test_bad_input_errors(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("(X (X a) (X b))\n(X (X a) (X b))\n")
    b.write_text("(X (X a) (X b))\n")
    with pytest.raises(ValueError, match=r"line 2: teacher 1 \(.*a.txt\) has a tree there but teacher 2 "
                                         r"\(.*b.txt\) ends after line 1"):
        average_trees([a, b])
    b.write_text("(X (X a) (X b))\n(X (X a) (X (X b) (X c)))\n")
    with pytest.raises(ValueError, match=r"line 2: teacher 2 \(.*b.txt\) has 3 words but teacher 1 \(.*a.txt\) has 2"):
        average_trees([a, b])
    b.write_text("(X (X a) (X b))\n(X (X a) (X b)\n")
    with pytest.raises(TreeFormatError, match=r"b.txt:2: unbalanced brackets"):
        average_trees([a, b])
    with pytest.raises(ValueError, match="got 3 for 2 teachers"):
        average_trees([a, a], weights=[1, 1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        average_trees([a, a], weights=[1, -1])
    with pytest.raises(ValueError, match="at least one positive"):
        average_trees([a, a], weights=[0, 0])
    with pytest.raises(ValueError, match="mode="):
        average_trees([a], "median")
    with pytest.raises(ValueError, match="label="):
        average_trees([a], label="a b")
    with pytest.raises(ValueError, match=r"words\[1\] \(line 2\): 1 tokens but the trees have 2 words"):
        average_trees([a], words=[["x", "y"], ["z"]])
    with pytest.raises(TypeError, match="pathlib.Path"):
        average_trees([str(a)])


# ------------------------------------------------------------------------------------ golden files
def _golden(root: Path, split_teachers: list, kernels_note=""):
    teachers = [read_trees(p) for p in split_teachers]
    gen = average_trees(teachers, "generative", label=".")  # the original labels every node "."
    ref_gen = (root / "reference" / "generative" / "test.txt").read_text(encoding="utf-8").splitlines()
    assert len(gen) == len(ref_gen)
    bad = [b + 1 for b, (x, y) in enumerate(zip(gen, ref_gen)) if x != y]
    assert not bad, f"generative differs from the original on lines {bad[:10]}"
    sel = average_trees(teachers, "selective")
    ref_sel = read_trees(root / "reference" / "selective" / "test.txt")
    same = same_trees(parse_trees(sel), ref_sel)  # the original keeps the teacher's labels
    assert same.all(), f"selective differs from the original on lines {(np.flatnonzero(~same) + 1)[:10]}"
    return gen, sel


def test_golden_embedded_sample(kernels):
    root = sample_dir()
    gen, sel = _golden(root, sample_teachers(root))
    gold = root / "gold" / "test.txt"
    # the F1 of our output is the F1 of the original output, and the ensembles beat every teacher
    assert tree_f1(gold, gen).sentence_f1 == tree_f1(gold, root / "reference" / "generative" / "test.txt").sentence_f1
    best_teacher = max(tree_f1(gold, p).sentence_f1 for p in sample_teachers(root))
    assert tree_f1(gold, gen).sentence_f1 > best_teacher


def test_golden_full_test_set():
    root = shared_ptb()
    teachers = sample_teachers(root)
    assert [p.parent.name.split("-")[0] for p in teachers] == [str(i) for i in range(1, 8)]
    gen, sel = _golden(root, teachers)
    assert len(gen) == 2412
    gold = root / "gold" / "test.txt"
    assert round(tree_f1(gold, gen).sentence_f1, 2) == 71.89
    assert round(tree_f1(gold, sel).sentence_f1, 2) == 68.71
