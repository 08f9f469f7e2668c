"""Parser distillation: train a neural span parser on (averaged) trees, save it, parse with it.

The student (:mod:`.model`) scores every span; a sentence's tree is the binary tree with
the largest total span score, found with the same CYK kernel that averages teacher trees
(:func:`ensemblekd.trees.cyk.cyk_best_tree`, label ``X``).  This is the "distill" half of
ensemble-then-distill for unsupervised parsing (Shayegh et al., ICLR 2024): the students there are
trained on the ensemble's trees of the training split; here any tree file will do.

* :func:`read_targets` -- one tree file (e.g. the ensemble's averaged trees) or K line-aligned
  files (union distillation: every sentence gets all K trees as targets, the loss is their mean).
* :func:`train_parser` -- train/resume into a directory (see :mod:`.train`), holding out
  ``dev_fraction`` of the sentences (or ``dev_trees``) to pick the epoch by agreement with the
  targets: never gold trees.
* :func:`load_parser` / :meth:`Parser.parse` -- decode tokenized sentences to bracket strings.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Iterable, Sequence

from .model import ARCHITECTURE, ParserConfig, Vocab
from .train import CheckpointError, TrainConfig, TrainResult, resolve_device, train_loop

__all__ = ["ParserConfig", "TrainConfig", "TrainResult", "Parser", "TreeFileError",
           "CheckpointError", "read_targets", "read_sentences", "train_parser", "load_parser",
           "spans_to_bracket", "mean_f1", "split_dev", "DECODERS"]


DECODERS = ("viterbi", "mbr")


class TreeFileError(ValueError):
    """A tree or sentence file that cannot be used (names the file and line)."""


# --------------------------------------------------------------------------- data
def _tree_io():
    from ensemblekd.trees import io as tree_io

    return tree_io


def _cyk():
    from ensemblekd.trees.cyk import cyk_best_tree

    return cyk_best_tree


def _read_tree_file(path, keep_empty: bool = False) -> tuple[list[list[str]], list[frozenset]]:
    """tokens and spans (2 <= length, whole span included) of every line of a tree file
    (``keep_empty``: an empty line gives no tokens instead of an error)."""
    tb = _tree_io().read_trees(path, empty_lines="keep" if keep_empty else "error")
    tokens = [tb.words(b) for b in range(len(tb))]
    spans = [frozenset((int(i), int(j)) for i, j in tb.spans_of(b).tolist() if j - i >= 2)
             for b in range(len(tb))]
    return tokens, spans


def _binarized(spans: frozenset, n: int) -> frozenset:
    """Add right-branching spans inside n-ary nodes so that the target is a binary tree."""
    out = set(spans) | ({(0, n)} if n >= 2 else set())
    for i, j in sorted(out):
        children, k = [], i
        while k < j:  # greedy: the longest span starting at k that fits strictly inside (i, j)
            ends = [e for (s, e) in out if s == k and e <= j and (s, e) != (i, j)]
            e = max(ends) if ends else k + 1
            children.append((k, e))
            k = e
        for c in range(1, len(children) - 1):
            out.add((children[c][0], j))
    return frozenset(out)


def read_targets(paths: Sequence, keep_empty: bool = False) -> tuple[list[list[str]], list[dict], list[list[frozenset]]]:
    """Read K line-aligned tree files (``keep_empty``: empty lines are allowed and skipped).

    Returns ``(sentences, targets, references)``: the tokens (from the first file), per sentence
    a dict ``{(i, j): fraction of the K trees holding (i, j)}`` over spans of length >= 2 (n-ary
    nodes right-binarized), and the K span sets (for scoring agreement).  Files must have the same
    number of lines and the same token count per line.
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise TreeFileError("no tree files given")
    per_file = [_read_tree_file(p, keep_empty) for p in paths]
    sentences = per_file[0][0]
    for p, (toks, _) in zip(paths[1:], per_file[1:]):
        if len(toks) != len(sentences):
            raise TreeFileError(f"{p} has {len(toks)} trees but {paths[0]} has {len(sentences)}; "
                                "tree files must be line-aligned")
        for line, (a, b) in enumerate(zip(sentences, toks), start=1):
            if len(a) != len(b):
                raise TreeFileError(f"{p}:{line}: tree has {len(b)} words but {paths[0]}:{line} has "
                                    f"{len(a)}; tree files must be line-aligned")
    if keep_empty:  # an empty line (in every file: they are aligned) is no training sentence
        keep = [s for s, sent in enumerate(sentences) if sent]
        sentences = [sentences[s] for s in keep]
        per_file = [([f[0][s] for s in keep], [f[1][s] for s in keep]) for f in per_file]
    if not sentences:
        raise TreeFileError(f"empty training set: {paths[0]} holds no trees")
    k = len(paths)
    targets, refs = [], []
    for s, sent in enumerate(sentences):
        n = len(sent)
        trees = [_binarized(f[1][s], n) for f in per_file]
        counts: dict = {}
        for t in trees:
            for span in t:
                counts[span] = counts.get(span, 0) + 1
        targets.append({span: c / k for span, c in counts.items()})
        refs.append(trees)
    return sentences, targets, refs


