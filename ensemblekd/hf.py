"""``custom_generate`` callables for ``model.generate``: ``ensemblekd.hf.ebbs`` and ``ensemblekd.hf.average``.

    import ensemblekd.hf
    model.generate(**inputs, custom_generate=ensemblekd.hf.ebbs, ensemble_inputs=[more_inputs], num_beams=5)

See :mod:`ensemblekd.decoding.hf` (importing this module imports torch).
"""
from __future__ import annotations

from .decoding.hf import EnsembleGenerateError, average, component_rows, ebbs

__all__ = ["ebbs", "average", "component_rows", "EnsembleGenerateError"]
