"""PTB bracketed trees <-> flat integer arrays (words as byte ranges, constituents as spans).

One tree per line, e.g. ``(S (NP (DT the) (NN dog)) (VP barks))``.  The reader gives the same
words and constituents as ``nltk.Tree.fromstring`` (the tests check it against nltk on random
trees): a token right after ``(`` is the node label (it may be absent, as in ``( (S ...) )``);
every other token is a word (a leaf).  Tokens are runs of bytes other than ASCII whitespace and
parentheses; the text must be UTF-8.

Constituents are spans ``[start, end)`` of word indices, kept for nodes with two or more
children, in preorder (start ascending, end descending).  That collapses unary chains
(``(NP (NP a b))`` is the one span ``[0, 2)``) and drops preterminals (``(DT the)`` covers one
word).  The whole-sentence span is kept; whether the root sat on a unary chain is recorded in
:attr:`Treebank.root_unary` because the original evaluation (see :mod:`.f1`) depends on it.

Parsing is one pass over the bytes of the whole file in a numba kernel (:func:`_parse_kernel`,
O(bytes)) with a plain-Python twin (the same function, not compiled; see :mod:`ensemblekd._jit`).
Writing trees back to brackets is :mod:`.write`.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np

from .._jit import Kernel

__all__ = ["TreeFormatError", "Treebank", "read_trees", "parse_trees", "as_treebank", "same_trees", "check_line_counts"]

EMPTY_LINE_POLICIES = ("error", "keep")

# error codes returned by the parse kernel
_OK, _UNEXPECTED_CLOSE, _UNCLOSED, _WORD_OUTSIDE, _EMPTY_NODE, _SECOND_TREE = range(6)
_ERROR_TEXT = {
    _UNEXPECTED_CLOSE: "unbalanced brackets: ')' at column {col} closes nothing",
    _UNCLOSED: "unbalanced brackets: {depth} '(' still open at the end of the line",
    _WORD_OUTSIDE: "text outside the brackets at column {col} ({token!r})",
    _EMPTY_NODE: "a node without children at column {col} ({token!r}); every node needs a word or a subtree",
    _SECOND_TREE: "a second tree starts at column {col}",
}
_EXPECTED = "expected one PTB bracketed tree per line, e.g. '(S (NP the dog) (VP barks))'"


class TreeFormatError(ValueError):
    """Bad tree input; the message names the file (or teacher), the line number and what was expected."""


@dataclass(frozen=True, eq=False)
class Treebank:
    """The trees of one file (or list of strings) as flat arrays; line ``b`` is tree ``b``.

    Attributes (B lines, W words in all, S spans in all):
        source: file name or description, used in error messages.
        text: the UTF-8 input; words are byte ranges of it.
        n_words: int64 (B,), words per line (0 for an empty line kept with ``empty_lines="keep"``).
        word_offsets: int64 (B+1,), line b's words are rows ``word_offsets[b]:word_offsets[b+1]``
            of ``word_bounds``.
        word_bounds: int64 (W, 2), byte ``[start, end)`` of each word in ``text``.
        span_offsets: int64 (B+1,), line b's spans are rows ``span_offsets[b]:span_offsets[b+1]``
            of ``spans``.
        spans: int64 (S, 2), ``[start, end)`` word indices of the constituents with two or more
            children (whole-sentence span included), in preorder.
        root_unary: bool (B,), the root sits on a unary chain over 2+ words (``(ROOT (S ...))``).
    """

    source: str
    text: bytes
    n_words: np.ndarray
    word_offsets: np.ndarray
    word_bounds: np.ndarray
    span_offsets: np.ndarray
    spans: np.ndarray
    root_unary: np.ndarray

    def __len__(self) -> int:
        return int(self.n_words.shape[0])

    def words(self, line: int) -> list[str]:
        """The words of tree ``line`` (0-based)."""
        a, b = self.word_offsets[line], self.word_offsets[line + 1]
        return [self.text[s:e].decode("utf-8") for s, e in self.word_bounds[a:b].tolist()]

    def spans_of(self, line: int) -> np.ndarray:
        """int64 (k, 2): the spans of tree ``line`` (0-based), preorder."""
        return self.spans[self.span_offsets[line] : self.span_offsets[line + 1]]

    def span_line(self) -> np.ndarray:
        """int64 (S,): the line of each row of ``spans``."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.span_offsets))


