"""Train the MT student on the Hugging Face training engine: SeqKD and word-level KD losses.

Sequence-level knowledge distillation (Kim & Rush, EMNLP 2016): the student is trained with cross-entropy
on the teacher's decoded outputs as if they were references.  In ensemble-then-distill (Wen et al., AAAI
2025) the teacher is an ensemble decoded with EBBS and the student is initialised from the base model.
With ``loss`` in ``kl|rkl|js|tvd`` the word-level f-divergence losses (Wen et al., ACL 2023;
:mod:`.word_kd`) are used instead, against the averaged next-token distribution of the teacher's
components (white-box teacher); ``skl|srkl`` are DistiLLM's skew divergences (``skew_alpha``), ``gkd`` is
on-policy mixing (a batch is sampled from the student with probability ``gkd_lambda``, the generalized
JSD with ``gkd_beta``; Agarwal et al., ICLR 2024) and ``llmr`` the policy gradient with the
teacher-induced reward (Li et al., COLING 2024; :mod:`.llmr`).  Student samples use ``kd_temperature``
and ``kd_top_p``.  GKD's draw and the seed of the student's samples are a pure function of (seed, process,
step, micro-batch): each process samples its own rows with its own random stream (the engine seeds every
process alike), and a resumed run draws what an uninterrupted one does.

Students: encoder-decoder models, and decoder-only LMs (examples with an empty decoder prompt: the LM's prompt
is masked, batches left-pad it, every loss reads the continuation's logits through :mod:`.causal`).

What is ours: the losses (:meth:`KDTrainer.compute_loss`), the token-bucketed batches
(:class:`.data.TokenBucketSampler`) and the data.  What is the engine's (``transformers.Seq2SeqTrainer`` on
``accelerate``): devices, processes (DDP under ``torchrun`` / ``accelerate launch``; FSDP and DeepSpeed
through their usual ``Seq2SeqTrainingArguments`` fields, see ``TrainConfig.trainer_args``), bf16/fp16,
gradient accumulation, optimizer and schedule (AdamW, linear warm-up and decay), checkpoints and resume,
``report_to`` logging.

Loss normalisation: the SeqKD loss (and the teacher-prefix half of the word-level losses) is the SUM of
token losses divided by the number of target tokens of the whole optimizer step, across gradient
accumulation and processes (the engine's ``num_items_in_batch``), scaled by the world size because DDP
averages gradients.  So W processes with ``max_tokens = M`` and one process with ``max_tokens = W * M``
compute the same update (up to float summation order) for ``seqkd``, ``kl``, ``skl`` and GKD's off-policy
batches.  A term on student samples (``rkl``, ``srkl``, ``llmr``, GKD's on-policy batches, half of ``js`` and
``tvd``) is the MEAN over the micro-batch's sampled tokens divided by the accumulation steps (DDP then
averages over processes): the number of sampled tokens of the other micro-batches and processes is not known
when it is computed, and the samples differ anyway.

Resume: checkpoints ``checkpoint_dir/checkpoint-N`` (the engine's format: weights, optimizer, scheduler,
RNG states, trainer state) every ``save_every`` steps; a rerun resumes from the last COMPLETE one (a
checkpoint whose ``trainer_state.json``, written last, exists; a half-written one left by a kill is
removed) after checking that the architecture, the training configuration and the data are the same
(``ensemblekd_train.json``).  On CPU a resumed run ends with the same weights as an uninterrupted one.
When training has finished, the state is pruned unless ``keep_state``.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from .config import LOSSES, PRECISIONS, TrainConfig
from .data import KDDataset, TokenBucketSampler, TrainExample, collate

__all__ = ["TrainConfig", "TrainResult", "ArchitectureMismatchError", "train_student", "LOSSES", "PRECISIONS",
           "last_checkpoint"]

META = "ensemblekd_train.json"


class ArchitectureMismatchError(ValueError):
    """A checkpoint or student model of another architecture than the one being trained."""


@dataclass
class TrainResult:
    steps: int
    losses: list[float] = field(default_factory=list)   # logged training losses, in order
    resumed_from: int = 0


def _examples_digest(examples: Sequence[TrainExample]) -> str:
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps([ex.input_ids, ex.prompt, ex.target, ex.teacher_inputs]).encode())
    return h.hexdigest()


def _arch(model) -> dict:
    return {"model_type": getattr(model.config, "model_type", None), "architectures": [type(model).__name__],
            "num_parameters": sum(p.numel() for p in model.parameters())}


def last_checkpoint(folder: str | os.PathLike, *, clean: bool = False) -> Optional[Path]:
    """The newest complete ``checkpoint-N`` in ``folder`` (its ``trainer_state.json`` exists); with
    ``clean``, half-written newer ones are removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = []
    for p in folder.iterdir():
        if p.is_dir() and p.name.startswith("checkpoint-") and p.name[11:].isdigit():
            found.append((int(p.name[11:]), p))
    best = None
    for _, p in sorted(found, reverse=True):
        if (p / "trainer_state.json").is_file():
            best = p
            break
        if clean:
            shutil.rmtree(p, ignore_errors=True)
    return best


