"""Fixtures for the metrics tests: both implementations of utility_matrix, and real Multi30k lines."""
import importlib
from pathlib import Path

import pytest

from ensemblekd import _accel
from ensemblekd.metrics import utility_matrix_c, utility_matrix_python


def _ckernel_built() -> bool:
    try:
        importlib.import_module("ensemblekd._ckernel")
    except ImportError:
        return False
    return True


CKERNEL_BUILT = _ckernel_built()
needs_ckernel = pytest.mark.skipif(
    not CKERNEL_BUILT, reason="ensemblekd._ckernel is not built (pip install -e . with a working C compiler)"
)

IMPLEMENTATIONS = [
    pytest.param(utility_matrix_c, id="c", marks=needs_ckernel),
    pytest.param(utility_matrix_python, id="python"),
]


@pytest.fixture(autouse=True)
def _fresh_accel(monkeypatch):
    """Each test sees the real extension (no forced pure Python) and a fresh import/warning state."""
    monkeypatch.delenv(_accel.PUREPYTHON_ENV, raising=False)
    _accel.reset()
    yield
    _accel.reset()


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request):
    """utility_matrix_c or utility_matrix_python (same signature, same results)."""
    return request.param


@pytest.fixture(scope="session")
def multi30k_lines():
    """56 real Multi30k test_2016_flickr lines (14 per language: en, de, fr, cs), embedded in the repo."""
    lines = (Path(__file__).with_name("multi30k_lines.txt")).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 56
    return lines
