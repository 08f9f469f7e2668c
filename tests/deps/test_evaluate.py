"""UAS and span F1 against the original's formulas, and against the shared metrics table."""
import csv

import numpy as np
import pytest

from ensemblekd.deps import evaluate_deps, read_deps

from .conftest import shared_ed4udp
from .oracles import random_tree, ref_corpus_f1, ref_uas


def test_matches_the_formulas_on_random_trees(kernels):
    rng = np.random.default_rng(0)
    for _ in range(20):
        lens = rng.integers(1, 9, size=int(rng.integers(1, 6)))
        gold = [random_tree(rng, int(n), projective=bool(rng.integers(2))) for n in lens]
        pred = [random_tree(rng, int(n), projective=bool(rng.integers(2))) for n in lens]
        s = evaluate_deps(gold, pred)
        assert s.uas == pytest.approx(ref_uas(gold, pred), abs=1e-12)
        assert s.f1 == pytest.approx(ref_corpus_f1(gold, pred), abs=1e-12)
        assert s.words == sum(lens) and s.sentences == len(lens)
    proj = [random_tree(rng, n) for n in range(1, 9)]
    assert evaluate_deps(proj, proj).f1 == 1.0
    # non-projective: two words may share a yield; the original counts it once in the intersection and
    # twice in the sizes, so such a tree is not at F1 1 against itself
    nonproj = [[3, 0, 2]]  # word 3 heads word 1 across its own head 2: both yields are [0, 3)
    assert evaluate_deps(nonproj, nonproj).f1 == ref_corpus_f1(nonproj, nonproj) < 1.0


def test_equals_the_shared_metrics_table():
    """Every teacher and golden file: UAS and CorpusF1 equal (as floats) to the original eval.py's values."""
    root = shared_ed4udp()
    rows = list(csv.DictReader((root / "metrics.tsv").open(), delimiter="\t"))
    checked = 0
    for row in rows:
        if not (root / row["file"]).is_file():  # the table covers combinations 4-5, the folder holds 1-3
            continue
        checked += 1
        s = evaluate_deps(root / "gold" / f"{row['fold']}.txt", root / row["file"])
        assert (s.uas, s.f1) == (float(row["UAS"]), float(row["CorpusF1"])), row["file"]
    assert checked == 3 * 6 * 2 + 3 * 3 * 2  # 3 combinations: 6 teachers and 3 ensembles, 2 folds
