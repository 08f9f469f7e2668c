"""Target-language vocabularies: which output tokens a language may use (``restrict_vocab``).

A multilingual model decoding into a zero-shot direction often drifts into a supervised target language
(the off-target problem).  Restricting each step's output to the subwords that occur in target-language
text removes most of it at no cost.  The table is ``{lang: [token ids]}``, stored as JSON
(``ensemblekd_target_vocab.json`` beside a model's ``config.json`` is found by ``restrict_vocab=True``).

* :func:`build_target_vocab` -- the table from a tokenizer and monolingual text per language: the sorted
  ids of the tokenised text (``add_special_tokens=True``, so EOS is in; the decoder's forced prompt
  tokens need not be).  O(total tokens).
* :func:`save_target_vocab` / :func:`load_target_vocab` -- atomic JSON write; load from a table, a JSON
  file or a model directory, validated (the error names the file and what is wrong).
* CLI: ``ensemblekd vocab build --tokenizer DIR --text de=train.de --text fr=train.fr ... [-o FILE]``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Mapping, Union

__all__ = ["FILE_NAME", "TargetVocabError", "build_target_vocab", "save_target_vocab", "load_target_vocab"]

FILE_NAME = "ensemblekd_target_vocab.json"
TableSource = Union[Mapping[str, Iterable[int]], str, os.PathLike]


class TargetVocabError(ValueError):
    """A target-vocabulary table that cannot be used (named by its file)."""


def build_target_vocab(tokenizer, texts_by_lang: Mapping[str, Iterable[str]], *,
                       add_special_tokens: bool = True, chunk: int = 4096) -> dict[str, list[int]]:
    """``{lang: sorted ids}`` of every token the tokenizer produces for that language's ``texts``.

    ``texts_by_lang``: language code -> lines (any iterable; read in chunks of ``chunk`` lines).
    Empty lines are skipped; a language with no text is an error.
    """
    table: dict[str, list[int]] = {}
    for lang, texts in texts_by_lang.items():
        seen: set[int] = set()
        batch: list[str] = []

        def flush():
            if batch:
                for ids in tokenizer(batch, add_special_tokens=add_special_tokens)["input_ids"]:
                    seen.update(int(i) for i in ids)
                batch.clear()

        count = 0
        for line in texts:
            line = line.rstrip("\n")
            if line.strip():
                batch.append(line)
                count += 1
                if len(batch) >= chunk:
                    flush()
        flush()
        if not count:
            raise TargetVocabError(f"language {lang!r}: no text to build its vocabulary from")
        table[lang] = sorted(seen)
    return table


def save_target_vocab(table: Mapping[str, Iterable[int]], path: Union[str, os.PathLike]) -> Path:
    """Write ``table`` as JSON (atomically); a directory gets ``FILE_NAME`` inside it.  Returns the file."""
    from .._runtime import atomic_write_text

    path = Path(path)
    if path.is_dir():
        path = path / FILE_NAME
    clean = _validate({str(k): v for k, v in table.items()}, "table")
    atomic_write_text(path, json.dumps(clean) + "\n")
    return path


def load_target_vocab(source: TableSource, vocab_size: int | None = None) -> tuple[dict[str, list[int]], str]:
    """(table, where) from a mapping, a JSON file, or a directory holding ``FILE_NAME``.

    Checks the shape (``{lang: [int, ...]}``, non-empty lists) and, with ``vocab_size``, that every id is in
    ``[0, vocab_size)``.  ``where`` names the source in later messages.
    """
    if isinstance(source, Mapping):
        where, table = "restrict_vocab table", dict(source)
    else:
        path = Path(source)
        if path.is_dir():
            path = path / FILE_NAME
        where = str(path)
        if not path.is_file():
            raise TargetVocabError(f"{path} does not exist (expected a JSON table {{\"<lang>\": [token ids], ...}}; "
                                   "build one with `ensemblekd vocab build`)")
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TargetVocabError(f"{path}: not a JSON table ({exc})") from None
        if not isinstance(table, dict):
            raise TargetVocabError(f"{path}: expected a JSON object {{\"<lang>\": [token ids], ...}}")
    return _validate(table, where, vocab_size), where


def _validate(table: dict, where: str, vocab_size: int | None = None) -> dict[str, list[int]]:
    out = {}
    for lang, ids in table.items():
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            raise TargetVocabError(f"{where}: language {lang!r} maps to {type(ids).__name__}; expected a list of ids")
        ids = list(ids)
        if not ids:
            raise TargetVocabError(f"{where}: language {lang!r} has an empty vocabulary")
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int) and not (hasattr(i, "__index__")):
                raise TargetVocabError(f"{where}: language {lang!r}: {i!r} is not a token id")
            if i < 0 or (vocab_size is not None and i >= vocab_size):
                raise TargetVocabError(f"{where}: language {lang!r}: token id {int(i)} is outside the model's "
                                       f"vocabulary [0, {vocab_size})")
        out[str(lang)] = sorted({int(i) for i in ids})
    return out


# --------------------------------------------------------------------------- CLI
def register(sub) -> None:
    """``ensemblekd vocab build``."""
    p = sub.add_parser("vocab", help="target-language vocabularies for --restrict-vocab")
    vsub = p.add_subparsers(dest="vocab_command", metavar="COMMAND", required=True)
    b = vsub.add_parser("build", help="build the table from a tokenizer and monolingual text per language",
                        description="Per language, the token ids that occur in its text; written as JSON "
                                    f"(default: TOKENIZER/{FILE_NAME}, which `--restrict-vocab` finds).")
    b.add_argument("--tokenizer", required=True, metavar="DIR", help="tokenizer (or model) directory")
    b.add_argument("--text", action="append", required=True, metavar="LANG=FILE",
                   help="monolingual text of one language, one sentence a line (repeat per language)")
    b.add_argument("-o", "--output", metavar="FILE", help=f"output JSON (default: TOKENIZER/{FILE_NAME})")
    b.set_defaults(func=_run_build)


def _run_build(args) -> int:
    import sys

    from .._runtime import check_input_file, check_output_file

    texts = {}
    for spec in args.text:
        lang, sep, path = spec.partition("=")
        if not sep or not lang or not path:
            raise ValueError(f"--text {spec!r}: expected LANG=FILE")
        if lang in texts:
            raise ValueError(f"--text: two files for language {lang!r}")
        texts[lang] = _lines(check_input_file(path, "--text"))   # UTF-8 checked before the tokenizer loads
    tok_dir = Path(args.tokenizer)
    if not tok_dir.is_dir():
        raise ValueError(f"--tokenizer {tok_dir}: not a directory")
    out = Path(args.output) if args.output else tok_dir / FILE_NAME
    check_output_file(out, "-o")
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    except (OSError, ValueError) as exc:
        raise ValueError(f"--tokenizer {tok_dir}: cannot load a tokenizer ({str(exc).splitlines()[0]})") from None
    table = build_target_vocab(tokenizer, texts)
    save_target_vocab(table, out)
    sizes = ", ".join(f"{lang} {len(ids)}" for lang, ids in table.items())
    print(f"wrote {out} ({sizes} token ids)", file=sys.stderr)
    return 0


def _lines(path) -> list[str]:
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"--text {path}:{line}: not valid UTF-8 ({exc.reason})") from None
    return text.splitlines()
