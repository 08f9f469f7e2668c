"""ensemblekd.decoding.mbr against a brute-force MBR written from the definition with sacrebleu, for both
utility implementations (C kernel and pure-Python twin)."""
import importlib
import math

import pytest
import sacrebleu
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ensemblekd import _accel
from ensemblekd.decoding.mbr import MBRChoice, MBRInputError, expected_utilities, mbr_combine, mbr_select
from ensemblekd.metrics import MetricInputError


def _ckernel_built():
    try:
        importlib.import_module("ensemblekd._ckernel")
    except ImportError:
        return False
    return True


@pytest.fixture(
    autouse=True,
    params=[
        pytest.param("c", marks=pytest.mark.skipif(not _ckernel_built(), reason="ensemblekd._ckernel is not built")),
        "python",
    ],
)
def implementation(request, monkeypatch):
    """Run every test once with the C kernel and once with ENSEMBLEKD_PUREPYTHON=1."""
    if request.param == "python":
        monkeypatch.setenv(_accel.PUREPYTHON_ENV, "1")
    else:
        monkeypatch.delenv(_accel.PUREPYTHON_ENV, raising=False)
    _accel.reset()
    yield request.param
    _accel.reset()


def brute_force(candidates, metric="bleu", weights=None):
    """argmax_i sum_{j != i} w_j U(y_i, y_j) with sacrebleu calls; first maximum wins."""
    score = sacrebleu.sentence_bleu if metric == "bleu" else sacrebleu.sentence_chrf
    weights = weights or [1.0] * len(candidates)
    best, best_value = None, None
    for i, hyp in enumerate(candidates):
        value = math.fsum(weights[j] * score(hyp, [ref]).score for j, ref in enumerate(candidates) if j != i)
        if best is None or value > best_value:
            best, best_value = i, value
    return best, best_value


VOCAB = ["a", "the", "cat", "dog", "sat", "on", "mat", ".", "le", "chat"]
candidate = st.lists(st.sampled_from(VOCAB), max_size=7).map(" ".join)
candidates = st.lists(candidate, min_size=1, max_size=6)


@pytest.mark.parametrize("metric", ["bleu", "chrf"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cands=candidates)
def test_matches_brute_force(metric, cands):
    assert mbr_select(cands, metric) == brute_force(cands, metric)[0]


def test_consensus_wins():
    cands = ["a cat sat on the mat", "the dog ran away", "a cat sat on a mat", "a cat is on the mat"]
    assert mbr_select(cands) == brute_force(cands)[0] == 0


def test_single_candidate():
    assert mbr_select(["anything"]) == 0
    assert expected_utilities(["anything"]).tolist() == [0.0]


def test_ties_go_to_the_earlier_candidate():
    assert mbr_select(["x y z", "x y z"]) == 0
    assert mbr_select(["p q", "a b c", "a b c", "a b c"]) == 1
    assert mbr_select(["", "", ""]) == 0  # all utilities zero
    assert mbr_select(["u v w", "a b c d", "x y"]) == 0  # no overlap at all


def test_combine_reports_component_and_rank():
    comps = [["the dog ran", "a dog ran"], ["a cat sat on the mat"], ["the cat sat on the mat", "a cat sat on a mat"]]
    flat = [c for comp in comps for c in comp]
    index, value = brute_force(flat)
    choice = mbr_combine(comps)
    assert isinstance(choice, MBRChoice)
    assert choice.index == index and choice.text == flat[index]
    assert (choice.component, choice.rank) == [(0, 0), (0, 1), (1, 0), (2, 0), (2, 1)][index]
    assert choice.utility == value


def test_combine_ties_go_to_the_earlier_component():
    choice = mbr_combine([["p q r"], ["the cat sat"], ["the cat sat"], ["a dog"]])
    assert (choice.component, choice.rank, choice.text) == (1, 0, "the cat sat")


def test_component_weights_change_the_vote():
    comps = [["a b c d e"], ["a b c d x"], ["q r s t u"], ["q r s t u"]]
    assert mbr_combine(comps).component == 2  # the two agreeing components
    weighted = mbr_combine(comps, weights=[3, 1, 1, 1])
    flat = [c[0] for c in comps]
    assert weighted.index == brute_force(flat, weights=[3.0, 1.0, 1.0, 1.0])[0] == 1


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: mbr_select([]), MBRInputError, "at least one candidate"),
        (lambda: mbr_select("a b"), MBRInputError, "sequence of str"),
        (lambda: mbr_select(["a", None]), MBRInputError, r"candidates\[1\]: expected str"),
        (lambda: mbr_select(["a", "b"], metric="meteor"), MetricInputError, "metric"),
        (lambda: mbr_select(["a", "b"], weights=[1]), MBRInputError, "expected 2 weights"),
        (lambda: mbr_combine([]), MBRInputError, "at least one component"),
        (lambda: mbr_combine([["a"], []]), MBRInputError, r"component_candidates\[1\]: expected at least one"),
        (lambda: mbr_combine([["a"], "b"]), MBRInputError, r"component_candidates\[1\]: expected a sequence"),
        (lambda: mbr_combine([["a"], ["b"]], weights=[1, -1]), MBRInputError, r"weights\[1\]"),
        (lambda: mbr_combine([["a"], ["b"]], weights=[1, float("nan")]), MBRInputError, r"weights\[1\]"),
        (lambda: mbr_combine([["a"], ["b"]], weights=[1, "x"]), MBRInputError, "non-negative numbers"),
    ],
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_fixture_switches_implementation(implementation):
    assert (_accel.ckernel() is None) == (implementation == "python")
