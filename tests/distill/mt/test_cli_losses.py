"""`distill mt --loss ...`: every loss and its options on the command line, their defaults in --help and equal to
TrainConfig's, bad values refused in one line naming the flag before any work."""
import subprocess
import sys

import pytest

from ensemblekd.cli import build_parser
from ensemblekd.distill.mt.trainer import LOSSES, TrainConfig

NEW = {"kd_temperature": "1.0", "kd_top_p": "1.0", "skew_alpha": "0.1", "gkd_lambda": "0.5", "gkd_beta": "0.5",
       "llmr_next": "softmax", "llmr_reward": "dense", "llmr_scale": "1.0", "llmr_clip": "None"}


def _run(*args):
    return subprocess.run([sys.executable, "-m", "ensemblekd", *args], capture_output=True, text=True)


def _parse(*extra):
    return build_parser().parse_args(["distill", "mt", "--model", "m", "--src", "de", "--tgt", "fr", "--sources",
                                      "s", "--out", "o", *extra])


def test_every_loss_is_a_choice_and_defaults_match_trainconfig():
    for loss in LOSSES:
        assert _parse("--loss", loss).loss == loss
    args, cfg = _parse(), TrainConfig()
    for name in NEW:
        assert getattr(args, name) == getattr(cfg, name), name
    assert (not args.llmr_no_baseline) == cfg.llmr_baseline
    args = _parse("--loss", "llmr", "--llmr-next", "max", "--llmr-reward", "sparse", "--llmr-no-baseline",
                  "--llmr-scale", "4", "--llmr-clip", "2", "--kd-temperature", "0.8", "--kd-top-p", "0.9")
    assert (args.llmr_next, args.llmr_reward, args.llmr_no_baseline, args.llmr_scale, args.llmr_clip,
            args.kd_temperature, args.kd_top_p) == ("max", "sparse", True, 4.0, 2.0, 0.8, 0.9)


def test_help_lists_the_losses_and_option_defaults():
    res = _run("distill", "mt", "--help")
    assert res.returncode == 0
    text = " ".join(res.stdout.split())
    assert "{seqkd,kl,rkl,js,tvd,skl,srkl,gkd,llmr}" in text
    for name, default in NEW.items():
        flag = "--" + name.replace("_", "-")
        assert flag in text, flag
        after = text[text.rindex(flag + " "):]      # the options listing (after the usage line)
        assert f"(default: {default})" in after[:400], (flag, after[:400])
    assert "--llmr-no-baseline" in text


@pytest.mark.parametrize("flags,message", [
    (["--loss", "gkd", "--gkd-beta", "1.5"], "--gkd-beta 1.5: expected a number in [0, 1]"),
    (["--loss", "gkd", "--gkd-lambda", "-0.1"], "--gkd-lambda -0.1: expected a number in [0, 1]"),
    (["--loss", "srkl", "--skew-alpha", "nan"], "--skew-alpha nan: expected a number in [0, 1]"),
    (["--loss", "llmr", "--kd-temperature", "0"], "--kd-temperature 0.0: expected a number > 0"),
    (["--loss", "llmr", "--kd-temperature", "inf"], "--kd-temperature inf: expected a number > 0"),
    (["--loss", "llmr", "--kd-top-p", "1.5"], "--kd-top-p 1.5: expected a number in (0, 1]"),
    (["--loss", "llmr", "--llmr-clip", "-1"], "--llmr-clip -1.0: expected a number > 0"),
    (["--loss", "llmr", "--llmr-scale", "-2"], "--llmr-scale -2.0: expected a number > 0"),
    (["--loss", "rkl", "--kd-max-new-tokens", "0"], "--kd-max-new-tokens 0: expected an integer >= 1"),
])
def test_bad_loss_options_one_line_before_any_work(tmp_path, flags, message):
    src = tmp_path / "s.de"
    src.write_text("Ein Hund.\n")
    out = tmp_path / "o"
    res = _run("distill", "mt", "--model", str(tmp_path / "no-model"), "--src", "de", "--tgt", "fr", "--pivots", "en",
               "--sources", str(src), "--out", str(out), *flags)
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()                                 # nothing written: refused before any work


def test_unknown_choices_are_refused_naming_the_flag(tmp_path):
    # argparse's own errors (usage, then the error line) name the flag too
    for flags, flag in ((["--loss", "ce"], "--loss"), (["--loss", "llmr", "--llmr-next", "mean"], "--llmr-next"),
                        (["--loss", "llmr", "--llmr-reward", "episodic"], "--llmr-reward")):
        res = _run("distill", "mt", "--model", "m", "--src", "de", "--tgt", "fr", "--sources", "s", "--out",
                   str(tmp_path / "o"), *flags)
        assert res.returncode == 2 and f"argument {flag}: invalid choice" in res.stderr.splitlines()[-1]


def test_cli_options_reach_the_training_config(tmp_path, monkeypatch):
    from ensemblekd.distill.mt import pipeline

    seen = {}

    class Stop(Exception):
        pass

    def fake(model, sources, out, config, **kw):
        seen["train"] = config.train
        raise Stop

    monkeypatch.setattr(pipeline, "distill_mt", fake)
    src = tmp_path / "s.de"
    src.write_text("Ein Hund.\n")
    args = build_parser().parse_args([
        "distill", "mt", "--model", str(tmp_path), "--src", "de", "--tgt", "fr", "--pivots", "en", "--sources",
        str(src), "--out", str(tmp_path / "o"), "--device", "cpu", "--loss", "llmr", "--kd-temperature", "0.9",
        "--kd-top-p", "0.95", "--kd-max-new-tokens", "7", "--skew-alpha", "0.2", "--gkd-lambda", "0.3",
        "--gkd-beta", "0.8", "--llmr-next", "max", "--llmr-reward", "sparse", "--llmr-no-baseline",
        "--llmr-scale", "100", "--llmr-clip", "1"])
    with pytest.raises(Stop):
        args.func(args)
    t = seen["train"]
    assert (t.loss, t.kd_temperature, t.kd_top_p, t.kd_max_new_tokens, t.skew_alpha, t.gkd_lambda, t.gkd_beta,
            t.llmr_next, t.llmr_reward, t.llmr_baseline, t.llmr_scale, t.llmr_clip) == (
        "llmr", 0.9, 0.95, 7, 0.2, 0.3, 0.8, "max", "sparse", False, 100.0, 1.0)
