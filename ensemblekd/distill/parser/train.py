"""Training loop of the parser student on ``accelerate``: devices, processes, resumable, early stopping on dev.

``accelerate`` owns the device and the processes (``--device cuda``, or several GPUs / CPU processes under
``accelerate launch`` / ``torchrun``: each batch is split across the ranks, gradients are averaged by DDP and
the loss is scaled so that the update equals the single-process one); the loop, the structured losses,
checkpointing and early stopping are ours (the HF ``Trainer`` would bring nothing for a per-epoch dev
selection on a non-HF model).  Only the main process writes files.

One loop, two structured losses (``TrainConfig.loss``):

* ``crf`` -- tree CRF negative log-likelihood (inside algorithm, :mod:`.tree_crf`);
* ``margin`` -- max-margin with loss-augmented CYK decoding (Stern et al. 2017): the most
  violating tree under ``s + Hamming`` is found with the library's CYK kernel, and the hinge
  ``max(0, S(T_hat) + Delta(T_hat) - S(target))`` is minimised.

Targets are span-weight matrices: 1 on the spans of one target tree, or the fraction of K target
trees holding each span (union distillation = the mean of the K losses).

Checkpoint directory ``out_dir``:

* ``config.json`` -- architecture id, ParserConfig, TrainConfig and a hash of the training data;
* ``vocab.json``, ``model.safetensors`` -- the best model so far (by dev score; the last one when
  there is no dev set);
* ``state.pt`` -- everything needed to resume (weights, optimizer, epoch, best score, history);
* ``history.json`` -- loss and dev score per epoch.

Every file is written atomically (temporary file in the same directory, fsync, ``os.replace``)
once per epoch, so a run killed at any point resumes from its last finished epoch.  Shuffling,
word dropout and dropout are seeded per epoch from ``seed``, so a resumed run gives the same
weights as an uninterrupted one.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .config import ParserConfig, TrainConfig
from .model import ARCHITECTURE, SpanParser, Vocab
from .tree_crf import tree_crf_loss

__all__ = ["TrainConfig", "TrainResult", "train_loop", "resolve_device", "CheckpointError"]

class CheckpointError(ValueError):
    """A checkpoint directory that cannot be used (wrong architecture, other config, corrupt)."""


# keys that may differ between a run and its resumption
_RESUMABLE_KEYS = ("epochs", "patience", "device", "threads")


@dataclass
class TrainResult:
    out_dir: Path
    epochs_run: int
    best_epoch: int
    best_dev: float | None
    history: list


def resolve_device(name: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda[:N]``, ``mps`` -> torch.device (the library's one rule, :mod:`ensemblekd._runtime`)."""
    from ..._runtime import resolve_device as resolve

    return torch.device(resolve(name))


def atomic_write(path: Path, write: Callable) -> None:
    from ..._runtime import atomic_write_with

    atomic_write_with(path, write)


def _write_json(path: Path, obj) -> None:
    atomic_write(path, lambda fh: fh.write(json.dumps(obj, indent=1, sort_keys=True).encode()))


def data_fingerprint(sentences, targets) -> str:
    h = hashlib.sha256()
    for sent, tgt in zip(sentences, targets):
        h.update(json.dumps([list(sent), sorted(map(list, tgt.items()))]).encode())
    return h.hexdigest()


def _batches(order: Sequence[int], lengths: Sequence[int], batch_size: int, rng: random.Random):
    """Length-bucketed batches: sort a shuffled order by length, cut, then shuffle the batches."""
    by_len = sorted(order, key=lambda i: lengths[i])
    batches = [by_len[k:k + batch_size] for k in range(0, len(by_len), batch_size)]
    rng.shuffle(batches)
    return batches


def _target_matrix(targets, lengths, idx, n_max, device):
    """(B, N+1, N+1) span weights; the spans every tree holds (length 1, whole) get weight 1."""
    w = torch.zeros(len(idx), n_max + 1, n_max + 1)
    for b, i in enumerate(idx):
        n = lengths[i]
        w[b, torch.arange(n), torch.arange(1, n + 1)] = 1.0
        w[b, 0, n] = 1.0
        for (lo, hi), weight in targets[i].items():
            w[b, lo, hi] = weight
    return w.to(device)


