"""ensemblekd: ensemble-then-distill for sequences and trees.

* Trees: average the trees of several unsupervised constituency parsers with a CYK dynamic
  program (Shayegh et al., ICLR 2024) and score them with span F1; average dependency trees with
  Eisner's DP or span agreement and pick members by error diversity (Shayegh et al., AAAI 2025).
* Sequences: combine the direct and pivot translations of one multilingual model with EBBS
  (bi-level beam search, Wen et al., AAAI 2025) or with the baselines (averaging, voting, MBR).
* Distill: train one student on the ensemble's outputs.

``import ensemblekd`` is cheap: torch and transformers are imported only when a name that
needs them is first used (PEP 562 module ``__getattr__``).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it.  Each concept keeps its own block.
_LAZY = {
    # trees
    "average_trees": "ensemblekd.trees",
    "tree_f1": "ensemblekd.trees",
    "cyk_best_tree": "ensemblekd.trees",
    "cyk_best_trees": "ensemblekd.trees",
    "read_trees": "ensemblekd.trees",
    "parse_trees": "ensemblekd.trees",
    "Treebank": "ensemblekd.trees",
    "TreeFormatError": "ensemblekd.trees",
    "F1Result": "ensemblekd.trees",
    # dependency trees
    "average_deps": "ensemblekd.deps",
    "evaluate_deps": "ensemblekd.deps",
    "eisner_best_tree": "ensemblekd.deps",
    "read_deps": "ensemblekd.deps",
    "DepBank": "ensemblekd.deps",
    "DepFormatError": "ensemblekd.deps",
    # decoding
    "translate": "ensemblekd.decoding",
    "Translation": "ensemblekd.decoding",
    "beam_search": "ensemblekd.decoding",
    "Hypothesis": "ensemblekd.decoding",
    "Seq2SeqScorer": "ensemblekd.decoding",
    "CausalLMScorer": "ensemblekd.decoding",
    "Single": "ensemblekd.decoding",
    "Average": "ensemblekd.decoding",
    "Vote": "ensemblekd.decoding",
    "EBBS": "ensemblekd.decoding",
    # metrics
    "utility_matrix": "ensemblekd.metrics",
    # distill
    "train_parser": "ensemblekd.distill",
    "load_parser": "ensemblekd.distill",
    "fdistill_loss": "ensemblekd.distill",
    "token_divergence": "ensemblekd.distill",
    "distill_mt": "ensemblekd.distill.mt",
    "DistillMTConfig": "ensemblekd.distill.mt",
    "TrainConfig": "ensemblekd.distill.mt",
    "train_student": "ensemblekd.distill.mt",
    "decode_sharded": "ensemblekd.distill.mt",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name == "hf":   # ensemblekd.hf.ebbs: the custom_generate callables (imports torch on first use)
        return importlib.import_module("ensemblekd.hf")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ensemblekd' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)


def _register_models_on_transformers_import() -> None:
    """Register :mod:`ensemblekd.models` with transformers' Auto classes once transformers is imported.

    ``import ensemblekd`` must not import transformers; so if it is not loaded yet, a one-shot meta-path finder
    wraps its loader and registers right after ``import transformers`` finishes."""
    import sys

    if "transformers" in sys.modules:
        from .models import register

        register()
        return
    import importlib.abc
    import importlib.machinery

    class _Loader(importlib.abc.Loader):
        def __init__(self, inner):
            self.inner = inner

        def create_module(self, spec):
            return self.inner.create_module(spec)

        def exec_module(self, module):
            self.inner.exec_module(module)
            if finder in sys.meta_path:
                sys.meta_path.remove(finder)
            from .models import register

            register()

    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            # stays installed until transformers is really loaded: a bare importlib.util.find_spec (an
            # availability check in another library) must not use it up
            if name != "transformers":
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader)
            return spec

    finder = _Finder()
    sys.meta_path.insert(0, finder)


_register_models_on_transformers_import()
