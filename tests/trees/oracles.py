"""Independent references for the trees tests: brute force over all binary trees, nltk-based spans,
and the original evaluation's convention written directly on nltk trees."""
from __future__ import annotations

import functools
import random

import numpy as np
from nltk import Tree


@functools.lru_cache(maxsize=None)
def all_binary_trees(i: int, j: int) -> tuple:
    """Every binary tree over words [i, j) as a frozenset of its spans (length >= 2)."""
    if j - i == 1:
        return (frozenset(),)
    out = []
    for k in range(i + 1, j):
        for left in all_binary_trees(i, k):
            for right in all_binary_trees(k, j):
                out.append(left | right | {(i, j)})
    return tuple(out)


def tree_score(spans, scores) -> float:
    n = scores.shape[0]
    return sum(scores[i, j] for i, j in spans) + sum(scores[i, i + 1] for i in range(n))


def brute_best_score(scores: np.ndarray) -> float:
    n = scores.shape[0]
    return max(tree_score(t, scores) for t in all_binary_trees(0, n))


def brute_first_max_tree(scores: np.ndarray) -> set:
    """The tree the tie rule defines, by enumeration: at each node, the smallest split point whose
    best left + best right subtree (each found by enumerating all subtrees) is maximal."""

    def best(i, j):  # best subtree score over [i, j), by enumeration
        leaves = sum(scores[a, a + 1] for a in range(i, j))
        return leaves + max(sum(scores[a, b] for a, b in t) for t in all_binary_trees(i, j))

    def build(i, j):
        if j - i == 1:
            return set()
        values = [best(i, k) + best(k, j) for k in range(i + 1, j)]
        k = i + 1 + int(np.argmax(values))  # argmax: the first maximum
        return {(i, j)} | build(i, k) | build(k, j)

    return build(0, scores.shape[0])


def nltk_spans(tree: Tree) -> set:
    """Distinct spans [start, end) of the subtrees over 2+ words."""
    out = set()

    def walk(t, start):
        if not isinstance(t, Tree):
            return start + 1
        end = start
        for child in t:
            end = walk(child, end)
        if end - start >= 2:
            out.add((start, end))
        return end

    walk(tree, 0)
    return out


def original_eval_spans(tree: Tree) -> set:
    """The original evaluation's span set: node spans over 2+ words listed in post-order (a unary
    chain lists its span once per node), the LAST one removed, then the set."""
    spans = []

    def walk(t, start):
        if not isinstance(t, Tree):
            return start + 1
        end = start
        for child in t:
            end = walk(child, end)
        if end - start >= 2:
            spans.append((start, end))
        return end

    walk(tree, 0)
    return set(spans[:-1])


def original_sentence_f1(gold: list, pred: list, max_length: int = 150) -> float:
    """Mean sentence F1 (percent) with the original formulas, written on nltk trees."""
    f1s = []
    for g, p in zip(gold, pred):
        gt, pt = Tree.fromstring(g), Tree.fromstring(p)
        n = len(gt.leaves())
        if n == 1 or n > max_length:
            continue
        gs, ps = original_eval_spans(gt), original_eval_spans(pt)
        ov = len(gs & ps)
        prec = ov / (len(ps) + 1e-8)
        reca = ov / (len(gs) + 1e-8)
        if not gs:
            reca = 1.0
            if not ps:
                prec = 1.0
        f1s.append(2 * prec * reca / (prec + reca + 1e-8))
    return float(np.mean(f1s) * 100)


def random_tree(rng: random.Random, words: list, binary: bool = False, unary_p: float = 0.2) -> Tree:
    """A random tree over ``words`` (n-ary unless ``binary``; unary chains with probability unary_p)."""
    def build(ws):
        if len(ws) == 1:
            node = Tree(rng.choice(["DT", "NN", "X"]), [ws[0]])
        else:
            if binary:
                cuts = [rng.randrange(1, len(ws))]
            else:
                cuts = sorted(rng.sample(range(1, len(ws)), rng.randint(1, min(3, len(ws) - 1))))
            parts = [ws[a:b] for a, b in zip([0] + cuts, cuts + [len(ws)])]
            node = Tree(rng.choice(["S", "NP", "VP", "X"]), [build(p) for p in parts])
        if not binary and rng.random() < unary_p:
            node = Tree(rng.choice(["S", "ROOT"]), [node])
        return node

    return build(words)


def random_binary_spans(rng: random.Random, n: int) -> set:
    """Spans (length >= 2, root included) of a uniformly split random binary tree over n words."""
    out = set()

    def build(i, j):
        if j - i < 2:
            return
        out.add((i, j))
        k = rng.randrange(i + 1, j)
        build(i, k)
        build(k, j)

    build(0, n)
    return out


def spans_to_string(n: int, spans: set, label: str = "X", words=None) -> str:
    """Bracket string of the tree with the given laminar spans (a brute-force writer)."""
    words = words or [f"w{i}" for i in range(n)]

    def build(i, j):
        children = []
        a = i
        while a < j:
            inner = [(s, e) for s, e in spans if s == a and e <= j and (s, e) != (i, j)]
            if inner:
                s, e = max(inner, key=lambda x: x[1])
                children.append(build(s, e))
                a = e
            else:
                children.append(f"({label} {words[a]})")
                a += 1
        return f"({label} " + " ".join(children) + ")"

    if n == 1:
        return f"({label} {words[0]})"
    return build(0, n)
