"""The one place that chooses between the C kernel ``ensemblekd._ckernel`` and the pure-Python twins.

The extension is built by ``pip install -e .`` (setup.py, sources in cext/) when a C compiler works;
otherwise the install still succeeds and callers get ``None`` here, with one ``SpeedupWarning``
at first use.  Setting ``ENSEMBLEKD_PUREPYTHON=1`` (read at each call) ignores a built extension
without a warning, like msgpack's ``MSGPACK_PUREPYTHON``.

    kernel = ckernel()          # the module, or None
    impl = choose(fast, slow)   # fast when the kernel is usable, else slow
"""
from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType
from typing import Optional, TypeVar

__all__ = ["PUREPYTHON_ENV", "SpeedupWarning", "ckernel", "choose", "purepython_requested", "reset"]

PUREPYTHON_ENV = "ENSEMBLEKD_PUREPYTHON"

T = TypeVar("T")

_UNSET = object()
_module: object = _UNSET  # the imported extension, None when the import failed, _UNSET before trying
_warned = False


class SpeedupWarning(RuntimeWarning):
    """The C extension is not built; a slower pure-Python twin is used."""


def purepython_requested() -> bool:
    """True when the environment asks for the pure-Python twins (ENSEMBLEKD_PUREPYTHON=1/true/yes)."""
    return os.environ.get(PUREPYTHON_ENV, "").strip().lower() not in ("", "0", "false", "no")


def ckernel() -> Optional[ModuleType]:
    """The extension module ``ensemblekd._ckernel``, or None (pure Python requested, or not built)."""
    global _module, _warned
    if purepython_requested():
        return None
    if _module is _UNSET:
        try:
            _module = importlib.import_module("ensemblekd._ckernel")
        except ImportError as exc:
            _module = None
            if not _warned:
                _warned = True
                warnings.warn(
                    f"ensemblekd._ckernel is not built ({exc}); using the pure-Python fallback "
                    "(sacrebleu loop), which is much slower for MBR. Reinstall with a working C compiler "
                    f"(pip install -e .) or set {PUREPYTHON_ENV}=1 to silence this warning.",
                    SpeedupWarning,
                    stacklevel=2,
                )
    return _module  # type: ignore[return-value]


def choose(fast: T, slow: T) -> T:
    """``fast`` when the C kernel is usable, else ``slow`` (same signature, same results)."""
    return fast if ckernel() is not None else slow


def reset() -> None:
    """Forget the import attempt and the warning (tests)."""
    global _module, _warned
    _module = _UNSET
    _warned = False
