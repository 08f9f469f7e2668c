"""Build hook: setuptools metadata lives in pyproject.toml; this file only adds the optional C extension.

``ensemblekd._ckernel`` (sources in cext/) computes pairwise sentence-BLEU / chrF matrices for MBR.  It is
optional: when the compiler is missing or fails, the install still succeeds and ensemblekd uses its
pure-Python twin (one warning at first use).  ENSEMBLEKD_PUREPYTHON=1 skips the build altogether (and, at
run time, makes ensemblekd ignore a built extension).
"""
import os
import sys

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

SHIPPED_MODEL = Path(__file__).resolve().parent / "models" / "m30k-zeroshot"

PUREPYTHON = os.environ.get("ENSEMBLEKD_PUREPYTHON", "").strip().lower() not in ("", "0", "false", "no")


class OptionalBuildExt(build_ext):
    """build_ext that reports a failed C build as a warning instead of failing the install."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler at all, broken toolchain, ...
            self._skip(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError, OSError, ...
            self._failed = getattr(self, "_failed", set()) | {ext.name}
            self._skip(exc, ext.name)

    def copy_extensions_to_source(self):  # editable installs: copy only what was built
        failed = getattr(self, "_failed", set())
        extensions = self.extensions
        self.extensions = [ext for ext in extensions if ext.name not in failed]
        try:
            super().copy_extensions_to_source()
        finally:
            self.extensions = extensions

    @staticmethod
    def _skip(exc, name="ensemblekd._ckernel"):
        sys.stderr.write(
            f"WARNING: the optional C extension {name} could not be built ({type(exc).__name__}: {exc}); "
            "ensemblekd will use its slower pure-Python fallback.\n"
        )


class BuildPyWithModel(build_py):
    """Non-editable builds (wheels, ``pip install .``) carry the shipped demo model as package data
    (``ensemblekd/_models/m30k-zeroshot``, 16 MB), so that ``ensemblekd demo`` works outside a checkout."""

    def run(self):
        super().run()
        if SHIPPED_MODEL.is_dir() and not self.editable_mode:
            target = Path(self.build_lib) / "ensemblekd" / "_models" / SHIPPED_MODEL.name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(SHIPPED_MODEL, target)


def c_args():
    if os.name == "nt":
        return ["/fp:precise"]
    # results must match sacrebleu's Python floats bit for bit: no fused multiply-add contraction
    return ["-O2", "-ffp-contract=off", "-std=c99"]


ext_modules = []
if not PUREPYTHON:
    ext_modules.append(
        Extension(
            "ensemblekd._ckernel",
            sources=["cext/ckernel.c", "cext/ngrams.c"],
            depends=["cext/ngrams.h", "cext/scores.h"],
            include_dirs=["cext"],
            extra_compile_args=c_args(),
        )
    )

setup(ext_modules=ext_modules, cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithModel})