def read_sentences(source: str | Path | Iterable[str], name: str = "<input>") -> list[list[str]]:
    """Tokenized sentences, one per line (whitespace separated), or bracket trees (their leaves).

    ``source``: a path or an iterable of lines.  Empty lines are errors (they would misalign the
    output).
    """
    if isinstance(source, (str, Path)):
        name = str(source)
        data = Path(source).read_bytes()
        try:
            lines = data.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise TreeFileError(f"{name}:{line}: not valid UTF-8 ({exc.reason})") from None
    else:
        lines = [line.rstrip("\n") for line in source]
    out = []
    for line_no, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            raise TreeFileError(f"{name}:{line_no}: empty line; expected one tokenized sentence or "
                                "one bracket tree per line")
        if text.startswith("("):
            try:
                tb = _tree_io().parse_trees([text], source=f"{name}:{line_no}")
            except ValueError as exc:
                raise TreeFileError(str(exc)) from None
            out.append(tb.words(0))
        else:
            out.append(text.split())
    return out


def spans_to_bracket(sentences: Sequence[Sequence[str]], spans: Sequence) -> list[str]:
    """Binary trees given as spans (rows ``[start, end)`` of their internal nodes, as returned by
    the CYK kernel) -> bracket strings with label ``X``, e.g. ``(X (X a) (X b))``."""
    import numpy as np

    from ensemblekd.trees.write import format_trees, pack_words

    n_words = np.array([len(s) for s in sentences], dtype=np.int64)
    rows = [np.asarray(sp, dtype=np.int64).reshape(-1, 2) for sp in spans]
    offsets = np.concatenate([[0], np.cumsum([r.shape[0] for r in rows])]).astype(np.int64)
    flat = np.concatenate(rows) if rows else np.zeros((0, 2), np.int64)
    text, bounds, w_off = pack_words(sentences, n_words, source="sentences")
    return format_trees(n_words, flat, offsets, text, bounds, w_off, label="X")


def _sentence_f1(ref: frozenset, pred: frozenset, n: int) -> float | None:
    """Sentence F1 over spans of length >= 2 without the whole span (None when n == 1)."""
    if n < 2:
        return None
    r = {s for s in ref if 2 <= s[1] - s[0] < n}
    p = {s for s in pred if 2 <= s[1] - s[0] < n}
    if not r and not p:
        return 1.0
    hit = len(r & p)
    prec = hit / len(p) if p else 0.0
    rec = hit / len(r) if r else 0.0
    return 0.0 if hit == 0 else 2 * prec * rec / (prec + rec)


def mean_f1(references: Sequence[Sequence[frozenset]], predictions: Sequence[frozenset],
            lengths: Sequence[int]) -> float:
    """Sentence-level F1 (x100) of ``predictions`` averaged over sentences and over each
    sentence's K references (the agreement with the targets used for early stopping)."""
    scores = []
    for refs, pred, n in zip(references, predictions, lengths):
        vals = [_sentence_f1(r, pred, n) for r in refs]
        if vals and vals[0] is not None:
            scores.append(sum(vals) / len(vals))
    return 100.0 * sum(scores) / len(scores) if scores else 0.0


# --------------------------------------------------------------------------- model wrapper
class Parser:
    """A trained student: ``parse(sentences) -> bracket strings``."""

    def __init__(self, model, vocab: Vocab, config: ParserConfig, device):
        self.model, self.vocab, self.config, self.device = model, vocab, config, device

    def predict_spans(self, sentences: Sequence[Sequence[str]], batch_size: int = 64,
                      decode: str = "viterbi", progress: bool = False) -> list:
        """Per sentence, int64 (n-1, 2) rows ``[start, end)`` of the predicted tree's internal nodes.

        ``decode="viterbi"``: the tree with the largest total span score.  ``"mbr"``: the tree
        with the largest sum of span *marginals* under the tree CRF (minimum Bayes risk for span
        recall; for a student trained on K teachers' trees the marginals estimate each span's
        vote share, so this mirrors the generative average itself).  Both decode with the CYK
        kernel; mbr adds one inside-outside pass, O(N^3) per batch.  ``progress``: a tqdm bar on stderr.
        """
        import torch

        from ensemblekd.trees.cyk import cyk_best_trees

        from .tree_crf import span_marginals

        if decode not in DECODERS:
            raise ValueError(f"decode={decode!r}; expected one of {DECODERS}")
        self.model.eval()
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        out: list = [None] * len(sentences)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(sentences), desc=f"parse ({decode})", unit="sent", leave=False)
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                batch = [sentences[i] for i in idx]
                words, chars, lens = self.vocab.encode(batch, self.config.max_word_chars, self.device)
                scores = self.model(words, chars, lens).double()
                if decode == "mbr":
                    scores = span_marginals(scores, lens.to(scores.device))
                scores = scores.cpu().numpy()
                mats = [scores[b, : len(sentences[i]), : len(sentences[i]) + 1]
                        for b, i in enumerate(idx)]
                for i, spans in zip(idx, cyk_best_trees(mats)):
                    out[i] = spans
                if bar is not None:
                    bar.update(len(idx))
        if bar is not None:
            bar.close()
        return out

    def parse(self, sentences: Sequence[Sequence[str]], batch_size: int = 64,
              decode: str = "viterbi", progress: bool = False) -> list[str]:
        """Bracket strings (label X) for tokenized sentences; see :meth:`predict_spans`."""
        for k, s in enumerate(sentences, start=1):
            if len(s) == 0:
                raise TreeFileError(f"sentence {k} is empty; expected at least one token")
        return spans_to_bracket(sentences, self.predict_spans(sentences, batch_size, decode, progress))


