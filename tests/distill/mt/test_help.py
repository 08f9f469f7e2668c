"""`distill mt --help` documents every option with its default (issue 12, section 6)."""
import re

import pytest

from ensemblekd.cli import main


def test_every_option_has_a_help_line_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["distill", "mt", "--help"])
    text = capsys.readouterr().out
    options = text[text.index("\noptions:"):]
    # one entry per option: its flags, then the help text up to the next option or section
    entries = re.split(r"\n  (?=-)", options)[1:]
    assert len(entries) > 40
    for entry in entries:
        flags = entry.split()[0]
        if flags in ("-h,", "-h"):
            continue
        body = " ".join(entry.split("\n\n")[0].split())
        assert re.search(r"\(default: [^)]*\)|default[: ]", body), f"{flags}: no documented default: {body!r}"
        assert len(body.split()) > 3, f"{flags}: no help text"
