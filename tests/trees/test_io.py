"""Bracket reading and writing: same words and constituents as nltk.Tree, clear errors."""
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk import Tree

from ensemblekd.trees import TreeFormatError, parse_trees, read_trees, same_trees
from ensemblekd.trees.write import format_trees

from .oracles import nltk_spans, random_tree, spans_to_string

WORDS = ["the", "dog", "barks", "é", "N", "1987", "'s", "a-b", "x.y", "ümlaut"]


def _random_line(rng):
    n = rng.randint(1, 12)
    tree = random_tree(rng, [rng.choice(WORDS) for _ in range(n)])
    text = tree.pformat(margin=10**9)
    # vary the whitespace the way files do: extra spaces, tabs, a CR, '( (S ...) )' roots
    if rng.random() < 0.3:
        text = "( " + text + " )"
    text = text.replace(" ", rng.choice([" ", "  ", "\t", " \t "]))
    if rng.random() < 0.3:
        text = text.replace("(", "( ", 1)
    if rng.random() < 0.2:
        text += "\r"
    return text


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**9))
def test_words_and_spans_match_nltk(seed):
    rng = random.Random(seed)
    lines = [_random_line(rng) for _ in range(rng.randint(1, 6))]
    tb = parse_trees(lines)
    for b, line in enumerate(lines):
        ref = Tree.fromstring(line.strip())
        assert tb.words(b) == ref.leaves()
        got = [tuple(s) for s in tb.spans_of(b).tolist()]
        assert len(got) == len(set(got))  # unary chains collapsed: each span once
        assert set(got) == nltk_spans(ref)
        assert got == sorted(got, key=lambda s: (s[0], -s[1]))  # preorder
        chain = sum(1 for t in ref.subtrees() if len(t.leaves()) == len(ref.leaves()))
        assert tb.root_unary[b] == (len(ref.leaves()) >= 2 and chain >= 2)


def test_kernels_agree_on_the_embedded_sample(kernels):
    from ensemblekd.trees.demo import sample_dir, sample_teachers

    for path in sample_teachers()[:2] + [sample_dir() / "gold" / "test.txt"]:
        tb = read_trees(path)
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(tb) == len(lines) == 200
        for b in (0, 57, 199):
            ref = Tree.fromstring(lines[b])
            assert tb.words(b) == ref.leaves()
            assert {tuple(s) for s in tb.spans_of(b).tolist()} == nltk_spans(ref)


def test_both_kernels_give_identical_arrays(monkeypatch):
    rng = random.Random(3)
    lines = [_random_line(rng) for _ in range(40)]
    monkeypatch.setenv("ENSEMBLEKD_PUREPYTHON", "1")
    a = parse_trees(lines)
    monkeypatch.setenv("ENSEMBLEKD_PUREPYTHON", "0")
    b = parse_trees(lines)
    for name in ("n_words", "word_offsets", "word_bounds", "span_offsets", "spans", "root_unary"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_nltk_trees_and_readlines_input():
    t = Tree.fromstring("(S (NP (DT the) (NN dog)) (VP (VBZ barks)))")
    tb = parse_trees([t, "(X a)\n"])
    assert tb.words(0) == ["the", "dog", "barks"] and tb.words(1) == ["a"]
    assert tb.spans_of(0).tolist() == [[0, 3], [0, 2]]


def test_write_round_trip(kernels):
    rng = random.Random(5)
    lines = [_random_line(rng) for _ in range(30)]
    tb = parse_trees(lines)
    out = format_trees(tb.n_words, tb.spans, tb.span_offsets, tb.text, tb.word_bounds, tb.word_offsets, label="X")
    assert len(out) == len(lines)
    back = parse_trees(out)
    assert same_trees(tb, back).all()
    for b, line in enumerate(out):  # the writer agrees with a brute-force writer
        n = int(tb.n_words[b])
        spans = {tuple(s) for s in tb.spans_of(b).tolist()}
        assert line == spans_to_string(n, spans, "X", tb.words(b))


def test_final_newline_is_optional(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("(X a)\n(X (X b) (X c))\n")
    b.write_text("(X a)\n(X (X b) (X c))")
    assert len(read_trees(a)) == len(read_trees(b)) == 2


@pytest.mark.parametrize(
    "text, line, match",
    [
        ("(X a)\n(X (X b) (X c)\n", 2, r"unbalanced brackets: 1 '\(' still open"),
        ("(X a)\n(X b))\n", 2, r"unbalanced brackets: '\)' at column 6 closes nothing"),
        ("(X a)\n(X a) (X b)\n", 2, "a second tree starts at column 7"),
        ("word (X a)\n", 1, r"text outside the brackets at column 1 \('word'\)"),
        ("(X a)\n(X (Y) b)\n", 2, "a node without children"),
        ("(X a)\n()\n", 2, "a node without children"),
        ("(X a)\n\n(X b)\n", 2, "empty line"),
        ("(X a)\n   \n", 2, "empty line"),
    ],
)
def test_bad_input_names_file_line_and_expectation(tmp_path, text, line, match):
    path = tmp_path / "trees.txt"
    path.write_text(text)
    with pytest.raises(TreeFormatError, match=match) as info:
        read_trees(path)
    assert f"{path}:{line}:" in str(info.value)
    assert "expected one PTB bracketed tree per line" in str(info.value)


def test_empty_lines_can_be_kept(tmp_path):
    path = tmp_path / "trees.txt"
    path.write_text("(X a)\n\n(X (X b) (X c))\n\n")
    tb = read_trees(path, empty_lines="keep")
    assert tb.n_words.tolist() == [1, 0, 2, 0]
    with pytest.raises(ValueError, match="empty_lines"):
        read_trees(path, empty_lines="skip")


def test_invalid_utf8_and_wrong_types(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"(X a)\n(X \xff)\n")
    with pytest.raises(TreeFormatError, match=r"bad.txt:2: not valid UTF-8"):
        read_trees(path)
    with pytest.raises(TreeFormatError, match="item 1 holds more than one line"):
        parse_trees(["(X a)\n(X b)"])
    with pytest.raises(TypeError, match="expected a str or nltk.Tree"):
        parse_trees([3])


def test_import_is_cheap():
    import subprocess
    import sys

    code = "import sys, ensemblekd.trees; print(','.join(m for m in ('numba', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""  # numba is imported when a kernel first runs