def _margin_loss(scores, lengths, weights, cyk):
    """Hinge with Hamming cost (1 - w_ij per predicted span); CYK on detached scores.

    Compares the spans of length >= 2 (the CYK kernel returns a tree's internal nodes)."""
    losses = []
    long_spans = torch.triu(torch.ones_like(weights[0]), diagonal=2)
    aug = (scores.detach() + (1.0 - weights)).double().cpu().numpy()
    for b, n in enumerate(lengths.tolist()):
        pred = cyk(np.ascontiguousarray(aug[b, :n, : n + 1]))
        ii = torch.tensor([s[0] for s in pred], dtype=torch.long, device=scores.device)
        jj = torch.tensor([s[1] for s in pred], dtype=torch.long, device=scores.device)
        pred_score = scores[b, ii, jj].sum() + (1.0 - weights[b, ii, jj]).sum()
        gold_score = (scores[b] * weights[b] * long_spans).sum()
        losses.append(torch.relu(pred_score - gold_score))
    return torch.stack(losses)


def train_loop(out_dir, vocab: Vocab, pconf: ParserConfig, tconf: TrainConfig,
               sentences, targets, dev_eval: Callable | None, cyk: Callable,
               quiet: bool = False, after_epoch: Callable | None = None) -> TrainResult:
    """Train (or resume) a student in ``out_dir``.

    ``sentences``: token lists; ``targets``: per sentence a dict {(i, j): weight} over spans with
    2 <= j - i (length-1 spans are in every tree); ``dev_eval(model) -> float`` (higher is better)
    or None; ``cyk(scores (n, n+1) float64) -> spans``; ``after_epoch(epoch)`` is a test hook.
    """
    from accelerate import Accelerator

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    requested = resolve_device(tconf.device)
    if tconf.threads is not None:
        torch.set_num_threads(tconf.threads)
    acc = Accelerator(cpu=requested.type == "cpu")
    device, rank, world, main = acc.device, acc.process_index, acc.num_processes, acc.is_main_process
    config = {"architecture": ARCHITECTURE, "parser": pconf.to_dict(), "train": asdict(tconf),
              "data": {"sentences": len(sentences), "sha256": data_fingerprint(sentences, targets)}}
    state_path = out_dir / "state.pt"
    torch.manual_seed(tconf.seed)  # the initial weights depend on the seed only
    core = SpanParser(pconf, len(vocab.words), len(vocab.chars)).to(device)
    opt = torch.optim.Adam(core.parameters(), lr=tconf.lr)
    start_epoch, best, best_epoch, history, bad = 1, None, 0, [], 0
    if not state_path.exists() and (out_dir / "config.json").exists():
        _check_not_foreign(out_dir)
    if state_path.exists():
        _check_resumable(out_dir, config)
        state = torch.load(state_path, map_location=device, weights_only=False)
        core.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start_epoch = state["epoch"] + 1
        best, best_epoch, history, bad = state["best"], state["best_epoch"], state["history"], state["bad"]
        if not quiet and main:
            print(f"resuming {out_dir} after epoch {state['epoch']}", file=sys.stderr)
    acc.wait_for_everyone()
    if main:
        _write_json(out_dir / "config.json", config)
        _write_json(out_dir / "vocab.json", vocab.to_dict())
    model, opt = acc.prepare(core, opt)

    lengths = [len(s) for s in sentences]
    for epoch in range(start_epoch, tconf.epochs + 1):
        if tconf.patience is not None and bad >= tconf.patience:
            break
        t0, c0 = time.time(), time.process_time()
        seed = tconf.seed * 100003 + epoch
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        rng = random.Random(seed)
        model.train()
        total, count = 0.0, 0
        for whole in _batches(list(range(len(sentences))), lengths, tconf.batch_size, rng):
            # this rank's share of the batch; a rank left without one reruns the first sentence at weight 0
            idx = whole[rank::world] or whole[:1]
            share = 0.0 if not whole[rank::world] else 1.0
            batch = [sentences[i] for i in idx]
            words, chars, lens = vocab.encode(batch, pconf.max_word_chars, device,
                                              unk_alpha=tconf.unk_alpha, generator=gen)
            scores = model(words, chars, lens)
            weights = _target_matrix(targets, lengths, idx, int(lens.max()), device)
            if tconf.loss == "crf":
                loss = tree_crf_loss(scores, lens.to(device), weights)
            else:
                loss = _margin_loss(scores, lens, weights, cyk)
            opt.zero_grad()
            # DDP averages the ranks' gradients: sum / global batch size * world == the single-process mean
            acc.backward(loss.sum().mul(share * world / len(whole)))
            acc.clip_grad_norm_(model.parameters(), tconf.clip)
            opt.step()
            total += float(loss.detach().sum()) * share
            count += len(idx) if share else 0
        if world > 1:   # the logged loss is the global mean, not rank 0's share
            total, count = acc.reduce(torch.tensor([total, float(count)], device=device), "sum").tolist()
        model.eval()
        dev = float(dev_eval(core)) if dev_eval is not None else None
        improved = dev is None or best is None or dev > best
        if improved:
            best, best_epoch, bad = dev, epoch, 0
            if main:
                weights_cpu = {k: v.detach().cpu().contiguous() for k, v in core.state_dict().items()}
                atomic_write(out_dir / "model.safetensors",
                             lambda fh: fh.write(_safetensors_bytes(weights_cpu)))
        else:
            bad += 1
        history.append({"epoch": epoch, "loss": total / max(count, 1), "dev": dev,
                        "seconds": round(time.time() - t0, 2),
                        "cpu_seconds": round(time.process_time() - c0, 2)})
        if main:
            state = {"model": core.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
                     "best": best, "best_epoch": best_epoch, "history": history, "bad": bad}
            atomic_write(state_path, lambda fh: torch.save(state, fh))
            _write_json(out_dir / "history.json", history)
        acc.wait_for_everyone()
        if not quiet and main:
            dev_txt = "" if dev is None else f" dev {dev:.2f}{' *' if improved else ''}"
            print(f"epoch {epoch}/{tconf.epochs} loss {history[-1]['loss']:.4f}{dev_txt} "
                  f"({history[-1]['seconds']:.0f}s)", file=sys.stderr)
        if after_epoch is not None:
            after_epoch(epoch)
    return TrainResult(out_dir, len(history), best_epoch, best, history)