# ----------------------------------------------------------------------------------------- kernels
def _parse_kernel(buf):
    """Parse bracketed trees, one per line, from the bytes ``buf`` (uint8, whole file).

    Returns ``(err, err_pos, err_depth, n_words, root_unary, word_offsets, word_bounds,
    span_offsets, spans)`` with the arrays described in :class:`Treebank`; ``err`` is 0 or an
    error code, ``err_pos`` the byte where it was found.  O(len(buf)) time.
    """
    # byte classes: 0 token byte, 1 space, 2 '(', 3 ')', 4 newline
    cls = np.zeros(256, np.uint8)
    cls[32] = cls[9] = cls[13] = cls[11] = cls[12] = 1
    cls[40] = 2
    cls[41] = 3
    cls[10] = 4
    n = buf.shape[0]
    n_lines = 0
    n_open = 0
    n_sep = 0  # a word ends at a separator or at the end: words <= n_sep + 1 (a tight allocation)
    for p in range(n):
        c = buf[p]
        n_lines += c == 10
        n_open += c == 40
        n_sep += (c == 32) | (c == 41) | (c == 10) | (c == 40) | (c == 9) | (c == 13) | (c == 11) | (c == 12)
    if n > 0 and buf[n - 1] != 10:
        n_lines += 1
    n_words = np.zeros(n_lines, np.int64)
    root_unary = np.zeros(n_lines, np.bool_)
    word_offsets = np.zeros(n_lines + 1, np.int64)
    span_offsets = np.zeros(n_lines + 1, np.int64)
    word_bounds = np.empty((n_sep + 1, 2), np.int64)
    spans = np.empty((n_open + 1, 2), np.int64)  # one slot per '(' in preorder, compacted per line
    keep = np.zeros(n_open + 1, np.bool_)
    slot_stack = np.empty(n_open + 1, np.int64)
    n_child = np.empty(n_open + 1, np.int64)
    n_w = 0
    n_sp = 0
    q = 0
    for line in range(n_lines):
        first_word = n_w
        first_slot = n_sp
        n_slots = 0
        depth = 0
        trees = 0
        while q < n:
            c = cls[buf[q]]
            if c == 4:
                break
            if c == 1:
                q += 1
            elif c == 2:  # '(' [label]
                if depth == 0:
                    if trees == 1:
                        return _SECOND_TREE, q, 0, n_words, root_unary, word_offsets, word_bounds[:0], span_offsets, spans[:0]
                    trees = 1
                else:
                    n_child[depth - 1] += 1
                slot = first_slot + n_slots
                n_slots += 1
                spans[slot, 0] = n_w - first_word
                slot_stack[depth] = slot
                n_child[depth] = 0
                depth += 1
                q += 1
                while q < n and cls[buf[q]] == 1:
                    q += 1
                while q < n and cls[buf[q]] == 0:
                    q += 1
            elif c == 3:  # ')'
                if depth == 0:
                    return _UNEXPECTED_CLOSE, q, 0, n_words, root_unary, word_offsets, word_bounds[:0], span_offsets, spans[:0]
                depth -= 1
                if n_child[depth] == 0:
                    return _EMPTY_NODE, q, 0, n_words, root_unary, word_offsets, word_bounds[:0], span_offsets, spans[:0]
                slot = slot_stack[depth]
                spans[slot, 1] = n_w - first_word
                keep[slot] = n_child[depth] >= 2
                q += 1
            else:  # a word
                if depth == 0:
                    return _WORD_OUTSIDE, q, 0, n_words, root_unary, word_offsets, word_bounds[:0], span_offsets, spans[:0]
                n_child[depth - 1] += 1
                word_bounds[n_w, 0] = q
                while q < n and cls[buf[q]] == 0:
                    q += 1
                word_bounds[n_w, 1] = q
                n_w += 1
        if depth > 0:
            return _UNCLOSED, q, depth, n_words, root_unary, word_offsets, word_bounds[:0], span_offsets, spans[:0]
        q += 1  # the newline
        words_here = n_w - first_word
        n_words[line] = words_here
        whole = 0
        for s in range(first_slot, first_slot + n_slots):
            if spans[s, 0] == 0 and spans[s, 1] == words_here:
                whole += 1
            if keep[s]:  # compact in place: n_sp <= s
                spans[n_sp, 0] = spans[s, 0]
                spans[n_sp, 1] = spans[s, 1]
                n_sp += 1
            keep[s] = False
        root_unary[line] = words_here >= 2 and whole >= 2
        word_offsets[line + 1] = n_w
        span_offsets[line + 1] = n_sp
    return _OK, -1, 0, n_words, root_unary, word_offsets, word_bounds[:n_w], span_offsets, spans[:n_sp]


