"""Parser student: overfitting a few trees, CYK decoding vs brute force, checkpoints, resume, errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ensemblekd.distill import parser as P
from ensemblekd.distill.parser.config import ParserConfig, TrainConfig
from ensemblekd.distill.parser.model import SpanParser, Vocab

from .._oracles import binary_trees, tree_score

TREES = [
    "(X (X the) (X (X old) (X dog)))",
    "(X (X (X a) (X cat)) (X (X sat) (X (X on) (X (X the) (X mat)))))",
    "(X (X (X dogs) (X bark)) (X loudly))",
    "(X (X she) (X (X (X reads) (X books)) (X (X every) (X day))))",
    "(X (X (X (X the) (X big)) (X (X red) (X ball))) (X (X rolls) (X away)))",
    "(X hello)",
]
TINY = ParserConfig(word_dim=16, char_dim=8, char_filters=16, hidden=24, layers=1, mlp=24, dropout=0.0)


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny student that overfits TREES (CRF)."""
    d = tmp_path_factory.mktemp("parser")
    f = _write(d / "trees.txt", TREES)
    torch.manual_seed(0)
    res = P.train_parser([f], d / "model", TINY,
                         TrainConfig(epochs=20, batch_size=3, lr=2e-2, unk_alpha=0.0, threads=1),
                         dev_fraction=0.0, quiet=True)
    return f, d / "model", res


def test_overfits_a_handful_of_trees(trained):
    f, model_dir, res = trained
    parser = P.load_parser(model_dir)
    sents = P.read_sentences(f)
    assert parser.parse(sents) == TREES
    assert res.epochs_run == 20 and res.best_dev is None


def test_margin_loss_overfits_too(tmp_path):
    f = _write(tmp_path / "t.txt", TREES)
    P.train_parser([f], tmp_path / "m", TINY, TrainConfig(epochs=20, batch_size=3, lr=2e-2, loss="margin",
                                                          unk_alpha=0.0, threads=1),
                   dev_fraction=0.0, quiet=True)
    assert P.load_parser(tmp_path / "m").parse(P.read_sentences(f)) == TREES


def test_decoding_is_the_brute_force_argmax():
    torch.manual_seed(1)
    sents = [["a", "b", "c", "d", "e"], ["x", "y", "z"], ["p", "q", "r", "s", "t", "u"]]
    vocab = Vocab.build(sents)
    model = SpanParser(TINY, len(vocab.words), len(vocab.chars)).eval()
    parser = P.Parser(model, vocab, TINY, torch.device("cpu"))
    with torch.no_grad():
        scores = model(*vocab.encode(sents, TINY.max_word_chars)).double()
    for b, (sent, spans) in enumerate(zip(sents, parser.predict_spans(sents, batch_size=2))):
        n = len(sent)
        s = scores[b].tolist()
        best = max(binary_trees(0, n), key=lambda t: tree_score(s, t))
        got = frozenset(map(tuple, spans.tolist())) | {(i, i + 1) for i in range(n)}
        assert got == best


def test_checkpoint_files_and_parse_cli(trained, tmp_path):
    f, model_dir, _ = trained
    for name in ("config.json", "vocab.json", "model.safetensors", "state.pt", "history.json"):
        assert (model_dir / name).is_file(), name
    inp = _write(tmp_path / "in.txt", ["the old dog", "hello"])
    out = tmp_path / "out.txt"
    from ensemblekd.cli import main

    assert main(["parse", "--model", str(model_dir), "-i", str(inp), "-o", str(out)]) == 0
    assert out.read_text().splitlines() == [TREES[0], TREES[5]]


def test_parse_cli_reads_trees_from_stdin(trained, monkeypatch, capsys):
    import io

    from ensemblekd.cli import main

    _, model_dir, _ = trained
    monkeypatch.setattr("sys.stdin", io.StringIO("(S (A dogs) (B bark) (C loudly))\nthe old dog\n"))
    assert main(["parse", "--model", str(model_dir)]) == 0
    assert capsys.readouterr().out.splitlines() == [TREES[2], TREES[0]]
    monkeypatch.setattr("sys.stdin", io.StringIO("a b\n\n"))
    assert main(["parse", "--model", str(model_dir)]) == 2
    assert "<stdin>:2: empty line" in capsys.readouterr().err


