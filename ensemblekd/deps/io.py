"""Dependency trees in the attachment format <-> flat integer arrays.

One sentence per line: ``i h1 h2 ... hn``, single-space separated, where ``i`` is the 0-based
sentence index (it equals the line number minus one) and ``hj`` is the head of word ``j``
(1-based word positions, ``0`` = ROOT).  This is the format of ED4UDP (Shayegh et al., AAAI 2025),
whose reader drops the first field; we check it, because a wrong index means misaligned files.

Every line must be a tree: heads in ``0..n``, no word its own head, exactly one word attached to
ROOT, no cycle (every word reaches ROOT).  Non-projective trees are accepted (arc votes and span
yields are defined for them; the averaged output is always projective).  Checking the trees is one
pass over the packed heads in a numba kernel with a plain-Python twin (:mod:`ensemblekd._jit`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np

from .._jit import Kernel

__all__ = ["DepFormatError", "DepBank", "read_deps", "parse_deps", "as_depbank", "format_deps", "check_aligned",
           "read_tokens", "format_conllu"]

_EXPECTED = "expected 'i h1 ... hn' (sentence index, then the head of each word; 0 = ROOT)"

# error codes of the tree check kernel
_OK, _RANGE, _SELF, _NO_ROOT, _ROOTS, _CYCLE = range(6)


class DepFormatError(ValueError):
    """Bad dependency input; the message names the file (or teacher), the line and what was expected."""


@dataclass(frozen=True, eq=False)
class DepBank:
    """The trees of one file (or list of lines); line ``b`` is sentence ``b``.

    Attributes (B sentences, W words in all):
        source: file name or description, used in error messages.
        n_words: int64 (B,), words per sentence (>= 1).
        offsets: int64 (B+1,), sentence b's heads are ``heads[offsets[b]:offsets[b+1]]``.
        heads: int64 (W,), the head of each word, 0 = ROOT, 1-based positions within the sentence.
    """

    source: str
    n_words: np.ndarray
    offsets: np.ndarray
    heads: np.ndarray

    def __len__(self) -> int:
        return int(self.n_words.shape[0])

    def sentence(self, b: int) -> np.ndarray:
        """Heads of sentence ``b`` (a view, int64 (n,))."""
        return self.heads[self.offsets[b] : self.offsets[b + 1]]

    def to_lists(self) -> list[list[int]]:
        """The heads as one Python list per sentence."""
        return [self.sentence(b).tolist() for b in range(len(self))]

    @classmethod
    def from_lists(cls, heads: Sequence[Sequence[int]], source: str = "<trees>") -> "DepBank":
        """Pack per-sentence head lists (validated as trees, as the reader does)."""
        n_words = np.array([len(h) for h in heads], dtype=np.int64)
        flat = np.array([x for h in heads for x in h], dtype=np.int64)
        bank = cls(source, n_words, _offsets(n_words), flat)
        _check_trees(bank, first_line=1)
        return bank


def _offsets(n_words: np.ndarray) -> np.ndarray:
    out = np.zeros(n_words.shape[0] + 1, np.int64)
    np.cumsum(n_words, out=out[1:])
    return out


def _tree_check_kernel(heads, offsets):
    """First defect among the packed sentences: ``(code, sentence, word)`` (0-based), ``(0, -1, -1)`` if none.

    O(W): a cycle is found by walking up from each unvisited word and colouring the path.
    """
    n_sent = offsets.shape[0] - 1
    max_n = 0
    for b in range(n_sent):
        if offsets[b + 1] - offsets[b] > max_n:
            max_n = offsets[b + 1] - offsets[b]
    state = np.zeros(max_n + 1, np.int64)  # 0 unseen, b+1 on the current walk of sentence b, -1 reaches ROOT
    for b in range(n_sent):
        o = offsets[b]
        n = offsets[b + 1] - o
        roots = 0
        for j in range(n):
            h = heads[o + j]
            if h < 0 or h > n:
                return _RANGE, b, j
            if h == j + 1:
                return _SELF, b, j
            if h == 0:
                roots += 1
                if roots > 1:
                    return _ROOTS, b, j
        if roots == 0:
            return _NO_ROOT, b, -1
        for j in range(n + 1):
            state[j] = 0
        state[0] = -1
        for j in range(1, n + 1):
            w = j
            while state[w] == 0:
                state[w] = j  # mark: on the walk started at word j
                w = heads[o + w - 1]
            if state[w] == j:
                return _CYCLE, b, j - 1
            # the whole walk reaches ROOT: mark it
            w = j
            while state[w] == j:
                state[w] = -1
                w = heads[o + w - 1]
    return _OK, -1, -1


tree_check_kernel = Kernel(_tree_check_kernel)


def _parse_kernel(data):
    """One pass over the bytes of a file (``data``: int64 (size,), one byte each): ``(values, fields_per_line, ok)``.

    Fields are optionally signed decimal integers separated by spaces, tabs or ``\\r``; lines end at
    ``\\n`` (a final newline adds no line).  ``ok`` is False at the first other byte or a number of more
    than 18 digits; the caller then re-parses in Python for a message naming the line.
    """
    size = data.shape[0]
    values = np.empty(size // 2 + 1, np.int64)
    counts = np.zeros(size + 1, np.int64)
    n_values = 0
    line = 0
    i = 0
    while i < size:
        c = data[i]
        if c == 10:  # newline
            line += 1
            i += 1
        elif c == 32 or c == 9 or c == 13:
            i += 1
        elif (48 <= c <= 57) or c == 45:
            sign = 1
            if c == 45:
                sign = -1
                i += 1
            start = i
            v = 0
            while i < size and 48 <= data[i] <= 57:
                if i - start == 18:
                    return values[:0], counts[:0], False
                v = v * 10 + (data[i] - 48)
                i += 1
            if i == start:
                return values[:0], counts[:0], False
            if i < size and not (data[i] == 10 or data[i] == 32 or data[i] == 9 or data[i] == 13):
                return values[:0], counts[:0], False
            values[n_values] = sign * v
            n_values += 1
            counts[line] += 1
        else:
            return values[:0], counts[:0], False
    n_lines = line + (1 if size > 0 and data[size - 1] != 10 else 0)
    return values[:n_values], counts[:n_lines], True


parse_kernel = Kernel(_parse_kernel)


def _fast_parse(data: bytes, source: str, check_index: bool):
    """The kernel path of :func:`read_deps`; None when anything needs the Python path's message."""
    values, counts, ok = parse_kernel(np.frombuffer(data, dtype=np.uint8).astype(np.int64))
    if not ok or counts.size == 0 or (counts < 2).any():
        return None
    starts = np.zeros(counts.size, np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    if check_index and not np.array_equal(values[starts], np.arange(counts.size)):
        return None
    keep = np.ones(values.size, np.bool_)
    keep[starts] = False
    n_words = counts - 1
    bank = DepBank(source, n_words, _offsets(n_words), np.ascontiguousarray(values[keep]))
    _check_trees(bank, first_line=1)
    return bank


def _check_trees(bank: DepBank, first_line: int) -> None:
    code, b, j = tree_check_kernel(bank.heads, bank.offsets)
    if code == _OK:
        return
    where = f"{bank.source}:{first_line + b}"
    n = int(bank.n_words[b])
    if code == _RANGE:
        h = int(bank.sentence(b)[j])
        raise DepFormatError(f"{where}: word {j + 1} has head {h}; expected 0..{n} (the sentence has {n} words)")
    if code == _SELF:
        raise DepFormatError(f"{where}: word {j + 1} is its own head; expected a tree")
    if code == _NO_ROOT:
        raise DepFormatError(f"{where}: no word is attached to ROOT (head 0); expected exactly one")
    if code == _ROOTS:
        roots = [i + 1 for i, h in enumerate(bank.sentence(b).tolist()) if h == 0]
        raise DepFormatError(f"{where}: words {roots} are all attached to ROOT (head 0); expected exactly one")
    raise DepFormatError(f"{where}: word {j + 1} is on a cycle (it never reaches ROOT); expected a tree")


def parse_deps(lines: Iterable[str], source: str = "<lines>", check_index: bool = True) -> DepBank:
    """Parse attachment-format lines (see the module docstring) into a :class:`DepBank`.

    Raises :class:`DepFormatError` naming ``source`` and the line for: a non-integer field, an empty
    line or a sentence without words, an index that is not the line's (with ``check_index``), and
    any line that is not a tree.
    """
    lists = []
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            raise DepFormatError(f"{source}:{number}: empty line; {_EXPECTED}")
        try:
            values = [int(x) for x in fields]
        except ValueError:
            bad = next(x for x in fields if not _is_int(x))
            raise DepFormatError(f"{source}:{number}: {bad!r} is not an integer; {_EXPECTED}") from None
        big = next((x for x in values if abs(x) >= 1 << 62), None)
        if big is not None:
            raise DepFormatError(f"{source}:{number}: {big} is out of range; {_EXPECTED}")
        if check_index and values[0] != number - 1:
            raise DepFormatError(
                f"{source}:{number}: sentence index {values[0]}, expected {number - 1} (the 0-based line number); "
                "are the files aligned?"
            )
        if len(values) == 1:
            raise DepFormatError(f"{source}:{number}: a sentence without words; {_EXPECTED}")
        lists.append(values[1:])
    n_words = np.array([len(h) for h in lists], dtype=np.int64)
    heads = np.fromiter((x for h in lists for x in h), dtype=np.int64, count=int(n_words.sum()))
    bank = DepBank(source, n_words, _offsets(n_words), heads)
    _check_trees(bank, first_line=1)
    return bank


def _is_int(x: str) -> bool:
    try:
        int(x)
    except ValueError:
        return False
    return True


def read_deps(path: Union[str, os.PathLike], check_index: bool = True) -> DepBank:
    """Read an attachment-format file (UTF-8/ASCII; LF or CRLF; a final newline optional)."""
    path = Path(path)
    if path.is_dir():
        raise DepFormatError(f"{path}: is a directory; expected a dependency tree file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DepFormatError(f"{path}: no such file") from None
    bank = _fast_parse(data, str(path), check_index)
    if bank is not None:
        return bank
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DepFormatError(f"{path}:{line}: not a text line of integers (byte {data[exc.start]:#x}); {_EXPECTED}") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    if not lines:
        raise DepFormatError(f"{path}: empty file; {_EXPECTED}")
    return parse_deps(lines, source=str(path), check_index=check_index)


def as_depbank(trees, source: str = "<trees>") -> DepBank:
    """A :class:`DepBank` from a bank, a path, or per-sentence head lists."""
    if isinstance(trees, DepBank):
        return trees
    if isinstance(trees, (str, os.PathLike)):
        return read_deps(trees)
    return DepBank.from_lists(trees, source=source)


def check_aligned(banks: Sequence[DepBank], names: Sequence[str] | None = None) -> None:
    """All banks have the same sentences (count, and words per sentence); errors name file and line."""
    if not banks:
        raise ValueError("expected at least one tree file")
    names = [b.source for b in banks] if names is None else list(names)
    first = banks[0]
    for bank, name in zip(banks[1:], names[1:]):
        if len(bank) != len(first):
            raise DepFormatError(f"{name} has {len(bank)} sentences but {names[0]} has {len(first)}; expected line-aligned files")
        diff = np.flatnonzero(bank.n_words != first.n_words)
        if diff.size:
            b = int(diff[0])
            raise DepFormatError(
                f"{name}:{b + 1}: {int(bank.n_words[b])} words but {names[0]}:{b + 1} has {int(first.n_words[b])}; "
                "expected the same sentence in every file"
            )


def format_deps(bank: DepBank) -> str:
    """The attachment format, one line per sentence (``i h1 ... hn``), with a final newline.

    The original (ED4UDP ``ensemble.py``) writes the same lines without the final newline.
    """
    lists = bank.to_lists()
    return "".join(f"{i} {' '.join(map(str, h))}\n" for i, h in enumerate(lists))


def read_tokens(path: Union[str, os.PathLike], bank: DepBank, indexed: bool = False, what: str = "words") -> list[list[str]]:
    """Whitespace-separated tokens per line (words, or POS tags), checked against ``bank``'s sentence lengths.

    ``indexed``: the first field is the sentence index (as in ED4UDP's ``te_pos_tags.txt``) and is dropped.
    """
    path = Path(path)
    if path.is_dir() or not path.is_file():
        raise DepFormatError(f"{path}: {'is a directory' if path.is_dir() else 'no such file'}; expected a {what} file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DepFormatError(f"{path}: not UTF-8 ({exc.reason}); expected a {what} file") from None
    if len(lines) != len(bank):
        raise DepFormatError(f"{path} has {len(lines)} lines but {bank.source} has {len(bank)} sentences; expected line-aligned files")
    out = []
    for b, line in enumerate(lines):
        tokens = line.split()[1:] if indexed else line.split()
        if len(tokens) != int(bank.n_words[b]):
            raise DepFormatError(f"{path}:{b + 1}: {len(tokens)} {what} but {bank.source}:{b + 1} has {int(bank.n_words[b])}")
        out.append(tokens)
    return out


def format_conllu(bank: DepBank, words: Sequence[Sequence[str]] | None = None,
                  tags: Sequence[Sequence[str]] | None = None) -> str:
    """CoNLL-U (10 columns, a blank line after each sentence) for training a dependency student.

    FORM is the word (``_`` when ``words`` is None), XPOS the tag (``_`` when ``tags`` is None), HEAD the
    head, DEPREL ``root`` for the ROOT child and ``dep`` otherwise (unsupervised trees are unlabelled).
    """
    parts = []
    for b in range(len(bank)):
        heads = bank.sentence(b).tolist()
        parts.append(f"# sent_id = {b}\n")
        for j, h in enumerate(heads):
            form = words[b][j] if words is not None else "_"
            xpos = tags[b][j] if tags is not None else "_"
            parts.append(f"{j + 1}\t{form}\t_\t_\t{xpos}\t_\t{h}\t{'root' if h == 0 else 'dep'}\t_\t_\n")
        parts.append("\n")
    return "".join(parts)
