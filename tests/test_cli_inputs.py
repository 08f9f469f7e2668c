"""Issue 12, section 2, for every command: an input path that is a directory and an invalid ``--device`` string are
one line ``ensemblekd: error: ...`` naming the flag or path, exit 2, before any model loads."""
import pytest

from ensemblekd import cli
from ensemblekd.trees.demo import sample_teachers


def _error(capsys, argv):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ensemblekd: error: ") and len(err.strip().splitlines()) == 1, err
    return err


def test_an_input_directory_is_named(tmp_path, capsys):
    d = str(tmp_path)
    teacher = str(sample_teachers()[0])
    missing = str(tmp_path / "no-model")
    for argv in (["translate", "--model", missing, "--src", "de", "--tgt", "fr", "-i", d],
                 ["trees", "average", teacher, d],
                 ["trees", "f1", "--gold", d, "--pred", teacher],
                 ["parse", "--model", missing, "-i", d],
                 ["distill", "parser", "--trees", d, "-o", str(tmp_path / "student")],
                 ["distill", "mt", "--model", missing, "--src", "de", "--tgt", "fr", "--sources", d,
                  "--out", str(tmp_path / "kd")]):
        err = _error(capsys, argv)
        assert d in err and "directory" in err, (argv, err)
    assert not (tmp_path / "student").exists() and not (tmp_path / "kd").exists()


# translate: tests/test_cli_errors.py::test_invalid_device_string (it checks the device once the model folder passes)
@pytest.mark.parametrize("command", ["parse", "distill mt", "distill parser"])
def test_an_invalid_device_string_is_named(tmp_path, capsys, command):
    pytest.importorskip("torch")
    src = tmp_path / "src.txt"
    src.write_text("(X (X a) (X b))\n", encoding="utf-8")
    missing = str(tmp_path / "no-model")
    argv = {"parse": ["parse", "--model", missing, "-i", str(src)],
            "distill mt": ["distill", "mt", "--model", missing, "--src", "de", "--tgt", "fr", "--sources", str(src),
                           "--out", str(tmp_path / "kd")],
            "distill parser": ["distill", "parser", "--trees", str(src), "-o", str(tmp_path / "student")]}[command]
    err = _error(capsys, [*argv, "--device", "gpu0"])
    assert "--device" in err and "gpu0" in err, err
    assert not (tmp_path / "student").exists() and not (tmp_path / "kd").exists()
