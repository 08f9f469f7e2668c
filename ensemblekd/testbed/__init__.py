"""``ensemblekd.testbed``: the Multi30k zero-shot testbed shared by the example scripts and benchmarks.

* :mod:`.multi30k` -- languages, directions, line-aligned splits, the third language of a direction;
* :mod:`.cache` -- :class:`Runner`, ``translate`` calls cached in line chunks keyed by model, settings and
  source lines (a longer run reuses a shorter one's chunks; a killed run loses at most one chunk).

Names resolve lazily (PEP 562): importing this package imports neither torch nor transformers.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "LANGS": ".multi30k", "LANG_TOKENS": ".multi30k", "SUPERVISED": ".multi30k", "ZERO_SHOT": ".multi30k",
    "read_lines": ".multi30k", "load_split": ".multi30k", "third_language": ".multi30k",
    "Runner": ".cache", "output_settings": ".cache", "read_cached": ".cache", "read_cached_chunk": ".cache",
    "chunk_path": ".cache", "lines_digest": ".cache",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ensemblekd.testbed' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
