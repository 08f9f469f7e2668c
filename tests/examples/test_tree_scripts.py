"""Smoke tests of examples/ed4udp/selection.py and examples/parsing/distill.py on the samples embedded in the
package (never ../shared), cut to a few sentences; each checks what the script prints against the library."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load(path):
    spec = importlib.util.spec_from_file_location(f"example_{Path(path).parent.name}_{Path(path).stem}", REPO / path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------------------- ed4udp selection
@pytest.fixture(scope="module")
def ed4udp(tmp_path_factory):
    """``--shared`` layout (teachers/<combination>/<i>-<name>/{d,te}.txt, gold/) over the embedded sample."""
    from ensemblekd.deps.demo import sample_dir

    root = tmp_path_factory.mktemp("ed4udp")
    (root / "teachers" / "1").mkdir(parents=True)
    for d in (sample_dir() / "teachers").iterdir():
        (root / "teachers" / "1" / d.name).symlink_to(d)
    (root / "gold").symlink_to(sample_dir() / "gold")
    return root


def test_selection_reports_test_uas_of_the_members_chosen_on_dev(ed4udp, capsys):
    from ensemblekd.deps import average_deps, evaluate_deps, read_deps

    assert _load("examples/ed4udp/selection.py").main(["--shared", str(ed4udp), "--k-max", "4"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^shared pool \(6 teachers\): alpha grid on dev \(exhaustive k=5\): 0\.0: [\d.]+, .*; best "
                     r"[01]\.\d$", out, re.M)
    dirs = {f"1:{d.name.split('-', 1)[1]}": d for d in (ed4udp / "teachers" / "1").iterdir()}
    gold = read_deps(ed4udp / "gold" / "te.txt")
    rows = re.findall(r"^  k=(\d)  test UAS ([\d.]+)  (\[.*\])$", out, re.M)
    assert [int(k) for k, _, _ in rows] == [2, 3, 4] * 2  # alpha 0.4, then the tuned alpha
    previous = []
    for k, uas, names in rows:
        names = eval(names)  # noqa: S307 (the script prints a list of strings)
        assert len(names) == int(k) and len(set(names)) == int(k)
        if int(k) > 2:
            assert names[:-1] == previous  # forward selection adds one member per step
        previous = names
        # the printed score is the test UAS of the chosen members' unweighted acc average
        avg = average_deps([read_deps(dirs[n] / "te.txt") for n in sorted(names)])
        assert float(uas) == pytest.approx(round(100 * evaluate_deps(gold, avg).uas, 2), abs=1e-9)


def test_selection_needs_a_pool(capsys):
    with pytest.raises(SystemExit) as exc:
        _load("examples/ed4udp/selection.py").main([])
    assert exc.value.code == 2 and "give --shared and/or --anchor" in capsys.readouterr().err


def test_anchor_paths_follow_the_originals_order(tmp_path):
    rows = [tuple(f"individuals/M{m}/{i}/{{}}.txt" for i in range(6)) for m in range(5)]
    (tmp_path / "references.py").write_text(f"X = 1\nINDIVIDUALS = {rows!r}\n")
    paths = _load("examples/ed4udp/selection.py").anchor_paths(tmp_path)
    assert len(paths) == 30 and paths[:6] == [rows[0][i] for i in (5, 2, 3, 4, 1, 0)]


# ----------------------------------------------------------------------------------------- parsing distill
@pytest.fixture(scope="module")
def ptb(tmp_path_factory):
    """A ptb-teachers folder of 7 teachers: valid = the sample's first 24 trees, test = the next 12."""
    from ensemblekd.trees.demo import sample_dir, sample_teachers

    root = tmp_path_factory.mktemp("ptb")
    for f in sample_teachers():
        lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
        (root / "teachers" / f.parent.name).mkdir(parents=True)
        (root / "teachers" / f.parent.name / "valid.txt").write_text("".join(lines[:24]), encoding="utf-8")
        (root / "teachers" / f.parent.name / "test.txt").write_text("".join(lines[24:36]), encoding="utf-8")
    (root / "gold").mkdir()
    gold = (sample_dir() / "gold" / "test.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    (root / "gold" / "test.txt").write_text("".join(gold[24:36]), encoding="utf-8")
    return root


def test_parsing_distill_trains_scores_and_resumes(ptb, tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    from ensemblekd.trees import average_trees, tree_f1

    script = _load("examples/parsing/distill.py")
    args = ["--data", str(ptb), "--work", str(tmp_path / "work"), "--epochs", "2", "--hidden", "8", "--mlp", "8",
            "--dev-fraction", "0.25", "--threads", "1", "-q"]
    assert script.main(args) == 0
    out = capsys.readouterr()
    results = json.loads((tmp_path / "work" / "results.json").read_text())
    # the ensemble's reference point is the generative average of the 7 teachers' test trees
    teachers = sorted((ptb / "teachers").iterdir())
    expected = tree_f1(ptb / "gold" / "test.txt", average_trees([t / "test.txt" for t in teachers])).sentence_f1
    assert results["ensemble"]["test_sentence_f1"] == pytest.approx(expected)
    assert (tmp_path / "work" / "averaged-valid.txt").read_text().count("\n") == 24
    for name in ("generative", "union"):
        r = results[name]
        assert r["train_sentences"] == 18 and 1 <= r["best_epoch"] <= 2 and r["epochs_run"] == 2
        # the decoding rule is the one with the higher agreement with the student's own held-out targets
        assert r["decode"] == max(("viterbi", "mbr"), key=lambda d: r[f"dev_agreement_f1_{d}"])
        pred = tmp_path / "work" / f"test-student-{name}-{r['decode']}.txt"
        assert tree_f1(ptb / "gold" / "test.txt", pred).sentence_f1 == pytest.approx(r["test_sentence_f1"])
        assert re.search(rf"^{name} +{r['test_sentence_f1']:.2f} +{r['test_corpus_f1']:.2f}  {r['decode']}$",
                         out.out, re.M)
    # run again: the finished students are loaded, not retrained (same epochs, same test scores)
    history = (tmp_path / "work" / "student-generative" / "history.json").read_text()
    assert script.main(args) == 0
    assert (tmp_path / "work" / "student-generative" / "history.json").read_text() == history
    assert json.loads((tmp_path / "work" / "results.json").read_text())["generative"]["test_sentence_f1"] == \
        results["generative"]["test_sentence_f1"]


def test_parsing_distill_names_a_missing_data_folder(tmp_path):
    with pytest.raises(SystemExit, match="does not hold the PTB teachers"):
        _load("examples/parsing/distill.py").main(["--data", str(tmp_path), "--work", str(tmp_path / "w")])