parse_kernel = Kernel(_parse_kernel)


# ------------------------------------------------------------------------------------------ reading
def _check_policy(empty_lines: str) -> None:
    if empty_lines not in EMPTY_LINE_POLICIES:
        raise ValueError(f"empty_lines={empty_lines!r}: expected one of {EMPTY_LINE_POLICIES}")


def _from_bytes(text: bytes, source: str, empty_lines: str) -> Treebank:
    _check_policy(empty_lines)
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = text.count(b"\n", 0, exc.start) + 1
        raise TreeFormatError(f"{source}:{line}: not valid UTF-8 ({exc.reason})") from None
    buf = np.frombuffer(text, dtype=np.uint8)
    err, pos, depth, n_words, root_unary, w_off, w_bounds, s_off, spans = parse_kernel(buf)
    if err != _OK:
        raise TreeFormatError(_describe(text, source, int(err), int(pos), int(depth)))
    if empty_lines == "error":
        empty = np.flatnonzero(n_words == 0)
        if empty.size:
            raise TreeFormatError(
                f"{source}:{int(empty[0]) + 1}: empty line; {_EXPECTED} "
                f"({empty.size} empty line(s) in all; pass empty_lines='keep' / --keep-empty to keep "
                "them as empty output lines)"
            )
    return Treebank(source, text, n_words, w_off, w_bounds.copy(), s_off, spans.copy(), root_unary)


def _describe(text: bytes, source: str, err: int, pos: int, depth: int) -> str:
    """``file:line: what; expected ...`` for a parse error at byte ``pos``."""
    line_start = text.rfind(b"\n", 0, pos) + 1
    line = text.count(b"\n", 0, line_start) + 1
    token = ""
    if err == _WORD_OUTSIDE:  # the word itself
        end = pos
        while end < len(text) and text[end] not in b" \t\r\n\x0b\x0c()":
            end += 1
        token = text[pos:end].decode("utf-8", "replace")
    elif err == _EMPTY_NODE:  # from its '(' to its ')'
        token = text[text.rfind(b"(", line_start, pos) : pos + 1].decode("utf-8", "replace")
    what = _ERROR_TEXT[err].format(col=pos - line_start + 1, depth=depth, token=token)
    return f"{source}:{line}: {what}; {_EXPECTED}"


