"""ensemblekd.metrics: sentence-level utilities for MBR, equal to sacrebleu's sentence BLEU / chrF.

``utility_matrix`` uses the C kernel ``ensemblekd._ckernel`` when it is built and the sacrebleu loop
otherwise (one warning); both are public for tests and research code.
``off_target_rate`` / ``LanguageId`` (:mod:`.langid`) need the optional py3langid (``ensemblekd[langid]``).
"""
from .langid import LangIdUnavailable, LanguageId, off_target_rate
from .utility import METRICS, MetricInputError, utility_matrix, utility_matrix_c, utility_matrix_python

__all__ = ["METRICS", "MetricInputError", "utility_matrix", "utility_matrix_c", "utility_matrix_python",
           "off_target_rate", "LanguageId", "LangIdUnavailable"]
