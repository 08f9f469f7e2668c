"""utility_matrix (both implementations) against sacrebleu, pair by pair."""
import functools
import random

import numpy as np
import pytest
import sacrebleu
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ensemblekd import _accel
from ensemblekd.metrics import MetricInputError, utility_matrix, utility_matrix_c, utility_matrix_python

from .conftest import CKERNEL_BUILT
from .strategies import sentence_lists

ORACLES = {
    "bleu": lambda hyp, ref: sacrebleu.sentence_bleu(hyp, [ref]).score,
    "chrf": lambda hyp, ref: sacrebleu.sentence_chrf(hyp, [ref]).score,
}
TOLERANCE = 1e-9  # the required agreement; in practice the C kernel reproduces sacrebleu bit for bit


def oracle_matrix(hyps, refs, metric):
    return _oracle_matrix(tuple(hyps), tuple(refs), metric).copy()


@functools.lru_cache(maxsize=8)
def _oracle_matrix(hyps, refs, metric):
    score = ORACLES[metric]
    return np.array([[score(h, r) for r in refs] for h in hyps], dtype=np.float64).reshape(len(hyps), len(refs))


def assert_matches_oracle(got, hyps, refs, metric):
    want = oracle_matrix(hyps, refs, metric)
    assert got.dtype == np.float64 and got.shape == want.shape
    bad = np.argwhere(~(np.abs(got - want) <= TOLERANCE))
    if bad.size:
        i, j = bad[0]
        raise AssertionError(
            f"{metric}: U[{i}, {j}] = {got[i, j]!r}, sacrebleu says {want[i, j]!r} "
            f"for hyp={hyps[i]!r} ref={refs[j]!r} ({len(bad)} pairs differ)"
        )


def perturb(line: str, rng: random.Random) -> str:
    """An n-best-like variant of a line: drop, duplicate or swap words."""
    words = line.split()
    op = rng.choice(["drop", "dup", "swap", "same"])
    if op == "drop" and len(words) > 1:
        del words[rng.randrange(len(words))]
    elif op == "dup" and words:
        k = rng.randrange(len(words))
        words.insert(k, words[k])
    elif op == "swap" and len(words) > 1:
        k = rng.randrange(len(words) - 1)
        words[k], words[k + 1] = words[k + 1], words[k]
    return " ".join(words)


@pytest.mark.parametrize("metric", ["bleu", "chrf"])
def test_multi30k_all_pairs(implementation, metric, multi30k_lines):
    rng = random.Random(0)
    candidates = multi30k_lines + [perturb(line, rng) for line in multi30k_lines[:14]]
    assert_matches_oracle(implementation(candidates, metric=metric), candidates, candidates, metric)


@pytest.mark.parametrize("metric", ["bleu", "chrf"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hyps=sentence_lists, refs=st.none() | sentence_lists)
def test_generated_sentences(implementation, metric, hyps, refs):
    got = implementation(hyps, refs, metric=metric)
    assert_matches_oracle(got, hyps, hyps if refs is None else refs, metric)


@pytest.mark.parametrize("metric", ["bleu", "chrf"])
def test_edge_cases(implementation, metric):
    hyps = ["", " ", "a", "a a a a", "a a", "The cat.", "the cat .", "The  cat.\n", "&amp; <skipped> x", "3.5-4"]
    refs = ["", "a", "a a a a a a a a", "The cat.", "3.5 - 4", "x"]
    assert_matches_oracle(implementation(hyps, refs, metric), hyps, refs, metric)


def test_references_default_to_hypotheses(implementation):
    hyps = ["a cat sat", "a dog sat", "the cat"]
    np.testing.assert_array_equal(implementation(hyps), implementation(hyps, hyps))
    assert implementation(hyps)[0, 0] == pytest.approx(100.0)


@pytest.mark.parametrize("hyps, refs, shape", [([], None, (0, 0)), (["a"], [], (1, 0)), ([], ["a", "b"], (0, 2))])
def test_empty_lists(implementation, hyps, refs, shape):
    assert implementation(hyps, refs).shape == shape


@pytest.mark.parametrize(
    "args, message",
    [
        (("a b c",), "hypotheses: expected a sequence of str"),
        ((["a", 3],), r"hypotheses\[1\]: expected str, got int"),
        ((["a"], ["b", None]), r"references\[1\]: expected str"),
        ((["a"], None, "ter"), "metric: expected one of"),
    ],
)
def test_bad_input(implementation, args, message):
    with pytest.raises(MetricInputError, match=message):
        implementation(*args)


def test_tuples_are_accepted(implementation):
    assert implementation(("a b", "a c"), ("a b",)).shape == (2, 1)


def test_dispatch_follows_accel(monkeypatch):
    expected = utility_matrix_c if CKERNEL_BUILT else utility_matrix_python
    assert _accel.choose(utility_matrix_c, utility_matrix_python) is expected
    monkeypatch.setenv(_accel.PUREPYTHON_ENV, "1")
    assert _accel.choose(utility_matrix_c, utility_matrix_python) is utility_matrix_python
    hyps = ["a b c d", "a b c e"]
    np.testing.assert_array_equal(utility_matrix(hyps), oracle_matrix(hyps, hyps, "bleu"))
