"""ensemblekd.trees: read PTB bracket trees, average K teachers' trees (CYK or selection), span F1.

Shayegh et al., "Ensemble Distillation for Unsupervised Constituency Parsing", ICLR 2024.
``cyk_best_tree`` is the one CYK DP: it takes a span-score matrix, so it decodes tree averages
and a span-based parser's scores alike.
"""
from .average import MODES, average_trees, span_votes
from .cyk import cyk_best_tree, cyk_best_trees, cyk_packed
from .f1 import F1Result, tree_f1
from .io import Treebank, TreeFormatError, as_treebank, parse_trees, read_trees, same_trees
from .write import format_trees, pack_words

__all__ = [
    "average_trees",
    "span_votes",
    "MODES",
    "cyk_best_tree",
    "cyk_best_trees",
    "cyk_packed",
    "tree_f1",
    "F1Result",
    "Treebank",
    "TreeFormatError",
    "read_trees",
    "parse_trees",
    "as_treebank",
    "format_trees",
    "pack_words",
    "same_trees",
]
