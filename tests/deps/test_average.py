"""Tree averaging: brute-force optimality, the original's tie rules, invariants, and the golden files."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ensemblekd.deps import DepFormatError, average_deps, evaluate_deps, format_deps, read_deps
from ensemblekd.deps.demo import sample_dir, sample_teachers

from .conftest import shared_ed4udp
from .oracles import (arc_score, is_projective, projective_trees, random_tree, ref_acc, ref_f1, ref_spans,
                      span_score)


def _votes(teachers, weights, kind):
    n = len(teachers[0])
    v = np.zeros((n + 1, n + 1))
    for t, w in zip(teachers, weights):
        if kind == "acc":
            for d, h in enumerate(t, 1):
                v[h, d] += w
        else:
            for s, e in ref_spans(t):
                v[s, e] += w
    return v


@pytest.mark.parametrize("agg", ["acc", "f1"])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7])
def test_average_is_optimal_among_single_root_projective_trees(kernels, agg, n):
    """Brute force: no single-root projective tree gets more (weighted) votes than the average."""
    rng = np.random.default_rng(10 * n + (agg == "f1"))
    trees = projective_trees(n)
    score = arc_score if agg == "acc" else span_score
    for _ in range(3 if n < 7 else 1):
        k = int(rng.integers(1, 6))
        teachers = [random_tree(rng, n, projective=bool(rng.integers(2))) for _ in range(k)]
        weights = rng.uniform(0.1, 1.0, size=k).tolist()
        out = average_deps([[t] for t in teachers], agg, weights=weights).to_lists()[0]
        assert is_projective(out) and out.count(0) == 1
        votes = _votes(teachers, weights, agg)
        assert score(out, votes) == pytest.approx(max(score(t, votes) for t in trees), abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 7), k=st.integers(1, 6), seed=st.integers(0, 10**6), weighted=st.booleans())
def test_ties_broken_as_the_original_rules(n, k, seed, weighted):
    """Unit votes tie in most sentences; the kernels pick the tree the rules (written as recursions) pick."""
    rng = np.random.default_rng(seed)
    teachers = [random_tree(rng, n, projective=bool(rng.integers(2))) for _ in range(k)]
    weights = rng.choice([0.5, 1.0, 2.0], size=k).tolist() if weighted else None
    assert average_deps([[t] for t in teachers], "acc", weights).to_lists()[0] == ref_acc(teachers, weights)
    assert average_deps([[t] for t in teachers], "f1", weights).to_lists()[0] == ref_f1(teachers, weights)


@pytest.mark.parametrize("agg", ["acc", "f1"])
def test_hand_made_tie(kernels, agg):
    """[2, 0] and [0, 1] tie (one vote each way); the smallest split (acc) / the leftmost head (f1) gives [0, 1]
    whichever teacher comes first."""
    for teachers in ([[2, 0], [0, 1]], [[0, 1], [2, 0]]):
        assert average_deps([[t] for t in teachers], agg).to_lists() == [[0, 1]]


@pytest.mark.parametrize("agg", ["acc", "f1"])
def test_invariants(kernels, agg):
    rng = np.random.default_rng(3)
    sents = [random_tree(rng, int(rng.integers(1, 8))) for _ in range(20)]
    # K copies of one projective tree average to it
    for k in (1, 2, 5):
        assert average_deps([sents] * k, agg).to_lists() == sents
    # teacher order does not change the result (unit weights: the votes are exact)
    teachers = [[random_tree(rng, len(s), projective=bool(rng.integers(2))) for s in sents] for _ in range(4)]
    base = average_deps(teachers, agg).to_lists()
    for perm in ([3, 2, 1, 0], [1, 3, 0, 2]):
        assert average_deps([teachers[i] for i in perm], agg).to_lists() == base
    # beta does not matter: every tree has n spans
    assert average_deps(teachers, agg, beta=0.3).to_lists() == base


def test_misaligned_teachers_are_errors(tmp_path):
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text("0 2 0\n1 0\n")
    b.write_text("0 0 1\n1 0 1\n")
    with pytest.raises(DepFormatError, match=f"{b}:2: 2 words but {a}:2 has 1"):
        average_deps([read_deps(a), read_deps(b)])
    b.write_text("0 0 1\n")
    with pytest.raises(DepFormatError, match="has 1 sentences but"):
        average_deps([a, b])
    with pytest.raises(ValueError, match="one per teacher"):
        average_deps([a, a], weights=[1.0])
    with pytest.raises(ValueError, match="non-negative"):
        average_deps([a, a], weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="agg='uas'"):
        average_deps([a], "uas")


def _golden(path):
    return path.read_text().rstrip("\n").split("\n")


@pytest.mark.parametrize("name", ["acc", "acc_devweights", "f1"])
def test_embedded_sample_equals_the_original(kernels, name):
    root = sample_dir()
    for fold in ("te", "d"):
        weights = None
        if name == "acc_devweights":
            gold_d = read_deps(root / "gold" / "d.txt")
            weights = [evaluate_deps(gold_d, p).uas for p in sample_teachers(root, "d")]
        out = average_deps(sample_teachers(root, fold), name[:3] if name != "f1" else "f1", weights=weights)
        assert format_deps(out).rstrip("\n").split("\n") == _golden(root / "golden" / name / f"{fold}.txt")


@pytest.mark.parametrize("combo", [1, 2, 3])
def test_every_golden_file_of_the_shared_data(combo):
    """All held combinations x {acc, acc_devweights, f1} x {te, d}: line for line, byte for byte."""
    root = shared_ed4udp()
    dirs = sorted((root / "teachers" / str(combo)).iterdir(), key=lambda d: int(d.name.split("-")[0]))
    gold_d = read_deps(root / "gold" / "d.txt")
    dev_uas = [evaluate_deps(gold_d, d / "d.txt").uas for d in dirs]
    for fold in ("te", "d"):
        teachers = [read_deps(d / f"{fold}.txt") for d in dirs]
        for name, agg, w in (("acc", "acc", None), ("acc_devweights", "acc", dev_uas), ("f1", "f1", None)):
            golden = (root / "golden" / name / str(combo) / f"{fold}.txt").read_bytes()
            assert format_deps(average_deps(teachers, agg, weights=w)).encode().rstrip(b"\n") == golden, (name, fold)