def test_distill_parser_cli_trains_and_resumes(tmp_path, capsys):
    from ensemblekd.cli import main

    f = _write(tmp_path / "t.txt", TREES)
    args = ["distill", "parser", "--trees", str(f), str(f), "-o", str(tmp_path / "m"), "--hidden", "8",
            "--word-dim", "8", "--mlp", "8", "--layers", "1", "--threads", "1", "-q", "--dev-fraction", "0.34"]
    assert main(args + ["--epochs", "1"]) == 0
    assert json.loads((tmp_path / "m" / "history.json").read_text())[0]["dev"] is not None
    assert main(args + ["--epochs", "2"]) == 0  # more epochs: resumes after epoch 1
    assert [h["epoch"] for h in json.loads((tmp_path / "m" / "history.json").read_text())] == [1, 2]
    assert main(args + ["--epochs", "2", "--lr", "0.5"]) == 2  # another config in the same dir
    assert "different configuration" in capsys.readouterr().err


def _weights(model_dir):
    from safetensors.torch import load_file

    return load_file(str(Path(model_dir) / "model.safetensors"))


def test_kill_and_resume_gives_the_uninterrupted_result(tmp_path):
    f = _write(tmp_path / "t.txt", TREES)
    conf = TrainConfig(epochs=4, batch_size=2, lr=5e-3, threads=1)
    P.train_parser([f], tmp_path / "full", TINY, conf, dev_fraction=0.0, quiet=True)

    class Killed(Exception):
        pass

    def kill_after_2(epoch):
        if epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        P.train_parser([f], tmp_path / "cut", TINY, conf, dev_fraction=0.0, quiet=True,
                       after_epoch=kill_after_2)
    assert len(json.loads((tmp_path / "cut" / "history.json").read_text())) == 2
    res = P.train_parser([f], tmp_path / "cut", TINY, conf, dev_fraction=0.0, quiet=True)
    assert [h["epoch"] for h in res.history] == [1, 2, 3, 4]
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not list((tmp_path / "cut").glob(".*tmp*"))  # no temporary files left


def test_hard_kill_in_a_subprocess_resumes(tmp_path):
    f = _write(tmp_path / "t.txt", TREES)
    code = (
        "import os, sys\n"
        "from ensemblekd.distill import parser as P\n"
        "from ensemblekd.distill.parser.config import ParserConfig, TrainConfig\n"
        "def die(epoch):\n"
        "    if epoch == 1: os._exit(9)\n"
        f"P.train_parser([{str(f)!r}], {str(tmp_path / 'm')!r}, ParserConfig(word_dim=8, char_dim=4, "
        "char_filters=8, hidden=8, layers=1, mlp=8), TrainConfig(epochs=3, threads=1), dev_fraction=0.0, "
        "quiet=True, after_epoch=die)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    res = P.train_parser([f], tmp_path / "m", ParserConfig(word_dim=8, char_dim=4, char_filters=8, hidden=8,
                                                           layers=1, mlp=8),
                         TrainConfig(epochs=3, threads=1), dev_fraction=0.0, quiet=True)
    assert [h["epoch"] for h in res.history] == [1, 2, 3]


def test_union_targets_are_vote_fractions(tmp_path):
    a = _write(tmp_path / "a.txt", ["(X (X (X a) (X b)) (X c))"])
    b = _write(tmp_path / "b.txt", ["(X (X a) (X (X b) (X c)))"])
    sents, targets, refs = P.read_targets([a, a, b])
    assert sents == [["a", "b", "c"]]
    assert targets[0] == {(0, 3): 1.0, (0, 2): pytest.approx(2 / 3), (1, 3): pytest.approx(1 / 3)}
    assert len(refs[0]) == 3


def test_nary_targets_are_right_binarized(tmp_path):
    f = _write(tmp_path / "n.txt", ["(S (A a) (B b) (C c) (D (E d) (F e)))"])
    _, targets, _ = P.read_targets([f])
    assert set(targets[0]) == {(0, 5), (1, 5), (2, 5), (3, 5)}


