"""Package-level contracts: cheap import, explicit public API, CLI wiring."""
import subprocess
import sys

import pytest

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


def test_non_editable_install_runs_the_demo_outside_the_checkout(tmp_path):
    """`pip install .` (here: the wheel it would install) carries the shipped model; `ensemblekd demo` then runs
    from any folder, with no source checkout on the path."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    if not (repo / "models" / "m30k-zeroshot" / "config.json").is_file():
        pytest.skip("no shipped model in this checkout")
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    res = subprocess.run([*pip, "wheel", str(repo), "--no-deps", "--no-build-isolation", "-w", str(wheel_dir)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    wheel = next(wheel_dir.glob("ensemblekd-*.whl"))
    res = subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    env = {k: v for k, v in __import__("os").environ.items() if k != "ENSEMBLEKD_MODEL"}
    env["PYTHONPATH"] = str(target)
    res = subprocess.run([sys.executable, "-m", "ensemblekd", "demo", "--quiet"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "EBBS: direct + en + cs" in res.stdout and "BLEU" in res.stdout
    where = subprocess.run([sys.executable, "-c", "import ensemblekd; print(ensemblekd.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True).stdout
    assert where.startswith(str(target))