def _check_meta(ckpt_dir: Path, meta: dict, is_main: bool) -> None:
    from ..._runtime import atomic_write_text

    path = ckpt_dir / META
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("arch") != meta["arch"]:
            raise ArchitectureMismatchError(
                f"{ckpt_dir}: checkpoints of a student with architecture {stored.get('arch')}, but the student "
                f"being trained is {meta['arch']}; use another output directory")
        for key, what in (("config", "training configuration"), ("data", "training data")):
            if stored.get(key) != meta[key]:
                diff = ""
                if key == "config":
                    diff = "; ".join(f"{k}: {stored[key].get(k)!r} (stored) != {meta[key].get(k)!r} (now)"
                                     for k in sorted(set(stored[key]) | set(meta[key]))
                                     if stored[key].get(k) != meta[key].get(k))
                raise ValueError(f"{ckpt_dir}: was trained with a different {what}; refusing to resume"
                                 + (f" ({diff})" if diff else "") + ". Use another output directory.")
    elif is_main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(meta, indent=1) + "\n")


def _trainer_class():
    """KDTrainer, built on first use so that importing this module does not import transformers."""
    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from transformers import Seq2SeqTrainer

    class _EpochLoader(DataLoader):
        def set_epoch(self, epoch: int) -> None:
            self.batch_sampler.set_epoch(epoch)

    class KDTrainer(Seq2SeqTrainer):
        """``Seq2SeqTrainer`` whose loss is ours (SeqKD or word-level KD) and whose batches are token buckets."""

        loss_is_scaled_for_ga = True

        def __init__(self, *args, kd_config: TrainConfig, pad_id: int, eos_id: Optional[int], teacher=None,
                     examples: Sequence[TrainExample] = (), stop_criteria=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.kd_config, self.pad_id, self.eos_id, self.teacher = kd_config, pad_id, eos_id, teacher
            self.kd_examples, self.stop_criteria = examples, stop_criteria
            self.model_accepts_loss_kwargs = True   # our compute_loss takes num_items_in_batch
            if teacher is not None:
                teacher.to(self.args.device).eval().requires_grad_(False)

        def _micro_batch(self) -> tuple[bool, int]:
            """``(on_policy, sample_seed)`` of this micro-batch, a pure function of (seed, process, step,
            micro-batch index): GKD samples it from the student with probability ``gkd_lambda`` (always False
            for the other losses), and the student's samples are drawn with ``sample_seed``, so that the ranks
            sample independently and a resumed run draws what an uninterrupted one does."""
            cfg = self.kd_config
            step = self.state.global_step
            micro = self._kd_micro + 1 if getattr(self, "_kd_step", None) == step else 0
            self._kd_step, self._kd_micro = step, micro
            rng = random.Random(f"{cfg.seed}/{self.args.process_index}/{step}/{micro}")
            draw = rng.random()
            on_policy = cfg.loss == "gkd" and (cfg.gkd_lambda == 1 or draw < cfg.gkd_lambda)
            return on_policy, rng.getrandbits(63)

        def get_train_dataloader(self):
            sampler = TokenBucketSampler(self.kd_examples, self.kd_config.max_tokens, self.kd_config.seed,
                                         rank=self.args.process_index, world_size=self.args.world_size)
            with_teacher = self.kd_config.loss != "seqkd"
            return _EpochLoader(self.train_dataset, batch_sampler=sampler, num_workers=0,
                                collate_fn=lambda items: collate(items, self.pad_id, with_teacher))

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs["labels"]
            n = num_items_in_batch if num_items_in_batch is not None else (labels != -100).sum()
            n = n.clamp_min(1) if hasattr(n, "clamp_min") else max(int(n), 1)
            scale = self.accelerator.num_processes if self.args.average_tokens_across_devices else 1
            cfg = self.kd_config
            outputs = None
            if cfg.loss == "seqkd":
                from .word_kd import student_logits

                logits = student_logits(model, inputs)
                total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1),
                                        ignore_index=-100, reduction="sum", label_smoothing=cfg.label_smoothing)
                loss = total / n * scale
            else:
                from .word_kd import word_level_terms

                on_policy, sample_seed = self._micro_batch()
                t_sum, s_mean = word_level_terms(cfg, model, self.teacher, inputs, pad_id=self.pad_id,
                                                 eos_id=self.eos_id, on_policy=on_policy, sample_seed=sample_seed,
                                                 stop_criteria=self.stop_criteria)
                loss = 0.0
                if t_sum is not None:
                    loss = loss + t_sum / n * scale
                if s_mean is not None:
                    accum = getattr(self, "current_gradient_accumulation_steps", self.args.gradient_accumulation_steps)
                    loss = loss + s_mean / accum
            if not math.isfinite(float(loss.detach())):
                raise FloatingPointError(f"step {self.state.global_step + 1}: loss is {float(loss)}; lower --lr")
            return (loss, outputs) if return_outputs else loss

    return KDTrainer


