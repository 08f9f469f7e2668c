"""Shared fixtures of the example tests."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def write_corpus(tmp_path_factory):
    """``write_corpus(lines, splits)`` -> a folder with ``{split}.{lang}`` files, the same lines in every split."""

    def write(lines: dict[str, list[str]], splits) -> object:
        d = tmp_path_factory.mktemp("m30k")
        for lang, rows in lines.items():
            for split in splits:
                (d / f"{split}.{lang}").write_text("\n".join(rows) + "\n", encoding="utf-8")
        return d

    return write