# ----------------------------------------------------------------------------- errors
def test_tree_files_that_do_not_match(tmp_path):
    a = _write(tmp_path / "a.txt", TREES[:3])
    b = _write(tmp_path / "b.txt", TREES[:2])
    with pytest.raises(P.TreeFileError, match=r"b.txt has 2 trees .* has 3"):
        P.read_targets([a, b])
    c = _write(tmp_path / "c.txt", [TREES[0], TREES[2], TREES[2]])
    with pytest.raises(P.TreeFileError, match=r"c.txt:2: tree has 3 words .*a.txt:2 has 6"):
        P.read_targets([a, c])
    bad = _write(tmp_path / "bad.txt", ["(X (X a) (X b)", "(X c)"])
    with pytest.raises(ValueError, match=r"bad.txt:1"):
        P.read_targets([bad])


def test_empty_training_set(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(P.TreeFileError, match="empty training set"):
        P.train_parser([empty], tmp_path / "m", TINY, TrainConfig(epochs=1), quiet=True)
    one = _write(tmp_path / "one.txt", TREES[:1])
    with pytest.raises(P.TreeFileError, match="empty training set"):
        P.train_parser([one], tmp_path / "m", TINY, TrainConfig(epochs=1), dev_fraction=0.9, quiet=True)


def test_foreign_and_mismatched_checkpoints(trained, tmp_path):
    _, model_dir, _ = trained
    with pytest.raises(P.CheckpointError, match="no config.json"):
        P.load_parser(tmp_path)
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "marian", "d_model": 16}))
    with pytest.raises(P.CheckpointError, match="architecture None"):
        P.load_parser(hf)
    with pytest.raises(P.CheckpointError, match="not a span-parser checkpoint"):
        P.train_parser([trained[0]], hf, TINY, TrainConfig(epochs=1), quiet=True)
    assert json.loads((hf / "config.json").read_text())["model_type"] == "marian"  # untouched
    other = tmp_path / "other"
    other.mkdir()
    for name in ("vocab.json", "model.safetensors"):
        (other / name).write_bytes((model_dir / name).read_bytes())
    cfg = json.loads((model_dir / "config.json").read_text())
    cfg["parser"]["hidden"] = 32
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(P.CheckpointError, match="does not match the architecture"):
        P.load_parser(other)
    cfg["parser"]["attention_heads"] = 4
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="unknown parser config keys"):
        P.load_parser(other)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_a_clear_error(trained, tmp_path):
    f, model_dir, _ = trained
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        P.load_parser(model_dir, device="cuda")
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        P.train_parser([f], tmp_path / "m", TINY, TrainConfig(epochs=1, device="cuda"), quiet=True)
    from ensemblekd.cli import main

    assert main(["parse", "--model", str(model_dir), "--device", "cuda", "-i", str(f)]) == 2


def test_parse_input_errors(tmp_path):
    with pytest.raises(P.TreeFileError, match=r"in.txt:2: empty line"):
        P.read_sentences(_write(tmp_path / "in.txt", ["a b", "", "c"]))
    with pytest.raises(P.TreeFileError, match=r"x.txt:2"):
        P.read_sentences(_write(tmp_path / "x.txt", ["a b", "(X (X a) (X b)"]))
    assert P.read_sentences(["a b c", "(S (A x) (B y))"]) == [["a", "b", "c"], ["x", "y"]]


def test_config_validation():
    with pytest.raises(ValueError, match="hidden"):
        ParserConfig(hidden=0)
    with pytest.raises(ValueError, match="odd"):
        ParserConfig(char_width=4)
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="hinge")
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)


