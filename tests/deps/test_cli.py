"""`ensemblekd deps average|eval|select` through the real entry point; user errors are one line, exit 2."""
import subprocess
import sys

from ensemblekd.cli import main
from ensemblekd.deps import average_deps, evaluate_deps, format_deps, read_deps
from ensemblekd.deps.demo import sample_dir, sample_teachers


def test_average_file_stdout_and_dev_weights(tmp_path, capsys):
    root = sample_dir()
    te, d = sample_teachers(root), sample_teachers(root, "d")
    out = tmp_path / "avg.txt"
    assert main(["deps", "average", *map(str, te), "-o", str(out)]) == 0
    assert out.read_text().rstrip("\n").split("\n") == (root / "golden/acc/te.txt").read_text().rstrip("\n").split("\n")
    assert main(["deps", "average", *map(str, te), "--dev-weights", *map(str, d), "--dev-gold", str(root / "gold/d.txt")]) == 0
    assert capsys.readouterr().out.rstrip("\n") == (root / "golden/acc_devweights/te.txt").read_text().rstrip("\n")
    assert main(["deps", "average", *map(str, te[:3]), "--agg", "f1", "--weights", "1", "2", "0.5"]) == 0
    assert capsys.readouterr().out == format_deps(average_deps(te[:3], "f1", weights=[1, 2, 0.5]))


def test_eval_and_select_print_scores(capsys):
    root = sample_dir()
    gold, pred = root / "gold/te.txt", root / "golden/f1/te.txt"
    assert main(["deps", "eval", "--gold", str(gold), "--pred", str(pred)]) == 0
    assert capsys.readouterr().out.strip() == str(evaluate_deps(gold, pred))
    d, te = sample_teachers(root, "d"), sample_teachers(root)
    assert main(["deps", "select", "--dev", *map(str, d), "--dev-gold", str(root / "gold/d.txt"), "--k-max", "3",
                 "--test", *map(str, te), "--test-gold", str(gold)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("forward selection, alpha 0.4")
    assert [ln.split()[0] for ln in lines[2:]] == ["1", "2", "3"]
    first = read_deps(te[int(evaluate_deps is not None) - 1])  # teacher 1 has the best dev UAS in the sample
    assert lines[2].split()[2] == f"{100 * evaluate_deps(gold, first).uas:.2f}"


def _run(*args):
    return subprocess.run([sys.executable, "-m", "ensemblekd", "deps", *args], capture_output=True, text=True)


def test_user_errors_are_one_line(tmp_path):
    root = sample_dir()
    te = [str(p) for p in sample_teachers(root)]
    bad = tmp_path / "bad.txt"
    bad.write_text("0 0 1\n1 2 1\n")
    cases = [
        (["average", *te, "-o", str(tmp_path)], "is a directory"),
        (["average", *te, "-o", str(tmp_path / "no" / "x.txt")], "does not exist"),
        (["average", *te[:2], "--weights", "1"], "--weights: got 1 values for 2 teachers"),
        (["average", te[0], str(root / "gold/d.txt")], "expected line-aligned files"),
        (["average", str(bad)], f"{bad}:2: no word is attached to ROOT"),
        (["eval", "--gold", str(tmp_path), "--pred", te[0]], "is a directory"),
        (["select", "--dev", te[0], "--dev-gold", str(root / "gold/te.txt"), "--k-max", "2"], "--k-max 2"),
    ]
    for args, message in cases:
        res = _run(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert message in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "no").exists()


def test_conllu_output_for_a_student(tmp_path, capsys):
    root = sample_dir()
    te = [str(p) for p in sample_teachers(root)]
    tags = tmp_path / "tags.txt"
    bank = read_deps(te[0])
    tags.write_text("".join(f"{b}\t" + "\t".join(["NN"] * int(n)) + "\n" for b, n in enumerate(bank.n_words)))
    assert main(["deps", "average", *te, "--format", "conllu", "--tags", str(tags)]) == 0
    out = capsys.readouterr().out
    sents = [s for s in out.split("\n\n") if s.strip()]
    assert len(sents) == len(bank)
    rows = [ln.split("\t") for ln in sents[0].splitlines()[1:]]
    heads = average_deps(te).sentence(0).tolist()
    assert [int(r[6]) for r in rows] == heads and all(len(r) == 10 and r[4] == "NN" for r in rows)
    assert [r[7] for r in rows].count("root") == 1
    words = tmp_path / "words.txt"
    words.write_text("a b\n")
    res = _run("average", *te, "--format", "conllu", "--words", str(words))
    assert res.returncode == 2 and "has 1 lines but" in res.stderr
