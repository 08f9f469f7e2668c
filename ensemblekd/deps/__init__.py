"""ensemblekd.deps: average K unsupervised dependency parsers' trees, score them, pick the teachers.

Shayegh, Lee, Zhu, Cheung, Mou, "Error Diversity Matters: An Error-Resistant Ensemble Method for
Unsupervised Dependency Parsing" (AAAI 2025; code MANGA-UOFA/ED4UDP).  ``eisner_best_tree`` and the
span DP take scores as input, so they decode tree averages and a graph-based parser's scores alike.
"""
from .average import AGGREGATIONS, average_deps
from .eisner import arc_votes, eisner_best_tree, eisner_packed
from .evaluate import DepScore, evaluate_deps
from .io import (DepBank, DepFormatError, as_depbank, check_aligned, format_conllu, format_deps, parse_deps, read_deps,
                 read_tokens)

__all__ = [
    "average_deps",
    "AGGREGATIONS",
    "eisner_best_tree",
    "eisner_packed",
    "arc_votes",
    "evaluate_deps",
    "DepScore",
    "DepBank",
    "DepFormatError",
    "read_deps",
    "parse_deps",
    "as_depbank",
    "check_aligned",
    "format_deps",
    "format_conllu",
    "read_tokens",
]
