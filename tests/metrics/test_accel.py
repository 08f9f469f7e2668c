"""ensemblekd._accel: the switch between the C kernel and the pure-Python twin (tests for ensemblekd/_accel.py)."""
import sys
import warnings

import numpy as np
import pytest

from ensemblekd import _accel
from ensemblekd.metrics import utility_matrix, utility_matrix_c, utility_matrix_python

from .conftest import needs_ckernel


def test_missing_extension_warns_once_and_falls_back(monkeypatch):
    monkeypatch.setitem(sys.modules, "ensemblekd._ckernel", None)  # makes the import fail
    _accel.reset()
    hyps = ["a b c d", "a b c", "b c d"]
    with pytest.warns(_accel.SpeedupWarning, match="not built") as record:
        first = utility_matrix(hyps)
        second = utility_matrix(hyps, metric="chrf")
    assert len([w for w in record if issubclass(w.category, _accel.SpeedupWarning)]) == 1
    np.testing.assert_array_equal(first, utility_matrix_python(hyps))
    np.testing.assert_array_equal(second, utility_matrix_python(hyps, metric="chrf"))
    with pytest.raises(RuntimeError, match="not available"):
        utility_matrix_c(hyps)


@pytest.mark.parametrize("value, forced", [("1", True), ("true", True), ("0", False), ("", False)])
def test_purepython_switch(monkeypatch, value, forced):
    monkeypatch.setenv(_accel.PUREPYTHON_ENV, value)
    assert _accel.purepython_requested() is forced
    if forced:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # asked for: no warning
            assert _accel.ckernel() is None
            assert _accel.choose("fast", "slow") == "slow"


@needs_ckernel
def test_built_extension_is_used():
    assert _accel.ckernel() is sys.modules["ensemblekd._ckernel"]
    assert _accel.choose("fast", "slow") == "fast"
