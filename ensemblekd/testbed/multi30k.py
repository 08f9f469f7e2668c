"""The Multi30k testbed (Elliott et al., 2016; en/de/fr/cs, 4-way parallel): an English-centric model is trained
on en<->X only, and the six X<->Y directions are zero-shot (Wen et al., AAAI 2025, Sec. 4.3)."""
from __future__ import annotations

from pathlib import Path

__all__ = ["LANGS", "LANG_TOKENS", "SUPERVISED", "ZERO_SHOT", "read_lines", "load_split", "third_language"]

LANGS = ("en", "de", "fr", "cs")
LANG_TOKENS = {lang: f"__{lang}__" for lang in LANGS}
SUPERVISED = [("en", "de"), ("de", "en"), ("en", "fr"), ("fr", "en"), ("en", "cs"), ("cs", "en")]
ZERO_SHOT = [("de", "fr"), ("fr", "de"), ("de", "cs"), ("cs", "de"), ("fr", "cs"), ("cs", "fr")]


def read_lines(path) -> list[str]:
    """Lines of a UTF-8 text file without their newline; raises if the file is missing or a line is empty."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data file")
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i, line in enumerate(lines):
        if not line.strip():
            raise ValueError(f"{path}:{i + 1}: empty line (files of one split must be line-aligned, non-empty)")
    return lines


def load_split(data_dir, split: str, lines: int | None = None, langs=LANGS) -> dict[str, list[str]]:
    """``{lang: lines}`` of ``data_dir/<split>.<lang>``, checked line-aligned; the first ``lines`` if given."""
    data = {lang: read_lines(Path(data_dir) / f"{split}.{lang}") for lang in langs}
    sizes = {len(v) for v in data.values()}
    if len(sizes) != 1:
        raise ValueError(f"{data_dir}/{split}.*: files are not line-aligned "
                         f"({', '.join(f'{k} {len(v)}' for k, v in data.items())} lines)")
    if lines:
        data = {k: v[:lines] for k, v in data.items()}
    return data


def third_language(src: str, tgt: str) -> str:
    """The non-English language of the testbed that is neither ``src`` nor ``tgt`` (de-fr -> cs)."""
    return next(lang for lang in LANGS if lang not in (src, tgt, "en"))