def _safetensors_bytes(tensors) -> bytes:
    from safetensors.torch import save

    return save(tensors, metadata={"architecture": ARCHITECTURE})


def _check_not_foreign(out_dir: Path) -> None:
    """Refuse to write into a directory holding another kind of checkpoint (e.g. an HF model)."""
    try:
        arch = json.loads((out_dir / "config.json").read_text()).get("architecture")
    except (OSError, json.JSONDecodeError, AttributeError):
        arch = None
    if arch != ARCHITECTURE:
        raise CheckpointError(f"{out_dir} already holds a config.json that is not a span-parser "
                              "checkpoint (another model?); use another output directory")


def _check_resumable(out_dir: Path, config: dict) -> None:
    path = out_dir / "config.json"
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{out_dir} holds state.pt but its config.json is unreadable ({exc}); "
                              "use another output directory") from None
    diff = []
    for key in ("architecture", "parser", "data"):
        if old.get(key) != config[key]:
            diff.append(key)
    old_train = {k: v for k, v in old.get("train", {}).items() if k not in _RESUMABLE_KEYS}
    new_train = {k: v for k, v in config["train"].items() if k not in _RESUMABLE_KEYS}
    diff += [f"train.{k}" for k in sorted(set(old_train) | set(new_train))
             if old_train.get(k) != new_train.get(k)]
    if diff:
        raise CheckpointError(f"{out_dir} holds an unfinished run with a different configuration "
                              f"({', '.join(diff)} differ); resume with the same arguments or use "
                              "another output directory")
