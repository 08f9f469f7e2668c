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
O(bytes)); writing is one pass that fills the output bytes (:func:`_render_kernel`).  Both have
a plain-Python twin (same function, not compiled; see :mod:`._jit`).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np

from ._jit import Kernel

__all__ = ["TreeFormatError", "Treebank", "read_trees", "parse_trees", "as_treebank", "format_trees", "same_trees"]

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
    for p in range(n):
        c = buf[p]
        n_lines += c == 10
        n_open += c == 40
    if n > 0 and buf[n - 1] != 10:
        n_lines += 1
    n_words = np.zeros(n_lines, np.int64)
    root_unary = np.zeros(n_lines, np.bool_)
    word_offsets = np.zeros(n_lines + 1, np.int64)
    span_offsets = np.zeros(n_lines + 1, np.int64)
    word_bounds = np.empty((n // 2 + 1, 2), np.int64)
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


def _render_kernel(n_words, spans, span_offsets, word_text, word_bounds, word_offsets, label):
    """Write bracket strings: line b is the tree with spans ``spans[span_offsets[b]:...]`` (preorder,
    laminar, word indices) over words ``word_bounds[word_offsets[b]:...]`` (byte ranges of
    ``word_text``), every node labelled ``label`` (uint8).  Lines are joined by ``\\n`` (no final
    newline).  Returns uint8 bytes; O(output size).
    """
    n_lines = n_words.shape[0]
    lab = label.shape[0]
    size = 0
    for b in range(n_lines):
        n = n_words[b]
        for w in range(word_offsets[b], word_offsets[b] + n):
            size += word_bounds[w, 1] - word_bounds[w, 0] + lab + 3  # "(L w)"
        size += (span_offsets[b + 1] - span_offsets[b]) * (lab + 3)  # "(L " and ")"
        size += n if n > 0 else 1  # the spaces between words and the newline
    out = np.empty(size, np.uint8)
    stack = np.empty(n_words.max() + 1 if n_lines > 0 else 1, np.int64)
    o = 0
    for b in range(n_lines):
        if b > 0:
            out[o] = 10
            o += 1
        n = n_words[b]
        sp = span_offsets[b]
        sp_end = span_offsets[b + 1]
        top = 0
        for i in range(n):
            if i > 0:
                out[o] = 32
                o += 1
            while sp < sp_end and spans[sp, 0] == i:
                out[o] = 40
                o += 1
                for t in range(lab):
                    out[o] = label[t]
                    o += 1
                out[o] = 32
                o += 1
                stack[top] = spans[sp, 1]
                top += 1
                sp += 1
            out[o] = 40
            o += 1
            for t in range(lab):
                out[o] = label[t]
                o += 1
            out[o] = 32
            o += 1
            w = word_offsets[b] + i
            for t in range(word_bounds[w, 0], word_bounds[w, 1]):
                out[o] = word_text[t]
                o += 1
            out[o] = 41
            o += 1
            while top > 0 and stack[top - 1] == i + 1:
                out[o] = 41
                o += 1
                top -= 1
    return out[:o]


parse_kernel = Kernel(_parse_kernel)
render_kernel = Kernel(_render_kernel)


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
        start = text.rfind(b"\n", 0, pos) + 1
        line = text.count(b"\n", 0, start) + 1
        end = pos
        while end < len(text) and text[end : end + 1] not in b" \t\r\n()":
            end += 1
        token = text[pos:end].decode("utf-8", "replace") if err == _WORD_OUTSIDE else text[
            text.rfind(b"(", start, pos + 1) : pos + 1].decode("utf-8", "replace")
        what = _ERROR_TEXT[int(err)].format(col=pos - start + 1, depth=int(depth), token=token)
        raise TreeFormatError(f"{source}:{line}: {what}; {_EXPECTED}")
    if empty_lines == "error":
        empty = np.flatnonzero(n_words == 0)
        if empty.size:
            raise TreeFormatError(
                f"{source}:{int(empty[0]) + 1}: empty line; {_EXPECTED} "
                f"({empty.size} empty line(s) in all; pass empty_lines='keep' / --keep-empty to keep "
                "them as empty output lines)"
            )
    return Treebank(source, text, n_words, w_off, w_bounds.copy(), s_off, spans.copy(), root_unary)


def read_trees(path: Union[str, os.PathLike], *, empty_lines: str = "error") -> Treebank:
    """Read a file of bracketed trees, one per line (a final newline is optional).

    ``empty_lines="error"`` (default) rejects an empty line naming its number; ``"keep"`` keeps it
    as a tree of 0 words (an empty output line), so later lines stay aligned.
    Raises :class:`TreeFormatError` (a ``ValueError``) naming file and line on bad input.
    """
    path = Path(path)
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


# ------------------------------------------------------------------------------------------ writing
def _check_label(label: str) -> bytes:
    raw = label.encode("utf-8")
    if not raw or any(ch in raw for ch in b" \t\r\n\x0b\x0c()"):
        raise ValueError(f"label={label!r}: expected a non-empty label without spaces or parentheses")
    return raw


def words_treebank(words: Sequence[Sequence[str]], n_words: np.ndarray, source: str = "words") -> tuple:
    """(text, word_bounds, word_offsets) for user-given token lists, checked against ``n_words``."""
    if len(words) != len(n_words):
        raise ValueError(f"{source}: {len(words)} token lists for {len(n_words)} trees; expected one per tree")
    pieces = []
    lengths = []
    for b, toks in enumerate(words):
        if isinstance(toks, str):
            raise TypeError(f"{source}[{b}]: expected a list of tokens, got a str")
        if len(toks) != n_words[b]:
            raise ValueError(f"{source}[{b}] (line {b + 1}): {len(toks)} tokens but the trees have {n_words[b]} words")
        for t in toks:
            raw = t.encode("utf-8")
            if not raw or any(ch in raw for ch in b" \t\r\n\x0b\x0c()"):
                raise ValueError(f"{source}[{b}] (line {b + 1}): token {t!r} is empty or holds spaces/parentheses")
            pieces.append(raw)
            lengths.append(len(raw))
    text = b"".join(pieces)
    ends = np.cumsum(np.asarray(lengths, dtype=np.int64))
    bounds = np.stack([ends - np.asarray(lengths, dtype=np.int64), ends], axis=1) if lengths else np.zeros((0, 2), np.int64)
    offsets = np.concatenate([[0], np.cumsum(np.asarray(n_words, dtype=np.int64))]).astype(np.int64)
    return text, bounds, offsets


def format_trees(n_words, spans, span_offsets, word_text: bytes, word_bounds, word_offsets, label: str = "X") -> list[str]:
    """Bracket strings for trees given as spans (preorder, laminar) over byte-range words."""
    lab = np.frombuffer(_check_label(label), dtype=np.uint8)
    if len(n_words) == 0:
        return []
    out = render_kernel(
        np.ascontiguousarray(n_words, dtype=np.int64),
        np.ascontiguousarray(spans, dtype=np.int64).reshape(-1, 2),
        np.ascontiguousarray(span_offsets, dtype=np.int64),
        np.frombuffer(word_text, dtype=np.uint8),
        np.ascontiguousarray(word_bounds, dtype=np.int64).reshape(-1, 2),
        np.ascontiguousarray(word_offsets, dtype=np.int64),
        lab,
    )
    return out.tobytes().decode("utf-8").split("\n")


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
