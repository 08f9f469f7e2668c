"""The demo runs on the embedded sample and reports agreement with the original outputs."""
from ensemblekd.deps.demo import run_demo, sample_teachers


def test_demo_prints_scores_agreement_and_time(capsys):
    run_demo(quiet=True)
    out = capsys.readouterr().out
    assert len(sample_teachers()) == 6
    for name in [p.parent.name for p in sample_teachers()] + ["acc", "acc_devweights", "f1"]:
        assert name in out
    assert out.count("same tree as the original: 200/200") == 3
    assert "time:" in out