def read_trees(path: Union[str, os.PathLike], *, empty_lines: str = "error") -> Treebank:
    """Read a file of bracketed trees, one per line (a final newline is optional).

    ``empty_lines="error"`` (default) rejects an empty line naming its number; ``"keep"`` keeps it
    as a tree of 0 words (an empty output line), so later lines stay aligned.
    Raises :class:`TreeFormatError` (a ``ValueError``) naming file and line on bad input.
    """
    path = Path(path)
    if path.is_dir():
        raise TreeFormatError(f"{path}: is a directory; expected a file of bracketed trees")
    return _from_bytes(path.read_bytes(), str(path), empty_lines)


def parse_trees(lines: Iterable, *, source: str = "<trees>", empty_lines: str = "error") -> Treebank:
    """Parse trees given as strings (one tree each; one trailing newline is allowed, as from
    ``readlines()``) or ``nltk.Tree`` objects."""
    items = []
    for i, item in enumerate(lines):
        if isinstance(item, str):
            s = item[:-1] if item.endswith("\n") else item
            if "\n" in s:
                raise TreeFormatError(f"{source}: item {i + 1} holds more than one line; {_EXPECTED}")
        elif hasattr(item, "pformat") and hasattr(item, "leaves"):  # nltk.Tree
            s = item.pformat(margin=sys.maxsize)
        else:
            raise TypeError(f"{source}: item {i + 1} is {type(item).__name__}; expected a str or nltk.Tree")
        items.append(s)
    text = "\n".join(items).encode("utf-8")
    if items and items[-1] == "":
        text += b"\n"  # keep a final empty item as a line of its own
    tb = _from_bytes(text, source, empty_lines)
    if len(tb) != len(items):  # pragma: no cover - guarded by the checks above
        raise TreeFormatError(f"{source}: read {len(tb)} trees from {len(items)} items")
    return tb


TreeSource = Union[Treebank, os.PathLike, Sequence]


def as_treebank(trees: TreeSource, *, source: str = "<trees>", empty_lines: str = "error") -> Treebank:
    """A :class:`Treebank` from a Treebank (returned as is), a ``pathlib.Path``, or a sequence of
    tree strings / ``nltk.Tree`` objects.  A bare ``str`` is refused (path or tree? say which)."""
    if isinstance(trees, Treebank):
        if empty_lines == "error" and (trees.n_words == 0).any():
            line = int(np.flatnonzero(trees.n_words == 0)[0]) + 1
            raise TreeFormatError(f"{trees.source}:{line}: empty line; {_EXPECTED}")
        return trees
    if isinstance(trees, os.PathLike):
        return read_trees(trees, empty_lines=empty_lines)
    if isinstance(trees, (str, bytes)):
        raise TypeError(
            f"{source}: got a single string; pass pathlib.Path(...) for a file or a list of tree strings"
        )
    return parse_trees(trees, source=source, empty_lines=empty_lines)


def same_trees(a: Treebank, b: Treebank) -> np.ndarray:
    """bool (B,): line by line, the same words and the same constituents (labels ignored)."""
    if len(a) != len(b):
        raise ValueError(f"{a.source} has {len(a)} trees but {b.source} has {len(b)}; expected line-aligned")
    same = np.empty(len(a), dtype=bool)
    for line in range(len(a)):
        sa, sb = a.spans_of(line), b.spans_of(line)
        same[line] = (
            a.n_words[line] == b.n_words[line]
            and sa.shape == sb.shape
            and bool((sa == sb).all())
            and a.words(line) == b.words(line)
        )
    return same


def check_line_counts(ref: Treebank, ref_name: str, other: Treebank, other_name: str) -> None:
    """Raise a ValueError naming both files and the first line that only one of them has."""
    if len(ref) == len(other):
        return
    short, long_ = (ref, other) if len(ref) < len(other) else (other, ref)
    short_name, long_name = (ref_name, other_name) if short is ref else (other_name, ref_name)
    raise ValueError(
        f"line {len(short) + 1}: {long_name} ({long_.source}) has a tree there but {short_name} ({short.source}) "
        f"ends after line {len(short)} ({len(long_)} vs {len(short)} lines); expected line-aligned files")