def test_mbr_decoding_is_the_brute_force_max_expected_spans():
    torch.manual_seed(2)
    sents = [["a", "b", "c", "d", "e"], ["x", "y", "z", "w"]]
    vocab = Vocab.build(sents)
    model = SpanParser(TINY, len(vocab.words), len(vocab.chars)).eval()
    parser = P.Parser(model, vocab, TINY, torch.device("cpu"))
    with torch.no_grad():
        scores = model(*vocab.encode(sents, TINY.max_word_chars)).double()
    for b, (sent, spans) in enumerate(zip(sents, parser.predict_spans(sents, decode="mbr"))):
        n = len(sent)
        trees = binary_trees(0, n)
        weights = [np.exp(tree_score(scores[b].tolist(), t)) for t in trees]
        marg = {}
        for w, t in zip(weights, trees):
            for span in t:
                marg[span] = marg.get(span, 0.0) + w / sum(weights)
        best = max(trees, key=lambda t: sum(marg[s] for s in t))
        assert frozenset(map(tuple, spans.tolist())) | {(i, i + 1) for i in range(n)} == best
    with pytest.raises(ValueError, match="decode"):
        parser.predict_spans(sents, decode="beam")


# Runs the CLI with SGD in place of Adam (same call, ``Adam(params, lr=...)``), so that the update is linear in the
# gradient.  Adam is not: its first step is lr * g / (|g| + 1e-8) per coordinate, and this model has coordinates
# whose exact gradient is 0 (``out.bias``, and every ``mlp_bias`` unit that is active on all spans, shift all the
# spans of a sentence alike, and every binary tree has 2n - 1 of them), so 1e-8 of float summation noise becomes a
# +-lr step and the run drifts chaotically: one process against itself with 1e-8 of gradient noise differs by
# 0.04-0.07 after two epochs, as much as two processes against one.  Adam is also blind to a constant gradient scale.
_SGD_LAUNCHER = """import sys, torch
class SGD(torch.optim.SGD):
    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
torch.optim.Adam = SGD
from ensemblekd.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def test_two_processes_on_accelerate_equal_one(tmp_path):
    """`torchrun --nproc_per_node 2 -m ensemblekd distill parser` (gloo, CPU): each batch split across the ranks,
    the update equal to the single-process one (no dropout, no word dropout: nothing random per rank).

    16 sentences in batches of 5: the batches of 5 split 3 + 2 (the loss scale must be the global batch's, not a
    rank's) and the last one has a single sentence (rank 1 reruns it at weight 0).  With SGD the two runs agree up
    to float summation order (~1e-7) after 8 updates that move the weights by ~0.8, so any error in the gradient's
    scale or content shows."""
    import socket

    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    f = _write(tmp_path / "t.txt", (TREES * 3)[:16])
    launcher = tmp_path / "sgd_launcher.py"
    launcher.write_text(_SGD_LAUNCHER)
    args = ["distill", "parser", "--trees", str(f), "--hidden", "8", "--word-dim", "8", "--mlp", "8",
            "--layers", "1", "--dropout", "0", "--unk-alpha", "0", "--epochs", "2", "--batch-size", "5",
            "--lr", "0.5", "--dev-fraction", "0", "--threads", "1", "-q", "--device", "cpu"]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    one = subprocess.run([sys.executable, str(launcher), *args, "-o", str(tmp_path / "one")], env=env,
                         capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master-addr",
                          "127.0.0.1", "--master-port", str(port), str(launcher), *args, "-o",
                          str(tmp_path / "two")], env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    # the initial weights (train_loop seeds them with TrainConfig.seed, 0): the runs must have moved
    config = json.loads((tmp_path / "one" / "config.json").read_text())
    vocab = Vocab.from_dict(json.loads((tmp_path / "one" / "vocab.json").read_text()))
    torch.manual_seed(config["train"]["seed"])
    init = SpanParser(ParserConfig.from_dict(config["parser"]), len(vocab.words), len(vocab.chars)).state_dict()
    moved = max((a[k] - init[k]).abs().max().item() for k in a)
    diff = max((a[k] - b[k]).abs().max().item() for k in a)     # every weight, out.bias included
    assert moved > 0.1 and diff < 1e-5, (moved, diff)
    h1, h2 = (json.loads((tmp_path / d / "history.json").read_text()) for d in ("one", "two"))
    assert len(h1) == len(h2) == 2
    for e1, e2 in zip(h1, h2):      # the logged loss is the global one, not rank 0's share
        assert abs(e1["loss"] - e2["loss"]) < 1e-5, (e1["loss"], e2["loss"])
