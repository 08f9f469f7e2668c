"""The one place in ensemblekd that picks numba or plain Python for a kernel (trees, deps).

Every kernel is written once as a plain Python function on numpy arrays (its *twin*); ``Kernel``
compiles it with ``numba.njit(cache=True)`` on first use.  The kernels call no other kernel, so the
twin is pure Python end to end.  ``ENSEMBLEKD_PUREPYTHON=1`` (read at each call, the switch of
:mod:`ensemblekd._accel`), or numba missing, runs the twins.  numba is imported only when a kernel
is first called, so ``import ensemblekd`` stays cheap.
"""
from __future__ import annotations

from ._accel import purepython_requested

__all__ = ["Kernel", "numba_enabled"]


def numba_enabled() -> bool:
    """True when kernels run compiled (numba importable and ENSEMBLEKD_PUREPYTHON not set)."""
    if purepython_requested():
        return False
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a runtime dependency
        return False
    return True


class Kernel:
    """A kernel with two implementations of one signature: ``.py`` (the twin) and ``.nb`` (numba).

    Calling the kernel uses numba when :func:`numba_enabled`, else the twin.
    """

    def __init__(self, py_func):
        self.py = py_func
        self._nb = None
        self.__name__ = py_func.__name__
        self.__doc__ = py_func.__doc__

    @property
    def nb(self):
        """The compiled dispatcher (compiled, or loaded from numba's on-disk cache, on first call)."""
        if self._nb is None:
            import numba

            self._nb = numba.njit(cache=True, nogil=True)(self.py)
        return self._nb

    def __call__(self, *args):
        return (self.nb if numba_enabled() else self.py)(*args)
