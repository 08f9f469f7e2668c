"""`ensemblekd trees average|f1` round trips through the real CLI entry point."""
import subprocess
import sys

from ensemblekd.cli import main
from ensemblekd.trees import average_trees, read_trees, tree_f1
from ensemblekd.trees.demo import sample_dir, sample_teachers


def test_average_to_file_equals_library(tmp_path, capsys):
    teachers = sample_teachers()
    out = tmp_path / "avg.txt"
    for mode in ("generative", "selective"):
        assert main(["trees", "average", *map(str, teachers), "--mode", mode, "-o", str(out)]) == 0
        text = out.read_text()
        assert text.endswith("\n")
        assert text.splitlines() == average_trees([read_trees(p) for p in teachers], mode)
    assert main(["trees", "average", *map(str, teachers[:3]), "--weights", "1", "2", "0.5", "--label", "."]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == average_trees([read_trees(p) for p in teachers[:3]], weights=[1, 2, 0.5], label=".")


def test_f1_prints_both_scores(capsys):
    root = sample_dir()
    gold, pred = root / "gold" / "test.txt", root / "reference" / "generative" / "test.txt"
    assert main(["trees", "f1", "--gold", str(gold), "--pred", str(pred)]) == 0
    out = capsys.readouterr().out
    r = tree_f1(gold, pred)
    assert f"sentence-level F1: {r.sentence_f1:.2f}" in out
    assert f"corpus-level F1:   {r.corpus_f1:.2f}" in out


def test_errors_exit_2_with_the_file_and_line(tmp_path, capsys):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("(X (X a) (X b))\n\n")
    b.write_text("(X (X a) (X b))\n\n")
    cmd = [sys.executable, "-m", "ensemblekd", "trees", "average", str(a), str(b)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 2
    assert f"{a}:2: empty line" in res.stderr and "Traceback" not in res.stderr
    res = subprocess.run(cmd + ["--keep-empty"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout == "(X (X a) (X b))\n\n"
    assert main(["trees", "average", str(a), str(b), "--keep-empty", "--weights", "1"]) == 2
    assert "ensemblekd: error: weights: got 1 for 2 teachers" in capsys.readouterr().err