def _training_args(config: TrainConfig, ckpt_dir: Path, quiet: bool):
    from transformers import Seq2SeqTrainingArguments

    from ..._runtime import resolve_device

    device = resolve_device(config.device)
    kwargs = dict(
        output_dir=str(ckpt_dir), per_device_train_batch_size=1, gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr, weight_decay=config.weight_decay, max_grad_norm=float(config.grad_clip),  # 0: no clipping
        num_train_epochs=config.epochs, max_steps=config.max_steps if config.max_steps is not None else -1,
        lr_scheduler_type="linear", warmup_steps=config.warmup_steps, seed=config.seed, data_seed=config.seed,
        save_strategy="steps", save_steps=config.save_every, save_total_limit=2, logging_steps=config.logging_steps,
        report_to=config.report_to, disable_tqdm=quiet, remove_unused_columns=False,
        dataloader_pin_memory=device.startswith("cuda"), use_cpu=device == "cpu",
        bf16=config.precision == "bf16", fp16=config.precision == "fp16",
        average_tokens_across_devices=True, ddp_timeout=6 * 3600, log_level="warning" if not quiet else "error",
        ignore_data_skip=False, save_only_model=False, ddp_find_unused_parameters=False,
    )
    unknown = [k for k in config.trainer_args if k not in Seq2SeqTrainingArguments.__dataclass_fields__]
    if unknown:
        raise ValueError(f"--trainer-arg {unknown[0]}: not a field of transformers.Seq2SeqTrainingArguments")
    kwargs.update(config.trainer_args)
    return Seq2SeqTrainingArguments(**kwargs)


