"""Issue 12, section 5: the scripts under examples/ and benchmarks/ import the installed package, never each
other through ``sys.path`` (what several scripts need is library: ensemblekd.testbed).  The one allowed insertion
is a benchmark's ``--original DIR`` (a checkout of the original research code, not part of this repository)."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted([*REPO.glob("examples/**/*.py"), *REPO.glob("benchmarks/*.py")])
SIBLINGS = {p.stem for p in SCRIPTS}


def _path_inserts(tree):
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("insert", "append") and ast.unparse(node.func.value) == "sys.path"):
            yield node


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_scripts_import_the_package_not_each_other(script):
    tree = ast.parse(script.read_text(encoding="utf-8"))
    for node in _path_inserts(tree):
        assert "args.original" in ast.unparse(node), f"{script.name}:{node.lineno}: {ast.unparse(node)}"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            assert node.module.split(".")[0] not in SIBLINGS, f"{script.name}:{node.lineno}: from {node.module}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] not in SIBLINGS, f"{script.name}:{node.lineno}: import {alias.name}"


def test_the_scripts_are_found():
    names = {str(p.relative_to(REPO)) for p in SCRIPTS}
    assert {"examples/zeroshot_mt/train.py", "benchmarks/trees.py", "examples/ed4udp/selection.py"} <= names
