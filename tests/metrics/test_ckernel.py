"""ensemblekd._ckernel argument checks: bad arrays raise a Python error instead of crashing."""
import array

import numpy as np
import pytest
import sacrebleu

from .conftest import needs_ckernel

pytestmark = needs_ckernel


@pytest.fixture
def kernel():
    from ensemblekd import _ckernel

    return _ckernel


TOKENS = np.array([0, 1, 2, 0, 1], dtype=np.int32)
OFFSETS = np.array([0, 3, 5], dtype=np.int64)


def test_accepts_plain_buffers(kernel):
    out = array.array("d", [0.0] * 4)
    kernel.bleu_matrix(array.array("i", TOKENS.tolist()), array.array("q", OFFSETS.tolist()), 0, 2, 0, 2, out, 4)
    want = [sacrebleu.sentence_bleu(h, [r]).score for h in ("a b c", "a b") for r in ("a b c", "a b")]
    assert out.tolist() == pytest.approx(want, abs=1e-9)


def test_rectangular_block(kernel):
    full = np.empty((2, 2))
    kernel.chrf_matrix(TOKENS, OFFSETS, 0, 2, 0, 2, full, 6, 2.0)
    block = np.empty((1, 1))
    kernel.chrf_matrix(TOKENS, OFFSETS, 1, 2, 0, 1, block, 6, 2.0)
    assert block[0, 0] == full[1, 0]


@pytest.mark.parametrize(
    "tokens, offsets, ranges, out, order, error, message",
    [
        (TOKENS.astype(np.int64), OFFSETS, (0, 2, 0, 2), np.empty(4), 4, TypeError, "tokens"),
        (TOKENS, OFFSETS.astype(np.int32), (0, 2, 0, 2), np.empty(4), 4, TypeError, "offsets"),
        (TOKENS, OFFSETS, (0, 2, 0, 2), np.empty(4, dtype=np.float32), 4, TypeError, "out"),
        (TOKENS, OFFSETS, (0, 2, 0, 2), bytes(32), 4, (BufferError, TypeError), None),
        (TOKENS, np.array([0, 3, 4], dtype=np.int64), (0, 2, 0, 2), np.empty(4), 4, ValueError, "end at len"),
        (TOKENS, np.array([0, 4, 3, 5], dtype=np.int64), (0, 2, 0, 2), np.empty(4), 4, ValueError, "non-decreasing"),
        (-TOKENS - 1, OFFSETS, (0, 2, 0, 2), np.empty(4), 4, ValueError, "non-negative"),
        (TOKENS, OFFSETS, (0, 3, 0, 2), np.empty(6), 4, ValueError, "outside"),
        (TOKENS, OFFSETS, (1, 0, 0, 2), np.empty(0), 4, ValueError, "outside"),
        (TOKENS, OFFSETS, (0, 2, 0, 2), np.empty(3), 4, ValueError, "out has 3 items"),
        (TOKENS, OFFSETS, (0, 2, 0, 2), np.empty(4), 0, ValueError, "order"),
        (TOKENS, OFFSETS, (0, 2, 0, 2), np.empty((4, 2))[:, 0], 4, (ValueError, BufferError, TypeError), None),
    ],
)
def test_bad_arguments_raise(kernel, tokens, offsets, ranges, out, order, error, message):
    with pytest.raises(error, match=message):
        kernel.bleu_matrix(tokens, offsets, *ranges, out, order)
