"""Pairwise utility matrices for MBR: U[i, j] = sentence metric of hypothesis i against reference j.

    utility_matrix(hypotheses, references=None, metric="bleu") -> float64 [N, M]

``metric="bleu"``: U[i, j] == sacrebleu.sentence_bleu(hypotheses[i], [references[j]]).score;
``metric="chrf"``: sacrebleu.sentence_chrf likewise (sacrebleu defaults, see bleu.py / chrf.py).
references default to the hypotheses (the MBR case, N == M).

Two implementations with the same signature and the same results (tests run both):
- ``utility_matrix_c``: sentences tokenized once, tokens mapped to ids, the C kernel
  ``ensemblekd._ckernel`` builds n-gram count tables and scores all N*M pairs; O(S L log L + N M L).
- ``utility_matrix_python``: the plain loop over ``sacrebleu.sentence_bleu`` / ``sentence_chrf``.
``utility_matrix`` uses the first when the extension is built (ensemblekd._accel decides).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .. import _accel
from . import bleu, chrf

__all__ = ["METRICS", "MetricInputError", "utility_matrix", "utility_matrix_c", "utility_matrix_python"]

METRICS = {"bleu": bleu, "chrf": chrf}


class MetricInputError(ValueError):
    """Bad input to a utility-matrix function."""


def _check(hypotheses, references, metric) -> tuple[list[str], Optional[list[str]], object]:
    if metric not in METRICS:
        raise MetricInputError(f"metric: expected one of {sorted(METRICS)}, got {metric!r}")
    hyps = _check_strings(hypotheses, "hypotheses")
    refs = None if references is None else _check_strings(references, "references")
    return hyps, refs, METRICS[metric]


def _check_strings(values, name: str) -> list[str]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise MetricInputError(f"{name}: expected a sequence of str, got {type(values).__name__}")
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise MetricInputError(f"{name}[{i}]: expected str, got {type(value).__name__}")
    return list(values)


def utility_matrix_python(
    hypotheses: Sequence[str], references: Optional[Sequence[str]] = None, metric: str = "bleu"
) -> np.ndarray:
    """Pure-Python twin: the sacrebleu loop, N * M calls.  float64 [N, M]."""
    hyps, refs, module = _check(hypotheses, references, metric)
    refs = hyps if refs is None else refs
    out = np.empty((len(hyps), len(refs)), dtype=np.float64)
    for i, hyp in enumerate(hyps):
        for j, ref in enumerate(refs):
            out[i, j] = module.sentence_score(hyp, ref)
    return out


def utility_matrix_c(
    hypotheses: Sequence[str], references: Optional[Sequence[str]] = None, metric: str = "bleu"
) -> np.ndarray:
    """C-kernel implementation (needs the built extension ensemblekd._ckernel).  float64 [N, M]."""
    hyps, refs, module = _check(hypotheses, references, metric)
    kernel = _accel.ckernel()
    if kernel is None:
        raise RuntimeError(
            "ensemblekd._ckernel is not available (not built, or ENSEMBLEKD_PUREPYTHON is set); "
            "use utility_matrix or utility_matrix_python"
        )
    n = len(hyps)
    if refs is None:
        tokens, offsets = module.encode(hyps)
        rows = cols = (0, n)
    else:
        tokens, offsets = module.encode(hyps + refs)  # one vocabulary for both sides
        rows, cols = (0, n), (n, n + len(refs))
    out = np.empty((rows[1] - rows[0], cols[1] - cols[0]), dtype=np.float64)
    module.kernel_matrix(kernel, tokens, offsets, rows, cols, out)
    return out


def utility_matrix(
    hypotheses: Sequence[str], references: Optional[Sequence[str]] = None, metric: str = "bleu"
) -> np.ndarray:
    """U[i, j] = sentence ``metric`` ("bleu" | "chrf") of hypotheses[i] against references[j], as sacrebleu.

    Args:
        hypotheses: N strings.
        references: M strings; None means the hypotheses themselves (N == M, the MBR case).
        metric: "bleu" (sacrebleu.sentence_bleu defaults) or "chrf" (sacrebleu.sentence_chrf defaults).
    Returns:
        float64 array [N, M] of scores in 0..100.
    Raises:
        MetricInputError (a ValueError) for a non-sequence, a non-str element or an unknown metric.
    """
    impl = _accel.choose(utility_matrix_c, utility_matrix_python)
    return impl(hypotheses, references, metric)