def load_parser(model_dir, device: str = "cpu") -> Parser:
    """Load a student saved by :func:`train_parser`; clear errors for foreign checkpoints."""
    import torch
    from safetensors.torch import load_file

    from .model import SpanParser

    model_dir = Path(model_dir)
    cfg_path = model_dir / "config.json"
    if not cfg_path.is_file():
        raise CheckpointError(f"{model_dir} is not a parser checkpoint: no config.json")
    try:
        cfg = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{cfg_path}: not valid JSON ({exc})") from None
    arch = cfg.get("architecture") if isinstance(cfg, dict) else None
    if arch != ARCHITECTURE:
        raise CheckpointError(f"{model_dir} holds a checkpoint of architecture {arch!r}, not "
                              f"{ARCHITECTURE!r}; it cannot be loaded as a span-parser student")
    config = ParserConfig.from_dict(cfg["parser"])
    vocab_path, weights_path = model_dir / "vocab.json", model_dir / "model.safetensors"
    for p in (vocab_path, weights_path):
        if not p.is_file():
            raise CheckpointError(f"{model_dir} is incomplete: {p.name} is missing")
    vocab = Vocab.from_dict(json.loads(vocab_path.read_text()))
    dev = resolve_device(device)
    model = SpanParser(config, len(vocab.words), len(vocab.chars))
    try:
        model.load_state_dict(load_file(str(weights_path)), strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(f"{weights_path} does not match the architecture in {cfg_path} "
                              f"(another architecture or config?): {' '.join(first[:3])}") from None
    return Parser(model.to(dev).eval(), vocab, config, dev)


# --------------------------------------------------------------------------- training
def split_dev(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, dev indices): a seeded random ``fraction`` of range(n) held out."""
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    n_dev = int(round(fraction * n))
    return sorted(idx[n_dev:]), sorted(idx[:n_dev])


def train_parser(trees, out_dir, parser_config: ParserConfig | None = None,
                 train_config: TrainConfig | None = None, dev_trees=None,
                 dev_fraction: float = 0.1, quiet: bool = False, after_epoch=None,
                 keep_empty: bool = False) -> TrainResult:
    """Train a student on ``trees`` (one path, or K line-aligned paths for union distillation).

    Early stopping / model selection: on ``dev_trees`` (paths) when given, else on a random
    ``dev_fraction`` of the training sentences, which are then held out of training; the score
    is :func:`mean_f1` against the targets.  ``dev_fraction=0`` and no ``dev_trees`` keeps the
    last epoch.
    """
    pconf = parser_config or ParserConfig()
    tconf = train_config or TrainConfig()
    if not 0.0 <= dev_fraction < 1.0:
        raise ValueError(f"dev_fraction must be in [0, 1); got {dev_fraction!r}")
    sentences, targets, refs = read_targets(trees, keep_empty)
    if dev_trees:
        d_sent, _, d_refs = read_targets(dev_trees, keep_empty)
        train_idx = list(range(len(sentences)))
    else:
        train_idx, dev_idx = split_dev(len(sentences), dev_fraction, tconf.seed)
        d_sent, d_refs = [sentences[i] for i in dev_idx], [refs[i] for i in dev_idx]
        if not train_idx:
            raise TreeFileError("empty training set after holding out the dev sentences")
    train_sent = [sentences[i] for i in train_idx]
    train_tgt = [targets[i] for i in train_idx]
    vocab = Vocab.build(train_sent, pconf.lowercase, pconf.char_case)

    dev_eval = None
    if d_sent:
        dev_lengths = [len(s) for s in d_sent]

        def dev_eval(model):
            parser = Parser(model, vocab, pconf, next(model.parameters()).device)
            pred = [frozenset(map(tuple, sp.tolist())) for sp in parser.predict_spans(d_sent)]
            return mean_f1(d_refs, pred, dev_lengths)

    return train_loop(out_dir, vocab, pconf, tconf, train_sent, train_tgt, dev_eval, _cyk(),
                      quiet=quiet, after_epoch=after_epoch)