def _logs_to_stderr(trainer, quiet: bool) -> None:
    """The engine prints its logs to stdout; ours go to stderr (tqdm bar and log lines), or nowhere."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if quiet:
        return

    class StderrProgress(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                print({k: v for k, v in logs.items() if k != "total_flos"}, file=sys.stderr)

    trainer.add_callback(StderrProgress())


def train_student(model, examples: Sequence[TrainExample], out_dir: str | os.PathLike, config: TrainConfig, *,
                  pad_id: int, eos_id: Optional[int] = None, tokenizer=None, teacher=None, quiet: bool = False,
                  checkpoint_dir: Optional[str | os.PathLike] = None, callbacks: Sequence = (),
                  stop_strings: Sequence[str] = ()) -> TrainResult:
    """Train ``model`` in place on ``examples`` with the engine; resume from ``checkpoint_dir`` if possible.

    Args:
        model: a Hugging Face encoder-decoder (``model(input_ids, attention_mask, decoder_input_ids, ...)``
            returning ``.logits``), or a causal LM with decoder-only examples (``prompt == ()``; the prompt is
            masked, batches left-pad it, :mod:`.causal`).
        examples: the training pairs (at least one); every process must pass the same list.
        out_dir: receives, at the end, the student as a standard checkpoint (``save_pretrained``, plus
            ``tokenizer`` if given), written by the main process only.
        checkpoint_dir: the engine's checkpoints (default ``out_dir/checkpoint``); pruned at the end unless
            ``config.keep_state``.
        teacher: frozen model scoring the word-level losses (``loss != "seqkd"``); every example must then
            carry ``teacher_inputs``.
        callbacks: extra ``transformers.TrainerCallback`` objects (e.g. to stop after N steps in a test).
        stop_strings: decoder-only students: what ends a student's sample besides EOS (the adapter's stop
            strings, ``generate(stop_strings=...)`` semantics; needs ``tokenizer``).

    Returns :class:`TrainResult`.  Raises ValueError on an empty training set or a checkpoint folder of a
    different configuration/data, :class:`ArchitectureMismatchError` on one of another architecture.
    """
    from ..._runtime import quiet_hf_progress

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
    decoder_only = examples[0].decoder_only
    if any(ex.decoder_only != decoder_only for ex in examples):
        raise ValueError("training examples mix encoder-decoder (with a decoder prompt) and decoder-only ones")
    if decoder_only == bool(getattr(model.config, "is_encoder_decoder", False)):
        raise ValueError(f"the student is {'an encoder-decoder' if decoder_only else 'a decoder-only'} model but the "
                         f"examples are for {'a decoder-only' if decoder_only else 'an encoder-decoder'} one")
    stop_criteria = None
    if stop_strings and decoder_only and config.loss != "seqkd":
        if tokenizer is None:
            raise ValueError("stop_strings needs the tokenizer")
        from transformers import StopStringCriteria

        stop_criteria = StopStringCriteria(tokenizer, list(stop_strings))
    out_dir = Path(out_dir)
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else out_dir / "checkpoint"
    args = _training_args(config, ckpt_dir, quiet)
    meta = {"arch": _arch(model), "config": config.fingerprint(), "data": _examples_digest(examples)}
    _check_meta(ckpt_dir, meta, args.process_index == 0)
    resume = last_checkpoint(ckpt_dir, clean=args.process_index == 0)
    trainer = _trainer_class()(model=model, args=args, train_dataset=KDDataset(examples), kd_config=config,
                               pad_id=pad_id, eos_id=eos_id, teacher=teacher, examples=examples,
                               callbacks=list(callbacks), stop_criteria=stop_criteria)
    _logs_to_stderr(trainer, quiet)
    with quiet_hf_progress(True):   # the engine's step bar is the progress; no bar per checkpoint write
        out = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    steps = int(out.global_step)
    losses = [float(e["loss"]) for e in trainer.state.log_history if "loss" in e]
    model.eval()
    finished = steps >= trainer.state.max_steps
    if args.process_index == 0 and finished:
        with quiet_hf_progress(quiet):
            trainer.save_model(str(out_dir))
            if tokenizer is not None:
                tokenizer.save_pretrained(out_dir)
        for p in out_dir.glob("*.safetensors"):
            os.chmod(p, 0o644)
        (out_dir / "training_args.bin").unlink(missing_ok=True)   # pickled engine arguments: not the student's
        if not config.keep_state:
            shutil.rmtree(ckpt_dir, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    if not finished and not quiet:
        print(f"distill: training stopped at step {steps} of {trainer.state.max_steps}; rerun to resume",
              file=sys.stderr)
    resumed = int(resume.name.split("-")[1]) if resume else 0
    return TrainResult(steps=steps, losses=losses, resumed_from=resumed)
