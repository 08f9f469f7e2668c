"""The attachment format: round trip, and one-line errors naming the file and line."""
import itertools

import numpy as np
import pytest

from ensemblekd.deps import DepBank, DepFormatError, format_deps, parse_deps, read_deps

from .oracles import all_head_sequences


def test_round_trip_and_crlf(tmp_path, kernels):
    text = "0 2 0 2\n1 0\n2 0 1 2 3\n"
    p = tmp_path / "t.txt"
    p.write_bytes(text.replace("\n", "\r\n").encode())
    bank = read_deps(p)
    assert bank.to_lists() == [[2, 0, 2], [0], [0, 1, 2, 3]]
    assert format_deps(bank) == text
    p.write_text(text.rstrip("\n"))  # no final newline, as the original writes
    assert read_deps(p).to_lists() == bank.to_lists()


@pytest.mark.parametrize("line, message", [
    ("0 2 x", "'x' is not an integer"),
    ("", "empty line"),
    ("0", "a sentence without words"),
    ("5 0", "sentence index 5, expected 1"),
    ("0 0 4", "word 2 has head 4; expected 0..2"),
    ("0 0 2", "word 2 is its own head"),
    ("0 2 1", "no word is attached to ROOT"),
    ("0 0 0", "words \\[1, 2\\] are all attached to ROOT"),
    ("0 0 3 2", "word 2 is on a cycle"),
])
def test_errors_name_file_and_line(tmp_path, kernels, line, message):
    p = tmp_path / "t.txt"
    p.write_text(f"0 0\n{line.replace('0', '1', 1) if line[:1] == '0' else line}\n")
    if line == "":
        p.write_text("0 0\n\n1 0\n")
    with pytest.raises(DepFormatError, match=f"{p}:2: {message}"):
        read_deps(p)


def test_tree_check_agrees_with_brute_force(kernels):
    """Every head sequence for n <= 4: accepted iff it is a tree with one ROOT child."""
    for n in range(1, 5):
        for heads in all_head_sequences(n):
            ok = heads.count(0) == 1 and all(_reaches_root(heads, d) for d in range(1, n + 1))
            try:
                DepBank.from_lists([list(heads)])
                accepted = True
            except DepFormatError:
                accepted = False
            assert accepted == ok, heads


def _reaches_root(heads, d):
    seen = set()
    while d != 0:
        if d in seen or heads[d - 1] == d:
            return False
        seen.add(d)
        d = heads[d - 1]
    return True


def test_missing_file_directory_and_binary(tmp_path):
    with pytest.raises(DepFormatError, match="no such file"):
        read_deps(tmp_path / "missing.txt")
    with pytest.raises(DepFormatError, match="is a directory"):
        read_deps(tmp_path)
    p = tmp_path / "b.txt"
    p.write_bytes(b"0 0\n1 \xff\n")
    with pytest.raises(DepFormatError, match=f"{p}:2: not a text line"):
        read_deps(p)
    p.write_text("")
    with pytest.raises(DepFormatError, match="empty file"):
        read_deps(p)


def test_index_check_can_be_turned_off():
    assert parse_deps(["7 0 1"], check_index=False).to_lists() == [[0, 1]]


def test_kernel_reader_equals_the_line_parser(kernels):
    """read_deps's one-pass byte kernel and parse_deps's per-line parser agree on every sample file."""
    from ensemblekd.deps.demo import sample_dir

    files = sorted(sample_dir().rglob("*.txt"))
    assert len(files) >= 20
    for f in files:
        fast = read_deps(f)
        slow = parse_deps(f.read_text().splitlines(), source=str(f))
        assert np.array_equal(fast.heads, slow.heads) and np.array_equal(fast.n_words, slow.n_words), f


def test_odd_bytes_fall_back_to_a_message(tmp_path, kernels):
    p = tmp_path / "t.txt"
    for text, message in [("0 0\n1 0 1x\n", "'1x' is not an integer"), ("0 0\n1 -1 0\n", "word 1 has head -1"),
                          ("0 0\n1 0 " + "9" * 30 + "\n", "9999* is out of range")]:
        p.write_text(text)
        with pytest.raises(DepFormatError, match=f"{p}:2: {message}"):
            read_deps(p)
