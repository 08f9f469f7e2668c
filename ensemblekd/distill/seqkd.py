"""Fine-tune a seq2seq student on (source, teacher output) pairs: sequence-level KD, resumable.

Sequence-level knowledge distillation (Kim & Rush, EMNLP 2016): the student is trained with
cross-entropy on the teacher's decoded outputs as if they were references.  In
ensemble-then-distill (Wen et al., AAAI 2025) the teacher is an ensemble decoded with EBBS and
the student is initialised from the base model.  With ``loss`` in ``kl|rkl|js|tvd`` the
word-level f-divergence losses of :mod:`ensemblekd.distill.losses` (Wen et al., ACL 2023) are
used instead, against the averaged next-token distribution of the teacher's components
(white-box teacher); the teacher-sampled prefixes are the ensemble's decoded outputs and the
student-sampled prefixes are drawn from the student during training.

Data: a list of :class:`TrainExample`, each already tokenised by the language adapter:
``input_ids`` (encoder input), ``prompt`` (the decoder prompt the decoder will be given at
inference, e.g. ``[</s>, __fr__]``) and ``target`` (output tokens ending with EOS).  The decoder
is fed ``prompt + target[:-1]`` and the loss covers exactly the ``target`` tokens, so the
student learns what it will be asked at decoding time (a forced language token is never a
label).  Several directions can be mixed in one list.

Batches are token-bucketed: examples sorted by length and packed so that
``batch_size * max(padded source, padded target) <= max_tokens``; the batch order is reshuffled
each epoch from ``(seed, epoch)`` alone, so a resumed run sees the same batches in the same
order.  A checkpoint (model, optimizer, scheduler, every RNG state, epoch and batch position)
is written atomically every ``save_every`` steps; :func:`train_seqkd` on the same output
directory continues from it and, on CPU, ends with the same weights as an uninterrupted run.

Cost per step: one forward/backward of the student on the batch; the word-level losses add
K teacher forwards (K components) and, for rkl/js/tvd, one sampling pass of the student.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

__all__ = ["SeqKDConfig", "TrainExample", "TrainResult", "ArchitectureMismatchError", "make_batches",
           "collate", "train_seqkd", "sequence_loss", "LOSSES"]

LOSSES = ("seqkd", "kl", "rkl", "js", "tvd")
CHECKPOINT = "trainer_state.pt"


class ArchitectureMismatchError(ValueError):
    """A checkpoint or student model of another architecture than the one being trained."""


@dataclass(frozen=True)
class TrainExample:
    """One tokenised training pair.  ``teacher_inputs``: encoder inputs of the K teacher
    components (needed by the word-level losses only; e.g. the source and its pivot texts)."""

    input_ids: tuple[int, ...]
    prompt: tuple[int, ...]
    target: tuple[int, ...]
    teacher_inputs: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self):
        if not self.input_ids:
            raise ValueError("TrainExample.input_ids is empty")
        if not self.prompt:
            raise ValueError("TrainExample.prompt is empty (needs at least the decoder start token)")
        if not self.target:
            raise ValueError("TrainExample.target is empty (needs at least EOS)")


@dataclass
class SeqKDConfig:
    """Training settings.  ``max_steps`` (if set) overrides ``epochs``; ``warmup_steps`` of linear
    warm-up then linear decay to 0; ``save_every`` steps between checkpoints."""

    epochs: int = 1
    max_steps: Optional[int] = None
    lr: float = 3e-4
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_tokens: int = 4096
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    loss: str = "seqkd"
    kd_max_new_tokens: int = 64
    seed: int = 0
    save_every: int = 200
    device: str = "cpu"

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss={self.loss!r}; expected one of {LOSSES}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        for name in ("warmup_steps", "weight_decay", "label_smoothing", "grad_clip"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.max_tokens < 1 or self.save_every < 1 or self.kd_max_new_tokens < 1:
            raise ValueError("max_tokens, save_every and kd_max_new_tokens must be >= 1")
        if self.label_smoothing >= 1:
            raise ValueError(f"label_smoothing must be < 1, got {self.label_smoothing}")

    def fingerprint(self) -> dict:
        """What a resumed run must share with the stored one (device and save_every may change)."""
        d = asdict(self)
        d.pop("device")
        d.pop("save_every")
        return d


@dataclass
class TrainResult:
    steps: int
    epochs_started: int
    losses: list[float] = field(default_factory=list)  # per step, this process only
    resumed_from: int = 0


# --------------------------------------------------------------------------- batching
def _length(ex: TrainExample) -> int:
    return max(len(ex.input_ids), len(ex.prompt) + len(ex.target) - 1)


def make_batches(examples: Sequence[TrainExample], max_tokens: int, seed: int = 0) -> list[list[int]]:
    """Token-bucketed batches of example indices.

    Examples are grouped by prompt length (so a batch shares its prompt shape), sorted by
    length (ties broken by a seeded shuffle) and packed greedily so that
    ``len(batch) * max length in batch <= max_tokens`` (a single longer example forms its own
    batch).  Deterministic in ``seed``.  O(N log N).
    """
    rng = random.Random(seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    order.sort(key=lambda i: (len(examples[i].prompt), _length(examples[i])))
    batches: list[list[int]] = []
    cur: list[int] = []
    cur_max = 0
    for i in order:
        n = _length(examples[i])
        same_prompt = not cur or len(examples[cur[0]].prompt) == len(examples[i].prompt)
        if cur and (not same_prompt or (len(cur) + 1) * max(cur_max, n) > max_tokens):
            batches.append(cur)
            cur, cur_max = [], 0
        cur.append(i)
        cur_max = max(cur_max, n)
    if cur:
        batches.append(cur)
    return batches


def _pad(rows: Sequence[Sequence[int]], value: int):
    import torch

    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for j, r in enumerate(rows):
        out[j, : len(r)] = torch.tensor(list(r), dtype=torch.long)
    return out


def collate(examples: Sequence[TrainExample], pad_id: int) -> dict:
    """Right-padded tensors: input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
    labels (-100 on the prompt positions and on padding)."""
    dec = [ex.prompt + ex.target[:-1] for ex in examples]
    lab = [(-100,) * (len(ex.prompt) - 1) + ex.target for ex in examples]
    input_ids = _pad([ex.input_ids for ex in examples], pad_id)
    dec_ids = _pad(dec, pad_id)
    return {
        "input_ids": input_ids,
        "attention_mask": _pad([[1] * len(ex.input_ids) for ex in examples], 0),
        "decoder_input_ids": dec_ids,
        "decoder_attention_mask": _pad([[1] * len(d) for d in dec], 0),
        "labels": _pad(lab, -100),
    }


def sequence_loss(model, batch: dict, label_smoothing: float = 0.0):
    """Token-mean cross-entropy of ``model`` on a collated batch (the SeqKD loss)."""
    import torch.nn.functional as F

    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                decoder_input_ids=batch["decoder_input_ids"],
                decoder_attention_mask=batch["decoder_attention_mask"])
    logits = out.logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), batch["labels"].reshape(-1),
                           ignore_index=-100, label_smoothing=label_smoothing)


# --------------------------------------------------------------------------- checkpoints
def _examples_digest(examples: Sequence[TrainExample]) -> str:
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps([ex.input_ids, ex.prompt, ex.target, ex.teacher_inputs]).encode())
    return h.hexdigest()


def _arch(model) -> dict:
    cfg = model.config
    return {"model_type": getattr(cfg, "model_type", None),
            "architectures": [type(model).__name__],
            "num_parameters": sum(p.numel() for p in model.parameters())}


def _rng_state() -> dict:
    import numpy as np
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(path: Path, payload: dict) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(payload, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load_checkpoint(path: Path, model, meta: dict) -> dict:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)
    stored = state.get("meta", {})
    if stored.get("arch") != meta["arch"]:
        raise ArchitectureMismatchError(
            f"{path}: checkpoint of a student with architecture {stored.get('arch')}, but the student being "
            f"trained is {meta['arch']}; use another output directory")
    for key, what in (("config", "training configuration"), ("data", "training data")):
        if stored.get(key) != meta[key]:
            diff = ""
            if key == "config":
                diff = "; ".join(f"{k}: {stored[key].get(k)!r} (stored) != {meta[key].get(k)!r} (now)"
                                 for k in sorted(set(stored[key]) | set(meta[key]))
                                 if stored[key].get(k) != meta[key].get(k))
            raise ValueError(f"{path}: checkpoint was trained with a different {what}; refusing to resume"
                             + (f" ({diff})" if diff else "") + ". Use another output directory.")
    missing, unexpected = model.load_state_dict(state["model"], strict=False)
    if missing or unexpected:
        raise ArchitectureMismatchError(f"{path}: checkpoint weights do not fit the student "
                                        f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return state


# --------------------------------------------------------------------------- training
def train_seqkd(model, examples: Sequence[TrainExample], out_dir: str | os.PathLike, config: SeqKDConfig, *,
                pad_id: int, tokenizer=None, teacher=None, eos_id: Optional[int] = None, quiet: bool = False,
                on_step: Optional[Callable[[int, float], None]] = None, save_final: bool = True,
                checkpoint_dir: Optional[str | os.PathLike] = None) -> TrainResult:
    """Train ``model`` in place on ``examples``; resume from ``out_dir/checkpoint`` if present.

    Args:
        model: a Hugging Face encoder-decoder (``model(input_ids, attention_mask,
            decoder_input_ids, ...)`` returning ``.logits``); moved to ``config.device``.
        examples: the training pairs (at least one).
        out_dir: receives, at the end, the student as a standard checkpoint (``save_pretrained``,
            plus ``tokenizer`` if given).
        checkpoint_dir: where the resumable ``trainer_state.pt`` lives (default
            ``out_dir/checkpoint``).
        teacher: frozen model scoring the word-level losses (``loss != "seqkd"``); every example
            must then carry ``teacher_inputs``.
        on_step: called as ``on_step(step, loss)`` after each step (and after its checkpoint).

    Returns:
        :class:`TrainResult`.  Raises ValueError on an empty training set or a checkpoint of a
        different configuration/data, :class:`ArchitectureMismatchError` on one of another
        architecture.
    """
    import torch
    from tqdm.auto import tqdm

    if len(examples) == 0:
        raise ValueError("empty training set: no (source, target) pairs to train the student on")
    if config.loss != "seqkd":
        if teacher is None:
            raise ValueError(f"loss={config.loss!r} needs a white-box teacher model (teacher=...)")
        if eos_id is None:
            raise ValueError(f"loss={config.loss!r} needs eos_id")
        bad = next((i for i, ex in enumerate(examples) if not ex.teacher_inputs), None)
        if bad is not None:
            raise ValueError(f"loss={config.loss!r}: example {bad} has no teacher_inputs")
    device = torch.device(config.device)
    out_dir = Path(out_dir)
    ckpt = (Path(checkpoint_dir) if checkpoint_dir is not None else out_dir / "checkpoint") / CHECKPOINT
    batches = make_batches(examples, config.max_tokens, config.seed)
    total = config.max_steps if config.max_steps is not None else config.epochs * len(batches)
    meta = {"arch": _arch(model), "config": config.fingerprint(), "data": _examples_digest(examples)}

    torch.manual_seed(config.seed)
    random.seed(config.seed)
    model.to(device)
    model.train()
    if teacher is not None:
        teacher.to(device)
        teacher.eval()
        teacher.requires_grad_(False)
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    warm = config.warmup_steps

    def schedule(step: int) -> float:
        if warm and step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / max(1, total - warm))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    step, epoch, pos = 0, 0, 0
    if ckpt.exists():
        state = _load_checkpoint(ckpt, model, meta)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        step, epoch, pos = state["step"], state["epoch"], state["position"]
    result = TrainResult(steps=step, epochs_started=epoch, resumed_from=step)

    bar = tqdm(total=total, initial=step, desc="distill", unit="step", disable=quiet, dynamic_ncols=True)
    try:
        while step < total:
            order = list(range(len(batches)))
            random.Random(config.seed * 1_000_003 + epoch).shuffle(order)
            while pos < len(order) and step < total:
                batch_ex = [examples[i] for i in batches[order[pos]]]
                loss = _step_loss(model, teacher, batch_ex, config, pad_id, eos_id, device)
                loss.backward()
                if config.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                pos += 1
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise FloatingPointError(f"step {step}: loss is {value}; lower --lr")
                result.losses.append(value)
                bar.update(1)
                bar.set_postfix(loss=f"{value:.3f}", epoch=epoch)
                if step % config.save_every == 0 or step == total:
                    _save_checkpoint(ckpt, {
                        "meta": meta, "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "rng": _rng_state(), "step": step, "epoch": epoch, "position": pos})
                if on_step is not None:
                    on_step(step, value)
            if pos >= len(order):
                epoch, pos = epoch + 1, 0
    finally:
        bar.close()
    result.steps, result.epochs_started = step, epoch
    model.eval()
    if save_final:
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        if quiet:
            hf_logging.disable_progress_bar()
        try:
            model.save_pretrained(out_dir)
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        if tokenizer is not None:
            tokenizer.save_pretrained(out_dir)
    return result


def _step_loss(model, teacher, batch_ex, config: SeqKDConfig, pad_id: int, eos_id, device):
    batch = {k: v.to(device) for k, v in collate(batch_ex, pad_id).items()}
    if config.loss == "seqkd":
        return sequence_loss(model, batch, config.label_smoothing)
    from .word_kd import word_level_loss

    return word_level_loss(model, teacher, batch_ex, batch, config, pad_id, eos_id, device)
