"""Package-level contracts: cheap import, explicit public API, CLI wiring."""
import subprocess
import sys

import ensemblekd


def test_import_does_not_pull_heavy_dependencies():
    code = (
        "import sys, ensemblekd; "
        "heavy = [m for m in ('torch', 'transformers', 'numba', 'sacrebleu') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_all_names_resolve():
    for name in ensemblekd.__all__:
        assert getattr(ensemblekd, name) is not None, name


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "ensemblekd", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "demo" in out.stdout
