"""The README's dependency-averaging snippet runs as written and prints what its comments say."""
import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_deps_snippet_runs():
    text = README.read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "ensemblekd.deps" in b)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    comment = re.search(r"# (UAS [\d.]+  F1 [\d.]+  \(200 sentences, \d+ words\))", block).group(1)
    assert lines[0] == comment
    assert lines[1].startswith("0 ") and lines[2].startswith("{1: [0], 2: ")
